//! Bad input, through the real `cargo boot build`: every case gives a clear error that
//! names the problem and the fix, a non-zero exit, and no output file.
//!
//! Needs the Cortex-M toolchain for the one case that builds: `scripts/setup.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const BOOT: &str = env!("CARGO_BIN_EXE_cargo-boot");

/// Projects live outside the repository (a package inside its workspace would have to
/// be a member); builds go to the repository's target directory.
fn root() -> PathBuf {
    std::env::temp_dir().join("cargo-boot-gauntlet")
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target/e2e-gauntlet")
}

fn boot(dir: &Path, args: &[&str]) -> Output {
    Command::new(BOOT)
        .arg("boot")
        .args(args)
        .current_dir(dir)
        .env("CARGO_BOOT_HOME", target_dir().join("home"))
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("cargo-boot runs")
}

/// The Cargo.toml of a fresh `cargo boot new --board qemu-an386 --template minimal` project.
fn pristine_manifest() -> &'static str {
    static MANIFEST: OnceLock<String> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let dir = root().join("pristine");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(root()).unwrap();
        let out = boot(&root(), &["new", "--board", "qemu-an386", "--template", "minimal", "pristine"]);
        assert!(out.status.success(), "cargo boot new: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()
    })
}

/// A copy of the pristine project named `case`, with its manifest edited by `edit`.
fn project(case: &str, edit: impl FnOnce(&str) -> String) -> PathBuf {
    let manifest = pristine_manifest();
    let dir = root().join("cases").join(case);
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&root().join("pristine"), &dir);
    std::fs::write(
        dir.join("Cargo.toml"),
        edit(&manifest.replace("name = \"pristine\"", &format!("name = \"{case}\""))),
    )
    .unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Builds `case` and checks: failure, every `needle` in stderr, and no output files.
fn refused(case: &str, dir: &Path, needles: &[&str]) {
    let out = boot(dir, &["build"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{case}: the build should fail:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{case}: expected `{needle}` in:\n{stderr}");
    }
    let outputs = target_dir().join("boot/debug");
    for suffix in [".bin", "_application.bin", ".hex", "_application.hex"] {
        let file = outputs.join(format!("{case}{suffix}"));
        assert!(!file.exists(), "{case}: {} was written", file.display());
    }
}

fn set_key(manifest: &str, line: &str) -> String {
    manifest.replace("[package.metadata.boot]\n", &format!("[package.metadata.boot]\n{line}\n"))
}

fn replace_key(manifest: &str, key: &str, line: &str) -> String {
    let old = manifest.lines().find(|l| l.starts_with(&format!("{key} ="))).expect("the key is in the template");
    manifest.replace(old, line)
}

#[test]
fn unknown_and_missing_boards() {
    let dir = project("unknown_board", |m| replace_key(m, "board", "board = \"odin-w3\""));
    refused("unknown_board", &dir, &["unknown board `odin-w3` (did you mean `odin-w2`?)", "cargo boot boards"]);
    let dir =
        project("missing_board", |m| m.lines().filter(|l| !l.starts_with("board =")).collect::<Vec<_>>().join("\n"));
    refused("missing_board", &dir, &["has no `board` key", "cargo boot boards"]);
}

#[test]
fn restrict_size_rules() {
    let dir = project("misaligned", |m| replace_key(m, "restrict_size", "restrict_size = \"0x10100\""));
    refused("misaligned", &dir, &["not a multiple of the vector-table alignment 0x200", "Use 0x10000 or 0x11000"]);
    let dir = project("past_end", |m| replace_key(m, "restrict_size", "restrict_size = \"8M\""));
    refused("past_end", &dir, &["restrict_size 0x800000 leaves no room for the app", "has 0x400000 bytes of flash"]);
}

#[test]
fn bootloader_img_problems() {
    let dir = project("img_missing", |m| set_key(m, "bootloader_img = \"bootloader/nope.bin\""));
    refused("img_missing", &dir, &["bootloader/nope.bin does not exist: fix the path"]);

    let dir = project("img_too_big", |m| set_key(m, "bootloader_img = \"big.bin\""));
    std::fs::write(dir.join("big.bin"), vec![0x11; 0x1_0001]).unwrap();
    refused(
        "img_too_big",
        &dir,
        &["the bootloader is 65537 bytes (0x10001) but restrict_size is 65536 bytes", "Raise restrict_size to 0x11000"],
    );

    let dir = project("img_format", |m| set_key(m, "bootloader_img = \"bootloader.elf\""));
    std::fs::write(dir.join("bootloader.elf"), b"\x7fELF but not really").unwrap();
    refused("img_format", &dir, &["is not a bootloader image", "give a .bin, an Intel .hex or an ELF file"]);
}

#[test]
fn metadata_and_manifest_problems() {
    let dir = project("unknown_key", |m| set_key(m, "restrict_sise = 4096"));
    refused("unknown_key", &dir, &["unknown key `restrict_sise`", "(did you mean `restrict_size`?)"]);
    let dir = project("malformed", |m| m.replace("[package]", "[package"));
    refused("malformed", &dir, &["`cargo metadata` failed", "Cargo.toml"]);
}

#[test]
fn an_app_too_big_for_its_region() {
    // 4 KiB of app region, and an app with 8 KiB of constant data.
    let dir = project("app_too_big", |m| replace_key(m, "restrict_size", "restrict_size = \"0x3FF000\""));
    let main = dir.join("src/main.rs");
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{source}\n#[used]\nstatic BALLAST: [u8; 8192] = [0x5A; 8192];\n")).unwrap();
    refused("app_too_big", &dir, &["the app does not fit its flash region", "a smaller restrict_size"]);
}

//! The secure template on the virtual board, end to end: the real bootloader and app in
//! QEMU, candidates staged into the board's flash file the way the app stages them.
//!
//! - v1 boots; a signed v2 in the secondary slot is installed, boots on trial and
//!   confirms; a v3 that does not confirm is reverted to v2 at the next reset, and a
//!   v4 that hangs is reset by the bootloader's watchdog and reverted too.
//! - Candidates with a flipped byte, a wrong key, a truncated body, a lower security
//!   counter or a wrong class UUID are refused, and the running version still boots.
//!
//! Needs QEMU and the Cortex-M toolchain: `scripts/setup.sh` installs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BOOT: &str = env!("CARGO_BIN_EXE_cargo-boot");

/// One build of the fixture app: its settings and, once built, its images.
struct Build {
    dir: PathBuf,
    target_dir: PathBuf,
}

/// Settings of one build of the fixture.
struct Settings<'a> {
    name: &'a str,
    version: &'a str,
    counter: u32,
    class: &'a str,
    key: &'a Path,
    behaviour: Behaviour,
}

/// What the fixture app does after it reports its version.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Confirm,
    ResetWithoutConfirming,
    Hang,
}

/// The scratch area of one test: projects, keys, the flash file, the target dir.
struct Bench {
    root: PathBuf,
}

impl Bench {
    fn new(name: &str) -> Bench {
        let root = repo().join("target/e2e-secure").join(name);
        let _ = std::fs::remove_dir_all(root.join("projects"));
        let _ = std::fs::remove_file(root.join("board.flash"));
        std::fs::create_dir_all(root.join("projects")).unwrap();
        Bench { root }
    }

    fn key(&self, name: &str) -> PathBuf {
        let path = self.root.join(format!("{name}.pem"));
        if !path.exists() {
            check(&boot(&self.root, &["keygen", "--key", path.to_str().unwrap()]), "keygen");
        }
        path
    }

    fn flash_file(&self) -> PathBuf {
        self.root.join("board.flash")
    }

    /// Copies the fixture with these settings and builds it; returns its update image.
    fn build(&self, s: &Settings) -> (Build, PathBuf) {
        let dir = self.root.join("projects").join(s.name);
        copy_fixture(&dir, s);
        let build = Build { dir, target_dir: self.root.join("target") };
        let mut args = vec!["build"];
        match s.behaviour {
            Behaviour::Confirm => {}
            Behaviour::ResetWithoutConfirming => args.extend(["--features", "no-confirm"]),
            Behaviour::Hang => args.extend(["--features", "hang"]),
        }
        check(&build.cargo_boot(&args), &format!("build {}", s.name));
        let update = self.root.join(format!("{}.update.bin", s.name));
        std::fs::copy(build.target_dir.join("boot/debug/update.bin"), &update).unwrap();
        (build, update)
    }
}

impl Build {
    fn cargo_boot(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--target-dir", self.target_dir.to_str().unwrap()]);
        boot(&self.dir, &all)
    }

    /// Programs the combined image into the flash file, as a probe would.
    fn flash_combined(&self, flash: &Path) {
        check(&self.cargo_boot(&["flash", "--no-build", "--flash-file", flash.to_str().unwrap()]), "flash");
    }

    /// Stages `update` as a pending candidate in the flash file.
    fn stage(&self, flash: &Path, update: &Path) {
        let args =
            ["flash", "--no-build", "--update", update.to_str().unwrap(), "--flash-file", flash.to_str().unwrap()];
        check(&self.cargo_boot(&args), "flash --update");
    }

    /// Boots the flash file until the app exits; returns everything the board printed.
    fn run(&self, flash: &Path) -> String {
        let out = self.cargo_boot(&["run", "--flash-file", flash.to_str().unwrap(), "--timeout", "60"]);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "the run failed:\n{text}");
        text
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn boot(dir: &Path, args: &[&str]) -> Output {
    Command::new(BOOT)
        .arg("boot")
        .args(args)
        .current_dir(dir)
        .env("CARGO_BOOT_HOME", repo().join("target/e2e-secure/home"))
        .output()
        .expect("cargo-boot runs")
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "`cargo boot {what}` failed (run scripts/setup.sh if a tool is missing):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_fixture(dest: &Path, s: &Settings) {
    let fixture = repo().join("tests/fixtures/update-app");
    for rel in ["Cargo.toml", "build.rs", "src/main.rs"] {
        let text = std::fs::read_to_string(fixture.join(rel)).unwrap();
        let text = text
            .replace("{{templates}}", repo().join("boot-templates").to_str().unwrap())
            .replace("{{version}}", s.version)
            .replace("{{class}}", s.class)
            .replace("{{counter}}", &s.counter.to_string())
            .replace("{{key}}", s.key.to_str().unwrap());
        let path = dest.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Asserts that `needles` occur in `text` in this order.
fn assert_in_order(text: &str, needles: &[&str]) {
    let mut rest = text;
    for needle in needles {
        let at = rest.find(needle).unwrap_or_else(|| panic!("expected `{needle}` (in order {needles:?}) in:\n{text}"));
        rest = &rest[at + needle.len()..];
    }
}

#[test]
fn an_update_installs_confirms_and_an_unconfirmed_one_is_reverted() {
    let bench = Bench::new("install");
    let key = bench.key("release");
    let settings =
        |name, version, counter, behaviour| Settings { name, version, counter, class: "sensor", key: &key, behaviour };
    // The builds share a target dir: the base version is built last, so that its
    // combined image is the one `flash --no-build` programs.
    let (_, v2) = bench.build(&settings("v2", "1.1.0", 2, Behaviour::Confirm));
    let (_, v3) = bench.build(&settings("v3", "1.2.0", 3, Behaviour::ResetWithoutConfirming));
    let (_, v4) = bench.build(&settings("v4", "1.3.0", 4, Behaviour::Hang));
    let (v1, _) = bench.build(&settings("v1", "1.0.0", 1, Behaviour::Confirm));
    let flash = bench.flash_file();

    v1.flash_combined(&flash);
    assert_in_order(&v1.run(&flash), &["[boot] booting v1.0.0", "app v1.0.0 running", "app v1.0.0 confirmed"]);

    v1.stage(&flash, &v2);
    let out = v1.run(&flash);
    assert_in_order(&out, &["[boot] swapped to v1.1.0 on trial", "app v1.1.0 running", "app v1.1.0 confirmed"]);
    assert_in_order(&v1.run(&flash), &["[boot] booting v1.1.0", "app v1.1.0 running"]);

    v1.stage(&flash, &v3);
    let out = v1.run(&flash);
    assert_in_order(
        &out,
        &[
            "[boot] swapped to v1.2.0 on trial",
            "app v1.2.0 resets without confirming",
            "[boot] reverted to v1.1.0",
            "app v1.1.0 running",
            "app v1.1.0 confirmed",
        ],
    );
    assert_in_order(&v1.run(&flash), &["[boot] booting v1.1.0"]);

    // A new image that hangs: the watchdog the bootloader started resets it.
    v1.stage(&flash, &v4);
    let out = v1.run(&flash);
    assert_in_order(
        &out,
        &[
            "[boot] swapped to v1.3.0 on trial",
            "app v1.3.0 hangs without confirming",
            "[boot] reverted to v1.1.0",
            "app v1.1.0 confirmed",
        ],
    );
}

#[test]
fn bad_candidates_are_refused_and_the_running_version_still_boots() {
    let bench = Bench::new("refuse");
    let key = bench.key("release");
    let other_key = bench.key("stranger");
    let base = |name, version, counter, class, key| Settings {
        name,
        version,
        counter,
        class,
        key,
        behaviour: Behaviour::Confirm,
    };
    let (_, good) = bench.build(&base("good", "1.1.0", 6, "sensor", &key));
    let (_, wrong_key) = bench.build(&base("wrong-key", "1.1.1", 6, "sensor", &other_key));
    let (_, downgrade) = bench.build(&base("downgrade", "1.1.2", 4, "sensor", &key));
    let (_, wrong_class) = bench.build(&base("wrong-class", "1.1.3", 6, "actuator", &key));
    // Built last: its combined image is the one `flash --no-build` programs.
    let (v1, _) = bench.build(&base("v1", "1.0.0", 5, "sensor", &key));
    let flash = bench.flash_file();
    v1.flash_combined(&flash);

    let bytes = std::fs::read(&good).unwrap();
    let flipped = bench.root.join("flipped.bin");
    let mut corrupt = bytes.clone();
    corrupt[0x400 + 100] ^= 0x01;
    std::fs::write(&flipped, corrupt).unwrap();
    let truncated = bench.root.join("truncated.bin");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let cases: [(&Path, &str); 5] = [
        (&flipped, "refused candidate: hash mismatch"),
        (&wrong_key, "refused candidate: signed with an unknown key"),
        (&truncated, "refused candidate: "),
        (&downgrade, "refused candidate: downgrade (security counter 4)"),
        (&wrong_class, "refused candidate: wrong vendor or class UUID"),
    ];
    for (candidate, refusal) in cases {
        v1.stage(&flash, candidate);
        let out = v1.run(&flash);
        assert_in_order(&out, &[refusal, "; booting v1.0.0", "app v1.0.0 running", "app v1.0.0 confirmed"]);
        assert!(!out.contains("app v1.1"), "a refused candidate never runs:\n{out}");
    }
    // The good one still installs afterwards: refusals leave the device updatable.
    v1.stage(&flash, &good);
    assert_in_order(&v1.run(&flash), &["[boot] swapped to v1.1.0 on trial", "app v1.1.0 confirmed"]);
}

//! `cargo boot flash` end to end: generated projects, built for real, flashed through
//! probe-rs' dry run, without a probe, into a virtual board's flash file, and as
//! cargo's runner.
//!
//! The projects live in the system's temporary directory (outside this repository's
//! workspace) and keep their build directories between runs, so only the first run
//! builds `core` and the bootloader from scratch.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// A project created with `cargo boot new` and built once.
struct Project {
    dir: PathBuf,
    target_dir: PathBuf,
    name: String,
}

impl Project {
    /// `target/boot/debug/`.
    fn output_dir(&self) -> PathBuf {
        self.target_dir.join("boot").join("debug")
    }
}

fn cargo_boot() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-boot"));
    command.arg("boot");
    command
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("cargo-boot runs");
    eprintln!(
        "--- {command:?}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Creates `<tmp>/cargo-boot-flash-e2e/<name>` for `board` (afresh) and builds it into
/// `target-<target>` beside it.
fn create(name: &str, board: &str, target: &str) -> Project {
    let root = std::env::temp_dir().join("cargo-boot-flash-e2e");
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&root).unwrap();
    let created = run(cargo_boot().current_dir(&root).args(["new", "--board", board, "--template", "minimal", name]));
    assert!(created.status.success(), "cargo boot new failed");
    let project = Project { dir, target_dir: root.join(format!("target-{target}")), name: name.to_string() };
    let built = run(cargo_boot().current_dir(&project.dir).arg("build").env("CARGO_TARGET_DIR", &project.target_dir));
    assert!(built.status.success(), "cargo boot build failed");
    project
}

/// One project per board for the whole test binary; a lock keeps tests that flash the
/// same project from running at once.
fn project(board: &'static str) -> std::sync::MutexGuard<'static, Project> {
    static ODIN: OnceLock<Mutex<Project>> = OnceLock::new();
    static QEMU: OnceLock<Mutex<Project>> = OnceLock::new();
    let (cell, name) = match board {
        "odin-w2" => (&ODIN, "odin"),
        "qemu-an386" => (&QEMU, "vboard"),
        other => panic!("no e2e project for {other}"),
    };
    cell.get_or_init(|| Mutex::new(create(name, board, name))).lock().unwrap_or_else(|e| e.into_inner())
}

fn flash(project: &Project) -> Command {
    let mut command = cargo_boot();
    command.current_dir(&project.dir).arg("flash").env("CARGO_TARGET_DIR", &project.target_dir);
    command.env_remove("PROBE_RS_CHIP").env_remove("PROBE_RS_PROBE");
    command
}

#[test]
fn dry_run_on_a_seed_board_prints_the_plan_and_succeeds() {
    let project = project("odin-w2");
    let output = run(flash(&project).args(["--dry-run", "--verify"]));
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("flash plan for odin-w2 (flash 0x08000000-0x081fffff):"), "{stdout}");
    assert!(stdout.contains("combined (bootloader + app)  0x08000000"), "{stdout}");
    assert!(
        stdout.contains(&project.output_dir().join(format!("{}.bin", project.name)).display().to_string()),
        "{stdout}"
    );
    assert!(!stdout.contains("DHCSR"), "probe-rs' FakeProbe register log is kept out of the output: {stdout}");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("STM32F439ZITx through probe-rs FakeProbe (dry run)"), "{stderr}");
    assert!(stderr.contains("skipped (dry run)") && stderr.contains("nothing was written"), "{stderr}");
}

#[test]
fn app_only_dry_run_plans_the_app_region() {
    let project = project("odin-w2");
    let output = run(flash(&project).args(["--no-build", "--app", "--dry-run"]));
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    assert!(stdout.contains("app                          0x08040000"), "{stdout}");
    assert!(!stdout.contains("combined"), "{stdout}");
}

#[test]
fn without_a_probe_a_real_board_gets_the_no_probe_error() {
    if !probe_rs::probe::list::Lister::new().list_all().is_empty() {
        eprintln!("skipped: a debug probe is connected, and this test must not program a board");
        return;
    }
    let project = project("odin-w2");
    let output = run(flash(&project).arg("--no-build"));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: no debug probe found: connect one"), "{stderr}");
    assert!(stderr.contains("udev rules"), "{stderr}");
}

#[test]
fn update_on_a_minimal_project_says_the_secure_template_is_needed() {
    let project = project("odin-w2");
    let update = project.dir.join("update.bin");
    std::fs::write(&update, 0x96f3_b83du32.to_le_bytes()).unwrap();
    let output = run(flash(&project).args(["--no-build", "--dry-run", "--update"]).arg(&update));
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("which only the secure template has"), "{}", text(&output.stderr));
}

#[test]
fn as_cargos_runner_it_finds_the_project_from_the_elf_path() {
    let project = project("odin-w2");
    // What cargo runs: `<runner> <target-dir>/<target>/debug/<bin> <args>`, from anywhere.
    let elf = project.target_dir.join("thumbv7em-none-eabihf/debug").join(&project.name);
    let output = run(cargo_boot()
        .current_dir("/")
        .args(["flash", "--dry-run"])
        .arg(&elf)
        .arg("--ignored-program-arg")
        .env("CARGO_MANIFEST_PATH", project.dir.join("Cargo.toml"))
        .env_remove("CARGO_TARGET_DIR"));
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    assert!(stdout.contains("flash plan for odin-w2"), "{stdout}");
    assert!(
        stdout.contains(&project.output_dir().join(format!("{}.bin", project.name)).display().to_string()),
        "{stdout}"
    );
}

/// `cargo run` with `runner = "cargo boot flash --dry-run"`: cargo builds the app (its
/// build.rs finds the `memory.x` cargo boot keeps in `target/boot/<profile>/`), then
/// cargo boot rebuilds it the cargo boot way and flashes it.
#[test]
fn cargo_run_flashes_through_the_runner() {
    let project = project("odin-w2");
    let toolchain = cargo_boot::toolchain::resolve("thumbv7em-none-eabihf").expect("a toolchain (see ENVIRONMENT)");
    let runner =
        format!("target.thumbv7em-none-eabihf.runner=\"{} boot flash --dry-run\"", env!("CARGO_BIN_EXE_cargo-boot"));
    let mut command = cargo_boot::cargo::cargo_command();
    command
        .current_dir(&project.dir)
        .args(["run", "--config", &runner, "--config"])
        .arg(format!("target.thumbv7em-none-eabihf.rustflags={:?}", toolchain.linker.rustc_flags()))
        .args(toolchain.cargo_args())
        .envs(toolchain.cargo_env())
        .env("CARGO_TARGET_DIR", &project.target_dir);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("flash plan for odin-w2"), "{}", text(&output.stdout));
    assert!(text(&output.stderr).contains("nothing was written"), "{}", text(&output.stderr));
}

#[test]
fn a_virtual_board_is_flashed_into_its_flash_file() {
    let project = project("qemu-an386");
    let file = project.output_dir().join("qemu-an386.flash");
    let _ = std::fs::remove_file(&file);
    let output = run(flash(&project).arg("--no-build"));
    assert!(output.status.success());
    assert!(text(&output.stderr).contains("(new: the rest of flash is erased)"), "{}", text(&output.stderr));
    let programmed = std::fs::read(&file).unwrap();
    let combined = std::fs::read(project.output_dir().join(format!("{}.bin", project.name))).unwrap();
    assert_eq!(programmed.len(), 0x40_0000, "the whole flash of the board");
    assert_eq!(&programmed[..combined.len()], &combined[..]);
    assert!(programmed[combined.len().next_multiple_of(0x1000)..].iter().all(|&b| b == 0xFF));

    // A new app only: the bootloader region is kept as it was.
    let app_file = project.output_dir().join(format!("{}_application.bin", project.name));
    let app = std::fs::read(&app_file).unwrap();
    let other = project.dir.join("other.flash");
    std::fs::copy(&file, &other).unwrap();
    let output = run(flash(&project).args(["--no-build", "--app", "--flash-file"]).arg(&other));
    assert!(output.status.success());
    let after = std::fs::read(&other).unwrap();
    assert_eq!(&after[..0x1_0000], &programmed[..0x1_0000], "bootloader region kept");
    assert_eq!(&after[0x1_0000..0x1_0000 + app.len()], &app[..]);
}

/// `cargo boot run` from the flash file `file`, until the app exits.
fn boot(project: &Project, file: &Path) -> Output {
    let mut command = cargo_boot();
    command.current_dir(&project.dir).env("CARGO_TARGET_DIR", &project.target_dir);
    run(command.args(["run", "--timeout", "120", "--flash-file"]).arg(file))
}

/// The virtual board as a real one: flash, reset, the app runs; the flash survives
/// from one QEMU run to the next; a new app flashed alone runs after the old bootloader;
/// and `cargo run` (the runner) programs and boots it.
#[test]
fn a_virtual_board_keeps_what_was_flashed_across_runs() {
    assert!(
        which::which(cargo_boot::qemu::QEMU_PROGRAM).is_ok(),
        "{} is not installed: run scripts/setup.sh",
        cargo_boot::qemu::QEMU_PROGRAM
    );
    // Its own project (it edits the app), sharing the build directory of `vboard`; so
    // its own flash file too (the default one is per build directory and board).
    let project = create("vrun", "qemu-an386", "vboard");
    let file = project.dir.join("board.flash");
    assert!(run(flash(&project).arg("--flash-file").arg(&file)).status.success());
    let first = std::fs::read(&file).unwrap();

    let output = boot(&project, &file);
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("vrun on qemu-an386, started by the cargo boot bootloader"));
    assert!(text(&output.stdout).contains("systick fired 3 times"));
    assert!(text(&output.stderr).contains("Saved the flash to"), "{}", text(&output.stderr));

    // A new build is not on the board until it is flashed: the next run boots the flash.
    let main = project.dir.join("src/main.rs");
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, source.replace("started by the cargo boot bootloader", "v2, started by the bootloader"))
        .unwrap();
    assert!(run(cargo_boot().current_dir(&project.dir).arg("build").env("CARGO_TARGET_DIR", &project.target_dir))
        .status
        .success());
    let output = boot(&project, &file);
    assert!(text(&output.stdout).contains("vrun on qemu-an386, started by the cargo boot bootloader"));

    // Only the new app is flashed: the bootloader region stays byte for byte.
    assert!(run(flash(&project).args(["--no-build", "--app", "--flash-file"]).arg(&file)).status.success());
    let second = std::fs::read(&file).unwrap();
    assert_eq!(&second[..0x1_0000], &first[..0x1_0000], "bootloader region kept");
    assert_ne!(&second[0x1_0000..], &first[0x1_0000..]);
    let output = boot(&project, &file);
    assert!(output.status.success());
    assert!(
        text(&output.stdout).contains("vrun on qemu-an386, v2, started by the bootloader"),
        "{}",
        text(&output.stdout)
    );

    // `cargo run`: cargo boot flash <ELF> programs the flash file and boots it.
    std::fs::write(&main, source.replace("started by the cargo boot bootloader", "v3, from cargo run")).unwrap();
    let elf = project.target_dir.join("thumbv7em-none-eabihf/debug/vrun");
    let output = run(cargo_boot()
        .current_dir("/")
        .args(["flash", "--flash-file"])
        .arg(&file)
        .arg(&elf)
        .env("CARGO_MANIFEST_PATH", project.dir.join("Cargo.toml"))
        .env_remove("CARGO_TARGET_DIR"));
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("vrun on qemu-an386, v3, from cargo run"), "{}", text(&output.stdout));
    assert_eq!(&std::fs::read(&file).unwrap()[..0x1_0000], &first[..0x1_0000], "the runner flashed the combined image");
}

//! End to end on the virtual boards, with the real `cargo-boot` binary, real cargo and
//! QEMU: `cargo boot new` → `cargo boot build` → `cargo boot run`, the images checked
//! against GNU objcopy, and the flash kept across resets and between runs.
//!
//! Needs qemu-system-arm, binutils-arm-none-eabi and a Cortex-M toolchain: run
//! `scripts/setup.sh` first. Nothing is skipped when a tool is missing: the test fails
//! and says so.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

const CARGO_BOOT: &str = env!("CARGO_BIN_EXE_cargo-boot");
/// Where the app starts on both virtual boards (their default `restrict_size`).
const APP_START: u32 = 0x1_0000;

/// One target directory and one `CARGO_BOOT_HOME` for every test, so that `core` is
/// built once per target.
fn shared_dirs() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        check_tools();
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
        (root.join("target"), root.join("boot-home"))
    })
}

/// Fails with the fix when a tool the tests need is missing.
fn check_tools() {
    for tool in ["qemu-system-arm", "arm-none-eabi-objcopy"] {
        let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
        assert!(
            found,
            "`{tool}` is missing: run scripts/setup.sh (it installs qemu-system-arm and binutils-arm-none-eabi)"
        );
    }
}

/// `cargo boot <args>` in `dir`, with the shared directories.
fn cargo_boot(dir: &Path, args: &[&str]) -> Command {
    let (target_dir, home) = shared_dirs();
    let mut command = Command::new(CARGO_BOOT);
    command.current_dir(dir).arg("boot").args(args).env("CARGO_BOOT_HOME", home).env("CARGO_TARGET_DIR", target_dir);
    command
}

/// Runs a command, failing the test with its output unless it succeeds.
fn succeed(command: &mut Command) -> Output {
    let output = command.output().expect("cargo-boot runs");
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A new project for `board` with the bundled bootloader `template`, made by
/// `cargo boot new` in a fresh directory outside any workspace.
fn new_project(board: &str, name: &str, template: &str) -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join(name);
    let args = ["new", "--board", board, "--template", template, dir.to_str().unwrap()];
    succeed(&mut cargo_boot(parent.path(), &args));
    (parent, dir)
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    eprintln!("{what}: {:.1} s", start.elapsed().as_secs_f64());
    value
}

/// `cargo boot new` → `build` → `run` on a board, then the images.
fn new_build_run(board: &str, target: &str) {
    let name = format!("blinky-{board}");
    let (_parent, dir) = new_project(board, &name, "minimal");
    let build = timed(&format!("{board}: cargo boot build"), || succeed(&mut cargo_boot(&dir, &["build"])));
    let run =
        timed(&format!("{board}: cargo boot run"), || succeed(&mut cargo_boot(&dir, &["run", "--timeout", "60"])));
    let console = stdout(&run);
    assert!(console.contains(&format!("{name} on {board}, started by the cargo boot bootloader")), "{console}");
    assert!(console.contains(&format!("app start        {APP_START:#010x}\n")), "{console}");
    assert!(console.contains(&format!("bootloader size  {APP_START:#010x}\n")), "{console}");
    assert!(console.contains(&format!("vtor             {APP_START:#010x}\n")), "VTOR was not moved: {console}");
    assert!(console.contains("systick fired 3 times"), "{console}");
    check_images(&dir, &name, target, bootloader_size(&stdout(&build)));
}

#[test]
fn an386_new_build_run() {
    new_build_run("qemu-an386", "thumbv7em-none-eabihf");
}

#[test]
fn an385_new_build_run() {
    new_build_run("qemu-an385", "thumbv7m-none-eabi");
}

/// The hardware template builds at once for every bundled hardware board with both
/// bundled bootloaders, each fitting the board's default bootloader region, and the
/// K64F's combined image leaves the chip unsecured (FSEC = 0xFE at 0x40C).
#[test]
fn the_hardware_template_builds_for_every_hardware_board() {
    for template in ["secure", "minimal"] {
        for board in ["odin-w2", "nucleo-f429zi", "frdm-k64f", "xdot"] {
            let name = format!("blinky-{board}-{template}");
            let (_parent, dir) = new_project(board, &name, template);
            timed(&format!("{board} ({template}): cargo boot build"), || succeed(&mut cargo_boot(&dir, &["build"])));
            let (target_dir, _) = shared_dirs();
            let combined = std::fs::read(target_dir.join("boot/debug").join(format!("{name}.bin"))).unwrap();
            if board == "frdm-k64f" {
                assert_eq!(combined[0x40C], 0xFE, "FSEC of the K64F flash configuration field ({template})");
            }
        }
    }
}

/// The size `cargo boot build` reports for the bootloader.
fn bootloader_size(build_stdout: &str) -> usize {
    let line = build_stdout
        .lines()
        .find_map(|l| l.strip_prefix("bootloader: "))
        .expect("the build prints the bootloader size");
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// The combined image is the bootloader, erased padding, then exactly what objcopy
/// makes of the app's ELF; the .hex files hold the .bin files at the right addresses.
fn check_images(dir: &Path, name: &str, target: &str, bootloader_size: usize) {
    let (target_dir, _) = shared_dirs();
    let out = target_dir.join("boot/debug");
    let combined = std::fs::read(out.join(format!("{name}.bin"))).unwrap();
    let application = std::fs::read(out.join(format!("{name}_application.bin"))).unwrap();
    let elf = target_dir.join(target).join("debug").join(name);
    let app_from_elf = objcopy(dir, &["-O", "binary"], &elf);
    let app_start = APP_START as usize;
    assert_eq!(combined[app_start..], app_from_elf[..], "the app in the combined image is not the ELF's");
    assert_eq!(application, app_from_elf, "the application image is not the ELF's");
    assert!(bootloader_size > 0 && bootloader_size < app_start);
    let padding = &combined[bootloader_size..app_start];
    assert!(padding.iter().all(|&b| b == 0xFF), "the padding is not erased flash (0xFF)");
    for (bin, start) in [(&combined, 0), (&application, APP_START)] {
        let hex = out.join(if start == 0 { format!("{name}.hex") } else { format!("{name}_application.hex") });
        assert_eq!(&objcopy(dir, &["-I", "ihex", "-O", "binary"], &hex), bin, "{} is not its .bin", hex.display());
        assert_eq!(ihex_start(&std::fs::read_to_string(&hex).unwrap()), start, "{}", hex.display());
    }
}

/// `arm-none-eabi-objcopy <args> <input>`, as bytes.
fn objcopy(scratch: &Path, args: &[&str], input: &Path) -> Vec<u8> {
    let output = scratch.join("objcopy.out");
    succeed(Command::new("arm-none-eabi-objcopy").args(args).arg(input).arg(&output));
    std::fs::read(&output).unwrap()
}

/// The address of the first data byte of an Intel HEX file.
fn ihex_start(hex: &str) -> u32 {
    let mut upper = 0u32;
    for line in hex.lines() {
        let bytes: Vec<u8> =
            (1..line.len()).step_by(2).map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap()).collect();
        let (offset, kind, data) = (u32::from(bytes[1]) << 8 | u32::from(bytes[2]), bytes[3], &bytes[4..]);
        match kind {
            0x00 => return upper + offset,
            0x02 => upper = (u32::from(data[0]) << 8 | u32::from(data[1])) << 4,
            0x04 => upper = (u32::from(data[0]) << 8 | u32::from(data[1])) << 16,
            _ => {}
        }
    }
    panic!("no data record in the hex file")
}

/// An app that counts its boots in a word of flash that the combined image programs
/// (the last word of the bootloader region, erased padding), resets the board through
/// SYSRESETREQ twice per run, exits through semihosting on boots 3, and waits forever
/// from boot 6 on.
const BOOT_COUNTER_APP: &str = r#"#![no_std]
#![no_main]

mod uart;

use core::fmt::Write as _;
use cortex_m_rt::entry;
use cortex_m_semihosting::debug;

#[entry]
fn main() -> ! {
    let mut console = uart::Uart::uart0();
    let counter = (boot_app::layout().primary.start - 4) as *mut u32;
    // SAFETY: the virtual board's flash is RAM; nothing else uses this word.
    let boots = match unsafe { counter.read_volatile() } {
        u32::MAX => 1,
        n => n + 1,
    };
    unsafe { counter.write_volatile(boots) };
    writeln!(console, "boot {boots}").ok();
    if boots % 3 != 0 {
        cortex_m::peripheral::SCB::sys_reset();
    }
    if boots < 6 {
        debug::exit(debug::EXIT_SUCCESS);
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
"#;

/// The boot counter in a saved flash file.
fn saved_boots(flash_file: &Path) -> u32 {
    let flash = std::fs::read(flash_file).unwrap();
    assert_eq!(flash.len(), 0x40_0000, "a flash file holds the whole flash");
    let at = APP_START as usize - 4;
    u32::from_le_bytes(flash[at..at + 4].try_into().unwrap())
}

/// A reset keeps what the guest wrote over the programmed image; `--flash-file` carries
/// the flash from one run to the next, whether the run ends with a semihosting exit or
/// with Ctrl-C.
#[test]
fn the_flash_survives_resets_and_runs() {
    let (_parent, dir) = new_project("qemu-an386", "boot-counter", "minimal");
    std::fs::write(dir.join("src/main.rs"), BOOT_COUNTER_APP).unwrap();
    let flash_file = dir.join("board.flash");
    let flash_arg = format!("--flash-file={}", flash_file.display());

    let first =
        timed("boot counter: first run", || succeed(&mut cargo_boot(&dir, &["run", "--timeout", "60", &flash_arg])));
    assert_eq!(stdout(&first), "boot 1\nboot 2\nboot 3\n", "a reset restored the programmed image");
    assert_eq!(saved_boots(&flash_file), 3, "the flash was not saved before the semihosting exit");

    let without_file = succeed(&mut cargo_boot(&dir, &["run", "--timeout", "60"]));
    assert_eq!(stdout(&without_file), "boot 1\nboot 2\nboot 3\n", "without a flash file, every run starts afresh");

    let second = timed("boot counter: second run, ended with Ctrl-C", || interrupt_after(&dir, &flash_arg, "boot 6"));
    assert_eq!(second.0, "boot 4\nboot 5\nboot 6\n", "the run did not start from the saved flash");
    assert_eq!(second.1, Some(130), "Ctrl-C ends `cargo boot run` with status 130");
    assert_eq!(saved_boots(&flash_file), 6, "Ctrl-C did not save the flash");
}

/// Runs the board with `flash_arg`, sends SIGINT (what Ctrl-C sends) once `line` is
/// printed, and returns the console and the exit status.
fn interrupt_after(dir: &Path, flash_arg: &str, line: &str) -> (String, Option<i32>) {
    let mut child = cargo_boot(dir, &["run", "--timeout", "60", flash_arg])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut console = String::new();
    for printed in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
        console.push_str(&printed);
        console.push('\n');
        if printed == line {
            succeed(Command::new("kill").args(["-INT", &child.id().to_string()]));
        }
    }
    (console, child.wait().unwrap().code())
}

//! `cargo boot run`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cargo_boot::elf::FlatImage;
use cargo_boot::flash;
use cargo_boot::pipeline::Project;
use cargo_boot::qemu::{self, Control, QemuError, RunEnd, RunOptions, SavedFlash};

use super::args::BuildArgs;

/// Build, then run the combined image on a virtual board and stream its console.
///
/// The board boots like a real one: the bootloader first, which hands over to the app.
/// UART0 (and semihosting output) is printed here. The run ends when the app exits
/// through semihosting (`cortex_m_semihosting::debug::exit`); its status becomes this
/// command's exit status. Ctrl-C ends the run too (exit status 130), after saving the
/// flash file.
#[derive(clap::Args)]
pub struct Cmd {
    /// End the run after this many seconds, with an error that shows where the CPU was.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Keep the board's flash in a file between runs [default path:
    /// target/boot/<profile>/<board>.flash, the file `cargo boot flash` programs]. An
    /// existing file boots as the last run left it (program a new build into it with
    /// `cargo boot flash`); a missing one starts as this build. The flash is written
    /// back when the run ends.
    #[arg(long, value_name = "PATH")]
    pub flash_file: Option<Option<PathBuf>>,
    /// Add a network card: a QEMU `-nic` value, such as `user,model=lan9118`.
    #[arg(long, value_name = "NIC")]
    pub nic: Vec<String>,
    /// Pass one more argument to QEMU, after the others (repeat it for each argument),
    /// such as `--qemu-arg=-icount --qemu-arg=shift=0` to count instructions.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_arg: Vec<String>,
    #[command(flatten)]
    pub build: BuildArgs,
}

impl Cmd {
    /// Runs the board; exits with the guest's status.
    pub fn run(self) -> anyhow::Result<()> {
        let project = Project::load(&self.build.cargo.selection())?;
        let board = &project.board;
        if !board.is_virtual() {
            return Err(QemuError::NotVirtual(board.name.clone()).into());
        }
        let flash_file = self
            .flash_file
            .clone()
            .map(|path| path.unwrap_or_else(|| flash::default_flash_file(&project.output_dir(), board)));
        let flash = match &flash_file {
            Some(path) if path.exists() => {
                eprintln!(
                    "     Booting {} as the last run left it (`cargo boot flash` programs a new build)",
                    path.display()
                );
                flash::read_flash_file(path, board)?
            }
            _ => self.build_flash(&project)?,
        };
        let layout = &project.layout;
        let stop = Arc::new(AtomicBool::new(false));
        let on_ctrl_c = Arc::clone(&stop);
        ctrlc::set_handler(move || on_ctrl_c.store(true, Ordering::Relaxed)).context("cannot handle Ctrl-C")?;
        let options = RunOptions {
            flash,
            save_flash: flash_file,
            boot_stages: vec![layout.flash.start, layout.app_start],
            timeout: self.timeout,
            nics: self.nic,
            extra_args: self.qemu_arg,
            stop: Some(stop),
        };
        let machine = board.qemu.as_ref().map_or("", |q| q.machine.as_str());
        eprintln!("     Running {} on QEMU {machine} (Ctrl-C ends it)", board.name);
        let report = qemu::run(board, &options, &mut |line| {
            println!("{line}");
            Control::Continue
        })?;
        report_flash(&report.saved_flash);
        let code = match report.end {
            RunEnd::Exited { code } => code,
            RunEnd::Stopped => INTERRUPTED,
        };
        if code != 0 {
            std::io::stdout().flush().ok();
            std::process::exit(code);
        }
        Ok(())
    }

    /// Builds, and returns the board's flash with the combined image programmed.
    fn build_flash(&self, project: &Project) -> anyhow::Result<Vec<u8>> {
        let output = super::build::build(&self.build)?;
        let bytes = read(&output.combined)?;
        let image = FlatImage { base: project.layout.flash.start, bytes };
        Ok(qemu::flash_with_image(&project.board, &image)?)
    }
}

/// The exit status after Ctrl-C, as shells report a command ended by SIGINT.
const INTERRUPTED: i32 = 130;

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Says where the flash went.
fn report_flash(saved: &SavedFlash) {
    match saved {
        SavedFlash::NotRequested => {}
        SavedFlash::Final(path) => eprintln!("       Saved the flash to {}", path.display()),
        SavedFlash::AsOfLastBootStage(path) => eprintln!(
            "warning: the app exited through a semihosting call that was not in flash when it started \
             (code in RAM, or installed during the run): {} holds the flash as it was when the app started",
            path.display()
        ),
    }
}

/// Parses `--timeout`: seconds, possibly fractional.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 =
        text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds, such as 30 or 2.5"))?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("the timeout must be a positive number of seconds, not {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_positive_seconds() {
        assert_eq!(parse_seconds("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_seconds("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_seconds("0").unwrap_err().contains("positive"));
        assert!(parse_seconds("-1").unwrap_err().contains("positive"));
        assert!(parse_seconds("soon").unwrap_err().contains("not a number of seconds"));
    }
}

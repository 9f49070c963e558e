//! `cargo boot flash`: build, then program the board through a debug probe, or program
//! the virtual board's flash file. Also cargo's runner: `cargo boot flash <ELF>`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use cargo_boot::board::Board;
use cargo_boot::flash::{self, BuiltImages, FlashEvent, FlashPlan, Operation, ProbeOptions, ProgramTarget, RunnerEnv};
use cargo_boot::layout::Layout;
use cargo_boot::pipeline::Project;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use probe_rs::probe::list::Lister;

use super::args::{BuildArgs, CargoArgs};

/// Program a board through a debug probe (probe-rs), or the virtual board's flash.
///
/// Builds first (unless --no-build), prints the flash plan, then programs everything in
/// one pass and resets the board so that the new program runs. As cargo's runner
/// (`runner = "cargo boot flash"`), cargo passes the ELF it built: cargo boot rebuilds
/// that binary the cargo boot way (same package, binary and profile) and flashes it.
#[derive(clap::Args)]
pub struct Cmd {
    /// The ELF cargo built, when cargo runs `cargo boot flash` as its runner.
    #[arg(value_name = "ELF")]
    pub elf: Option<PathBuf>,
    /// What `cargo run -- <args>` passes to the program: a board has no command line.
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub program_args: Vec<OsString>,
    /// Program the images of the last `cargo boot build` without building.
    #[arg(long)]
    pub no_build: bool,
    /// The virtual board's flash file [default: target/boot/<profile>/<board>.flash].
    #[arg(long, value_name = "PATH")]
    pub flash_file: Option<PathBuf>,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub probe: ProbeArgs,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// Which images to program; the combined image when none is chosen.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "What to program")]
pub struct ImageArgs {
    /// Only the app image, at the start of the app region; the bootloader stays.
    #[arg(long)]
    pub app: bool,
    /// Only the bootloader; the app stays.
    #[arg(long)]
    pub bootloader: bool,
    /// A signed update image, into the secondary slot (secure template).
    #[arg(long, value_name = "FILE")]
    pub update: Option<PathBuf>,
}

impl ImageArgs {
    /// The images to program, as the library names them.
    pub fn targets(&self) -> Vec<ProgramTarget> {
        let mut targets = Vec::new();
        if self.bootloader {
            targets.push(ProgramTarget::Bootloader);
        }
        if self.app {
            targets.push(ProgramTarget::App);
        }
        if let Some(update) = &self.update {
            targets.push(ProgramTarget::Update(update.clone()));
        }
        if targets.is_empty() {
            targets.push(ProgramTarget::Combined);
        }
        targets
    }
}

/// How to reach the chip: probe-rs' own option names, for every command that uses a probe.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Probe options")]
pub struct ProbeArgs {
    /// The probe-rs chip name [default: the board's `[probe] chip`].
    #[arg(long, value_name = "CHIP", env = "PROBE_RS_CHIP")]
    pub chip: Option<String>,
    /// A probe-rs target description (YAML) for a chip probe-rs does not know.
    #[arg(long, value_name = "PATH")]
    pub chip_description_path: Option<PathBuf>,
    /// The probe to use when several are connected.
    #[arg(long, value_name = "VID:PID[:SERIAL]", env = "PROBE_RS_PROBE")]
    pub probe: Option<String>,
    /// The probe's clock in kHz.
    #[arg(long, value_name = "KHZ")]
    pub speed: Option<u32>,
    /// Hold the chip in reset while attaching.
    #[arg(long)]
    pub connect_under_reset: bool,
    /// Read the flash back after programming and compare.
    #[arg(long)]
    pub verify: bool,
    /// Check everything against the chip description without a probe; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl ProbeArgs {
    /// The library's view of these options.
    pub fn options(&self) -> ProbeOptions {
        ProbeOptions {
            chip: self.chip.clone(),
            chip_description: self.chip_description_path.clone(),
            probe: self.probe.clone(),
            speed_khz: self.speed,
            connect_under_reset: self.connect_under_reset,
            verify: self.verify,
            dry_run: self.dry_run,
        }
    }
}

/// The board, its layout and the images to program.
struct Images {
    board: Board,
    layout: Layout,
    files: BuiltImages,
    /// `target/boot/<profile>/`.
    dir: PathBuf,
}

impl Cmd {
    /// Builds (unless --no-build), prints the plan and programs it.
    pub fn run(self) -> anyhow::Result<()> {
        let build = self.build_args()?;
        let images = match self.no_build {
            true => existing_images(&build)?,
            false => built_images(&build)?,
        };
        let plan = FlashPlan::new(&images.board, &images.layout, &images.files, &self.images.targets())?;
        print_plan(&plan);
        match images.board.is_virtual() {
            true => self.program_virtual(&plan, &images, build),
            false => self.program_probe(&plan, &images.board),
        }
    }

    /// The build options; as a runner, the package, binary, profile and target
    /// directory of the ELF cargo built.
    fn build_args(&self) -> anyhow::Result<BuildArgs> {
        let Some(elf) = &self.elf else { return Ok(self.build.clone()) };
        let selection = flash::runner_selection(elf, &RunnerEnv::from_env(), &self.build.cargo.selection())?;
        let cargo = CargoArgs {
            manifest_path: selection.manifest_path,
            bin: selection.bin,
            release: false,
            profile: Some(selection.profile.name),
            target_dir: selection.target_dir,
            ..self.build.cargo.clone()
        };
        let mut build = self.build.clone();
        build.cargo = cargo;
        Ok(build)
    }

    fn program_probe(&self, plan: &FlashPlan, board: &Board) -> anyhow::Result<()> {
        let options = self.probe.options();
        let mut bars = FlashBars::new(&options);
        let programmed = {
            // probe-rs' FakeProbe prints every register access of a dry run to stdout.
            let _quiet = options.dry_run.then(SilencedStdout::new);
            flash::program(plan, board, &options, &Lister::new(), &mut |event| bars.on_event(event))
        };
        bars.clear();
        let programmed = programmed?;
        match options.dry_run {
            true => status(
                "Checked",
                &format!(
                    "{} bytes for {}: dry run, nothing was written (connect a probe and drop --dry-run)",
                    plan.bytes(),
                    programmed.chip
                ),
            ),
            false => status("Finished", &format!("{} bytes into {}; it is running", plan.bytes(), programmed.chip)),
        }
        Ok(())
    }

    /// Programs the virtual board's flash file; as cargo's runner, then boots it.
    fn program_virtual(&self, plan: &FlashPlan, images: &Images, build: BuildArgs) -> anyhow::Result<()> {
        let path = self.flash_file.clone().unwrap_or_else(|| flash::default_flash_file(&images.dir, &images.board));
        if self.probe.dry_run {
            let unchanged = format!("dry run, {} is unchanged", path.display());
            status("Checked", &format!("{} bytes for {}: {unchanged}", plan.bytes(), images.board.name));
            return Ok(());
        }
        let report = flash::program_flash_file(plan, &images.board, &images.layout, &path)?;
        let fresh = if report.created { " (new: the rest of flash is erased)" } else { "" };
        status("Finished", &format!("{} bytes into {}{fresh}", report.bytes, report.path.display()));
        if self.elf.is_none() {
            eprintln!("{:>12} boot it with `cargo boot run --flash-file {}`", "", report.path.display());
            return Ok(());
        }
        // `cargo run`: the virtual board runs what was just programmed, as a real one would.
        super::run::Cmd {
            timeout: None,
            flash_file: Some(Some(report.path)),
            nic: Vec::new(),
            qemu_arg: Vec::new(),
            build,
        }
        .run()
    }
}

/// Builds and returns the fresh images.
fn built_images(build: &BuildArgs) -> anyhow::Result<Images> {
    let output = super::build::build(build)?;
    Ok(Images { files: BuiltImages::from_build(&output), board: output.board, layout: output.layout, dir: output.dir })
}

/// The images an earlier `cargo boot build` left in `target/boot/<profile>/`.
fn existing_images(build: &BuildArgs) -> anyhow::Result<Images> {
    let selection = build.cargo.selection();
    let project = Project::load(&selection)?;
    let dir = project.output_dir();
    let name = project.workspace.binary_name(&selection).context("choosing the binary to flash")?;
    Ok(Images { files: BuiltImages::in_dir(&dir, &name), board: project.board, layout: project.layout, dir })
}

/// The plan as a table: what goes where, and which sectors programming it erases.
fn print_plan(plan: &FlashPlan) {
    println!("flash plan for {} (flash {:#010x}-{:#010x}):", plan.board, plan.flash.start, plan.flash.end - 1);
    println!("  {:<28} {:>10} {:>10} {:>9}  {:<32} file", "image", "start", "end", "bytes", "erases");
    for chunk in &plan.chunks {
        let image = &chunk.image;
        let erases = format!(
            "{:#010x}-{:#010x} ({} sector{})",
            chunk.erases.start,
            chunk.erases.end - 1,
            chunk.sectors,
            if chunk.sectors == 1 { "" } else { "s" }
        );
        println!(
            "  {:<28} {:#010x} {:#010x} {:>9}  {:<32} {}",
            image.kind.to_string(),
            image.address,
            image.end() - 1,
            image.data.len(),
            erases,
            image.source.display()
        );
    }
}

/// Progress bars for erase, program and verify, fed by the library's events.
struct FlashBars {
    multi: MultiProgress,
    bars: HashMap<Operation, ProgressBar>,
    verify: bool,
}

impl FlashBars {
    fn new(options: &ProbeOptions) -> FlashBars {
        FlashBars { multi: MultiProgress::new(), bars: HashMap::new(), verify: options.verify }
    }

    fn on_event(&mut self, event: FlashEvent) {
        match event {
            FlashEvent::Attaching { probe, chip } => status("Attaching", &format!("{chip} through {probe}")),
            FlashEvent::Planned { operation, total } => self.bar(operation).set_length(total.unwrap_or(0)),
            FlashEvent::Started(operation) => self.bar(operation).reset_elapsed(),
            FlashEvent::Progress { operation, bytes } => self.bar(operation).inc(bytes),
            FlashEvent::Finished(operation) => self.bar(operation).finish_with_message("done"),
            FlashEvent::Failed(operation) => self.bar(operation).abandon_with_message("failed"),
            FlashEvent::Skipped(Operation::Fill) => {}
            FlashEvent::Skipped(operation) => self.skipped(operation),
            FlashEvent::Message(message) => {
                let _ = self.multi.println(message);
            }
            FlashEvent::Resetting => status("Resetting", "the chip, so that the new program runs"),
        }
    }

    /// A dry run skips erase and program (and verify, which probe-rs does not report).
    fn skipped(&mut self, operation: Operation) {
        status(label(operation), "skipped (dry run)");
        if operation == Operation::Program && self.verify {
            status(label(Operation::Verify), "skipped (dry run)");
        }
    }

    fn bar(&mut self, operation: Operation) -> &ProgressBar {
        self.bars.entry(operation).or_insert_with(|| {
            let style =
                ProgressStyle::with_template("{prefix:>12.green.bold} [{bar:30}] {bytes:>9}/{total_bytes:<9} {msg}")
                    .expect("valid template")
                    .progress_chars("=> ");
            let bar = self.multi.add(ProgressBar::new(0).with_style(style).with_prefix(label(operation)));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        })
    }

    fn clear(&mut self) {
        for bar in self.bars.values().filter(|bar| !bar.is_finished()) {
            bar.abandon();
        }
    }
}

fn label(operation: Operation) -> &'static str {
    match operation {
        Operation::Fill => "Reading",
        Operation::Erase => "Erasing",
        Operation::Program => "Programming",
        Operation::Verify => "Verifying",
    }
}

/// A cargo-style status line on stderr.
fn status(verb: &str, message: &str) {
    eprintln!("\x1b[1;32m{verb:>12}\x1b[0m {message}");
}

/// Points the process's stdout at /dev/null while it lives, and restores it after.
struct SilencedStdout {
    #[cfg(unix)]
    saved: Option<std::os::fd::OwnedFd>,
}

impl SilencedStdout {
    fn new() -> SilencedStdout {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        #[cfg(unix)]
        {
            let saved = rustix::io::dup(std::io::stdout()).ok();
            let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
            let silenced = null.ok().and_then(|null| rustix::stdio::dup2_stdout(&null).ok());
            SilencedStdout { saved: silenced.and(saved) }
        }
        #[cfg(not(unix))]
        SilencedStdout {}
    }
}

impl Drop for SilencedStdout {
    fn drop(&mut self) {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        #[cfg(unix)]
        if let Some(saved) = self.saved.take() {
            let _ = rustix::stdio::dup2_stdout(&saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_image_flag_means_the_combined_image() {
        assert_eq!(ImageArgs::default().targets(), [ProgramTarget::Combined]);
        let both = ImageArgs { app: true, bootloader: true, update: Some("u.bin".into()) };
        assert_eq!(
            both.targets(),
            [ProgramTarget::Bootloader, ProgramTarget::App, ProgramTarget::Update("u.bin".into())]
        );
    }
}

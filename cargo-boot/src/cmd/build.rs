//! `cargo boot build`.

use cargo_boot::pipeline::{self, BuildOutput};

use super::args::BuildArgs;
use super::progress::StepPrinter;

/// Build the bootloader and the app, check the layout and write the images.
#[derive(clap::Args)]
pub struct Cmd {
    #[command(flatten)]
    pub build: BuildArgs,
}

impl Cmd {
    /// Runs the build and prints the memory map.
    pub fn run(self) -> anyhow::Result<()> {
        let output = build(&self.build)?;
        print_summary(&output);
        Ok(())
    }
}

/// Builds with progress on the terminal (shared by the commands that build first).
pub fn build(args: &BuildArgs) -> anyhow::Result<BuildOutput> {
    let mut printer = StepPrinter::new(args.cargo.quiet);
    let output = pipeline::build(&args.cargo.selection(), &mut |event| printer.on_event(event))?;
    Ok(output)
}

/// Prints the sizes, the memory-map table and the output files.
pub fn print_summary(output: &BuildOutput) {
    println!(
        "bootloader: {} bytes of {} ({:.1}%)",
        output.bootloader_size,
        output.layout.bootloader.size(),
        percent(output.bootloader_size, output.layout.bootloader.size())
    );
    println!();
    println!("{:<16} {:>10} {:>10} {:>10} {:>10} {:>7}", "region", "start", "end", "used", "free", "used%");
    for row in &output.regions {
        let size = row.end - row.start;
        println!(
            "{:<16} {:>#10x} {:>#10x} {:>10} {:>10} {:>6.1}%",
            row.name,
            row.start,
            row.end - 1,
            row.used,
            size - row.used.min(size),
            percent(row.used, size)
        );
    }
    println!();
    println!("combined image:    {}", output.combined.display());
    println!("application image: {}", output.application.display());
    if let Some(update) = &output.update {
        println!("update image:      {}", update.display());
    }
}

fn percent(used: u32, size: u32) -> f64 {
    if size == 0 {
        0.0
    } else {
        used as f64 * 100.0 / size as f64
    }
}

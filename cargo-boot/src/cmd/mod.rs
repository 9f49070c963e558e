//! One file per subcommand: each has a `Cmd` (its arguments) and `Cmd::run`.

mod args;
mod boards;
mod build;
mod doctor;
mod flash;
mod init;
mod inspect;
mod keygen;
mod new;
mod progress;
mod run;
mod serve;
mod sign;
mod verify;

/// `cargo` runs `cargo-boot boot ...`: the first word is the subcommand name.
#[derive(clap::Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::Styles::styled())]
pub enum Cargo {
    /// Bootloader-aware builds, signed updates, OTA serving and flashing for Cortex-M.
    #[command(version, max_term_width = 100)]
    Boot(Boot),
}

/// `cargo boot`: the bootloader workflow of Mbed OS, native to cargo.
#[derive(clap::Args)]
pub struct Boot {
    #[command(subcommand)]
    command: Commands,
}

#[derive(clap::Subcommand)]
enum Commands {
    /// Create a new project for a board that builds at once with `cargo boot build`.
    New(new::Cmd),
    /// Add `[package.metadata.boot]` to an existing package, keeping its formatting.
    Init(init::Cmd),
    /// Build the bootloader and the app, check the layout, and write the combined images.
    Build(build::Cmd),
    /// Build, then run the combined image on a virtual board and stream its console.
    Run(run::Cmd),
    /// List the boards, or print one board's memory map.
    Boards(boards::Cmd),
    /// Report the toolchain, linker, QEMU and probes that cargo boot finds.
    Doctor(doctor::Cmd),
    /// Generate an Ed25519 signing key (never overwrites an existing file).
    Keygen(keygen::Cmd),
    /// Sign a binary as an MCUboot-format image.
    Sign(sign::Cmd),
    /// Verify an MCUboot-format image against a key.
    Verify(verify::Cmd),
    /// Print an image's header and every TLV.
    Inspect(inspect::Cmd),
    /// Serve the latest signed update.bin over HTTP for over-the-air tests.
    Serve(serve::Cmd),
    /// Program a board through a debug probe (probe-rs), or the virtual board's flash.
    Flash(flash::Cmd),
}

impl Boot {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Commands::New(cmd) => cmd.run(),
            Commands::Init(cmd) => cmd.run(),
            Commands::Build(cmd) => cmd.run(),
            Commands::Run(cmd) => cmd.run(),
            Commands::Boards(cmd) => cmd.run(),
            Commands::Doctor(cmd) => cmd.run(),
            Commands::Keygen(cmd) => cmd.run(),
            Commands::Sign(cmd) => cmd.run(),
            Commands::Verify(cmd) => cmd.run(),
            Commands::Inspect(cmd) => cmd.run(),
            Commands::Serve(cmd) => cmd.run(),
            Commands::Flash(cmd) => cmd.run(),
        }
    }
}

/// Prints an error the way cargo does: `error: ...` then each cause.
pub fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("\nCaused by:\n    {cause}");
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap finds clashing argument names only when it builds the command.
    #[test]
    fn cli_definition_is_valid() {
        super::Cargo::command().debug_assert();
    }
}

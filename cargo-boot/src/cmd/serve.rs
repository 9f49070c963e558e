//! `cargo boot serve` (being written).

/// Arguments of `cargo boot serve`.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo boot serve` is not available in this build yet")
    }
}

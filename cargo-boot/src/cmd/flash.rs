//! `cargo boot flash` (being written).

/// Arguments of `cargo boot flash`.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo boot flash` is not available in this build yet")
    }
}

//! `cargo boot verify` (being written).

/// Arguments of `cargo boot verify`.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo boot verify` is not available in this build yet")
    }
}

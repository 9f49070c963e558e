//! `cargo boot init` (being written).

/// Arguments of `cargo boot init`.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo boot init` is not available in this build yet")
    }
}

//! `cargo boot run` (being written).

/// Arguments of `cargo boot run`.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo boot run` is not available in this build yet")
    }
}

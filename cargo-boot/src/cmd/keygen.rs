//! `cargo boot keygen` (being written).

/// Arguments of `cargo boot keygen`.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo boot keygen` is not available in this build yet")
    }
}

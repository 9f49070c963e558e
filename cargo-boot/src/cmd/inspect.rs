//! `cargo boot inspect` (being written).

/// Arguments of `cargo boot inspect`.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo boot inspect` is not available in this build yet")
    }
}

//! `cargo boot new` (being written).

/// Arguments of `cargo boot new`.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo boot new` is not available in this build yet")
    }
}

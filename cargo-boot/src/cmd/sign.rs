//! `cargo boot sign` (being written).

/// Arguments of `cargo boot sign`.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo boot sign` is not available in this build yet")
    }
}

//! `cargo boot init`.

use std::path::PathBuf;

use cargo_boot::board::BoardDatabase;

use super::args::BoardArgs;

/// Add `[package.metadata.boot]` to an existing package, keeping its formatting.
#[derive(clap::Args)]
pub struct Cmd {
    #[command(flatten)]
    board: BoardArgs,
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
    manifest_path: PathBuf,
}

impl Cmd {
    /// Edits the manifest and prints what else needs attention.
    pub fn run(self) -> anyhow::Result<()> {
        let db = BoardDatabase::bundled();
        let board = db.get(&self.board.board)?;
        let report = cargo_boot::scaffold::init(&self.manifest_path, board, self.board.restrict_size)?;
        eprintln!("     Added [package.metadata.boot] to {}", report.manifest.display());
        for warning in report.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(())
    }
}

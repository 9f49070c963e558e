//! `cargo boot init`.

use std::path::PathBuf;

use cargo_boot::board::BoardDatabase;
use cargo_boot::metadata::parse_size;

/// Add `[package.metadata.boot]` to an existing package, keeping its formatting.
#[derive(clap::Args)]
pub struct Cmd {
    /// The board (see `cargo boot boards`).
    #[arg(long)]
    board: String,
    /// The bootloader region size (default: the board's), e.g. 0x40000 or 256K.
    #[arg(long, value_parser = parse_size)]
    restrict_size: Option<u32>,
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
    manifest_path: PathBuf,
}

impl Cmd {
    /// Edits the manifest and prints what else needs attention.
    pub fn run(self) -> anyhow::Result<()> {
        let db = BoardDatabase::bundled();
        let board = db.get(&self.board)?;
        let report = cargo_boot::scaffold::init(&self.manifest_path, board, self.restrict_size)?;
        eprintln!("     Added [package.metadata.boot] to {}", report.manifest.display());
        for warning in report.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(())
    }
}

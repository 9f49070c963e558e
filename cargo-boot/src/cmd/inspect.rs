//! `cargo boot inspect`: print an image's header and TLVs.

use std::path::PathBuf;

use anyhow::Context;
use cargo_boot::signing;

/// Print an MCUboot-format image's header, every TLV and its trailer.
///
/// The hash is checked; the signature needs a key: use `cargo boot verify`.
#[derive(clap::Args)]
pub struct Cmd {
    /// The image (from `cargo boot sign` or `imgtool sign`).
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
}

impl Cmd {
    /// Prints the description.
    pub fn run(self) -> anyhow::Result<()> {
        let image = std::fs::read(&self.image).with_context(|| format!("cannot read {}", self.image.display()))?;
        let inspection =
            signing::inspect(&image).with_context(|| format!("cannot inspect {}", self.image.display()))?;
        println!("{inspection}");
        Ok(())
    }
}

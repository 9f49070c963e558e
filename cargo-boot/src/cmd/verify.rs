//! `cargo boot verify`: check an image's hash and Ed25519 signature.

use std::path::PathBuf;

use anyhow::Context;
use cargo_boot::signing;

/// Verify an MCUboot-format image against a key, as the bootloader will.
///
/// Checks the SHA-256 of header, body and protected TLVs, then the Ed25519 signature.
/// Works on images from `cargo boot sign` and `imgtool sign`, padded or not.
#[derive(clap::Args)]
pub struct Cmd {
    /// A trusted key: the private key file, or its public half (PEM). Repeat to trust several.
    #[arg(short = 'k', long = "key", value_name = "PATH", required = true)]
    keys: Vec<PathBuf>,
    /// The signed image.
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
}

impl Cmd {
    /// Verifies and prints what the image holds; fails if it does not verify.
    pub fn run(self) -> anyhow::Result<()> {
        let keys = self.keys.iter().map(|path| signing::public_key_bytes(path)).collect::<Result<Vec<_>, _>>()?;
        let image = std::fs::read(&self.image).with_context(|| format!("cannot read {}", self.image.display()))?;
        let report =
            signing::verify(&image, &keys).with_context(|| format!("{} does not verify", self.image.display()))?;
        println!("{report}");
        Ok(())
    }
}

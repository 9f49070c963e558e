//! `cargo boot keygen`: a new Ed25519 signing key.

use std::path::PathBuf;

use cargo_boot::signing::{self, hex};

/// Generate an Ed25519 signing key.
///
/// The key is written as PKCS#8 PEM, the format of `imgtool keygen -t ed25519`, so it
/// also works with imgtool. The file is readable by you only (mode 0600), and an
/// existing file is never replaced.
#[derive(clap::Args)]
pub struct Cmd {
    /// Where to write the private key, e.g. signing-key.pem.
    #[arg(short = 'k', long = "key", value_name = "PATH")]
    key: PathBuf,
}

impl Cmd {
    /// Writes the key and prints its public half.
    pub fn run(self) -> anyhow::Result<()> {
        let key = signing::keygen(&self.key)?;
        eprintln!("     Created Ed25519 signing key {} (readable by you only)", self.key.display());
        println!("{}", hex(&key.public_key()));
        eprintln!(
            "note: the line above is the public key, which the bootloader embeds.\n\
             note: anyone holding {} can sign firmware your devices will accept: keep it out of\n      \
             version control, use it for development only, and make production keys on an\n      \
             offline machine that keeps them.",
            self.key.display()
        );
        Ok(())
    }
}

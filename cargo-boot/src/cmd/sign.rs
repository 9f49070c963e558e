//! `cargo boot sign`: an app binary to a signed MCUboot-format image.

use std::path::{Path, PathBuf};

use anyhow::Context;
use boot_image::trailer::TrailerLayout;
use boot_image::{ImageVersion, KeyFormat, PadMode};
use cargo_boot::metadata::parse_size;
use cargo_boot::signing::{self, SignOptions};

/// Sign an app binary as an MCUboot-format image (what `imgtool sign --pad-header` makes).
///
/// The input is the app as linked for the slot: its vector table at slot + header
/// size, with no header in the file. The output starts with the header.
#[derive(clap::Args)]
pub struct Cmd {
    /// The Ed25519 private key (PEM from `cargo boot keygen` or `imgtool keygen -t ed25519`).
    #[arg(short = 'k', long = "key", value_name = "PATH")]
    key: PathBuf,
    /// The image version, major.minor.revision+build (later parts optional).
    #[arg(short = 'v', long, value_name = "VERSION")]
    version: ImageVersion,
    /// Bytes reserved for the header before the app's vector table (as in the layout), e.g. 0x200.
    #[arg(short = 'H', long, value_name = "SIZE", value_parser = parse_size)]
    header_size: u32,
    /// The anti-rollback security counter: a number, or `auto` to derive it from the version.
    #[arg(short = 's', long, value_name = "N|auto")]
    security_counter: Option<String>,
    /// Vendor UUID, or a domain name turned into one (as imgtool does).
    #[arg(long, value_name = "UUID|NAME")]
    vid: Option<String>,
    /// Device class UUID, or a name turned into one inside the vendor's namespace.
    #[arg(long, value_name = "UUID|NAME")]
    cid: Option<String>,
    /// The slot size: the image plus MCUboot's trailer must fit in it.
    #[arg(short = 'S', long, value_name = "SIZE", value_parser = parse_size)]
    slot_size: Option<u32>,
    /// Fill the slot and write MCUboot's trailer magic (MCUboot test-boots the image once).
    #[arg(long, requires = "slot_size")]
    pad: bool,
    /// Like --pad, and mark the image confirmed (MCUboot keeps it).
    #[arg(long, requires = "slot_size")]
    confirm: bool,
    /// The flash write size, for the trailer: 1, 2, 4, 8, 16 or 32.
    #[arg(long, value_name = "N", default_value_t = 1)]
    align: u32,
    /// The largest write size of any slot, for the trailer: 8, 16 or 32.
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_align: u32,
    /// The most sectors a slot may have, for the trailer.
    #[arg(short = 'M', long, value_name = "N", default_value_t = 128)]
    max_sectors: u32,
    /// The value of erased flash: fills the header padding and the padded slot.
    #[arg(short = 'R', long, value_name = "0|0xff", default_value = "0xff", value_parser = parse_erased)]
    erased_val: u8,
    /// How the image names its key: `hash` (KEYHASH, what MCUboot expects) or `full`.
    #[arg(long, value_name = "FORMAT", default_value = "hash", value_parser = parse_key_format)]
    public_key_format: KeyFormat,
    /// A RAM address to load the image to (RAM-load images only).
    #[arg(short = 'L', long, value_name = "ADDRESS", value_parser = parse_size)]
    load_addr: Option<u32>,
    /// The app: a .bin, or an ELF (converted like `objcopy -O binary`).
    #[arg(value_name = "INPUT")]
    input: PathBuf,
    /// Where to write the signed image (replaced atomically).
    #[arg(short = 'o', long, value_name = "PATH")]
    output: PathBuf,
}

impl Cmd {
    /// Signs the input and writes the image.
    pub fn run(self) -> anyhow::Result<()> {
        let key = signing::load_signing_key(&self.key)?;
        let body = read_body(&self.input)?;
        let image = signing::sign(&body, &key, &self.options()?)?;
        cargo_boot::fsutil::write_atomic(&self.output, &image)?;
        eprintln!(
            "      Signed {} ({} bytes) as {} ({} bytes, version {})",
            self.input.display(),
            body.len(),
            self.output.display(),
            image.len(),
            self.version
        );
        Ok(())
    }

    fn options(&self) -> anyhow::Result<SignOptions> {
        let mut options = SignOptions::new(SignOptions::header_size_from(self.header_size)?, self.version);
        options.security_counter =
            self.security_counter.as_deref().map(|c| signing::parse_security_counter(c, self.version)).transpose()?;
        let ids = signing::resolve_uuids(self.vid.as_deref(), self.cid.as_deref())?;
        (options.vendor_uuid, options.class_uuid) = (ids.vendor, ids.class);
        options.load_addr = self.load_addr.unwrap_or(0);
        options.slot_size = self.slot_size;
        options.pad = match (self.confirm, self.pad) {
            (true, _) => PadMode::Confirm,
            (false, true) => PadMode::Pad,
            (false, false) => PadMode::None,
        };
        let max_align = self.max_align.max(self.align);
        options.trailer = TrailerLayout { align: self.align, max_align, max_sectors: self.max_sectors };
        options.erased_val = self.erased_val;
        options.key_format = self.public_key_format;
        Ok(options)
    }
}

/// The app's bytes: the file itself, or the flattened contents of an ELF.
fn read_body(path: &Path) -> anyhow::Result<Vec<u8>> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !cargo_boot::elf::is_elf(&data) {
        return Ok(data);
    }
    Ok(cargo_boot::elf::flatten(&path.display().to_string(), &data)?.bytes)
}

fn parse_erased(text: &str) -> Result<u8, String> {
    match text {
        "0" => Ok(0),
        "0xff" | "0xFF" => Ok(0xff),
        _ => Err(format!("`{text}` is not an erased value: use 0 or 0xff")),
    }
}

fn parse_key_format(text: &str) -> Result<KeyFormat, String> {
    match text {
        "hash" => Ok(KeyFormat::Hash),
        "full" => Ok(KeyFormat::Full),
        _ => Err(format!("`{text}` is not a key format: use hash or full")),
    }
}

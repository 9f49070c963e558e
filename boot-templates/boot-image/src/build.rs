//! Building images byte for byte as `imgtool sign --pad-header` (imgtool 2.5) does.
//!
//! The app cargo boot links starts with its vector table at `slot + header_size`, so
//! the body never contains a header: the builder puts `header_size` bytes in front of
//! it (the 32-byte header, then the erased value, like imgtool's `--pad-header`).
//! With the same options and key, the output equals imgtool's (Ed25519 is
//! deterministic), which the tests check against imgtool itself.

use sha2::{Digest, Sha256};

use crate::trailer::{TrailerLayout, IMAGE_OK};
use crate::{ed25519_spki, flags, key_hash, tlv, ImageHeader, ImageVersion, HEADER_SIZE, PUBLIC_KEY_LEN};

/// Signs with an Ed25519 key. Implemented by the host's key type, so that the private
/// key never passes through this crate.
pub trait Ed25519Signer {
    /// The public key.
    fn public_key(&self) -> [u8; PUBLIC_KEY_LEN];
    /// The Ed25519 signature of `message` (the image's 32-byte SHA-256).
    fn sign(&self, message: &[u8]) -> [u8; 64];
}

/// How the image names its signing key (imgtool's `--public-key-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyFormat {
    /// A KEYHASH TLV: the SHA-256 of the key (imgtool's default; what MCUboot expects).
    #[default]
    Hash,
    /// A PUBKEY TLV: the key's DER `SubjectPublicKeyInfo` (for `MCUBOOT_HW_KEY`).
    Full,
}

/// Whether to fill the slot and write MCUboot's trailer after the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PadMode {
    /// The image alone (imgtool without `--pad`).
    #[default]
    None,
    /// Padded to the slot size with the trailer's magic: MCUboot test-boots it
    /// (`--pad`, or `--test`).
    Pad,
    /// Padded, with `image_ok` set: MCUboot installs it for good (`--confirm`).
    Confirm,
}

/// Why an image could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `header_size` below 32.
    #[error("the header size {header_size} is smaller than the 32-byte MCUboot header: use --header-size 32 or more (cargo boot takes it from the board's layout)")]
    HeaderTooSmall {
        /// The requested size.
        header_size: u16,
    },
    /// The image does not fit the 32-bit sizes of the format.
    #[error("the binary is {len} bytes, too large for an MCUboot image (whose sizes are 32-bit): check that the input is the app's .bin")]
    TooLarge {
        /// The body's length.
        len: usize,
    },
    /// Image plus trailer exceed the slot.
    #[error("the image ({image_size:#x} bytes) plus MCUboot's trailer ({trailer_size:#x} bytes) exceeds the slot size {slot_size:#x}: make the app smaller or the slot larger")]
    DoesNotFit {
        /// Header, body and TLVs.
        image_size: usize,
        /// The trailer.
        trailer_size: u32,
        /// The slot.
        slot_size: u32,
    },
    /// Padding without a slot size.
    #[error("padding the image (--pad or --confirm) needs the slot size: pass --slot-size")]
    PadWithoutSlotSize,
    /// `align` or `max_align` not one imgtool accepts.
    #[error("invalid trailer alignment (align {align}, max-align {max_align}): align must be 1, 2, 4, 8, 16 or 32 and max-align 8, 16 or 32")]
    BadAlignment {
        /// The write size.
        align: u32,
        /// The largest write size.
        max_align: u32,
    },
}

/// Builds an MCUboot image from an app binary: see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBuilder {
    header_size: u16,
    version: ImageVersion,
    load_addr: u32,
    security_counter: Option<u32>,
    vendor_uuid: Option<[u8; 16]>,
    class_uuid: Option<[u8; 16]>,
    erased_val: u8,
    key_format: KeyFormat,
    slot_size: Option<u32>,
    trailer: TrailerLayout,
    pad: PadMode,
}

impl ImageBuilder {
    /// A builder for images whose body starts `header_size` bytes into the slot.
    pub fn new(header_size: u16) -> Self {
        Self {
            header_size,
            version: ImageVersion::default(),
            load_addr: 0,
            security_counter: None,
            vendor_uuid: None,
            class_uuid: None,
            erased_val: 0xff,
            key_format: KeyFormat::Hash,
            slot_size: None,
            trailer: TrailerLayout::default(),
            pad: PadMode::None,
        }
    }

    /// `--version`.
    pub fn version(mut self, version: ImageVersion) -> Self {
        self.version = version;
        self
    }

    /// `--load-addr`: a RAM-load image (sets the RAM_LOAD flag when not 0).
    pub fn load_addr(mut self, load_addr: u32) -> Self {
        self.load_addr = load_addr;
        self
    }

    /// `--security-counter`: adds a protected SEC_CNT TLV.
    pub fn security_counter(mut self, counter: Option<u32>) -> Self {
        self.security_counter = counter;
        self
    }

    /// `--vid`: adds a protected UUID_VID TLV.
    pub fn vendor_uuid(mut self, uuid: Option<[u8; 16]>) -> Self {
        self.vendor_uuid = uuid;
        self
    }

    /// `--cid`: adds a protected UUID_CID TLV.
    pub fn class_uuid(mut self, uuid: Option<[u8; 16]>) -> Self {
        self.class_uuid = uuid;
        self
    }

    /// `--erased-val`: the fill of the header padding and of the padded slot (0xff by default).
    pub fn erased_val(mut self, value: u8) -> Self {
        self.erased_val = value;
        self
    }

    /// `--public-key-format`.
    pub fn key_format(mut self, format: KeyFormat) -> Self {
        self.key_format = format;
        self
    }

    /// `--slot-size`: the image plus trailer must fit in it.
    pub fn slot_size(mut self, size: Option<u32>) -> Self {
        self.slot_size = size;
        self
    }

    /// `--align`, `--max-align` and `--max-sectors`.
    pub fn trailer(mut self, trailer: TrailerLayout) -> Self {
        self.trailer = trailer;
        self
    }

    /// `--pad` / `--confirm`.
    pub fn pad(mut self, pad: PadMode) -> Self {
        self.pad = pad;
        self
    }

    /// The image: header, `body`, TLVs (signed by `signer` if given, else hash only),
    /// and, when padding, the erased slot with the trailer.
    pub fn build(&self, body: &[u8], signer: Option<&dyn Ed25519Signer>) -> Result<Vec<u8>, BuildError> {
        self.check()?;
        let protected = self.protected_tlvs();
        let header = self.header(body.len(), protected.len())?;
        let mut image = Vec::with_capacity(usize::from(self.header_size) + body.len() + protected.len() + 256);
        image.extend_from_slice(&header.to_bytes());
        image.resize(usize::from(self.header_size), self.erased_val);
        image.extend_from_slice(body);
        image.extend_from_slice(&protected);
        let digest: [u8; 32] = Sha256::digest(&image).into();
        image.extend_from_slice(&self.unprotected_tlvs(&digest, signer));
        if u32::try_from(image.len()).is_err() {
            return Err(BuildError::TooLarge { len: body.len() });
        }
        self.check_slot(image.len())?;
        self.pad_to_slot(&mut image);
        Ok(image)
    }

    fn check(&self) -> Result<(), BuildError> {
        if usize::from(self.header_size) < HEADER_SIZE {
            return Err(BuildError::HeaderTooSmall { header_size: self.header_size });
        }
        if !self.trailer.is_valid() {
            return Err(BuildError::BadAlignment { align: self.trailer.align, max_align: self.trailer.max_align });
        }
        if self.pad != PadMode::None && self.slot_size.is_none() {
            return Err(BuildError::PadWithoutSlotSize);
        }
        Ok(())
    }

    fn header(&self, body_len: usize, protected_len: usize) -> Result<ImageHeader, BuildError> {
        let img_size = u32::try_from(body_len).map_err(|_| BuildError::TooLarge { len: body_len })?;
        Ok(ImageHeader {
            load_addr: self.load_addr,
            hdr_size: self.header_size,
            // At most 4 + 8 + 20 + 20 bytes.
            protect_tlv_size: protected_len as u16,
            img_size,
            flags: if self.load_addr != 0 { flags::RAM_LOAD } else { 0 },
            version: self.version,
        })
    }

    /// The protected area in imgtool's order: SEC_CNT, UUID_VID, UUID_CID.
    fn protected_tlvs(&self) -> Vec<u8> {
        let mut area = TlvArea::new(tlv::PROT_INFO_MAGIC);
        if let Some(counter) = self.security_counter {
            area.add(tlv::SEC_CNT, &counter.to_le_bytes());
        }
        if let Some(uuid) = &self.vendor_uuid {
            area.add(tlv::UUID_VID, uuid);
        }
        if let Some(uuid) = &self.class_uuid {
            area.add(tlv::UUID_CID, uuid);
        }
        area.finish()
    }

    /// The unprotected area in imgtool's order: SHA256, then KEYHASH (or PUBKEY) and ED25519.
    fn unprotected_tlvs(&self, digest: &[u8; 32], signer: Option<&dyn Ed25519Signer>) -> Vec<u8> {
        let mut area = TlvArea::new(tlv::INFO_MAGIC);
        area.add(tlv::SHA256, digest);
        if let Some(signer) = signer {
            let public = signer.public_key();
            match self.key_format {
                KeyFormat::Hash => area.add(tlv::KEYHASH, &key_hash(&public)),
                KeyFormat::Full => area.add(tlv::PUBKEY, &ed25519_spki(&public)),
            }
            area.add(tlv::ED25519, &signer.sign(digest));
        }
        area.finish()
    }

    fn check_slot(&self, image_size: usize) -> Result<(), BuildError> {
        let Some(slot_size) = self.slot_size else { return Ok(()) };
        let trailer_size = self.trailer_layout().size().unwrap_or(u32::MAX);
        let needed = u64::try_from(image_size).unwrap_or(u64::MAX).saturating_add(trailer_size.into());
        if needed > u64::from(slot_size) {
            return Err(BuildError::DoesNotFit { image_size, trailer_size, slot_size });
        }
        Ok(())
    }

    /// imgtool's `pad_to`: erased bytes up to the slot's end, the magic in the last 16
    /// bytes, and `image_ok` for `--confirm`.
    fn pad_to_slot(&self, image: &mut Vec<u8>) {
        let Some(slot_size) = self.slot_size.filter(|_| self.pad != PadMode::None) else { return };
        let slot_size = slot_size as usize;
        let trailer = self.trailer_layout();
        image.resize(slot_size, self.erased_val);
        let magic = trailer.magic();
        image[slot_size - magic.len()..].copy_from_slice(&magic);
        if self.pad == PadMode::Confirm {
            image[slot_size - trailer.image_ok_from_end() as usize] = IMAGE_OK;
        }
    }

    /// imgtool's default `max_align` is the larger of 8 and `align`.
    fn trailer_layout(&self) -> TrailerLayout {
        TrailerLayout { max_align: self.trailer.max_align.max(self.trailer.align), ..self.trailer }
    }
}

/// A TLV area being written: info header, then `{u16 type, u16 len, value}` entries.
struct TlvArea {
    magic: u16,
    entries: Vec<u8>,
}

impl TlvArea {
    fn new(magic: u16) -> Self {
        Self { magic, entries: Vec::new() }
    }

    fn add(&mut self, kind: u16, value: &[u8]) {
        self.entries.extend_from_slice(&kind.to_le_bytes());
        // Values are at most 68 bytes (the longest is an Ed25519 signature).
        self.entries.extend_from_slice(&(value.len() as u16).to_le_bytes());
        self.entries.extend_from_slice(value);
    }

    /// The area, or nothing for an empty protected area (imgtool omits it).
    fn finish(self) -> Vec<u8> {
        if self.entries.is_empty() && self.magic == tlv::PROT_INFO_MAGIC {
            return Vec::new();
        }
        let total = self.entries.len() + tlv::HEADER_LEN as usize;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&self.magic.to_le_bytes());
        out.extend_from_slice(&(total as u16).to_le_bytes());
        out.extend_from_slice(&self.entries);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{body, full_builder, TestKey};
    use crate::trailer::{self, TrailerState};
    use crate::ImageLayout;

    const IMGTOOL_PLAIN: &[u8] = include_bytes!("../tests/fixtures/imgtool-plain.bin");
    const IMGTOOL_CONFIRMED: &[u8] = include_bytes!("../tests/fixtures/imgtool-confirmed.bin");
    const IMGTOOL_ALIGN16_PAD: &[u8] = include_bytes!("../tests/fixtures/imgtool-align16-pad.bin");

    fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
        a.iter().zip(b).position(|(x, y)| x != y).or((a.len() != b.len()).then(|| a.len().min(b.len())))
    }

    fn assert_same(ours: &[u8], imgtool: &[u8]) {
        assert_eq!(first_difference(ours, imgtool), None, "lengths {} and {}", ours.len(), imgtool.len());
    }

    #[test]
    fn images_are_byte_identical_to_imgtool() {
        let key = TestKey::new(1);
        let builder = full_builder().slot_size(Some(0x1000));
        assert_same(&builder.build(&body(1000), Some(&key)).unwrap(), IMGTOOL_PLAIN);
        let confirmed = builder.pad(PadMode::Confirm).build(&body(1000), Some(&key)).unwrap();
        assert_same(&confirmed, IMGTOOL_CONFIRMED);
    }

    #[test]
    fn padded_images_with_wide_alignment_are_byte_identical_to_imgtool() {
        let builder = ImageBuilder::new(0x20)
            .version(ImageVersion::new(0, 1, 0, 0))
            .slot_size(Some(0x2000))
            .trailer(TrailerLayout { align: 16, max_align: 8, max_sectors: 128 })
            .pad(PadMode::Pad);
        let image = builder.build(&body(1000), Some(&TestKey::new(1))).unwrap();
        assert_same(&image, IMGTOOL_ALIGN16_PAD);
        assert_eq!(trailer::read_state(&mut &image[..]), Ok(TrailerState::Pending { max_align: 16 }));
    }

    #[test]
    fn the_header_padding_uses_the_erased_value() {
        let image = ImageBuilder::new(0x80).erased_val(0).build(&[1, 2, 3], None).unwrap();
        assert!(image[32..0x80].iter().all(|&b| b == 0));
        assert_eq!(&image[0x80..0x83], &[1, 2, 3]);
        let image = ImageBuilder::new(0x80).build(&[1, 2, 3], None).unwrap();
        assert!(image[32..0x80].iter().all(|&b| b == 0xff));
    }

    #[test]
    fn the_body_follows_the_header_unchanged() {
        let body = body(5000);
        let image = full_builder().build(&body, Some(&TestKey::new(3))).unwrap();
        let layout = ImageLayout::parse(&image).unwrap();
        assert_eq!(&image[0x100..0x100 + 5000], &body[..]);
        assert_eq!(layout.header.img_size, 5000);
        assert_eq!(layout.total_size() as usize, image.len());
    }

    #[test]
    fn a_load_address_makes_a_ram_load_image() {
        let image = ImageBuilder::new(32).load_addr(0x2000_0000).build(&[0; 4], None).unwrap();
        let header = ImageLayout::parse(&image).unwrap().header;
        assert_eq!((header.load_addr, header.flags), (0x2000_0000, flags::RAM_LOAD));
    }

    #[test]
    fn a_header_smaller_than_32_bytes_is_refused() {
        let err = ImageBuilder::new(16).build(&[0; 4], None).unwrap_err();
        assert_eq!(err, BuildError::HeaderTooSmall { header_size: 16 });
        assert!(err.to_string().contains("use --header-size 32 or more"), "{err}");
    }

    #[test]
    fn an_image_too_large_for_its_slot_is_refused() {
        let err = full_builder().slot_size(Some(0x800)).build(&body(1500), None).unwrap_err();
        let image_size = 0x100 + 1500 + 52 + 40;
        assert_eq!(err, BuildError::DoesNotFit { image_size, trailer_size: 432, slot_size: 0x800 });
        assert!(err.to_string().contains("exceeds the slot size 0x800: make the app smaller or the slot larger"));
        // One byte less fits exactly: image + trailer == slot.
        let fits = 0x800 - 432 - (0x100 + 52 + 40);
        assert!(full_builder().slot_size(Some(0x800)).build(&body(fits), None).is_ok());
        assert!(full_builder().slot_size(Some(0x800)).build(&body(fits + 1), None).is_err());
    }

    #[test]
    fn padding_needs_a_slot_size() {
        let err = ImageBuilder::new(32).pad(PadMode::Pad).build(&[0; 4], None).unwrap_err();
        assert_eq!(err, BuildError::PadWithoutSlotSize);
        assert!(err.to_string().contains("pass --slot-size"));
    }

    #[test]
    fn bad_alignments_are_refused() {
        let trailer = TrailerLayout { align: 3, ..TrailerLayout::default() };
        let err = ImageBuilder::new(32).trailer(trailer).build(&[0; 4], None).unwrap_err();
        assert_eq!(err, BuildError::BadAlignment { align: 3, max_align: 8 });
        assert!(err.to_string().contains("align must be 1, 2, 4, 8, 16 or 32"));
    }

    #[test]
    fn unsigned_images_carry_only_the_hash() {
        let image = ImageBuilder::new(32).build(&body(64), None).unwrap();
        assert_eq!(image.len(), 32 + 64 + 4 + 36);
        assert_eq!(&image[96..100], &[0x07, 0x69, 40, 0]);
    }
}

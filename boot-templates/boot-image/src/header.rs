//! The 32-byte image header and the image version.

use core::fmt;
use core::str::FromStr;

use crate::Error;

/// `ih_magic`: the first four bytes of every MCUboot image (little-endian).
pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;

/// The size of the header structure; `hdr_size` may be larger (padding follows).
pub const HEADER_SIZE: usize = 32;

/// Header flags (`ih_flags`), as MCUboot's `image.h` defines them.
pub mod flags {
    /// Position-independent code (not supported by MCUboot).
    pub const PIC: u32 = 0x0000_0001;
    /// The body is encrypted with AES-128-CTR.
    pub const ENCRYPTED_AES128: u32 = 0x0000_0004;
    /// The body is encrypted with AES-256-CTR.
    pub const ENCRYPTED_AES256: u32 = 0x0000_0008;
    /// A split-image app that must not be booted directly.
    pub const NON_BOOTABLE: u32 = 0x0000_0010;
    /// The image runs from RAM at `load_addr` (`imgtool sign --load-addr`).
    pub const RAM_LOAD: u32 = 0x0000_0020;
    /// The image is linked for a fixed flash address (`imgtool sign --rom-fixed`).
    pub const ROM_FIXED: u32 = 0x0000_0100;
    /// The body is LZMA1-compressed.
    pub const COMPRESSED_LZMA1: u32 = 0x0000_0200;
    /// The body is LZMA2-compressed.
    pub const COMPRESSED_LZMA2: u32 = 0x0000_0400;
    /// The compressed body went through the ARM Thumb filter.
    pub const COMPRESSED_ARM_THUMB: u32 = 0x0000_0800;
    /// Either encryption flag.
    pub const ENCRYPTED: u32 = ENCRYPTED_AES128 | ENCRYPTED_AES256;
    /// Any compression flag.
    pub const COMPRESSED: u32 = COMPRESSED_LZMA1 | COMPRESSED_LZMA2 | COMPRESSED_ARM_THUMB;
}

/// `ih_ver`: major.minor.revision+build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageVersion {
    /// `iv_major`.
    pub major: u8,
    /// `iv_minor`.
    pub minor: u8,
    /// `iv_revision`.
    pub revision: u16,
    /// `iv_build_num`.
    pub build: u32,
}

impl ImageVersion {
    /// A version from its four parts.
    pub const fn new(major: u8, minor: u8, revision: u16, build: u32) -> Self {
        Self { major, minor, revision, build }
    }

    /// `(major, minor, revision)`: what MCUboot compares for downgrade prevention by
    /// default (the build number is ignored unless `MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER`).
    pub const fn release(&self) -> (u8, u8, u16) {
        (self.major, self.minor, self.revision)
    }

    /// imgtool's `--security-counter auto`: `major << 24 | minor << 16 | revision`.
    pub const fn auto_security_counter(&self) -> u32 {
        (self.major as u32) << 24 | (self.minor as u32) << 16 | self.revision as u32
    }

    fn parse(bytes: &[u8; 8]) -> Self {
        Self {
            major: bytes[0],
            minor: bytes[1],
            revision: u16::from_le_bytes([bytes[2], bytes[3]]),
            build: u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }

    fn to_bytes(self) -> [u8; 8] {
        let mut out = [0; 8];
        out[0] = self.major;
        out[1] = self.minor;
        out[2..4].copy_from_slice(&self.revision.to_le_bytes());
        out[4..].copy_from_slice(&self.build.to_le_bytes());
        out
    }
}

impl fmt::Display for ImageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}+{}", self.major, self.minor, self.revision, self.build)
    }
}

/// Why a version string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not of the form `major[.minor[.revision[+build]]]`.
    #[error("invalid image version: use major.minor.revision+build with decimal numbers and later parts optional, such as 1.2.3+4")]
    Syntax,
    /// A part is larger than its header field.
    #[error("invalid image version: the {part} part is larger than {max}; MCUboot stores major and minor in 8 bits, revision in 16 and build in 32")]
    TooLarge {
        /// Which part: "major", "minor", "revision" or "build".
        part: &'static str,
        /// The largest value the field holds.
        max: u32,
    },
}

impl FromStr for ImageVersion {
    type Err = VersionError;

    /// Parses `major[.minor[.revision[+build]]]` as `imgtool sign --version` does
    /// (decimal, no leading zeros).
    fn from_str(text: &str) -> Result<Self, VersionError> {
        let (release, build) = match text.split_once('+') {
            Some((release, build)) => (release, Some(build)),
            None => (text, None),
        };
        let mut parts = release.split('.');
        let major = version_part(parts.next(), "major", u8::MAX.into())?;
        let minor = parts.next().map(|p| version_part(Some(p), "minor", u8::MAX.into())).transpose()?;
        let revision = parts.next().map(|p| version_part(Some(p), "revision", u16::MAX.into())).transpose()?;
        let build = build.map(|p| version_part(Some(p), "build", u32::MAX)).transpose()?;
        if parts.next().is_some() || (build.is_some() && revision.is_none()) {
            return Err(VersionError::Syntax);
        }
        // The bounds were checked by `version_part`, so these conversions are exact.
        Ok(Self {
            major: major as u8,
            minor: minor.unwrap_or(0) as u8,
            revision: revision.unwrap_or(0) as u16,
            build: build.unwrap_or(0),
        })
    }
}

fn version_part(part: Option<&str>, name: &'static str, max: u32) -> Result<u32, VersionError> {
    let part = part.ok_or(VersionError::Syntax)?;
    let digits_only = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (part.len() > 1 && part.starts_with('0')) {
        return Err(VersionError::Syntax);
    }
    match part.parse::<u32>() {
        Ok(value) if value <= max => Ok(value),
        _ => Err(VersionError::TooLarge { part: name, max }),
    }
}

/// The fixed 32-byte image header (`struct image_header`), little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// `ih_load_addr`: the RAM address for RAM-load images, else 0.
    pub load_addr: u32,
    /// `ih_hdr_size`: bytes from the image start to the body (at least 32).
    pub hdr_size: u16,
    /// `ih_protect_tlv_size`: bytes of the protected TLV area, its info header included.
    pub protect_tlv_size: u16,
    /// `ih_img_size`: bytes of the body, header excluded.
    pub img_size: u32,
    /// `ih_flags`: see [`flags`].
    pub flags: u32,
    /// `ih_ver`.
    pub version: ImageVersion,
}

impl ImageHeader {
    /// Decodes a header, checking only the magic (sizes are checked by [`crate::ImageLayout`],
    /// which knows how much data there is).
    pub fn parse(bytes: &[u8; HEADER_SIZE]) -> Result<Self, Error> {
        let magic = le32(bytes, 0);
        if magic != IMAGE_MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let mut version = [0; 8];
        version.copy_from_slice(&bytes[20..28]);
        Ok(Self {
            load_addr: le32(bytes, 4),
            hdr_size: le16(bytes, 8),
            protect_tlv_size: le16(bytes, 10),
            img_size: le32(bytes, 12),
            flags: le32(bytes, 16),
            version: ImageVersion::parse(&version),
        })
    }

    /// Encodes the header (the trailing `_pad1` word is zero).
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0; HEADER_SIZE];
        out[0..4].copy_from_slice(&IMAGE_MAGIC.to_le_bytes());
        out[4..8].copy_from_slice(&self.load_addr.to_le_bytes());
        out[8..10].copy_from_slice(&self.hdr_size.to_le_bytes());
        out[10..12].copy_from_slice(&self.protect_tlv_size.to_le_bytes());
        out[12..16].copy_from_slice(&self.img_size.to_le_bytes());
        out[16..20].copy_from_slice(&self.flags.to_le_bytes());
        out[20..28].copy_from_slice(&self.version.to_bytes());
        out
    }

    /// True if any of `flag` is set.
    pub const fn has_flag(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

pub(crate) fn le16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

pub(crate) fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Result<ImageVersion, VersionError> {
        text.parse()
    }

    #[test]
    fn versions_parse_like_imgtool() {
        assert_eq!(v("1.2.3+4"), Ok(ImageVersion::new(1, 2, 3, 4)));
        assert_eq!(v("1"), Ok(ImageVersion::new(1, 0, 0, 0)));
        assert_eq!(v("0.10"), Ok(ImageVersion::new(0, 10, 0, 0)));
        assert_eq!(v("255.255.65535+4294967295"), Ok(ImageVersion::new(255, 255, 65535, u32::MAX)));
        assert_eq!(v("1.2.3").unwrap().to_string(), "1.2.3+0");
    }

    #[test]
    fn malformed_versions_are_rejected_with_the_expected_form() {
        for bad in ["", "1.", "1.2.3.4", "a.b", "01.2", "1.2+3", "+1", "1.2.3+", "-1", " 1"] {
            let err = v(bad).unwrap_err();
            assert_eq!(err, VersionError::Syntax, "{bad:?}");
            assert!(err.to_string().contains("use major.minor.revision+build"), "{err}");
        }
    }

    #[test]
    fn oversized_version_parts_name_the_part_and_its_limit() {
        let err = v("256.0.0").unwrap_err();
        assert_eq!(err, VersionError::TooLarge { part: "major", max: 255 });
        assert!(err.to_string().contains("the major part is larger than 255"), "{err}");
        assert_eq!(v("1.2.65536").unwrap_err(), VersionError::TooLarge { part: "revision", max: 65535 });
        assert_eq!(v("1.2.3+4294967296").unwrap_err(), VersionError::TooLarge { part: "build", max: u32::MAX });
    }

    #[test]
    fn auto_security_counter_matches_imgtool() {
        assert_eq!(ImageVersion::new(1, 2, 3, 9).auto_security_counter(), 0x0102_0003);
    }

    #[test]
    fn header_round_trips() {
        let header = ImageHeader {
            load_addr: 0x2000_0000,
            hdr_size: 0x200,
            protect_tlv_size: 52,
            img_size: 0x1_2345,
            flags: flags::RAM_LOAD,
            version: ImageVersion::new(1, 2, 3, 4),
        };
        let bytes = header.to_bytes();
        assert_eq!(&bytes[..4], &[0x3d, 0xb8, 0xf3, 0x96]);
        assert_eq!(&bytes[28..], &[0; 4]);
        assert_eq!(ImageHeader::parse(&bytes), Ok(header));
    }

    #[test]
    fn a_wrong_magic_is_reported_with_the_value_found() {
        let err = ImageHeader::parse(&[0xff; 32]).unwrap_err();
        assert_eq!(err, Error::BadMagic { found: 0xffff_ffff });
        assert!(err.to_string().contains("header magic is 0xffffffff, expected 0x96f3b83d"), "{err}");
    }
}

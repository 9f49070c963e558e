//! TLVs: type numbers, names, and iteration over an image's TLV areas.
//!
//! The numbers are those of MCUboot's `boot/bootutil/include/bootutil/image.h` and of
//! imgtool 2.5. (MCUboot's `docs/design.md` lists the UUID TLVs as 0x80/0x81, but the
//! code and imgtool both use 0x74/0x75, which is what images carry.)

use core::fmt;

use crate::error::Error;
use crate::header::le16;
use crate::source::{read_at, ImageSource};
use crate::ImageLayout;

/// Magic of the unprotected TLV area's info header.
pub const INFO_MAGIC: u16 = 0x6907;
/// Magic of the protected TLV area's info header.
pub const PROT_INFO_MAGIC: u16 = 0x6908;
/// Size of a TLV area's info header (`{u16 magic, u16 total}`) and of a TLV's header
/// (`{u16 type, u16 len}`).
pub const HEADER_LEN: u32 = 4;

/// SHA-256 of the public key's `SubjectPublicKeyInfo`.
pub const KEYHASH: u16 = 0x01;
/// The public key itself (`imgtool sign --public-key-format full`).
pub const PUBKEY: u16 = 0x02;
/// SHA-256 of header, body and protected TLVs.
pub const SHA256: u16 = 0x10;
/// SHA-384 of the same.
pub const SHA384: u16 = 0x11;
/// SHA-512 of the same.
pub const SHA512: u16 = 0x12;
/// RSA-2048 PSS signature.
pub const RSA2048_PSS: u16 = 0x20;
/// ECDSA P-224 signature (no longer supported by MCUboot).
pub const ECDSA224: u16 = 0x21;
/// ECDSA (P-256 or P-384) signature, ASN.1-encoded.
pub const ECDSA_SIG: u16 = 0x22;
/// RSA-3072 PSS signature.
pub const RSA3072_PSS: u16 = 0x23;
/// Ed25519 signature of the image's SHA-256 (64 bytes).
pub const ED25519: u16 = 0x24;
/// Marks a "pure" signature over the whole image instead of its hash.
pub const SIG_PURE: u16 = 0x25;
/// AES key encrypted with RSA-OAEP-2048.
pub const ENC_RSA2048: u16 = 0x30;
/// AES key wrapped with AES-KW.
pub const ENC_KW: u16 = 0x31;
/// AES key encrypted with ECIES-P256.
pub const ENC_EC256: u16 = 0x32;
/// AES key encrypted with ECIES-X25519 (HMAC-SHA256).
pub const ENC_X25519: u16 = 0x33;
/// AES key encrypted with ECIES-X25519 (HMAC-SHA512).
pub const ENC_X25519_SHA512: u16 = 0x34;
/// Dependency on another image (multi-image builds).
pub const DEPENDENCY: u16 = 0x40;
/// Security counter (u32, little-endian), for rollback protection.
pub const SEC_CNT: u16 = 0x50;
/// CBOR measured-boot record.
pub const BOOT_RECORD: u16 = 0x60;
/// Decompressed image size.
pub const DECOMP_SIZE: u16 = 0x70;
/// Decompressed image hash.
pub const DECOMP_SHA: u16 = 0x71;
/// Decompressed image signature.
pub const DECOMP_SIGNATURE: u16 = 0x72;
/// Compressed, decrypted image size.
pub const COMP_DEC_SIZE: u16 = 0x73;
/// Vendor UUID (16 bytes).
pub const UUID_VID: u16 = 0x74;
/// Image class UUID (16 bytes).
pub const UUID_CID: u16 = 0x75;

/// True for types in the vendor-reserved ranges `0xXXa0..=0xXXff` (but not `0xffff`).
pub const fn is_vendor_reserved(kind: u16) -> bool {
    kind & 0xff >= 0xa0 && kind != 0xffff
}

/// A TLV type, printed with its name: `ECDSA signature (TLV 0x22)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlvType(pub u16);

impl TlvType {
    /// A short description of the type, if it is a known one.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            KEYHASH => "public key hash",
            PUBKEY => "public key",
            SHA256 => "SHA-256 hash",
            SHA384 => "SHA-384 hash",
            SHA512 => "SHA-512 hash",
            RSA2048_PSS => "RSA-2048 PSS signature",
            ECDSA224 => "ECDSA P-224 signature",
            ECDSA_SIG => "ECDSA signature",
            RSA3072_PSS => "RSA-3072 PSS signature",
            ED25519 => "Ed25519 signature",
            SIG_PURE => "pure-signature marker",
            ENC_RSA2048 => "RSA-OAEP encrypted key",
            ENC_KW => "AES-KW wrapped key",
            ENC_EC256 => "ECIES-P256 encrypted key",
            ENC_X25519 => "ECIES-X25519 encrypted key",
            ENC_X25519_SHA512 => "ECIES-X25519-SHA512 encrypted key",
            DEPENDENCY => "image dependency",
            SEC_CNT => "security counter",
            BOOT_RECORD => "measured boot record",
            DECOMP_SIZE => "decompressed size",
            DECOMP_SHA => "decompressed image hash",
            DECOMP_SIGNATURE => "decompressed image signature",
            COMP_DEC_SIZE => "compressed decrypted size",
            UUID_VID => "vendor UUID",
            UUID_CID => "class UUID",
            _ => return None,
        })
    }

    /// True for the hash TLVs (SHA-256, SHA-384, SHA-512).
    pub const fn is_hash(self) -> bool {
        matches!(self.0, SHA256 | SHA384 | SHA512)
    }

    /// True for the signature TLVs of every algorithm.
    pub const fn is_signature(self) -> bool {
        matches!(self.0, RSA2048_PSS | ECDSA224 | ECDSA_SIG | RSA3072_PSS | ED25519)
    }

    /// True for types MCUboot allows in the unprotected area (its `allowed_unprot_tlvs`):
    /// keys, hashes, signatures and encrypted AES keys. Everything else must be covered
    /// by the hash.
    pub const fn allowed_unprotected(self) -> bool {
        self.is_hash()
            || self.is_signature()
            || matches!(self.0, KEYHASH | PUBKEY | SIG_PURE | ENC_RSA2048 | ENC_KW | ENC_EC256 | ENC_X25519)
            || self.0 == ENC_X25519_SHA512
    }
}

impl fmt::Display for TlvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (TLV {:#04x})", self.0),
            None if is_vendor_reserved(self.0) => write!(f, "vendor TLV {:#06x}", self.0),
            None => write!(f, "unknown TLV {:#06x}", self.0),
        }
    }
}

/// One TLV: its type and where its value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlvEntry {
    /// The type.
    pub kind: TlvType,
    /// Offset of the value (after the 4-byte TLV header) from the image start.
    pub offset: u32,
    /// Length of the value.
    pub len: u16,
    /// True if the TLV is in the protected area (covered by the hash).
    pub protected: bool,
}

impl TlvEntry {
    /// Reads the value into `buf`, which must be exactly `len` bytes long.
    pub fn read_value<S: ImageSource + ?Sized>(&self, src: &mut S, buf: &mut [u8]) -> Result<(), Error> {
        if buf.len() != usize::from(self.len) {
            return Err(self.bad_length(buf.len()));
        }
        read_at(src, self.offset, buf)
    }

    /// Reads a value whose length is fixed by its type, rejecting any other length.
    pub fn read_fixed<S: ImageSource + ?Sized, const N: usize>(&self, src: &mut S) -> Result<[u8; N], Error> {
        let mut value = [0; N];
        self.read_value(src, &mut value)?;
        Ok(value)
    }

    fn bad_length(&self, expected: usize) -> Error {
        Error::BadTlvLength { kind: self.kind, len: self.len, expected: u16::try_from(expected).unwrap_or(u16::MAX) }
    }
}

/// Walks the protected TLVs, then the unprotected ones, checking that every TLV lies
/// inside its own area. Use it as `while let Some(tlv) = iter.next(&mut src)? { ... }`.
#[derive(Debug, Clone)]
pub struct TlvIter {
    pos: u32,
    prot_end: u32,
    unprot_start: u32,
    end: u32,
}

impl TlvIter {
    /// An iterator over the TLVs of a parsed layout.
    pub fn new(layout: &ImageLayout) -> Self {
        let prot_start = layout.prot_tlv_offset();
        let prot_end = layout.tlv_offset();
        // Skip the info header of whichever area comes first.
        let pos = if prot_end > prot_start { prot_start + HEADER_LEN } else { prot_end + HEADER_LEN };
        Self { pos, prot_end, unprot_start: prot_end + HEADER_LEN, end: layout.total_size() }
    }

    /// The next TLV, `None` after the last one.
    pub fn next<S: ImageSource + ?Sized>(&mut self, src: &mut S) -> Result<Option<TlvEntry>, Error> {
        if self.pos == self.prot_end {
            self.pos = self.unprot_start;
        }
        if self.pos >= self.end {
            return Ok(None);
        }
        let protected = self.pos < self.prot_end;
        let area_end = if protected { self.prot_end } else { self.end };
        let value_offset = self.pos.checked_add(HEADER_LEN).filter(|&v| v <= area_end);
        let Some(value_offset) = value_offset else {
            return Err(self.past_end(TlvType(0), 0, area_end));
        };
        let mut header = [0; HEADER_LEN as usize];
        read_at(src, self.pos, &mut header)?;
        let kind = TlvType(le16(&header, 0));
        let len = le16(&header, 2);
        let value_end = value_offset.checked_add(u32::from(len)).filter(|&v| v <= area_end);
        let Some(value_end) = value_end else {
            return Err(self.past_end(kind, len, area_end));
        };
        self.pos = value_end;
        Ok(Some(TlvEntry { kind, offset: value_offset, len, protected }))
    }

    /// Stops the walk at the first error so it cannot loop over garbage.
    fn past_end(&mut self, kind: TlvType, len: u16, end: u32) -> Error {
        let offset = self.pos;
        self.pos = self.end;
        Error::TlvPastEnd { offset, kind, len, end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_print_with_their_names() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(TlvType(ECDSA_SIG).to_string(), "ECDSA signature (TLV 0x22)");
        assert_eq!(TlvType(SEC_CNT).to_string(), "security counter (TLV 0x50)");
        assert_eq!(TlvType(0x01a5).to_string(), "vendor TLV 0x01a5");
        assert_eq!(TlvType(0x0099).to_string(), "unknown TLV 0x0099");
    }

    #[test]
    fn classification_matches_mcuboot() {
        assert!(TlvType(SHA256).allowed_unprotected());
        assert!(TlvType(ED25519).allowed_unprotected());
        assert!(TlvType(ENC_X25519_SHA512).allowed_unprotected());
        assert!(!TlvType(SEC_CNT).allowed_unprotected());
        assert!(!TlvType(UUID_VID).allowed_unprotected());
        assert!(!TlvType(0x00a0).allowed_unprotected());
        assert!(is_vendor_reserved(0xffa0) && !is_vendor_reserved(0xffff) && !is_vendor_reserved(0x009f));
    }
}

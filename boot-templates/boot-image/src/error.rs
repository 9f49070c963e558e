//! Why an image was rejected. Every message names the problem and the fix.

use crate::{ImageVersion, TlvType};

/// Why reading from an [`crate::ImageSource`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The range lies outside the source.
    #[error("the range is outside the image or slot")]
    OutOfBounds,
    /// The flash cannot read at this address or length.
    #[error("the flash cannot read at this alignment")]
    NotAligned,
    /// The flash driver failed.
    #[error("the flash driver reported an error")]
    Other,
}

/// Everything parsing, verification and the policy checks can reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source could not be read.
    #[error("cannot read {len} bytes at offset {offset:#x} of the image ({kind}); check the slot's address and size")]
    Read {
        /// Where the read started.
        offset: u32,
        /// How many bytes were asked for.
        len: u32,
        /// What went wrong.
        kind: ReadError,
    },
    /// Fewer than 32 bytes.
    #[error("the image is {len} bytes long, shorter than the 32-byte MCUboot header: sign the binary first (`cargo boot sign`)")]
    TooShort {
        /// The data's length.
        len: u32,
    },
    /// The first word is not `0x96f3b83d`.
    #[error("not an MCUboot image: the header magic is {found:#010x}, expected 0x96f3b83d; sign the binary with `cargo boot sign` (or `imgtool sign`) first")]
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// `hdr_size` is below 32.
    #[error("the header size field is {hdr_size} bytes, less than the 32-byte header itself: the image is corrupt, sign it again")]
    HeaderTooSmall {
        /// `ih_hdr_size`.
        hdr_size: u16,
    },
    /// `hdr_size + img_size` does not fit in 32 bits.
    #[error("the header size ({hdr_size}) plus the image size ({img_size}) overflows 32 bits: the image is corrupt, sign it again")]
    SizeOverflow {
        /// `ih_hdr_size`.
        hdr_size: u16,
        /// `ih_img_size`.
        img_size: u32,
    },
    /// The header or the body ends past the data.
    #[error("the image body ends at byte {end:#x} but only {len:#x} bytes are there: the image is truncated or larger than the slot; copy it again or use a larger slot")]
    BodyPastEnd {
        /// Where the body ends.
        end: u32,
        /// The data's length.
        len: u32,
    },
    /// No room for a TLV info header after the body.
    #[error("the TLV area at {offset:#x} starts past the end of the data ({len:#x} bytes): the image is truncated or was never signed; sign it with `cargo boot sign`")]
    TlvInfoPastEnd {
        /// Where the TLV info header should be.
        offset: u32,
        /// The data's length.
        len: u32,
    },
    /// The word after the body (or after the protected TLVs) is not a TLV info magic.
    #[error("no TLV area at {offset:#x}: found magic {found:#06x}, expected 0x6907 (or 0x6908 for protected TLVs); the image is corrupt or truncated, sign it again")]
    BadTlvMagic {
        /// Where the magic was read.
        offset: u32,
        /// The value found.
        found: u16,
    },
    /// The header and the protected TLV area disagree on its size.
    #[error("the header declares {header} bytes of protected TLVs but the protected TLV area holds {area}: the image was modified after signing, sign it again")]
    ProtectedSizeMismatch {
        /// `ih_protect_tlv_size`.
        header: u16,
        /// The protected area's own total (0 when there is none).
        area: u16,
    },
    /// A TLV area's total is smaller than its own 4-byte info header.
    #[error("the TLV area at {offset:#x} declares {total} bytes, less than its own 4-byte header: the image is corrupt, sign it again")]
    TlvAreaTooSmall {
        /// Where the area starts.
        offset: u32,
        /// Its declared total.
        total: u16,
    },
    /// A TLV area ends past the data.
    #[error("the TLV area {offset:#x}..{end:#x} runs past the end of the data ({len:#x} bytes): the image is truncated or larger than the slot; copy it again")]
    TlvAreaPastEnd {
        /// Where the area starts.
        offset: u32,
        /// Where it ends.
        end: u32,
        /// The data's length.
        len: u32,
    },
    /// A TLV's header or value runs past the end of its area.
    #[error("the TLV at {offset:#x} ({kind}, {len} bytes) runs past the end of its TLV area at {end:#x}: the image is corrupt, sign it again")]
    TlvPastEnd {
        /// Where the TLV's header starts.
        offset: u32,
        /// Its type (0 if its header itself does not fit).
        kind: TlvType,
        /// Its declared value length.
        len: u16,
        /// Where its area ends.
        end: u32,
    },
    /// A TLV has the wrong length for its type.
    #[error("{kind} is {len} bytes long, expected {expected}: the image is corrupt or was made by an incompatible tool; sign it again with `cargo boot sign`")]
    BadTlvLength {
        /// The TLV's type.
        kind: TlvType,
        /// Its length.
        len: u16,
        /// The length its type requires.
        expected: u16,
    },
    /// A TLV that may appear once appears twice.
    #[error("the image holds more than one {kind}, which a signer writes once: the image was tampered with or corrupted, sign it again")]
    DuplicateTlv {
        /// The repeated type.
        kind: TlvType,
    },
    /// A TLV that must be covered by the hash sits in the unprotected area.
    #[error("{kind} is in the unprotected TLV area, where the signature does not cover it: the image was tampered with or made by an incompatible tool; sign it again with `cargo boot sign` or imgtool")]
    UnprotectedTlv {
        /// The misplaced type.
        kind: TlvType,
    },
    /// The image needs a feature the verifier does not have (dependencies, ...).
    #[error("{kind} is not supported by the cargo boot bootloader, which boots a single image: sign without it (imgtool: drop -d/--dependencies)")]
    UnsupportedTlv {
        /// The type.
        kind: TlvType,
    },
    /// The image is encrypted.
    #[error("the image is encrypted (header flags {flags:#x}), which cargo boot does not support: sign it without --encrypt")]
    Encrypted {
        /// `ih_flags`.
        flags: u32,
    },
    /// The image is compressed.
    #[error("the image is compressed (header flags {flags:#x}), which cargo boot does not support: sign it without --compression")]
    Compressed {
        /// `ih_flags`.
        flags: u32,
    },
    /// There is no SHA-256 TLV.
    #[error("the image has no SHA-256 hash TLV (0x10): it was not signed by imgtool or cargo boot; sign it with `cargo boot sign`")]
    MissingHash,
    /// Only a SHA-384 or SHA-512 hash TLV.
    #[error("{kind} is not supported: cargo boot images use SHA-256; sign with an Ed25519 key and the default hash (`cargo boot sign`, or `imgtool sign` without --sha)")]
    UnsupportedHash {
        /// The hash TLV found.
        kind: TlvType,
    },
    /// The computed SHA-256 differs from the hash TLV.
    #[error("the image's SHA-256 does not match its hash TLV: the image was changed after signing or damaged in transfer; rebuild and sign it again")]
    HashMismatch,
    /// Signed over the whole image (`imgtool sign --pure`).
    #[error("the image carries a pure Ed25519 signature over the whole image (TLV 0x25, `imgtool sign --pure`), which is not supported: sign it without --pure")]
    PureSignature,
    /// Signed with an algorithm other than Ed25519.
    #[error("{kind} is not supported: sign the image with an Ed25519 key (`cargo boot keygen`, or `imgtool keygen -t ed25519`)")]
    UnsupportedSignature {
        /// The signature TLV found.
        kind: TlvType,
    },
    /// No signature at all.
    #[error("the image is not signed (no Ed25519 signature TLV): sign it with `cargo boot sign --key <key.pem>`")]
    Unsigned,
    /// An Ed25519 signature without a KEYHASH or PUBKEY TLV before it.
    #[error("the Ed25519 signature is not preceded by a KEYHASH or PUBKEY TLV naming its key: the image is malformed, sign it again")]
    SignatureWithoutKey,
    /// Signed by a key that is not trusted.
    #[error("the image was signed by a key that is not trusted here (its key hash starts {key_hash_prefix:02x?}): sign it with the key whose public half the bootloader embeds, or verify with the key that signed it")]
    UnknownKey {
        /// The first bytes of the image's KEYHASH.
        key_hash_prefix: [u8; 4],
    },
    /// No trusted keys were given.
    #[error("no trusted public key was given: embed the signing key's public half (`cargo boot keygen` prints it) or pass --key")]
    NoTrustedKeys,
    /// A trusted key is not a valid Ed25519 point.
    #[error("trusted public key {index} is not a valid Ed25519 public key: regenerate the key pair with `cargo boot keygen`")]
    InvalidPublicKey {
        /// Its index in the list of trusted keys.
        index: usize,
    },
    /// The signature does not verify.
    #[error("the Ed25519 signature is invalid for the trusted key: the image was tampered with or damaged after signing; sign it again")]
    BadSignature,
    /// Security counter below the device's.
    #[error("the image's security counter {image} is lower than the device's {minimum}: it is a rollback to an older release; sign the update with --security-counter {minimum} or higher")]
    SecurityCounterTooLow {
        /// The image's counter.
        image: u32,
        /// The device's counter.
        minimum: u32,
    },
    /// No security counter, but the device requires one.
    #[error("the image has no security counter but the device requires at least {minimum}: sign it with --security-counter {minimum} or higher")]
    MissingSecurityCounter {
        /// The device's counter.
        minimum: u32,
    },
    /// Older than the running image.
    #[error("the image's version {image} is older than the installed {installed}: downgrades are refused; sign the update with a higher --version")]
    Downgrade {
        /// The image's version.
        image: ImageVersion,
        /// The installed version.
        installed: ImageVersion,
    },
    /// Vendor UUID differs or is missing.
    #[error("the image's vendor UUID does not match this device's (or is missing): sign it with the device's --vid")]
    VendorMismatch,
    /// Class UUID differs or is missing.
    #[error("the image's class UUID does not match this device's (or is missing): sign it with the device's --cid")]
    ClassMismatch,
}

pub(crate) fn read_error(offset: u32, len: usize, kind: ReadError) -> Error {
    Error::Read { offset, len: u32::try_from(len).unwrap_or(u32::MAX), kind }
}

//! The MCUboot image format, shared by the `cargo boot` host tools and the bootloader.
//!
//! An image is laid out as MCUboot's `imgtool sign` writes it:
//!
//! ```text
//! +----------------------+ 0
//! | header (32 bytes)    |  magic 0x96f3b83d, sizes, flags, version
//! | padding              |  up to `hdr_size` (the app's vector table starts here)
//! +----------------------+ hdr_size
//! | body (the app)       |  img_size bytes
//! +----------------------+ hdr_size + img_size
//! | protected TLVs       |  0x6908 info + security counter, vendor/class UUIDs
//! +----------------------+ ... + protect_tlv_size       <- the SHA-256 covers everything above
//! | unprotected TLVs     |  0x6907 info + SHA256, KEYHASH, ED25519 signature of the SHA-256
//! +----------------------+ total_size
//! | (erased) ... trailer |  only in padded images: MCUboot's swap state, magic at the slot's end
//! +----------------------+ slot size
//! ```
//!
//! - [`ImageHeader`], [`ImageVersion`] and [`flags`]: the 32-byte header.
//! - [`tlv`]: TLV type numbers and names, and [`TlvIter`] over an image's TLVs.
//! - [`ImageLayout`]: where every part of an image is, checked against the data's length.
//! - [`ImageSource`]: reading an image from a byte slice or from flash, in pieces.
//! - [`trailer`]: MCUboot's image trailer (`imgtool sign --pad/--confirm`).
//! - `verify` (feature `verify`): the SHA-256 and Ed25519 checks, without allocation.
//! - `build` (feature `std`): [`ImageBuilder`], which writes what `imgtool sign` writes.
//!
//! Nothing here panics or allocates on the parsing and verification paths; every
//! malformed field is an [`Error`] whose message names the problem and the fix.

#![cfg_attr(not(any(feature = "std", test)), no_std)]
#![deny(missing_docs)]

#[cfg(feature = "std")]
mod build;
#[cfg(feature = "verify")]
mod ed25519;
mod error;
mod header;
mod layout;
#[cfg(any(feature = "std", feature = "verify"))]
mod sha;
mod source;
pub mod tlv;
pub mod trailer;
#[cfg(feature = "verify")]
mod verify;

#[cfg(feature = "std")]
pub use build::{BuildError, Ed25519Signer, ImageBuilder, KeyFormat, PadMode};
pub use error::{Error, ReadError};
pub use header::{flags, ImageHeader, ImageVersion, VersionError, HEADER_SIZE, IMAGE_MAGIC};
pub use layout::ImageLayout;
#[cfg(feature = "embedded-storage")]
pub use source::FlashSource;
pub use source::ImageSource;
pub use tlv::{TlvEntry, TlvIter, TlvType};
#[cfg(feature = "verify")]
pub use verify::{check_hash, verify, verify_slice, VerifiedImage};

/// The length of an Ed25519 public key, the form the bootloader embeds.
pub const PUBLIC_KEY_LEN: usize = 32;

/// The DER prefix of an Ed25519 `SubjectPublicKeyInfo` (RFC 8410): the public key's
/// 32 bytes follow it. MCUboot embeds keys in this form and its KEYHASH TLV is the
/// SHA-256 of these 44 bytes.
pub const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The 44-byte DER `SubjectPublicKeyInfo` of an Ed25519 public key, as imgtool and
/// MCUboot encode it.
pub fn ed25519_spki(public_key: &[u8; PUBLIC_KEY_LEN]) -> [u8; 44] {
    let mut der = [0; 44];
    der[..12].copy_from_slice(&ED25519_SPKI_PREFIX);
    der[12..].copy_from_slice(public_key);
    der
}

/// The SHA-256 of a public key's `SubjectPublicKeyInfo`: the KEYHASH TLV's contents.
#[cfg(any(feature = "std", feature = "verify"))]
pub fn key_hash(public_key: &[u8; PUBLIC_KEY_LEN]) -> [u8; 32] {
    sha::sha256_short(&ed25519_spki(public_key))
}

#[cfg(all(test, feature = "std", feature = "verify"))]
mod proptests;
#[cfg(test)]
mod testutil;

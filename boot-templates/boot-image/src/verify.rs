//! SHA-256 and Ed25519 verification, as MCUboot's `bootutil_img_validate` does it, with
//! no allocation: the bootloader and the host tools share this one implementation.
//!
//! What is checked:
//! - the SHA-256 of header, body and protected TLVs equals the (single) SHA256 TLV;
//! - an ED25519 TLV, preceded by a KEYHASH (or PUBKEY) TLV naming a trusted key,
//!   is a valid Ed25519 signature of that 32-byte digest by that key. This is what
//!   imgtool 2.5 writes for Ed25519 keys: its `Ed25519.sign_digest` signs the digest,
//!   not the image;
//! - the security counter and the UUIDs appear at most once, with their exact lengths,
//!   and only in the protected area; no unprotected TLV outside MCUboot's allow list;
//! - the image is neither encrypted, compressed, "pure"-signed nor multi-image.

use crate::ed25519;
use crate::error::Error;
use crate::sha;
use crate::source::ImageSource;
use crate::tlv::{self, TlvEntry, TlvType};
use crate::{ed25519_spki, flags, key_hash, ImageLayout, ImageVersion, PUBLIC_KEY_LEN};

/// An image whose hash and signature were checked, and what its header and
/// protected TLVs say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedImage {
    /// `ih_ver`.
    pub version: ImageVersion,
    /// The SEC_CNT TLV, if any.
    pub security_counter: Option<u32>,
    /// The UUID_VID TLV, if any.
    pub vendor_uuid: Option<[u8; 16]>,
    /// The UUID_CID TLV, if any.
    pub class_uuid: Option<[u8; 16]>,
    /// `ih_load_addr`.
    pub load_addr: u32,
    /// `ih_flags`.
    pub flags: u32,
    /// `ih_hdr_size`: the body (the app's vector table) starts here.
    pub hdr_size: u16,
    /// `ih_img_size`: the body's length.
    pub img_size: u32,
    /// Header, body and TLVs: the bytes an update must transfer.
    pub total_size: u32,
    /// The SHA-256 that was signed.
    pub hash: [u8; 32],
    /// Which of the trusted keys signed it.
    pub key_index: usize,
}

impl VerifiedImage {
    /// Refuses a rollback: the image's security counter must be at least `minimum`
    /// (the device's counter). With `minimum` 0, images without a counter pass.
    pub fn check_security_counter(&self, minimum: u32) -> Result<(), Error> {
        match self.security_counter {
            Some(image) if image < minimum => Err(Error::SecurityCounterTooLow { image, minimum }),
            None if minimum > 0 => Err(Error::MissingSecurityCounter { minimum }),
            _ => Ok(()),
        }
    }

    /// Refuses a downgrade: `major.minor.revision` must not be lower than `installed`'s
    /// (MCUboot's default comparison, which ignores the build number).
    pub fn check_not_older_than(&self, installed: ImageVersion) -> Result<(), Error> {
        if self.version.release() < installed.release() {
            return Err(Error::Downgrade { image: self.version, installed });
        }
        Ok(())
    }

    /// Requires the image's vendor UUID to be `expected`.
    pub fn check_vendor(&self, expected: &[u8; 16]) -> Result<(), Error> {
        match self.vendor_uuid {
            Some(uuid) if &uuid == expected => Ok(()),
            _ => Err(Error::VendorMismatch),
        }
    }

    /// Requires the image's class UUID to be `expected`.
    pub fn check_class(&self, expected: &[u8; 16]) -> Result<(), Error> {
        match self.class_uuid {
            Some(uuid) if &uuid == expected => Ok(()),
            _ => Err(Error::ClassMismatch),
        }
    }
}

/// Verifies the image in `bytes` against the trusted public keys.
pub fn verify_slice(mut bytes: &[u8], keys: &[[u8; PUBLIC_KEY_LEN]]) -> Result<VerifiedImage, Error> {
    verify(&mut bytes, keys)
}

/// Verifies the image at the start of `src` against the trusted public keys, reading
/// it in small pieces. `src.len()` bounds the image: for a flash slot, pass the slot's
/// size (minus any trailer the image must not overlap).
pub fn verify<S: ImageSource + ?Sized>(src: &mut S, keys: &[[u8; PUBLIC_KEY_LEN]]) -> Result<VerifiedImage, Error> {
    if keys.is_empty() {
        return Err(Error::NoTrustedKeys);
    }
    let layout = ImageLayout::read(src)?;
    check_flags(layout.header.flags)?;
    let hash = hash_image(src, &layout)?;
    let found = scan(src, &layout, &hash, keys)?;
    found.finish(&layout, hash)
}

/// Checks only the SHA256 TLV (no signature): for `inspect`, and for images that were
/// hashed but not signed. Returns the hash.
pub fn check_hash<S: ImageSource + ?Sized>(src: &mut S) -> Result<[u8; 32], Error> {
    let layout = ImageLayout::read(src)?;
    let hash = hash_image(src, &layout)?;
    let mut tlvs = layout.tlvs();
    let mut found = None;
    while let Some(entry) = tlvs.next(src)? {
        if entry.kind.0 == tlv::SHA256 {
            found = Some(read_once(src, &entry, found)?);
        }
    }
    match found {
        Some(stored) if stored == hash => Ok(hash),
        Some(_) => Err(Error::HashMismatch),
        None => Err(Error::MissingHash),
    }
}

fn check_flags(flags: u32) -> Result<(), Error> {
    if flags & flags::ENCRYPTED != 0 {
        return Err(Error::Encrypted { flags });
    }
    if flags & flags::COMPRESSED != 0 {
        return Err(Error::Compressed { flags });
    }
    Ok(())
}

/// SHA-256 of header, body and protected TLVs, read in 64-byte blocks.
fn hash_image<S: ImageSource + ?Sized>(src: &mut S, layout: &ImageLayout) -> Result<[u8; 32], Error> {
    sha::sha256(src, layout.hashed_len())
}

/// What one pass over the TLVs found.
#[derive(Default)]
struct Found {
    sha256: Option<[u8; 32]>,
    other_hash: Option<TlvType>,
    other_signature: Option<TlvType>,
    pure: bool,
    security_counter: Option<u32>,
    vendor_uuid: Option<[u8; 16]>,
    class_uuid: Option<[u8; 16]>,
    /// The key named by the last KEYHASH/PUBKEY TLV: `Some(Some(i))` if trusted.
    pending_key: Option<Option<usize>>,
    unknown_key: Option<[u8; 4]>,
    signature_without_key: bool,
    tried_signature: bool,
    verified_by: Option<usize>,
}

/// Walks every TLV once, verifying each Ed25519 signature by a trusted key.
fn scan<S: ImageSource + ?Sized>(
    src: &mut S,
    layout: &ImageLayout,
    hash: &[u8; 32],
    keys: &[[u8; PUBLIC_KEY_LEN]],
) -> Result<Found, Error> {
    let mut found = Found::default();
    let mut tlvs = layout.tlvs();
    while let Some(entry) = tlvs.next(src)? {
        if !entry.protected && !entry.kind.allowed_unprotected() {
            return Err(Error::UnprotectedTlv { kind: entry.kind });
        }
        found.visit(src, &entry, hash, keys)?;
    }
    Ok(found)
}

impl Found {
    fn visit<S: ImageSource + ?Sized>(
        &mut self,
        src: &mut S,
        entry: &TlvEntry,
        hash: &[u8; 32],
        keys: &[[u8; PUBLIC_KEY_LEN]],
    ) -> Result<(), Error> {
        match entry.kind.0 {
            tlv::SHA256 => self.sha256 = Some(read_once(src, entry, self.sha256)?),
            tlv::SHA384 | tlv::SHA512 => self.other_hash = Some(entry.kind),
            tlv::KEYHASH => self.pending_key = Some(self.key_by_hash(&entry.read_fixed(src)?, keys)),
            tlv::PUBKEY => self.pending_key = Some(key_by_value(src, entry, keys)?),
            tlv::ED25519 => self.signature(src, entry, hash, keys)?,
            tlv::SIG_PURE => self.pure = true,
            tlv::SEC_CNT => {
                let value = read_once(src, entry, self.security_counter.map(u32::to_le_bytes))?;
                self.security_counter = Some(u32::from_le_bytes(value));
            }
            tlv::UUID_VID => self.vendor_uuid = Some(read_once(src, entry, self.vendor_uuid)?),
            tlv::UUID_CID => self.class_uuid = Some(read_once(src, entry, self.class_uuid)?),
            tlv::DEPENDENCY => return Err(Error::UnsupportedTlv { kind: entry.kind }),
            _ if entry.kind.is_signature() => self.other_signature = Some(entry.kind),
            // Boot records, unused encryption keys (`imgtool sign --clear`), vendor TLVs.
            _ => {}
        }
        Ok(())
    }

    fn key_by_hash(&mut self, image_hash: &[u8; 32], keys: &[[u8; PUBLIC_KEY_LEN]]) -> Option<usize> {
        let index = keys.iter().position(|key| &key_hash(key) == image_hash);
        if index.is_none() {
            let mut prefix = [0; 4];
            prefix.copy_from_slice(&image_hash[..4]);
            self.unknown_key = Some(prefix);
        }
        index
    }

    /// An ED25519 TLV: checked if the key before it is trusted, like MCUboot (each
    /// signature consumes the key TLV before it).
    fn signature<S: ImageSource + ?Sized>(
        &mut self,
        src: &mut S,
        entry: &TlvEntry,
        hash: &[u8; 32],
        keys: &[[u8; PUBLIC_KEY_LEN]],
    ) -> Result<(), Error> {
        let signature: [u8; 64] = entry.read_fixed(src)?;
        match self.pending_key.take() {
            None => self.signature_without_key = true,
            Some(None) => {}
            Some(Some(index)) => {
                self.tried_signature = true;
                // Once the hash TLV is known to differ, `finish` reports that: skip the costly check.
                let hash_differs = self.sha256.is_some_and(|stored| &stored != hash);
                if self.verified_by.is_none() && !hash_differs && ed25519_verify(&keys[index], hash, &signature, index)?
                {
                    self.verified_by = Some(index);
                }
            }
        }
        Ok(())
    }

    /// Decides, once every TLV was seen, in the order that gives the most useful error.
    fn finish(self, layout: &ImageLayout, hash: [u8; 32]) -> Result<VerifiedImage, Error> {
        if self.pure {
            return Err(Error::PureSignature);
        }
        match (self.sha256, self.other_hash) {
            (Some(stored), _) if stored != hash => return Err(Error::HashMismatch),
            (Some(_), _) => {}
            (None, Some(kind)) => return Err(Error::UnsupportedHash { kind }),
            (None, None) => return Err(Error::MissingHash),
        }
        let key_index = self.signer()?;
        let header = &layout.header;
        Ok(VerifiedImage {
            version: header.version,
            security_counter: self.security_counter,
            vendor_uuid: self.vendor_uuid,
            class_uuid: self.class_uuid,
            load_addr: header.load_addr,
            flags: header.flags,
            hdr_size: header.hdr_size,
            img_size: header.img_size,
            total_size: layout.total_size(),
            hash,
            key_index,
        })
    }

    fn signer(&self) -> Result<usize, Error> {
        if let Some(index) = self.verified_by {
            return Ok(index);
        }
        if self.tried_signature {
            return Err(Error::BadSignature);
        }
        if let Some(key_hash_prefix) = self.unknown_key {
            if self.other_signature.is_none() {
                return Err(Error::UnknownKey { key_hash_prefix });
            }
        }
        if let Some(kind) = self.other_signature {
            return Err(Error::UnsupportedSignature { kind });
        }
        if self.signature_without_key {
            return Err(Error::SignatureWithoutKey);
        }
        Err(Error::Unsigned)
    }
}

/// Reads a fixed-length TLV that may appear only once.
fn read_once<S: ImageSource + ?Sized, const N: usize>(
    src: &mut S,
    entry: &TlvEntry,
    previous: Option<[u8; N]>,
) -> Result<[u8; N], Error> {
    if previous.is_some() {
        return Err(Error::DuplicateTlv { kind: entry.kind });
    }
    if matches!(entry.kind.0, tlv::SEC_CNT | tlv::UUID_VID | tlv::UUID_CID) && !entry.protected {
        return Err(Error::UnprotectedTlv { kind: entry.kind });
    }
    entry.read_fixed(src)
}

/// A PUBKEY TLV (`imgtool sign --public-key-format full`): the key's DER
/// `SubjectPublicKeyInfo`, or its 32 raw bytes.
fn key_by_value<S: ImageSource + ?Sized>(
    src: &mut S,
    entry: &TlvEntry,
    keys: &[[u8; PUBLIC_KEY_LEN]],
) -> Result<Option<usize>, Error> {
    let mut value = [0; 44];
    let value = match entry.len {
        44 => &mut value[..],
        32 => &mut value[..32],
        len => return Err(Error::BadTlvLength { kind: entry.kind, len, expected: 44 }),
    };
    entry.read_value(src, value)?;
    Ok(keys.iter().position(|key| value == &ed25519_spki(key)[..] || value == &key[..]))
}

/// RFC 8032 verification of `signature` over `message` (see [`crate::ed25519`]).
// Kept out of line: inlined into the TLV walk it costs about 200 bytes more on Cortex-M.
#[inline(never)]
fn ed25519_verify(key: &[u8; 32], message: &[u8], signature: &[u8; 64], index: usize) -> Result<bool, Error> {
    ed25519::verify(key, message, signature).map_err(|_| Error::InvalidPublicKey { index })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ed25519::{scalar_is_canonical, ED25519_L};

    #[test]
    fn the_scalar_bound_is_exact() {
        let mut s = ED25519_L;
        assert!(!scalar_is_canonical(&s));
        s[0] -= 1;
        assert!(scalar_is_canonical(&s));
        assert!(scalar_is_canonical(&[0; 32]));
        assert!(!scalar_is_canonical(&[0xff; 32]));
    }

    /// RFC 8032 section 7.1, TEST 2: one-byte message.
    #[test]
    fn rfc8032_vectors_verify_and_tampered_ones_do_not() {
        let key = hex32("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&hex32("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"));
        sig[32..].copy_from_slice(&hex32("085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"));
        assert_eq!(ed25519_verify(&key, &[0x72], &sig, 0), Ok(true));
        assert_eq!(ed25519_verify(&key, &[0x73], &sig, 0), Ok(false));
        sig[0] ^= 1;
        assert_eq!(ed25519_verify(&key, &[0x72], &sig, 0), Ok(false));
    }

    #[test]
    fn signatures_by_another_implementation_verify_and_any_changed_bit_breaks_them() {
        use ed25519_dalek::Signer;
        for seed in 0u8..24 {
            let key = ed25519_dalek::SigningKey::from_bytes(&[seed.wrapping_mul(37).wrapping_add(1); 32]);
            let public = key.verifying_key().to_bytes();
            let message: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed));
            let signature = key.sign(&message).to_bytes();
            assert_eq!(ed25519_verify(&public, &message, &signature, 0), Ok(true), "seed {seed}");
            let bit = usize::from(seed) * 11 % 512;
            let mut changed = signature;
            changed[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(ed25519_verify(&public, &message, &changed, 0), Ok(false), "seed {seed}, bit {bit}");
            let mut changed = message;
            changed[usize::from(seed) % 32] ^= 0x80;
            assert_eq!(ed25519_verify(&public, &changed, &signature, 0), Ok(false), "seed {seed}");
        }
    }

    #[test]
    fn an_invalid_trusted_key_is_reported_with_its_index() {
        // y = 2 is not the y-coordinate of any curve point.
        let mut key = [0u8; 32];
        key[0] = 2;
        let err = ed25519_verify(&key, b"", &[0; 64], 3).unwrap_err();
        assert_eq!(err, Error::InvalidPublicKey { index: 3 });
        assert!(err.to_string().contains("trusted public key 3 is not a valid Ed25519 public key"), "{err}");
    }

    fn hex32(text: &str) -> [u8; 32] {
        let mut out = [0; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}

#[cfg(all(test, feature = "std"))]
mod image_tests {
    use super::*;
    use crate::ed25519::ED25519_L;
    use crate::testutil::{body, full_builder, put16, put32, signed_image, TestKey};
    use crate::trailer::{self, TrailerState};
    use crate::{ImageBuilder, KeyFormat, PadMode};
    use sha2::{Digest, Sha256};

    // Offsets in the sample image (see layout.rs): protected TLV values at 1264 (SEC_CNT),
    // 1272 (VID), 1292 (CID); unprotected TLV headers at 1312 (SHA256), 1348 (KEYHASH),
    // 1384 (ED25519, value at 1388).
    const SEC_CNT_TLV: usize = 1260;
    const SHA_TLV: usize = 1312;
    const KEYHASH_TLV: usize = 1348;
    const SIG_TLV: usize = 1384;

    fn key() -> TestKey {
        TestKey::new(1)
    }

    fn verify_err(image: &[u8]) -> Error {
        verify_slice(image, &[key().public()]).unwrap_err()
    }

    fn assert_message(err: Error, expected: &str) {
        assert!(err.to_string().contains(expected), "{err:?}: {err}");
    }

    #[test]
    fn a_signed_image_verifies_and_reports_its_fields() {
        let image = signed_image(&key());
        let verified = verify_slice(&image, &[key().public()]).unwrap();
        assert_eq!(verified.version, ImageVersion::new(1, 2, 3, 4));
        assert_eq!(verified.security_counter, Some(7));
        assert_eq!(verified.vendor_uuid, Some([0xaa; 16]));
        assert_eq!(verified.class_uuid, Some([0xbb; 16]));
        assert_eq!((verified.hdr_size, verified.img_size, verified.total_size), (0x100, 1000, 1452));
        assert_eq!((verified.load_addr, verified.flags, verified.key_index), (0, 0, 0));
        let digest: [u8; 32] = Sha256::digest(&image[..1308]).into();
        assert_eq!(verified.hash, digest);
        assert_eq!(&image[SHA_TLV + 4..SHA_TLV + 36], &digest);
        assert_eq!(check_hash(&mut &image[..]), Ok(digest));
    }

    #[test]
    fn images_signed_by_imgtool_verify() {
        for image in [
            &include_bytes!("../tests/fixtures/imgtool-plain.bin")[..],
            &include_bytes!("../tests/fixtures/imgtool-confirmed.bin")[..],
            &include_bytes!("../tests/fixtures/imgtool-align16-pad.bin")[..],
        ] {
            let verified = verify_slice(image, &[key().public()]).unwrap();
            assert_eq!(verified.img_size, 1000);
        }
    }

    #[test]
    fn the_signing_key_is_found_among_several() {
        let image = signed_image(&key());
        let keys = [TestKey::new(9).public(), key().public()];
        assert_eq!(verify_slice(&image, &keys).unwrap().key_index, 1);
    }

    #[test]
    fn a_full_public_key_tlv_identifies_the_key_too() {
        let image = full_builder().key_format(KeyFormat::Full).build(&body(50), Some(&key())).unwrap();
        assert!(verify_slice(&image, &[key().public()]).is_ok());
        let err = verify_slice(&image, &[TestKey::new(2).public()]).unwrap_err();
        assert_eq!(err, Error::Unsigned);
    }

    #[test]
    fn padded_and_confirmed_images_verify() {
        for (pad, state) in [
            (PadMode::Pad, TrailerState::Pending { max_align: 8 }),
            (PadMode::Confirm, TrailerState::Confirmed { max_align: 8 }),
        ] {
            let image = full_builder().slot_size(Some(0x1000)).pad(pad).build(&body(100), Some(&key())).unwrap();
            assert_eq!(image.len(), 0x1000);
            assert!(verify_slice(&image, &[key().public()]).is_ok());
            assert_eq!(trailer::read_state(&mut &image[..]), Ok(state));
        }
    }

    #[cfg(feature = "embedded-storage")]
    #[test]
    fn images_verify_straight_from_flash() {
        use embedded_storage::nor_flash::{ErrorType, NorFlashErrorKind, ReadNorFlash};
        struct Flash(Vec<u8>);
        impl ErrorType for Flash {
            type Error = NorFlashErrorKind;
        }
        impl ReadNorFlash for Flash {
            const READ_SIZE: usize = 4;
            fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NorFlashErrorKind> {
                let start = offset as usize;
                if start % 4 != 0 || bytes.len() % 4 != 0 {
                    return Err(NorFlashErrorKind::NotAligned);
                }
                bytes.copy_from_slice(self.0.get(start..start + bytes.len()).ok_or(NorFlashErrorKind::OutOfBounds)?);
                Ok(())
            }
            fn capacity(&self) -> usize {
                self.0.len()
            }
        }
        let mut flash = vec![0xff; 0x1000];
        let image = signed_image(&key());
        flash[0x800..0x800 + image.len()].copy_from_slice(&image);
        let mut slot = crate::FlashSource::new(Flash(flash), 0x800, 0x800);
        assert_eq!(verify(&mut slot, &[key().public()]).unwrap().total_size, 1452);
    }

    #[test]
    fn no_trusted_key_means_nothing_verifies() {
        let err = verify_slice(&signed_image(&key()), &[]).unwrap_err();
        assert_eq!(err, Error::NoTrustedKeys);
        assert_message(err, "no trusted public key was given");
    }

    #[test]
    fn an_unsigned_image_is_refused_but_its_hash_checks() {
        let image = full_builder().build(&body(10), None).unwrap();
        let err = verify_err(&image);
        assert_eq!(err, Error::Unsigned);
        assert_message(err, "the image is not signed (no Ed25519 signature TLV): sign it with `cargo boot sign");
        assert!(check_hash(&mut &image[..]).is_ok());
    }

    #[test]
    fn a_changed_body_breaks_the_hash() {
        let mut image = signed_image(&key());
        image[0x100 + 500] ^= 0x01;
        let err = verify_err(&image);
        assert_eq!(err, Error::HashMismatch);
        assert_message(err, "does not match its hash TLV: the image was changed after signing");
        assert_eq!(check_hash(&mut &image[..]), Err(Error::HashMismatch));
    }

    #[test]
    fn a_changed_protected_tlv_breaks_the_hash() {
        let mut image = signed_image(&key());
        put32(&mut image, SEC_CNT_TLV + 4, 99);
        assert_eq!(verify_err(&image), Error::HashMismatch);
    }

    #[test]
    fn a_changed_signature_is_refused() {
        let mut image = signed_image(&key());
        image[SIG_TLV + 4] ^= 0x01;
        let err = verify_err(&image);
        assert_eq!(err, Error::BadSignature);
        assert_message(err, "the Ed25519 signature is invalid for the trusted key");
    }

    #[test]
    fn a_malleated_signature_is_refused() {
        // S + L is accepted by a plain double-and-add check; RFC 8032 requires S < L.
        let mut image = signed_image(&key());
        let s = &mut image[SIG_TLV + 36..SIG_TLV + 68];
        let mut carry = 0u16;
        for (byte, l) in s.iter_mut().zip(ED25519_L) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert_eq!(verify_err(&image), Error::BadSignature);
    }

    #[test]
    fn another_key_is_not_trusted() {
        let image = signed_image(&TestKey::new(2));
        let err = verify_err(&image);
        let prefix: [u8; 4] = key_hash(&TestKey::new(2).public())[..4].try_into().unwrap();
        assert_eq!(err, Error::UnknownKey { key_hash_prefix: prefix });
        assert_message(err, "signed by a key that is not trusted here");
    }

    #[test]
    fn a_signature_without_a_key_tlv_is_refused() {
        let mut image = signed_image(&key());
        put16(&mut image, KEYHASH_TLV, tlv::ENC_KW);
        let err = verify_err(&image);
        assert_eq!(err, Error::SignatureWithoutKey);
        assert_message(err, "not preceded by a KEYHASH or PUBKEY TLV");
    }

    #[test]
    fn ecdsa_signatures_are_named_and_refused() {
        let mut image = signed_image(&key());
        put16(&mut image, SIG_TLV, tlv::ECDSA_SIG);
        let err = verify_err(&image);
        assert_eq!(err, Error::UnsupportedSignature { kind: TlvType(tlv::ECDSA_SIG) });
        assert_message(err, "ECDSA signature (TLV 0x22) is not supported: sign the image with an Ed25519 key");
        // Also when the key hash is of a key we do not know, as in a real ECDSA image.
        put16(&mut image, SIG_TLV, tlv::RSA2048_PSS);
        image[KEYHASH_TLV + 4] ^= 0xff;
        assert_message(verify_err(&image), "RSA-2048 PSS signature (TLV 0x20) is not supported");
    }

    #[test]
    fn other_hashes_are_named_and_refused() {
        let mut image = signed_image(&key());
        put16(&mut image, SHA_TLV, tlv::SHA384);
        let err = verify_err(&image);
        assert_eq!(err, Error::UnsupportedHash { kind: TlvType(tlv::SHA384) });
        assert_message(err, "SHA-384 hash (TLV 0x11) is not supported");
    }

    #[test]
    fn a_missing_hash_is_refused() {
        let mut image = signed_image(&key());
        put16(&mut image, SHA_TLV, tlv::ENC_KW);
        let err = verify_err(&image);
        assert_eq!(err, Error::MissingHash);
        assert_message(err, "has no SHA-256 hash TLV");
        assert_eq!(check_hash(&mut &image[..]), Err(Error::MissingHash));
    }

    #[test]
    fn a_second_hash_is_refused() {
        let mut image = signed_image(&key());
        put16(&mut image, KEYHASH_TLV, tlv::SHA256);
        let err = verify_err(&image);
        assert_eq!(err, Error::DuplicateTlv { kind: TlvType(tlv::SHA256) });
        assert_message(err, "holds more than one SHA-256 hash (TLV 0x10)");
        assert_eq!(check_hash(&mut &image[..]), Err(err));
    }

    #[test]
    fn pure_signatures_are_refused() {
        let mut image = signed_image(&key());
        put16(&mut image, KEYHASH_TLV, tlv::SIG_PURE);
        let err = verify_err(&image);
        assert_eq!(err, Error::PureSignature);
        assert_message(err, "sign it without --pure");
    }

    #[test]
    fn policy_tlvs_must_be_protected() {
        let mut image = signed_image(&key());
        put16(&mut image, KEYHASH_TLV, tlv::SEC_CNT);
        let err = verify_err(&image);
        assert_eq!(err, Error::UnprotectedTlv { kind: TlvType(tlv::SEC_CNT) });
        assert_message(err, "security counter (TLV 0x50) is in the unprotected TLV area");
    }

    #[test]
    fn tlvs_with_the_wrong_length_are_refused() {
        let mut image = signed_image(&key());
        put16(&mut image, SEC_CNT_TLV, tlv::UUID_VID);
        let err = verify_err(&image);
        assert_eq!(err, Error::BadTlvLength { kind: TlvType(tlv::UUID_VID), len: 4, expected: 16 });
        assert_message(err, "vendor UUID (TLV 0x74) is 4 bytes long, expected 16");
    }

    #[test]
    fn duplicate_policy_tlvs_are_refused() {
        let mut image = signed_image(&key());
        put16(&mut image, SEC_CNT_TLV + 8, tlv::UUID_CID);
        assert_eq!(verify_err(&image), Error::DuplicateTlv { kind: TlvType(tlv::UUID_CID) });
    }

    #[test]
    fn dependencies_are_refused() {
        let mut image = signed_image(&key());
        put16(&mut image, SEC_CNT_TLV, tlv::DEPENDENCY);
        let err = verify_err(&image);
        assert_eq!(err, Error::UnsupportedTlv { kind: TlvType(tlv::DEPENDENCY) });
        assert_message(err, "image dependency (TLV 0x40) is not supported");
    }

    #[test]
    fn encrypted_and_compressed_images_are_refused() {
        let mut image = signed_image(&key());
        put32(&mut image, 16, flags::ENCRYPTED_AES128);
        let err = verify_err(&image);
        assert_eq!(err, Error::Encrypted { flags: 4 });
        assert_message(err, "sign it without --encrypt");
        put32(&mut image, 16, flags::COMPRESSED_LZMA2);
        assert_message(verify_err(&image), "sign it without --compression");
    }

    #[test]
    fn the_security_counter_policy() {
        let verified = verify_slice(&signed_image(&key()), &[key().public()]).unwrap();
        assert_eq!(verified.check_security_counter(7), Ok(()));
        let err = verified.check_security_counter(8).unwrap_err();
        assert_eq!(err, Error::SecurityCounterTooLow { image: 7, minimum: 8 });
        assert_message(err, "security counter 7 is lower than the device's 8");
        let plain = ImageBuilder::new(32).build(&body(10), Some(&key())).unwrap();
        let verified = verify_slice(&plain, &[key().public()]).unwrap();
        assert_eq!(verified.check_security_counter(0), Ok(()));
        assert_eq!(verified.check_security_counter(1), Err(Error::MissingSecurityCounter { minimum: 1 }));
    }

    #[test]
    fn the_downgrade_policy_ignores_the_build_number() {
        let verified = verify_slice(&signed_image(&key()), &[key().public()]).unwrap();
        assert_eq!(verified.check_not_older_than(ImageVersion::new(1, 2, 3, 99)), Ok(()));
        let installed = ImageVersion::new(1, 3, 0, 0);
        let err = verified.check_not_older_than(installed).unwrap_err();
        assert_eq!(err, Error::Downgrade { image: ImageVersion::new(1, 2, 3, 4), installed });
        assert_message(err, "version 1.2.3+4 is older than the installed 1.3.0+0");
    }

    #[test]
    fn the_uuid_policy() {
        let verified = verify_slice(&signed_image(&key()), &[key().public()]).unwrap();
        assert_eq!(verified.check_vendor(&[0xaa; 16]), Ok(()));
        assert_eq!(verified.check_class(&[0xbb; 16]), Ok(()));
        assert_eq!(verified.check_vendor(&[0xbb; 16]), Err(Error::VendorMismatch));
        assert_message(verified.check_class(&[0xaa; 16]).unwrap_err(), "sign it with the device's --cid");
        let plain = ImageBuilder::new(32).build(&body(10), Some(&key())).unwrap();
        let verified = verify_slice(&plain, &[key().public()]).unwrap();
        assert_eq!(verified.check_vendor(&[0xaa; 16]), Err(Error::VendorMismatch));
    }
}

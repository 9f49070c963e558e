//! boot-core's `ImageValidator` with boot-image's MCUboot verification: SHA-256 of the
//! image, Ed25519 signature by the built-in key, and the vendor and class UUIDs.

use boot_core::{ImageInfo, ImageValidator, Rejection, SlotReader};
use boot_image::{Error, FlashSource};
use embedded_storage::nor_flash::ReadNorFlash;

use crate::config;

/// The keys images may be signed with.
static KEYS: [[u8; 32]; 1] = [config::PUBLIC_KEY];

/// Verifies MCUboot images against the built-in key and device UUIDs.
pub struct Validator;

impl ImageValidator for Validator {
    fn validate<F: ReadNorFlash>(&mut self, image: &mut SlotReader<'_, F>) -> Result<ImageInfo, Rejection> {
        let len = image.len();
        let mut source = FlashSource::new(&mut *image, 0, len);
        let verified = boot_image::verify(&mut source, &KEYS).map_err(rejection)?;
        if let Some(vendor) = &config::VENDOR_UUID {
            verified.check_vendor(vendor).map_err(rejection)?;
        }
        if let Some(class) = &config::CLASS_UUID {
            verified.check_class(class).map_err(rejection)?;
        }
        Ok(ImageInfo::new(verified.total_size, verified.security_counter.unwrap_or(0)))
    }
}

/// What boot-core records for a verification error.
fn rejection(error: Error) -> Rejection {
    match error {
        Error::TooShort { .. } | Error::BadMagic { .. } => Rejection::NoImage,
        Error::BodyPastEnd { end, .. } | Error::TlvAreaPastEnd { end, .. } => Rejection::TooLarge { size: end },
        Error::HashMismatch => Rejection::HashMismatch,
        Error::BadSignature | Error::Unsigned | Error::InvalidPublicKey { .. } => Rejection::BadSignature,
        Error::UnknownKey { .. } | Error::SignatureWithoutKey => Rejection::UnknownKey,
        Error::VendorMismatch | Error::ClassMismatch => Rejection::WrongDevice,
        _ => Rejection::Malformed,
    }
}

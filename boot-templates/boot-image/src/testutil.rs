//! Helpers shared by the tests: a signer with a fixed key, and sample images.
#![cfg(feature = "std")]

use crate::{Ed25519Signer, ImageBuilder, ImageVersion};

/// An Ed25519 key from a fixed seed, signing through ed25519-dalek (an implementation
/// independent of the verifier's).
pub struct TestKey(pub ed25519_dalek::SigningKey);

impl TestKey {
    /// The key whose seed is 32 times `seed`.
    pub fn new(seed: u8) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
}

impl Ed25519Signer for TestKey {
    fn public_key(&self) -> [u8; 32] {
        self.public()
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(message).to_bytes()
    }
}

/// A body of `len` bytes that is not all one value.
pub fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// A builder with every protected TLV.
pub fn full_builder() -> ImageBuilder {
    ImageBuilder::new(0x100)
        .version(ImageVersion::new(1, 2, 3, 4))
        .security_counter(Some(7))
        .vendor_uuid(Some([0xaa; 16]))
        .class_uuid(Some([0xbb; 16]))
}

/// A signed image of a 1000-byte body with every protected TLV.
pub fn signed_image(key: &TestKey) -> Vec<u8> {
    full_builder().build(&body(1000), Some(key)).unwrap()
}

/// Overwrites a little-endian u16 at `at`.
pub fn put16(image: &mut [u8], at: usize, value: u16) {
    image[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

/// Overwrites a little-endian u32 at `at`.
pub fn put32(image: &mut [u8], at: usize, value: u32) {
    image[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

//! Property tests: parsing and verification never panic, whatever the bytes, and no
//! single-byte change to a signed image goes unnoticed.

use proptest::prelude::*;

use crate::testutil::{signed_image, TestKey};
use crate::{check_hash, trailer, verify_slice, ImageLayout};

/// Runs everything that reads untrusted bytes; any panic fails the property.
fn exercise(bytes: &[u8], key: &[u8; 32]) -> bool {
    let parsed = ImageLayout::parse(bytes).map(|layout| walk(bytes, &layout));
    let _ = check_hash(&mut &bytes[..]);
    let _ = trailer::read_state(&mut &bytes[..]);
    let verified = verify_slice(bytes, &[*key]).is_ok();
    assert!(!verified || parsed.is_ok());
    verified
}

fn walk(mut bytes: &[u8], layout: &ImageLayout) -> usize {
    let mut tlvs = layout.tlvs();
    let mut count = 0;
    while let Ok(Some(_)) = tlvs.next(&mut bytes) {
        count += 1;
        assert!(count < 1 << 16, "the TLV walk does not end");
    }
    count
}

/// The signed sample image and its key, made once: signing is slow in debug builds.
fn valid_image() -> (Vec<u8>, [u8; 32]) {
    static IMAGE: std::sync::LazyLock<(Vec<u8>, [u8; 32])> = std::sync::LazyLock::new(|| {
        let key = TestKey::new(1);
        (signed_image(&key), key.public())
    });
    IMAGE.clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (_, key) = valid_image();
        prop_assert!(!exercise(&bytes, &key));
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (image, key) = valid_image();
        let mut bytes = image[..32].to_vec();
        bytes.extend_from_slice(&tail);
        exercise(&bytes, &key);
    }

    #[test]
    fn any_single_byte_change_is_detected(index in 0usize..1452, flip in 1u8..=255) {
        let (mut image, key) = valid_image();
        image[index] ^= flip;
        prop_assert!(!exercise(&image, &key), "a change at {} went unnoticed", index);
    }

    #[test]
    fn random_mutations_never_panic(changes in proptest::collection::vec((0usize..1452, any::<u8>()), 1..16)) {
        let (mut image, key) = valid_image();
        for (index, value) in changes {
            image[index] = value;
        }
        exercise(&image, &key);
    }

    #[test]
    fn truncated_images_never_verify(len in 0usize..1452) {
        let (image, key) = valid_image();
        prop_assert!(!exercise(&image[..len], &key));
    }

}

proptest! {
    // Every case verifies a signature in full, which is slow in debug builds.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn bytes_after_the_image_do_not_matter(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (mut image, key) = valid_image();
        image.extend_from_slice(&tail);
        prop_assert!(exercise(&image, &key));
    }
}

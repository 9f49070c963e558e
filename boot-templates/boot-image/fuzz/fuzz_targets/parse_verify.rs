//! Feeds arbitrary bytes to everything that reads untrusted images: the layout parser,
//! the TLV walk, the trailer reader, the hash check and verification. Any panic,
//! overflow (debug builds) or endless loop is a bug.
#![no_main]

use boot_image::{check_hash, trailer, verify_slice, ImageLayout};
use libfuzzer_sys::fuzz_target;

/// A fixed key: signatures never verify, but every check before them runs.
const KEY: [u8; 32] = [
    0x8a, 0x88, 0xe3, 0xdd, 0x74, 0x09, 0xf1, 0x95, 0xfd, 0x52, 0xdb, 0x2d, 0x3c, 0xba, 0x5d, 0x72, 0xca, 0x67, 0x09,
    0xbf, 0x1d, 0x94, 0x12, 0x1b, 0xf3, 0x74, 0x88, 0x01, 0xb4, 0x0f, 0x6f, 0x5c,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(layout) = ImageLayout::parse(data) {
        let mut src = data;
        let mut tlvs = layout.tlvs();
        while let Ok(Some(_)) = tlvs.next(&mut src) {}
    }
    let _ = trailer::read_state(&mut &data[..]);
    let _ = check_hash(&mut &data[..]);
    let _ = verify_slice(data, &[KEY]);
});

//! SHA-256 and SHA-512 (FIPS 180-4) on sha2's compression functions, with the message
//! padding done here.
//!
//! sha2's `Digest` types buffer any input for any block and output size; on Cortex-M
//! that generic buffering costs several hundred bytes of code per hash. Verification
//! needs less: the image is hashed as it is read from flash, a block at a time, and
//! Ed25519 hashes a few short byte strings.

use sha2::compress256;
#[cfg(feature = "verify")]
use sha2::compress512;
use sha2::digest::generic_array::GenericArray;

#[cfg(feature = "verify")]
use crate::error::Error;
#[cfg(feature = "verify")]
use crate::source::{read_at, ImageSource};

/// SHA-256's initial hash value (FIPS 180-4, section 5.3.3).
const SHA256_IV: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

/// SHA-512's initial hash value (FIPS 180-4, section 5.3.5).
#[cfg(feature = "verify")]
const SHA512_IV: [u64; 8] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
    0x1f83_d9ab_fb41_bd6b,
    0x5be0_cd19_137e_2179,
];

/// The SHA-256 of the first `len` bytes of `src`, read one 64-byte block at a time.
#[cfg(feature = "verify")]
pub(crate) fn sha256<S: ImageSource + ?Sized>(src: &mut S, len: u32) -> Result<[u8; 32], Error> {
    let mut state = SHA256_IV;
    let mut block = [0u8; 64];
    let mut offset = 0;
    loop {
        let n = (len - offset).min(64) as usize;
        if n > 0 {
            read_at(src, offset, &mut block[..n])?;
            offset += n as u32;
        }
        if n < 64 {
            // The last, partial block: 0x80, zeros, and the length in bits in the last 8
            // bytes, in a second block if it does not fit.
            block[n] = 0x80;
            block[n + 1..].fill(0);
            if n >= 56 {
                compress256(&mut state, core::slice::from_ref(GenericArray::from_slice(&block)));
                block.fill(0);
            }
            block[56..].copy_from_slice(&(u64::from(len) * 8).to_be_bytes());
            compress256(&mut state, core::slice::from_ref(GenericArray::from_slice(&block)));
            break;
        }
        compress256(&mut state, core::slice::from_ref(GenericArray::from_slice(&block)));
    }
    let mut digest = [0; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    Ok(digest)
}

/// The SHA-256 of a message that fits in one block with its padding (at most 55 bytes):
/// a public key's `SubjectPublicKeyInfo`. Cheaper than [`sha256`] over a slice, which
/// would be a second copy of its block loop in the bootloader.
pub(crate) fn sha256_short<const N: usize>(message: &[u8; N]) -> [u8; 32] {
    const { assert!(N <= 55, "the message and its padding must fit in one block") };
    let mut block = [0u8; 64];
    block[..N].copy_from_slice(message);
    block[N] = 0x80;
    block[56..].copy_from_slice(&(N as u64 * 8).to_be_bytes());
    let mut state = SHA256_IV;
    compress256(&mut state, core::slice::from_ref(GenericArray::from_slice(&block)));
    let mut digest = [0; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// The SHA-512 of the concatenation of `parts`.
#[cfg(feature = "verify")]
pub(crate) fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut state = SHA512_IV;
    let mut block = [0u8; 128];
    let mut fill = 0;
    let mut bits: u64 = 0;
    for &byte in parts.iter().flat_map(|part| part.iter()) {
        block[fill] = byte;
        fill += 1;
        bits += 8;
        if fill == block.len() {
            compress512(&mut state, core::slice::from_ref(GenericArray::from_slice(&block)));
            fill = 0;
        }
    }
    // 0x80, zeros, and the length in bits as a 128-bit number in the last 16 bytes, in a
    // second block if it does not fit.
    block[fill] = 0x80;
    block[fill + 1..].fill(0);
    if fill >= 112 {
        compress512(&mut state, core::slice::from_ref(GenericArray::from_slice(&block)));
        block.fill(0);
    }
    block[120..].copy_from_slice(&bits.to_be_bytes());
    compress512(&mut state, core::slice::from_ref(GenericArray::from_slice(&block)));
    let mut digest = [0; 64];
    for (out, word) in digest.chunks_exact_mut(8).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 % 251) as u8).collect()
    }

    #[cfg(feature = "verify")]
    #[test]
    fn sha256_matches_sha2_at_every_length_around_the_block_edges() {
        for len in 0..=300 {
            let bytes = data(len);
            let expected: [u8; 32] = Sha256::digest(&bytes).into();
            assert_eq!(sha256(&mut &bytes[..], len as u32), Ok(expected), "{len} bytes");
        }
        // Only the first `len` bytes count.
        let bytes = data(100);
        assert_eq!(sha256(&mut &bytes[..], 64), Ok(Sha256::digest(&bytes[..64]).into()));
    }

    #[test]
    fn sha256_of_one_block_messages_matches_sha2() {
        let bytes = data(55);
        assert_eq!(sha256_short::<0>(&[]), <[u8; 32]>::from(Sha256::digest([])));
        assert_eq!(sha256_short(&[0x61]), <[u8; 32]>::from(Sha256::digest(b"a")));
        let spki: [u8; 44] = bytes[..44].try_into().unwrap();
        assert_eq!(sha256_short(&spki), <[u8; 32]>::from(Sha256::digest(spki)));
        let longest: [u8; 55] = bytes[..].try_into().unwrap();
        assert_eq!(sha256_short(&longest), <[u8; 32]>::from(Sha256::digest(longest)));
    }

    #[cfg(feature = "verify")]
    #[test]
    fn sha256_reports_read_errors() {
        let bytes = data(10);
        assert!(matches!(sha256(&mut &bytes[..], 11), Err(Error::Read { .. })));
    }

    #[cfg(feature = "verify")]
    #[test]
    fn sha512_matches_sha2_at_every_length_around_the_block_edges() {
        for len in 0..=300 {
            let bytes = data(len);
            let expected: [u8; 64] = sha2::Sha512::digest(&bytes).into();
            assert_eq!(sha512(&[&bytes]), expected, "{len} bytes");
            let (a, b) = bytes.split_at(len / 3);
            assert_eq!(sha512(&[a, b, &[]]), expected, "{len} bytes in parts");
        }
    }
}

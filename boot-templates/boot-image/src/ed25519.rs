//! Ed25519 signature verification (RFC 8032, section 5.1.7), written for code size.
//!
//! The field arithmetic modulo p = 2^255 - 19 is salty's (`salty::FieldElement`: Björn
//! Haase's assembly multiplication on Cortex-M4, TweetNaCl's elsewhere); the rest is here,
//! because salty's `PublicKey::verify` costs about 3.5 KiB more code on Cortex-M: it
//! reduces the hash modulo L with a fully unrolled Montgomery multiplication (2 KiB), has
//! its own SHA-512, and runs two constant-time ladders that need a second (squaring)
//! assembly routine. Verification handles public data only, so nothing here needs to be
//! constant-time:
//! - the hash is reduced modulo L by binary long division ([`reduce_mod_l`]);
//! - `[S]B + [k](-A)` is one double-and-add pass over both scalars (Straus-Shamir), about
//!   450 point additions instead of salty's 1024, so it is also faster;
//! - powers are square-and-multiply with multiplications only;
//! - SHA-512 is [`crate::sha`]'s: sha2's compression function, with the padding done there.
//!
//! The result is compared as an encoding with R, like salty and ed25519-dalek's `verify`:
//! `[S]B = R + [k]A` without the cofactor, and a non-canonical R never matches.

use salty::{FieldElement as Fe, FieldImplementation};

use crate::sha::sha512;

/// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
pub(crate) const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The public key does not encode a curve point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidKey;

/// True if `signature` (R || S) is a valid Ed25519 signature of `message` by the public
/// key `public_key` (its 32-byte encoding A).
pub(crate) fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Result<bool, InvalidKey> {
    let a = Point::decode(public_key).ok_or(InvalidKey)?;
    let mut r = [0; 32];
    r.copy_from_slice(&signature[..32]);
    let mut s = [0; 32];
    s.copy_from_slice(&signature[32..]);
    // RFC 8032: S must be below L (this rejects malleated signatures).
    if !scalar_is_canonical(&s) {
        return Ok(false);
    }
    let digest = sha512(&[&r, public_key, message]);
    let k = reduce_mod_l(&digest);
    // [S]B + [k](-A): one doubling per bit, and one addition of B, -A or B - A.
    let base = Point::base();
    let minus_a = a.neg();
    let both = base.add(&minus_a);
    let mut sum = Point::NEUTRAL;
    // S and k are below L < 2^253.
    for i in (0..253).rev() {
        sum = sum.add(&sum);
        let addend = match (bit(&s, i), bit(&k, i)) {
            (true, true) => &both,
            (true, false) => &base,
            (false, true) => &minus_a,
            (false, false) => continue,
        };
        sum = sum.add(addend);
    }
    Ok(sum.encode() == r)
}

/// Bit `i` of a little-endian number.
fn bit(bytes: &[u8; 32], i: usize) -> bool {
    (bytes[i / 8] >> (i % 8)) & 1 == 1
}

/// True if the little-endian 256-bit `s` is below the group order L.
pub(crate) fn scalar_is_canonical(s: &[u8; 32]) -> bool {
    for (byte, limit) in s.iter().rev().zip(ED25519_L.iter().rev()) {
        if byte != limit {
            return byte < limit;
        }
    }
    false
}

/// `x mod L` for a little-endian 512-bit `x`: binary long division, one bit of `x` at a
/// time from the top. The remainder stays below L < 2^253, so doubling it and adding a
/// bit fits in 256 bits, and one subtraction brings it back below L.
pub(crate) fn reduce_mod_l(x: &[u8; 64]) -> [u8; 32] {
    let mut r = [0u8; 32];
    for bit in (0..512).rev() {
        let mut carry = (x[bit / 8] >> (bit % 8)) & 1;
        for byte in r.iter_mut() {
            let shifted = (*byte << 1) | carry;
            carry = *byte >> 7;
            *byte = shifted;
        }
        let mut difference = [0u8; 32];
        let mut borrow = 0u8;
        for ((d, &a), &b) in difference.iter_mut().zip(&r).zip(&ED25519_L) {
            let (t, b1) = a.overflowing_sub(b);
            let (t, b2) = t.overflowing_sub(borrow);
            *d = t;
            borrow = u8::from(b1 | b2);
        }
        if borrow == 0 {
            r = difference;
        }
    }
    r
}

/// `x^e` for an exponent whose little-endian bytes are `low`, thirty times 0xff, and
/// `high`: the form of both exponents needed (p - 2 and (p - 5) / 8). Square-and-multiply
/// from the top bit, with multiplications only (no separate squaring routine is linked).
fn pow(x: &Fe, low: u8, high: u8) -> Fe {
    let mut result = Fe::ONE;
    for i in (0..256).rev() {
        let byte = match i / 8 {
            0 => low,
            31 => high,
            _ => 0xff,
        };
        result = &result * &result;
        if (byte >> (i % 8)) & 1 == 1 {
            result = &result * x;
        }
    }
    result
}

/// `1 / x` (x^(p-2); p - 2 = 2^255 - 21).
fn invert(x: &Fe) -> Fe {
    pow(x, 0xeb, 0x7f)
}

/// `x^((p-5)/8)`, the power in the square root of RFC 8032's decoding ((p-5)/8 = 2^252 - 3).
fn pow_p58(x: &Fe) -> Fe {
    pow(x, 0xfd, 0x0f)
}

/// A point of edwards25519 in extended coordinates: x = X/Z, y = Y/Z, x·y = T/Z.
#[derive(Clone, Copy)]
struct Point {
    x: Fe,
    y: Fe,
    z: Fe,
    t: Fe,
}

impl Point {
    /// The neutral element (0, 1).
    const NEUTRAL: Point = Point { x: Fe::ZERO, y: Fe::ONE, z: Fe::ONE, t: Fe::ZERO };

    /// The base point B.
    fn base() -> Point {
        let (x, y) = (Fe::EDWARDS_BASEPOINT_X, Fe::EDWARDS_BASEPOINT_Y);
        Point { x, y, z: Fe::ONE, t: &x * &y }
    }

    /// `self + q`, with the formulas of Hisil, Wong, Carter and Dawson (2008) for a = -1
    /// ("add-2008-hwcd-3"). They are complete on edwards25519 (d is not a square), so they
    /// also double.
    fn add(&self, q: &Point) -> Point {
        let a = &(&self.y - &self.x) * &(&q.y - &q.x);
        let b = &(&self.y + &self.x) * &(&q.y + &q.x);
        let c = &(&self.t * &q.t) * &Fe::D2;
        let zz = &self.z * &q.z;
        let d = &zz + &zz;
        let (e, f, g, h) = (&b - &a, &d - &c, &d + &c, &b + &a);
        Point { x: &e * &f, y: &g * &h, z: &f * &g, t: &e * &h }
    }

    /// `-self`: (-x, y).
    fn neg(&self) -> Point {
        Point { x: -&self.x, y: self.y, z: self.z, t: -&self.t }
    }

    /// Decodes a point (RFC 8032, section 5.1.3); `None` if `bytes` encode none.
    fn decode(bytes: &[u8; 32]) -> Option<Point> {
        let mut y_bytes = *bytes;
        y_bytes[31] &= 0x7f;
        let y = Fe::from_bytes_unchecked(&y_bytes);
        // y must be below p.
        if y.to_bytes() != y_bytes {
            return None;
        }
        // x^2 = u / v with u = y^2 - 1, v = d y^2 + 1; candidate root x = u v^3 (u v^7)^((p-5)/8).
        let yy = &y * &y;
        let u = &yy - &Fe::ONE;
        let v = &(&yy * &Fe::D) + &Fe::ONE;
        let v3 = &(&v * &v) * &v;
        let uv7 = &(&(&v3 * &v3) * &v) * &u;
        let mut x = &(&u * &v3) * &pow_p58(&uv7);
        let vxx = &v * &(&x * &x);
        if vxx != u {
            if vxx != -&u {
                return None;
            }
            x = &x * &Fe::I;
        }
        if x.parity() != bytes[31] >> 7 {
            // x = 0 has no negative: its encoding with the sign bit set is invalid.
            if x == Fe::ZERO {
                return None;
            }
            x = -&x;
        }
        Some(Point { x, y, z: Fe::ONE, t: &x * &y })
    }

    /// The 32-byte encoding: y with the parity of x in the top bit.
    fn encode(&self) -> [u8; 32] {
        let z_inverse = invert(&self.z);
        let x = &self.x * &z_inverse;
        let y = &self.y * &z_inverse;
        let mut bytes = y.to_bytes();
        bytes[31] |= x.parity() << 7;
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wide_reduction_matches_salty() {
        // L itself, L - 1, 2^512 - 1, zero and pseudo-random values, against salty's
        // Montgomery reduction.
        let mut cases = Vec::new();
        let mut l_wide = [0u8; 64];
        l_wide[..32].copy_from_slice(&ED25519_L);
        cases.push(l_wide);
        l_wide[0] -= 1;
        cases.push(l_wide);
        cases.push([0xff; 64]);
        cases.push([0; 64]);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            let mut x = [0u8; 64];
            for byte in x.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            cases.push(x);
        }
        for x in &cases {
            let reduced = reduce_mod_l(x);
            assert_eq!(reduced, salty::Scalar::from_u512_le(x).0, "{x:02x?}");
            assert!(scalar_is_canonical(&reduced));
        }
        assert_eq!(reduce_mod_l(&cases[0]), [0; 32]);
        let mut l_minus_one = ED25519_L;
        l_minus_one[0] -= 1;
        assert_eq!(reduce_mod_l(&cases[1]), l_minus_one);
    }

    #[test]
    fn points_decode_and_encode_like_salty() {
        let base = Point::base();
        assert_eq!(base.encode(), salty::EdwardsPoint::basepoint().compressed().0);
        // Multiples of B, as salty computes them, survive a decode/encode round trip, and
        // sums agree with salty's.
        let mut ours = Point::NEUTRAL;
        for n in 1u8..40 {
            ours = ours.add(&base);
            let mut scalar = [0u8; 32];
            scalar[0] = n;
            let theirs = &salty::Scalar::from_bytes(&scalar) * &salty::EdwardsPoint::basepoint();
            let encoded = theirs.compressed().0;
            assert_eq!(ours.encode(), encoded, "{n}B");
            let decoded = Point::decode(&encoded).unwrap();
            assert_eq!(decoded.encode(), encoded, "{n}B");
            assert_eq!(decoded.neg().add(&ours).encode(), Point::NEUTRAL.encode(), "{n}B - {n}B");
        }
    }

    #[test]
    fn invalid_encodings_do_not_decode() {
        // y = 2 is on no point; y = p (non-canonical 0) and y = 1 with the sign bit set
        // (x = 0 has no negative) are refused as RFC 8032 requires.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert!(Point::decode(&two).is_none());
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(Point::decode(&p).is_none());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(Point::decode(&one).is_some());
        one[31] = 0x80;
        assert!(Point::decode(&one).is_none());
    }
}

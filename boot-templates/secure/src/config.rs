//! Build-time configuration, from environment variables that `cargo boot build` sets.
//! Each is parsed by a `const fn`, so a malformed value fails the build with a message
//! naming the variable; cargo rebuilds the bootloader when one of them changes.
//!
//! | variable | value | default |
//! |---|---|---|
//! | `BOOT_PUBKEY_HEX` | the Ed25519 public key: 64 hex digits (`:`, `-`, spaces ignored) | required |
//! | `BOOT_VENDOR_UUID` | vendor UUID (32 hex digits, dashes allowed): images must carry it | no check |
//! | `BOOT_CLASS_UUID` | device class UUID, likewise | no check |
//! | `BOOT_VALIDATE_PRIMARY` | `1`/`true`: check the installed image at every boot; `0`/`false`: trust it | `1` |
//! | `BOOT_WATCHDOG_MS` | watchdog timeout in ms; `0` or unset: no watchdog | unset |
//! | `BOOT_MEMORY_X` | path of the generated `memory.x`: its layout is checked at compile time (see `build.rs` and [`crate::layout`]) | unset: read and checked at run time |

/// The public key images must be signed with.
pub const PUBLIC_KEY: [u8; 32] = match hex::<32>(env!(
    "BOOT_PUBKEY_HEX",
    "set BOOT_PUBKEY_HEX to the 64 hex digits of the Ed25519 public key that signs the images \
     (`cargo boot build` does this from `key` in [package.metadata.boot])"
)) {
    Some(key) => key,
    None => panic!("BOOT_PUBKEY_HEX must be exactly 64 hex digits: the 32-byte Ed25519 public key"),
};

/// The vendor UUID images must carry, if any.
pub const VENDOR_UUID: Option<[u8; 16]> = match option_env!("BOOT_VENDOR_UUID") {
    Some(text) if !text.is_empty() => match hex::<16>(text) {
        Some(uuid) => Some(uuid),
        None => panic!("BOOT_VENDOR_UUID must be a UUID: 32 hex digits, dashes allowed"),
    },
    _ => None,
};

/// The device class UUID images must carry, if any.
pub const CLASS_UUID: Option<[u8; 16]> = match option_env!("BOOT_CLASS_UUID") {
    Some(text) if !text.is_empty() => match hex::<16>(text) {
        Some(uuid) => Some(uuid),
        None => panic!("BOOT_CLASS_UUID must be a UUID: 32 hex digits, dashes allowed"),
    },
    _ => None,
};

/// Whether the installed image is validated at every boot.
pub const VALIDATE_PRIMARY: bool = match option_env!("BOOT_VALIDATE_PRIMARY") {
    None => true,
    Some(text) => match flag(text) {
        Some(value) => value,
        None => panic!("BOOT_VALIDATE_PRIMARY must be 1, 0, true or false"),
    },
};

/// The watchdog timeout, if the bootloader arms the watchdog.
pub const WATCHDOG_MS: Option<u32> = match option_env!("BOOT_WATCHDOG_MS") {
    None => None,
    Some(text) => match decimal(text) {
        Some(0) => None,
        Some(ms) => Some(ms),
        None if text.is_empty() => None,
        None => panic!("BOOT_WATCHDOG_MS must be a number of milliseconds (0: no watchdog)"),
    },
};

/// `N` bytes from hex digits; `:`, `-`, `_` and spaces are skipped. `None` on any other
/// character or the wrong number of digits.
const fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    let mut out = [0u8; N];
    let mut digits = 0;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        i += 1;
        let value = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            b':' | b'-' | b'_' | b' ' => continue,
            _ => return None,
        };
        if digits == 2 * N {
            return None;
        }
        out[digits / 2] |= if digits % 2 == 0 { value << 4 } else { value };
        digits += 1;
    }
    if digits == 2 * N {
        Some(out)
    } else {
        None
    }
}

/// A decimal `u32`.
const fn decimal(text: &str) -> Option<u32> {
    let text = text.as_bytes();
    if text.is_empty() {
        return None;
    }
    let mut value: u32 = 0;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if !c.is_ascii_digit() {
            return None;
        }
        value = match value.checked_mul(10) {
            Some(v) => match v.checked_add((c - b'0') as u32) {
                Some(v) => v,
                None => return None,
            },
            None => return None,
        };
        i += 1;
    }
    Some(value)
}

/// `1`/`true`/`yes` or `0`/`false`/`no`.
const fn flag(text: &str) -> Option<bool> {
    const fn eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i].to_ascii_lowercase() != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    let text = text.as_bytes();
    if eq(text, b"1") || eq(text, b"true") || eq(text, b"yes") {
        Some(true)
    } else if eq(text, b"0") || eq(text, b"false") || eq(text, b"no") {
        Some(false)
    } else {
        None
    }
}

// The parsers are checked at compile time: a firmware crate has no host test harness.
const _: () = {
    assert!(matches!(hex::<2>("ab:CD"), Some([0xAB, 0xCD])));
    assert!(hex::<2>("abc").is_none());
    assert!(hex::<2>("abcdef").is_none());
    assert!(hex::<1>("zz").is_none());
    assert!(matches!(hex::<16>("00112233-4455-6677-8899-aabbccddeeff"), Some(u) if u[15] == 0xFF && u[4] == 0x44));
    assert!(matches!(decimal("5000"), Some(5000)));
    assert!(decimal("4294967296").is_none());
    assert!(decimal("1s").is_none());
    assert!(decimal("").is_none());
    assert!(matches!(flag("TRUE"), Some(true)));
    assert!(matches!(flag("0"), Some(false)));
    assert!(flag("maybe").is_none());
};

//! Benchmark firmware: what the secure bootloader's verification of an image costs on
//! the qemu-an386 virtual board, counted in guest instructions.
//!
//! It verifies its own signed image, in the primary slot, the way the bootloader does
//! (boot-image's `verify` through a `FlashSource` over the board's flash driver), and
//! times each step with the CMSDK timer TIMER0. Run under QEMU with `-icount shift=0`,
//! every guest instruction advances the virtual clock by exactly 1 ns, and TIMER0 counts
//! that clock at the 25 MHz system clock: one tick is 40 instructions. The firmware
//! checks that factor against a loop of known length before it measures anything.
//!
//! What is timed, for the image in the primary slot:
//! - `hash`: `check_hash`, the SHA-256 of header, body and protected TLVs read through
//!   the flash driver, compared with the SHA256 TLV (no signature);
//! - `hash_mapped`: the same over the slot as a byte slice, as memory-mapped flash
//!   reads it, to separate the driver's reading from the hashing;
//! - `unknown_key`: `verify` with a key that did not sign the image: everything but the
//!   Ed25519 check (hash, TLV walk, key hash);
//! - `verify`: `verify` with the right key, what the bootloader runs at boot.
//!
//! `verify - unknown_key` is the Ed25519 signature check alone.
//!
//! The image size is set at build time: `BENCH_BALLAST_BYTES` adds that many bytes of
//! constant data to the image. `scripts/bench-verify.sh` builds and runs it for several
//! sizes and prints the table.

#![no_std]
#![no_main]

use boot_flash::ram::RamFlash;
use boot_image::{check_hash, verify, Error, FlashSource, ImageLayout, PUBLIC_KEY_LEN};
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprintln};

/// The public key `cargo boot build` signed this image with.
const KEY: [u8; PUBLIC_KEY_LEN] = match option_env!("BOOT_PUBKEY_HEX") {
    Some(hex) => parse_key(hex),
    None => panic!("BOOT_PUBKEY_HEX is not set: build this with `cargo boot build` (secure template)"),
};

/// Bytes of constant data added to the image, to choose its size.
const BALLAST_LEN: usize = match option_env!("BENCH_BALLAST_BYTES") {
    Some(text) => parse_decimal(text),
    None => 0,
};

/// The ballast: constant data in flash, inside the signed image.
#[used]
static BALLAST: [u8; BALLAST_LEN] = [0xA5; BALLAST_LEN];

/// TIMER0 ticks per guest instruction, inverted: the system clock is 25 MHz and
/// `-icount shift=0` makes one instruction 1 ns of virtual time.
const INSTRUCTIONS_PER_TICK: u32 = 40;

/// Iterations of the calibration loop (two instructions each).
const CALIBRATION_LOOPS: u32 = 1_000_000;

#[entry]
fn main() -> ! {
    // Keeps the ballast in the image: `#[used]` alone does not stop the linker dropping it.
    core::hint::black_box(BALLAST.as_ptr());
    timer::start();
    calibrate();

    let layout = boot_app::layout();
    let end = [layout.primary, layout.secondary, layout.state].iter().map(|r| r.end()).max().unwrap_or(0);
    let flash_size = (end - u64::from(layout.flash_start)) as u32;
    let slot_offset = layout.primary.start - layout.flash_start;
    let slot_len = layout.primary.size;
    // SAFETY: the only flash driver here; nothing writes the flash while it lives.
    let flash = unsafe { RamFlash::from_raw(layout.flash_start as usize as *mut u8, flash_size, layout.erased.byte()) };
    let mut source = FlashSource::new(flash, slot_offset, slot_len);
    // SAFETY: the primary slot is mapped memory (SSRAM1) that nothing writes during the run.
    let mapped: &[u8] =
        unsafe { core::slice::from_raw_parts(layout.primary.start as usize as *const u8, slot_len as usize) };

    let image = ImageLayout::read(&mut source).unwrap_or_else(|e| fail("the primary slot holds no image", e));
    hprintln!("bench hashed_bytes {}", image.hashed_len());
    hprintln!("bench total_bytes {}", image.total_size());
    hprintln!("bench ballast_bytes {}", BALLAST_LEN);

    let (ticks, result) = timed(|| check_hash(&mut source));
    result.unwrap_or_else(|e| fail("check_hash failed", e));
    report("hash", ticks);

    let (ticks, result) = timed(|| {
        let mut slot = mapped;
        check_hash(&mut slot)
    });
    result.unwrap_or_else(|e| fail("check_hash over the mapped slot failed", e));
    report("hash_mapped", ticks);

    let mut other_key = KEY;
    other_key[0] ^= 1;
    let (ticks, result) = timed(|| verify(&mut source, &[other_key]));
    match result {
        Err(Error::UnknownKey { .. }) => {}
        Err(e) => fail("verify with another key failed the wrong way", e),
        Ok(_) => fail("verify with another key passed", Error::BadSignature),
    }
    report("unknown_key", ticks);

    let (ticks, result) = timed(|| verify(&mut source, &[KEY]));
    result.unwrap_or_else(|e| fail("verify failed", e));
    report("verify", ticks);

    hprintln!("bench done");
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Checks the instructions-per-tick factor: a loop of `2 * (n - 1)` more instructions
/// than the one-iteration loop must take `2 * (n - 1) / 40` more ticks.
fn calibrate() {
    let short = timed(|| spin(1)).0;
    let long = timed(|| spin(CALIBRATION_LOOPS)).0;
    let instructions = 2 * (CALIBRATION_LOOPS - 1);
    let ticks = long - short;
    hprintln!("bench calibration_instructions {}", instructions);
    hprintln!("bench calibration_ticks {}", ticks);
    // One tick either way: the loop does not start on a tick boundary.
    if ticks.abs_diff(instructions / INSTRUCTIONS_PER_TICK) > 1 {
        hprintln!(
            "error: {} instructions took {} timer ticks, expected {}: run QEMU with `-icount shift=0`",
            instructions,
            ticks,
            instructions / INSTRUCTIONS_PER_TICK
        );
        debug::exit(debug::EXIT_FAILURE);
    }
}

/// Exactly `2 * n` instructions (`n` at least 1).
#[inline(always)]
fn spin(n: u32) {
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("1:", "subs {0}, #1", "bne 1b", inout(reg) n => _, options(nomem, nostack));
    }
}

/// Runs `f` and returns the TIMER0 ticks it took, with its result.
#[inline(never)]
fn timed<T>(f: impl FnOnce() -> T) -> (u32, T) {
    let start = timer::elapsed();
    let result = core::hint::black_box(f());
    let end = timer::elapsed();
    (end.wrapping_sub(start), result)
}

fn report(name: &str, ticks: u32) {
    hprintln!("bench {}_ticks {}", name, ticks);
    hprintln!("bench {}_instructions {}", name, u64::from(ticks) * u64::from(INSTRUCTIONS_PER_TICK));
}

fn fail(what: &str, error: Error) -> ! {
    hprintln!("error: {}: {}", what, error);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

/// The CMSDK APB timer TIMER0 of the MPS2 boards, free-running from the system clock.
mod timer {
    const CTRL: *mut u32 = 0x4000_0000 as *mut u32;
    const VALUE: *mut u32 = 0x4000_0004 as *mut u32;
    const RELOAD: *mut u32 = 0x4000_0008 as *mut u32;

    /// Starts counting down from `u32::MAX` (about 170 s of virtual time).
    pub fn start() {
        // SAFETY: TIMER0's registers; nothing else uses the timer.
        unsafe {
            RELOAD.write_volatile(u32::MAX);
            VALUE.write_volatile(u32::MAX);
            CTRL.write_volatile(1);
        }
    }

    /// Ticks since `start`.
    #[inline(always)]
    pub fn elapsed() -> u32 {
        // SAFETY: reading the counter has no side effects.
        u32::MAX - unsafe { VALUE.read_volatile() }
    }
}

const fn parse_key(hex: &str) -> [u8; PUBLIC_KEY_LEN] {
    let bytes = hex.as_bytes();
    assert!(bytes.len() == 2 * PUBLIC_KEY_LEN, "BOOT_PUBKEY_HEX must be 64 hex digits");
    let mut key = [0; PUBLIC_KEY_LEN];
    let mut i = 0;
    while i < PUBLIC_KEY_LEN {
        key[i] = hex_digit(bytes[2 * i]) << 4 | hex_digit(bytes[2 * i + 1]);
        i += 1;
    }
    key
}

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("BOOT_PUBKEY_HEX must be 64 hex digits"),
    }
}

const fn parse_decimal(text: &str) -> usize {
    let bytes = text.as_bytes();
    assert!(!bytes.is_empty(), "BENCH_BALLAST_BYTES must be a number of bytes");
    let mut value = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "BENCH_BALLAST_BYTES must be a number of bytes");
        value = value * 10 + (bytes[i] - b'0') as usize;
        i += 1;
    }
    value
}

/// A fault ends the run at once, with the faulting address, instead of hanging QEMU.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("error: HardFault at pc {:#010x}", frame.pc());
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("error: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

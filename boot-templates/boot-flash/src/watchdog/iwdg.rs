//! The STM32 independent watchdog (IWDG; RM0090 section 21, RM0038 section 21), at
//! 0x4000_3000 on STM32F4 and STM32L1.
//!
//! - `KR` = 0xCCCC starts it (and the LSI oscillator), 0x5555 unlocks `PR` and `RLR`,
//!   0xAAAA reloads the counter (a feed).
//! - Once started, only a reset stops it: an app booted by a bootloader that started
//!   the IWDG must feed it.
//! - It counts the LSI clock, which is imprecise (STM32F4: 17-47 kHz, typically 32;
//!   STM32L1: 26-56 kHz, typically 37): timeouts are computed from the typical value
//!   and can be off by half. Choose a generous timeout.
//! - It keeps counting while a debugger halts the core, unless `DBGMCU` freezes it.

use super::Watchdog;
use crate::reg::{read32, write32};

/// IWDG base address (STM32F4 and STM32L1).
pub const BASE: usize = 0x4000_3000;
/// Typical LSI frequency on STM32F4.
pub const STM32F4_LSI_HZ: u32 = 32_000;
/// Typical LSI frequency on STM32L1.
pub const STM32L1_LSI_HZ: u32 = 37_000;

/// IWDG_KR: key register.
const KR: usize = BASE;
/// IWDG_PR: prescaler, divider 4 << PR (PR 0-6).
const PR: usize = BASE + 0x04;
/// IWDG_RLR: 12-bit reload value.
const RLR: usize = BASE + 0x08;
/// IWDG_SR: PVU (bit 0) and RVU (bit 1), set while an update is in progress.
const SR: usize = BASE + 0x0C;

/// IWDG_KR: start.
const KEY_START: u32 = 0xCCCC;
/// IWDG_KR: enable writes to PR and RLR.
const KEY_UNLOCK: u32 = 0x5555;
/// IWDG_KR: reload the counter.
const KEY_RELOAD: u32 = 0xAAAA;

/// The STM32 IWDG.
#[derive(Debug)]
pub struct Iwdg {
    lsi_hz: u32,
}

impl Iwdg {
    /// The IWDG, counting an LSI of `lsi_hz`.
    ///
    /// # Safety
    /// Only on an STM32 whose IWDG is at [`BASE`].
    pub const unsafe fn new(lsi_hz: u32) -> Self {
        Iwdg { lsi_hz }
    }
}

/// `(PR, RLR)` for a timeout: the finest prescaler whose 12-bit reload fits.
pub fn prescaler_and_reload(lsi_hz: u32, timeout_ms: u32) -> (u32, u32) {
    for pr in 0..=6u32 {
        let divider = 4u64 << pr;
        let ticks = u64::from(lsi_hz) * u64::from(timeout_ms) / 1000 / divider;
        if ticks <= 0x1000 {
            return (pr, ticks.clamp(1, 0x1000) as u32 - 1);
        }
    }
    (6, 0xFFF)
}

impl Watchdog for Iwdg {
    fn start(&mut self, timeout_ms: u32) {
        let (pr, rlr) = prescaler_and_reload(self.lsi_hz, timeout_ms);
        write32(KR, KEY_START);
        write32(KR, KEY_UNLOCK);
        while read32(SR) & 0b11 != 0 {}
        write32(PR, pr);
        write32(RLR, rlr);
        while read32(SR) & 0b11 != 0 {}
        write32(KR, KEY_RELOAD);
    }

    fn feed(&mut self) {
        write32(KR, KEY_RELOAD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finest_prescaler_that_fits_is_chosen() {
        // 100 ms at 32 kHz: 3200 ticks of /1... /4 gives 800.
        assert_eq!(prescaler_and_reload(STM32F4_LSI_HZ, 100), (0, 799));
        // 1 s: /4 gives 8000 (too many), /8 gives 4000.
        assert_eq!(prescaler_and_reload(STM32F4_LSI_HZ, 1000), (1, 3999));
        // 30 s: /256 gives 3750.
        assert_eq!(prescaler_and_reload(STM32F4_LSI_HZ, 30_000), (6, 3749));
        // Longer than the IWDG can count: the longest it can.
        assert_eq!(prescaler_and_reload(STM32F4_LSI_HZ, 60_000), (6, 0xFFF));
        assert_eq!(prescaler_and_reload(STM32L1_LSI_HZ, 0), (0, 0));
    }
}

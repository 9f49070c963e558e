//! The ARM CMSDK APB watchdog (Cortex-M System Design Kit TRM, DDI 0479), at
//! 0x4000_8000 on QEMU's mps2-an385/an386.
//!
//! The counter counts `WDOGLOAD` clock ticks down to zero. The first time it reaches
//! zero it raises its interrupt (wired to NMI on the mps2 boards) and reloads; if the
//! interrupt is still pending the second time, it asserts reset. So the reset comes
//! after two `WDOGLOAD` periods: [`CmsdkWatchdog::start`] loads half the timeout.
//! Writing `WDOGINTCLR` clears the interrupt and reloads the counter: that is a feed.
//!
//! QEMU 7.2 models this device (`cmsdk-apb-watchdog`, clocked by the 25 MHz system
//! clock) and turns the reset into a system reset (`-watchdog-action`, default
//! `reset`); with `-no-reboot` QEMU exits instead.

use super::Watchdog;
use crate::reg::write32;

/// The watchdog's address on the mps2 boards.
pub const MPS2_BASE: usize = 0x4000_8000;
/// The watchdog clock on the mps2 boards (the 25 MHz system clock).
pub const MPS2_CLOCK_HZ: u32 = 25_000_000;

/// WDOGLOAD: reload value.
const LOAD: usize = 0x000;
/// WDOGCONTROL: INTEN (bit 0) enables the counter and interrupt, RESEN (bit 1) the reset.
const CONTROL: usize = 0x008;
/// WDOGINTCLR: any write clears the interrupt and reloads the counter.
const INTCLR: usize = 0x00C;
/// WDOGLOCK: 0x1ACCE551 enables writes to the other registers, anything else disables.
const LOCK: usize = 0xC00;

/// WDOGCONTROL.INTEN.
const CONTROL_INTEN: u32 = 1 << 0;
/// WDOGCONTROL.RESEN.
const CONTROL_RESEN: u32 = 1 << 1;
/// WDOGLOCK unlock key.
const UNLOCK_KEY: u32 = 0x1ACC_E551;

/// A CMSDK APB watchdog. The registers are left unlocked, so that an app can feed it
/// with a single write of any value to `base + 0xC` (WDOGINTCLR).
#[derive(Debug)]
pub struct CmsdkWatchdog {
    base: usize,
    clock_hz: u32,
}

impl CmsdkWatchdog {
    /// The watchdog at `base`, clocked at `clock_hz`.
    ///
    /// # Safety
    /// `base` must be a CMSDK APB watchdog.
    pub const unsafe fn new(base: usize, clock_hz: u32) -> Self {
        CmsdkWatchdog { base, clock_hz }
    }

    /// The watchdog of QEMU's mps2 boards.
    ///
    /// # Safety
    /// Only on an mps2 board.
    pub const unsafe fn mps2() -> Self {
        CmsdkWatchdog { base: MPS2_BASE, clock_hz: MPS2_CLOCK_HZ }
    }

    /// Stops the watchdog (clears INTEN and RESEN).
    pub fn stop(&mut self) {
        write32(self.base + LOCK, UNLOCK_KEY);
        write32(self.base + CONTROL, 0);
        write32(self.base + INTCLR, 1);
    }
}

/// The `WDOGLOAD` value for a reset after `timeout_ms` (two periods).
pub fn load_value(clock_hz: u32, timeout_ms: u32) -> u32 {
    let ticks = u64::from(clock_hz) * u64::from(timeout_ms) / 1000 / 2;
    ticks.clamp(1, u64::from(u32::MAX)) as u32
}

impl Watchdog for CmsdkWatchdog {
    fn start(&mut self, timeout_ms: u32) {
        write32(self.base + LOCK, UNLOCK_KEY);
        write32(self.base + LOAD, load_value(self.clock_hz, timeout_ms));
        write32(self.base + INTCLR, 1);
        write32(self.base + CONTROL, CONTROL_INTEN | CONTROL_RESEN);
    }

    fn feed(&mut self) {
        write32(self.base + LOCK, UNLOCK_KEY);
        write32(self.base + INTCLR, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_comes_after_two_load_periods() {
        assert_eq!(load_value(MPS2_CLOCK_HZ, 1000), 12_500_000);
        assert_eq!(load_value(MPS2_CLOCK_HZ, 0), 1);
        assert_eq!(load_value(MPS2_CLOCK_HZ, u32::MAX), u32::MAX);
    }
}

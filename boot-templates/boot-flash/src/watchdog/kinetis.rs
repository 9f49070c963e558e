//! The Kinetis K64 watchdog (WDOG; K64 reference manual, "Watchdog Timer"), at
//! 0x4005_2000.
//!
//! - **It is enabled at reset** (`STCTRLH` resets to 0x01D3: WDOGEN, bus clock) and
//!   times out soon after: a bootloader (or an app's startup code) must reconfigure or
//!   feed it early, or the chip resets in a loop. The bootloader calls
//!   [`KinetisWdog::start`] (or [`KinetisWdog::disable`]) first thing in `main`.
//! - Configuration registers are writable only after the unlock sequence (0xC520 then
//!   0xD928 to `UNLOCK`, within 20 bus clocks of each other), and then only for 256
//!   bus clocks: the sequence runs with interrupts masked.
//! - A feed is 0xA602 then 0xB480 to `REFRESH`, within 20 bus clocks.
//! - `start` keeps `ALLOWUPDATE` set, so that the app can reconfigure (or disable) the
//!   watchdog after it boots: NXP's `SystemInit` disables it, which is what many apps
//!   do. An app that disables it loses the protection against a hung update.
//! - All registers are 16 bits wide and must be written with 16-bit stores.

use super::Watchdog;
use crate::arch::interrupt_free;
use crate::reg::write16;

/// WDOG base address.
pub const BASE: usize = 0x4005_2000;

/// WDOG_STCTRLH: status and control high.
const STCTRLH: usize = BASE;
/// WDOG_TOVALH: timeout value high half.
const TOVALH: usize = BASE + 0x04;
/// WDOG_TOVALL: timeout value low half.
const TOVALL: usize = BASE + 0x06;
/// WDOG_WINH: window high half.
const WINH: usize = BASE + 0x08;
/// WDOG_WINL: window low half.
const WINL: usize = BASE + 0x0A;
/// WDOG_REFRESH: refresh sequence.
const REFRESH: usize = BASE + 0x0C;
/// WDOG_UNLOCK: unlock sequence.
const UNLOCK: usize = BASE + 0x0E;
/// WDOG_PRESC: PRESCVAL in bits 10:8, the clock is divided by PRESCVAL + 1.
const PRESC: usize = BASE + 0x16;

/// STCTRLH.WDOGEN.
const STCTRLH_WDOGEN: u16 = 1 << 0;
/// STCTRLH.ALLOWUPDATE: the registers can be unlocked again later.
const STCTRLH_ALLOWUPDATE: u16 = 1 << 4;
/// STCTRLH.STOPEN: runs in stop mode.
const STCTRLH_STOPEN: u16 = 1 << 6;
/// STCTRLH.WAITEN: runs in wait mode.
const STCTRLH_WAITEN: u16 = 1 << 7;
/// STCTRLH bit 8: reserved, reads and must be written 1.
const STCTRLH_RESERVED: u16 = 1 << 8;
/// CLKSRC (bit 1) left 0: the 1 kHz LPO clock, so TOVAL is in milliseconds.
const STCTRLH_BASE: u16 = STCTRLH_RESERVED | STCTRLH_WAITEN | STCTRLH_STOPEN | STCTRLH_ALLOWUPDATE;

/// UNLOCK keys.
const UNLOCK_KEYS: [u16; 2] = [0xC520, 0xD928];
/// REFRESH keys.
const REFRESH_KEYS: [u16; 2] = [0xA602, 0xB480];

/// The K64 WDOG.
#[derive(Debug)]
pub struct KinetisWdog {
    _private: (),
}

impl KinetisWdog {
    /// The watchdog.
    ///
    /// # Safety
    /// Only on a Kinetis K6x/K2x with the WDOG at [`BASE`].
    pub const unsafe fn new() -> Self {
        KinetisWdog { _private: () }
    }

    /// Turns the watchdog off (it is on at reset).
    pub fn disable(&mut self) {
        configure(STCTRLH_BASE, 0xFFFF_FFFF);
    }
}

/// The TOVAL for a timeout in ms (LPO clock, no prescaler); the WDOG needs at least 4.
pub fn timeout_value(timeout_ms: u32) -> u32 {
    timeout_ms.max(4)
}

/// Unlocks and writes the configuration, all within the 256-bus-clock window.
fn configure(stctrlh: u16, toval: u32) {
    interrupt_free(|| {
        write16(UNLOCK, UNLOCK_KEYS[0]);
        write16(UNLOCK, UNLOCK_KEYS[1]);
        write16(TOVALH, (toval >> 16) as u16);
        write16(TOVALL, toval as u16);
        write16(WINH, 0);
        write16(WINL, 0);
        write16(PRESC, 0);
        write16(STCTRLH, stctrlh);
    });
}

impl Watchdog for KinetisWdog {
    fn start(&mut self, timeout_ms: u32) {
        configure(STCTRLH_BASE | STCTRLH_WDOGEN, timeout_value(timeout_ms));
        self.feed();
    }

    fn feed(&mut self) {
        interrupt_free(|| {
            write16(REFRESH, REFRESH_KEYS[0]);
            write16(REFRESH, REFRESH_KEYS[1]);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_lpo_milliseconds() {
        assert_eq!(timeout_value(2000), 2000);
        assert_eq!(timeout_value(0), 4);
        assert_eq!(STCTRLH_BASE & 0b11, 0, "LPO clock, and disabled unless WDOGEN is added");
    }
}

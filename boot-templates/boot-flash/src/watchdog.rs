//! Watchdogs: the bootloader starts one before it hands over to a new image, so that an
//! image that hangs before it confirms itself is reset and reverted.
//!
//! | module | chip | clock | stops? |
//! |---|---|---|---|
//! | [`cmsdk`] | QEMU mps2 boards (CMSDK APB watchdog) | 25 MHz system clock | yes |
//! | [`iwdg`] | STM32F4, STM32L1 (IWDG) | LSI, imprecise | no, until reset |
//! | [`kinetis`] | Kinetis K64 (WDOG) | 1 kHz LPO | yes; **on at reset** |
//!
//! All implement [`Watchdog`]: `start(timeout_ms)` and `feed()`.

#[cfg(any(feature = "ram", test))]
pub mod cmsdk;
#[cfg(any(feature = "stm32f4", feature = "stm32l1", test))]
pub mod iwdg;
#[cfg(any(feature = "kinetis-ftfe", test))]
pub mod kinetis;

/// A watchdog timer.
pub trait Watchdog {
    /// Starts the watchdog (or restarts it with a new timeout): unless [`feed`] is
    /// called at least every `timeout_ms` milliseconds, the chip resets.
    ///
    /// [`feed`]: Watchdog::feed
    fn start(&mut self, timeout_ms: u32);

    /// Restarts the countdown.
    fn feed(&mut self);
}

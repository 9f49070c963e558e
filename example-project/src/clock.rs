//! Milliseconds since start, from SysTick: the monotonic time smoltcp and the time-outs
//! run on.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;

/// The core clock of QEMU's mps2 boards.
const CORE_CLOCK_HZ: u32 = 25_000_000;

/// Milliseconds since [`start`].
static MILLIS: AtomicU32 = AtomicU32::new(0);

/// Starts SysTick: one interrupt per millisecond.
pub fn start(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_CLOCK_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Milliseconds since [`start`] (wraps after 49 days).
pub fn millis() -> u32 {
    MILLIS.load(Ordering::Relaxed)
}

/// The time for smoltcp.
pub fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_millis(i64::from(millis()))
}

/// A moment `ms` milliseconds from now.
pub fn deadline(ms: u32) -> u32 {
    millis().wrapping_add(ms)
}

/// True once `deadline` has passed.
pub fn passed(deadline: u32) -> bool {
    // The difference is negative (as i32) until the deadline.
    millis().wrapping_sub(deadline) as i32 >= 0
}

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

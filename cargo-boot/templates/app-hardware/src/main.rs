//! An app for the {{board}}, started by the cargo boot bootloader.
//!
//! A blinky without a HAL: SysTick counts milliseconds and `set_led` is called every
//! half second. SysTick interrupts reach this app's handler only if the bootloader
//! pointed VTOR at its vector table. Drive your board's LED in `set_led` (through its
//! HAL or PAC), then `cargo boot build` and `cargo boot flash`.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::{entry, exception};

/// The board this app was created for.
const BOARD: &str = "{{board}}";
/// The core clock after reset: the bootloader leaves the clocks as the chip starts them.
const CORE_CLOCK_HZ: u32 = reset_clock_hz(BOARD);
/// SysTick interrupts per second.
const TICK_HZ: u32 = 1000;
/// Milliseconds between LED toggles.
const BLINK_MS: u32 = 500;

/// Milliseconds since SysTick started.
static MILLIS: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().expect("the core peripherals are taken once");
    if !started_by_the_bootloader() {
        // VTOR does not point at this app: SysTick would run someone else's handler.
        panic!("VTOR is not this app's vector table");
    }
    start_systick(&mut core.SYST);
    let mut led_on = false;
    let mut next_toggle = BLINK_MS;
    loop {
        cortex_m::asm::wfi();
        if MILLIS.load(Ordering::Relaxed) >= next_toggle {
            led_on = !led_on;
            set_led(led_on);
            next_toggle += BLINK_MS;
        }
    }
}

/// True when VTOR holds this app's vector table, as the bootloader leaves it.
fn started_by_the_bootloader() -> bool {
    // SAFETY: reading VTOR has no side effects.
    let vtor = unsafe { (*SCB::PTR).vtor.read() };
    vtor == boot_app::layout().app_start()
}

/// Turns the board's LED on or off: fill in with your board's HAL or PAC.
fn set_led(on: bool) {
    let _ = on;
}

/// Starts SysTick on the core clock at `TICK_HZ` interrupts per second.
fn start_systick(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_CLOCK_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// The core clock each bundled board runs at after reset.
const fn reset_clock_hz(board: &str) -> u32 {
    match board.as_bytes() {
        // STM32F4: the 16 MHz HSI oscillator.
        b"odin-w2" | b"nucleo-f429zi" => 16_000_000,
        // STM32L1: the MSI oscillator at 2.097 MHz.
        b"xdot" => 2_097_000,
        // Kinetis K64: the FLL at 640 x 32.768 kHz.
        b"frdm-k64f" => 20_971_520,
        _ => 16_000_000,
    }
}

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

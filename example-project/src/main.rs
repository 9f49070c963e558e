//! The example project: an app for the qemu-an386 virtual board, started by the cargo
//! boot bootloader. It began as `cargo boot new --board qemu-an386`.
//!
//! It prints where cargo boot put it, shows that the bootloader handed over properly
//! (SysTick interrupts reach this app's handler only if VTOR points at its vector
//! table), and ends the QEMU run through semihosting. `cargo boot run` builds it, with
//! its bootloader, and streams UART0 to your terminal.

#![no_std]
#![no_main]

mod uart;

use core::fmt::Write as _;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::debug;

use uart::Uart;

/// The board this app was created for.
const BOARD: &str = "qemu-an386";
/// The core clock of QEMU's MPS2 boards.
const CORE_CLOCK_HZ: u32 = 25_000_000;
/// SysTick interrupts per second.
const TICK_HZ: u32 = 100;
/// How many SysTick interrupts to wait for before exiting.
const TICKS_TO_WAIT: u32 = 3;

/// SysTick interrupts so far.
static TICKS: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let mut console = Uart::uart0();
    let mut core = cortex_m::Peripherals::take().expect("the core peripherals are taken once");
    writeln!(console, "{} on {BOARD}, started by the cargo boot bootloader", env!("CARGO_PKG_NAME")).ok();
    print_layout(&mut console);

    start_systick(&mut core.SYST);
    while TICKS.load(Ordering::Relaxed) < TICKS_TO_WAIT {
        cortex_m::asm::wfi();
    }
    writeln!(console, "systick fired {} times", TICKS.load(Ordering::Relaxed)).ok();
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Prints the layout constants cargo boot linked this app with, and VTOR.
fn print_layout(console: &mut Uart) {
    let layout = boot_app::layout();
    // SAFETY: reading VTOR has no side effects.
    let vtor = unsafe { (*SCB::PTR).vtor.read() };
    let rows = [
        ("flash start", layout.flash_start),
        // The bootloader region (`restrict_size`) is everything before the primary slot.
        ("bootloader size", layout.primary.start - layout.flash_start),
        ("primary start", layout.primary.start),
        ("primary size", layout.primary.size),
        ("header size", layout.header_size),
        ("app start", layout.app_start()),
        ("vtor", vtor),
    ];
    for (name, value) in rows {
        writeln!(console, "{name:<17}{value:#010x}").ok();
    }
}

/// Starts SysTick on the core clock at `TICK_HZ` interrupts per second.
fn start_systick(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_CLOCK_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// A fault ends the run at once, with the faulting address, instead of hanging QEMU.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    writeln!(Uart::uart0(), "HardFault at pc {:#010x}", frame.pc()).ok();
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    writeln!(Uart::uart0(), "{info}").ok();
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

//! The minimal bootloader of `cargo boot`.
//!
//! It does what Mbed OS's `mbed_start_application(POST_APPLICATION_ADDR)` does, and
//! nothing else: it leaves the core as close to its reset state as software can, points
//! VTOR at the app's vector table, loads the app's stack pointer and jumps to its reset
//! handler. It never writes flash; the driver features only exist because `cargo boot`
//! passes the board's one to every bundled bootloader.
//!
//! Pins and clocks are not reset: the app starts with whatever the bootloader set up
//! (this one sets up nothing).

#![no_std]
#![no_main]

use core::arch::asm;
use core::ptr::addr_of;

use cortex_m::peripheral::Peripherals;
use cortex_m_rt::entry;

extern "C" {
    /// Defined by the generated `memory.x`: its address is the app's vector table.
    static __boot_app_start: u8;
    /// Defined by the generated `memory.x`: its address is the value of an erased byte.
    static __boot_erased_value: u8;
}

/// ICSR: clear a pending PendSV (bit 27) and a pending SysTick (bit 25).
const ICSR_PENDSVCLR_PENDSTCLR: u32 = (1 << 27) | (1 << 25);

#[entry]
fn main() -> ! {
    #[cfg(feature = "kinetis-ftfe")]
    disable_kinetis_watchdog();
    let app = addr_of!(__boot_app_start) as u32;
    // SAFETY: the app region is readable flash; its first two words are its initial
    // stack pointer and reset vector.
    let (stack, reset) = unsafe { (read_word(app), read_word(app + 4)) };
    if !looks_like_an_app(reset) {
        // Erased or garbage: jumping would fault. Wait for a debugger or a reflash.
        loop {
            cortex_m::asm::wfi();
        }
    }
    // SAFETY: the hand-over happens once, with interrupts off, and never returns.
    unsafe {
        quiesce_and_point_vtor_at(app);
        start(stack, reset)
    }
}

/// True when `reset` can be an app's reset vector: a Thumb address that is not erased flash.
fn looks_like_an_app(reset: u32) -> bool {
    let erased = u32::from_ne_bytes([addr_of!(__boot_erased_value) as u32 as u8; 4]);
    reset != erased && reset & 1 == 1
}

/// Reads one word of flash.
///
/// # Safety
/// `addr` must be a readable, word-aligned address.
unsafe fn read_word(addr: u32) -> u32 {
    core::ptr::read_volatile(addr as *const u32)
}

/// Leaves the interrupt machinery as a reset would, and moves the vector table to the app.
///
/// Interrupts are masked first; SysTick is stopped; every NVIC interrupt is disabled and
/// its pending state cleared; pending SysTick and PendSV are cleared. Only then does VTOR
/// change, so that no exception can reach the app's handlers half-way.
///
/// # Safety
/// Must run with nothing else touching the core peripherals (it steals them).
unsafe fn quiesce_and_point_vtor_at(vector_table: u32) {
    cortex_m::interrupt::disable();
    let p = Peripherals::steal();
    p.SYST.csr.write(0);
    // ICTR.INTLINESNUM + 1 is the number of implemented groups of 32 interrupts.
    let groups = ((p.ICB.ictr.read() & 0xF) + 1) as usize;
    for group in 0..groups.min(p.NVIC.icer.len()) {
        p.NVIC.icer[group].write(u32::MAX);
        p.NVIC.icpr[group].write(u32::MAX);
    }
    p.SCB.icsr.write(ICSR_PENDSVCLR_PENDSTCLR);
    p.SCB.vtor.write(vector_table);
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}

/// Jumps to the app as the core would at reset: main stack, privileged, `stack` in MSP,
/// interrupts unmasked (PRIMASK is 0 after a reset, and apps rely on it).
///
/// # Safety
/// `stack` and `reset` must come from a valid vector table, and the interrupt sources
/// must be quiet (see [`quiesce_and_point_vtor_at`]).
unsafe fn start(stack: u32, reset: u32) -> ! {
    asm!(
        "msr control, {zero}",
        "isb",
        "msr msp, {stack}",
        "cpsie i",
        "bx {reset}",
        zero = in(reg) 0u32,
        stack = in(reg) stack,
        reset = in(reg) reset,
        options(noreturn, nomem, nostack),
    )
}

/// The Kinetis K64 watchdog runs from reset and resets the chip within a fraction of a
/// second; Mbed OS's start-up code turns it off, and so does this. `ALLOWUPDATE` stays
/// set, so the app can still configure and enable it.
#[cfg(feature = "kinetis-ftfe")]
fn disable_kinetis_watchdog() {
    const WDOG_STCTRLH: *mut u16 = 0x4005_2000 as *mut u16;
    const WDOG_UNLOCK: *mut u16 = 0x4005_200E as *mut u16;
    // STCTRLH with WDOGEN clear: WAITEN, STOPEN, ALLOWUPDATE, CLKSRC and bit 8 as at reset.
    const STCTRLH_DISABLED: u16 = 0x01D2;
    cortex_m::interrupt::free(|_| {
        // SAFETY: the unlock sequence and the write must follow each other within 20 bus
        // clocks, with interrupts off; these are the K64's WDOG registers.
        unsafe {
            core::ptr::write_volatile(WDOG_UNLOCK, 0xC520);
            core::ptr::write_volatile(WDOG_UNLOCK, 0xD928);
            core::ptr::write_volatile(WDOG_STCTRLH, STCTRLH_DISABLED);
        }
    });
}

/// The Kinetis flash configuration field, at 0x400-0x40F, which the chip reads at reset.
/// FSEC = 0xFE: unsecured, mass erase enabled, backdoor key disabled. Any other FSEC can
/// lock the debugger out for good, so `cargo boot build` checks this byte too.
#[cfg(feature = "kinetis-ftfe")]
#[link_section = ".flash_config"]
#[used]
#[no_mangle]
#[rustfmt::skip]
pub static FLASH_CONFIG_FIELD: [u8; 16] = [
    // Backdoor comparison key (unused).
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    // FPROT3-0: no program flash region is protected.
    0xFF, 0xFF, 0xFF, 0xFF,
    // FSEC, FOPT, FEPROT, FDPROT.
    0xFE, 0xFF, 0xFF, 0xFF,
];

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

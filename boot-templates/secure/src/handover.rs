//! Hands the core over to the app as Mbed OS's `mbed_start_application` does: the
//! interrupt machinery as a reset leaves it, VTOR at the app's vector table, the app's
//! initial stack pointer in MSP, and a jump to its reset handler.
//!
//! Clocks and pins are not touched (this bootloader changes none).

use core::ptr::{read_volatile, write_volatile};

/// SysTick control and status (SYST_CSR).
const SYST_CSR: usize = 0xE000_E010;
/// Interrupt controller type (ICTR): INTLINESNUM in bits 3:0.
const ICTR: usize = 0xE000_E004;
/// NVIC interrupt clear-enable registers (NVIC_ICER0..).
const NVIC_ICER: usize = 0xE000_E180;
/// NVIC interrupt clear-pending registers (NVIC_ICPR0..).
const NVIC_ICPR: usize = 0xE000_E280;
/// Interrupt control and state (SCB_ICSR).
const SCB_ICSR: usize = 0xE000_ED04;
/// Vector table offset (SCB_VTOR).
const SCB_VTOR: usize = 0xE000_ED08;
/// ICSR: PENDSVCLR (bit 27) and PENDSTCLR (bit 25).
const ICSR_PENDSVCLR_PENDSTCLR: u32 = (1 << 27) | (1 << 25);

/// Starts the app whose vector table is at `vector_table`. Never returns.
///
/// # Safety
/// `vector_table` must hold a valid app's vector table (the image was verified or
/// trusted by the boot procedure).
pub unsafe fn start_app(vector_table: u32) -> ! {
    // SAFETY: core peripheral registers; the bootloader has no interrupt handler that
    // could run between these writes (interrupts are masked first).
    unsafe {
        core::arch::asm!("cpsid i", options(nomem, nostack, preserves_flags));
        write_volatile(SYST_CSR as *mut u32, 0);
        let groups = ((read_volatile(ICTR as *const u32) & 0xF) + 1) as usize;
        for group in 0..groups.min(16) {
            write_volatile((NVIC_ICER + 4 * group) as *mut u32, u32::MAX);
            write_volatile((NVIC_ICPR + 4 * group) as *mut u32, u32::MAX);
        }
        write_volatile(SCB_ICSR as *mut u32, ICSR_PENDSVCLR_PENDSTCLR);
        write_volatile(SCB_VTOR as *mut u32, vector_table);
        let stack = read_volatile(vector_table as usize as *const u32);
        let reset = read_volatile((vector_table as usize + 4) as *const u32);
        core::arch::asm!(
            "dsb",
            "isb",
            // Thread mode, privileged, main stack, no FP context: as after a reset.
            "msr control, {zero}",
            "isb",
            "msr msp, {stack}",
            // PRIMASK is 0 after a reset, and apps rely on it.
            "cpsie i",
            "bx {reset}",
            zero = in(reg) 0u32,
            stack = in(reg) stack,
            reset = in(reg) reset,
            options(noreturn, nostack),
        )
    }
}

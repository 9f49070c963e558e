//! The few Cortex-M instructions the drivers need. On other targets (host builds for
//! tests and clippy) they do nothing: the register-level drivers are never called there.
#![allow(dead_code)] // each driver uses some of them

/// Runs `f` with interrupts masked (PRIMASK set), then restores the previous mask.
#[inline(always)]
pub(crate) fn interrupt_free<R>(f: impl FnOnce() -> R) -> R {
    let was_masked = primask_set();
    disable_interrupts();
    let result = f();
    if !was_masked {
        enable_interrupts();
    }
    result
}

#[cfg(all(target_arch = "arm", target_os = "none"))]
mod imp {
    use core::arch::asm;

    #[inline(always)]
    pub(crate) fn primask_set() -> bool {
        let primask: u32;
        // SAFETY: reads a special register.
        unsafe { asm!("mrs {}, PRIMASK", out(reg) primask, options(nomem, nostack, preserves_flags)) };
        primask & 1 == 1
    }

    #[inline(always)]
    pub(crate) fn disable_interrupts() {
        // SAFETY: masks interrupts; also a compiler barrier (no `nomem`).
        unsafe { asm!("cpsid i", options(nostack, preserves_flags)) };
    }

    #[inline(always)]
    pub(crate) fn enable_interrupts() {
        // SAFETY: unmasks interrupts; also a compiler barrier (no `nomem`).
        unsafe { asm!("cpsie i", options(nostack, preserves_flags)) };
    }

    /// Data synchronization barrier: every memory access before it has completed.
    #[inline(always)]
    pub(crate) fn dsb() {
        // SAFETY: a barrier; also a compiler barrier (no `nomem`).
        unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
    }

    /// Instruction synchronization barrier: refetches the instructions after it.
    #[inline(always)]
    pub(crate) fn isb() {
        // SAFETY: a barrier; also a compiler barrier (no `nomem`).
        unsafe { asm!("isb sy", options(nostack, preserves_flags)) };
    }
}

#[cfg(not(all(target_arch = "arm", target_os = "none")))]
mod imp {
    use core::sync::atomic::{compiler_fence, Ordering};

    pub(crate) fn primask_set() -> bool {
        true
    }
    pub(crate) fn disable_interrupts() {}
    pub(crate) fn enable_interrupts() {}
    pub(crate) fn dsb() {
        compiler_fence(Ordering::SeqCst);
    }
    pub(crate) fn isb() {
        compiler_fence(Ordering::SeqCst);
    }
}

#[allow(unused_imports)]
pub(crate) use imp::{disable_interrupts, dsb, enable_interrupts, isb, primask_set};

//! Volatile access to memory-mapped registers by address.
#![allow(dead_code)]

/// Reads a 32-bit register.
#[inline(always)]
pub(crate) fn read32(address: usize) -> u32 {
    // SAFETY: only called with the addresses of the chip's registers, on that chip.
    unsafe { core::ptr::read_volatile(address as *const u32) }
}

/// Writes a 32-bit register.
#[inline(always)]
pub(crate) fn write32(address: usize, value: u32) {
    // SAFETY: only called with the addresses of the chip's registers, on that chip.
    unsafe { core::ptr::write_volatile(address as *mut u32, value) }
}

/// Read-modify-write of a 32-bit register: clears `clear`, then sets `set`.
#[inline(always)]
pub(crate) fn modify32(address: usize, clear: u32, set: u32) {
    write32(address, (read32(address) & !clear) | set);
}

/// Reads a 16-bit register.
#[inline(always)]
pub(crate) fn read16(address: usize) -> u16 {
    // SAFETY: only called with the addresses of the chip's registers, on that chip.
    unsafe { core::ptr::read_volatile(address as *const u16) }
}

/// Writes a 16-bit register.
#[inline(always)]
pub(crate) fn write16(address: usize, value: u16) {
    // SAFETY: only called with the addresses of the chip's registers, on that chip.
    unsafe { core::ptr::write_volatile(address as *mut u16, value) }
}

/// Reads an 8-bit register.
#[inline(always)]
pub(crate) fn read8(address: usize) -> u8 {
    // SAFETY: only called with the addresses of the chip's registers, on that chip.
    unsafe { core::ptr::read_volatile(address as *const u8) }
}

/// Writes an 8-bit register.
#[inline(always)]
pub(crate) fn write8(address: usize, value: u8) {
    // SAFETY: only called with the addresses of the chip's registers, on that chip.
    unsafe { core::ptr::write_volatile(address as *mut u8, value) }
}

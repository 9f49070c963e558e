//! Flash drivers and watchdogs for the bootloaders that `cargo boot` bundles.
//!
//! Each driver implements [`embedded_storage::nor_flash::NorFlash`] with raw volatile
//! register access (no HAL, no PAC), so that the bootloader stays small and has no
//! dependencies beyond `embedded-storage`. Offsets are relative to the start of the
//! chip's flash (offset 0 is `0x0800_0000` on STM32, `0x0` on Kinetis and the virtual
//! boards).
//!
//! | feature | module | chip | write | erase | erased |
//! |---|---|---|---|---|---|
//! | `stm32f4` | [`stm32f4`] | STM32F42x/43x, 2 MiB dual bank | 4 B | 16/64/128 KiB sectors | 0xFF |
//! | `stm32l1` | [`stm32l1`] | STM32L1 (L151CC) | 4 B | 256 B pages | **0x00** |
//! | `kinetis-ftfe` | [`kinetis`] | Kinetis K64 FTFE | 8 B phrase | 4 KiB sectors | 0xFF |
//! | `ram` | [`ram`] | QEMU mps2 boards (RAM as flash) | 4 B | 4 KiB (enforced) | configurable |
//!
//! Every driver checks bounds and alignment, and returns an [`Error`]; none panics.
//! None implements `MultiwriteNorFlash`: none of these chips is documented here to
//! allow programming a written location again, and the `ram` driver refuses it on
//! purpose, so that an update core that relies on it fails in tests, not on a board.
//!
//! The watchdogs are in [`watchdog`]: `start(timeout_ms)` and `feed()`.
//!
//! On the host, the modules compile (for tests and clippy) but only [`ram`] may be
//! used: the others access the chip's registers.

#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

use embedded_storage::nor_flash::{NorFlashError, NorFlashErrorKind};

#[cfg(any(feature = "kinetis-ftfe", test))]
pub mod kinetis;
#[cfg(any(feature = "ram", test))]
pub mod ram;
#[cfg(any(feature = "stm32f4", test))]
pub mod stm32f4;
#[cfg(any(feature = "stm32l1", test))]
pub mod stm32l1;
pub mod watchdog;

mod arch;
mod reg;

/// Why a flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The offset or length is not a multiple of the driver's `WRITE_SIZE`, or an erase
    /// range is not a multiple of `ERASE_SIZE`.
    NotAligned,
    /// An erase range does not start and end on a real erase-sector boundary (STM32F4's
    /// sectors are 16, 64 and 128 KiB; `ERASE_SIZE` is only the smallest of them).
    NotSectorAligned {
        /// The first offset in the range that is not a sector boundary.
        offset: u32,
    },
    /// The range leaves the flash.
    OutOfBounds,
    /// Programming a location that is not erased. NOR flash cannot set bits back
    /// without an erase; the `ram` driver refuses what the chips would get wrong silently.
    NotErased {
        /// The offset of the first byte that is not erased.
        offset: u32,
    },
    /// The controller refused the operation: the sector is write-protected
    /// (STM32 `WRPERR`, Kinetis `FPVIOL`).
    Protected,
    /// The controller reported a programming error (STM32 `PGAERR`, `PGPERR`, `PGSERR`,
    /// `SIZERR`, `OPERR`; Kinetis `ACCERR`, `MGSTAT0`). The value is the status register.
    Controller(u32),
    /// The controller stayed locked after the unlock sequence.
    Locked,
}

impl NorFlashError for Error {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Error::NotAligned | Error::NotSectorAligned { .. } => NorFlashErrorKind::NotAligned,
            Error::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::NotAligned => f.write_str("flash access not aligned to the write or erase size"),
            Error::NotSectorAligned { offset } => write!(f, "erase range not on a sector boundary at {offset:#x}"),
            Error::OutOfBounds => f.write_str("flash access out of bounds"),
            Error::NotErased { offset } => write!(f, "programming a byte that is not erased at {offset:#x}"),
            Error::Protected => f.write_str("flash sector is write-protected"),
            Error::Controller(status) => write!(f, "flash controller error (status {status:#x})"),
            Error::Locked => f.write_str("flash controller stayed locked"),
        }
    }
}

impl From<NorFlashErrorKind> for Error {
    fn from(kind: NorFlashErrorKind) -> Self {
        match kind {
            NorFlashErrorKind::NotAligned => Error::NotAligned,
            _ => Error::OutOfBounds,
        }
    }
}

// The helpers below serve whichever drivers the features select.

/// Checks that `offset..offset + len` lies inside a flash of `capacity` bytes and that
/// both ends are multiples of `align`.
#[allow(dead_code)]
fn check_range(capacity: u32, align: u32, offset: u32, len: usize) -> Result<(), Error> {
    let len = u32::try_from(len).map_err(|_| Error::OutOfBounds)?;
    if len > capacity || offset > capacity - len {
        return Err(Error::OutOfBounds);
    }
    if offset % align != 0 || len % align != 0 {
        return Err(Error::NotAligned);
    }
    Ok(())
}

/// Checks an erase range `from..to` the way `NorFlash::erase` describes.
#[allow(dead_code)]
fn check_erase(capacity: u32, erase_size: u32, from: u32, to: u32) -> Result<(), Error> {
    if from > to || to > capacity {
        return Err(Error::OutOfBounds);
    }
    if from % erase_size != 0 || to % erase_size != 0 {
        return Err(Error::NotAligned);
    }
    Ok(())
}

/// Reads memory-mapped flash at `address` into `bytes` with volatile loads (the flash
/// changes under the compiler's feet when the controller erases it).
///
/// # Safety
/// `address..address + bytes.len()` must be readable memory.
#[allow(dead_code)]
unsafe fn read_mapped(address: usize, bytes: &mut [u8]) {
    for (i, byte) in bytes.iter_mut().enumerate() {
        // SAFETY: the caller guarantees the range is readable.
        *byte = unsafe { core::ptr::read_volatile((address + i) as *const u8) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_for_bounds_before_alignment() {
        assert_eq!(check_range(0x1000, 4, 0x1000, 0), Ok(()));
        assert_eq!(check_range(0x1000, 4, 0xffc, 8), Err(Error::OutOfBounds));
        assert_eq!(check_range(0x1000, 4, u32::MAX, 4), Err(Error::OutOfBounds));
        assert_eq!(check_range(0x1000, 4, 2, 4), Err(Error::NotAligned));
        assert_eq!(check_range(0x1000, 4, 4, 3), Err(Error::NotAligned));
        assert_eq!(check_erase(0x2000, 0x1000, 0x1000, 0x800), Err(Error::OutOfBounds));
        assert_eq!(check_erase(0x2000, 0x1000, 0x1000, 0x3000), Err(Error::OutOfBounds));
        assert_eq!(check_erase(0x2000, 0x1000, 0x800, 0x1000), Err(Error::NotAligned));
        assert_eq!(check_erase(0x2000, 0x1000, 0x1000, 0x2000), Ok(()));
    }

    #[test]
    fn error_kinds_follow_embedded_storage() {
        assert_eq!(Error::NotSectorAligned { offset: 4 }.kind(), NorFlashErrorKind::NotAligned);
        assert_eq!(Error::NotErased { offset: 4 }.kind(), NorFlashErrorKind::Other);
        assert_eq!(Error::OutOfBounds.kind(), NorFlashErrorKind::OutOfBounds);
    }
}

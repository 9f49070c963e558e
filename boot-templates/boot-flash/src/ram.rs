//! RAM that plays NOR flash: the virtual boards' "flash" (QEMU's mps2 SSRAM1 at 0x0).
//!
//! QEMU models the mps2 boards' code memory as plain RAM, so any store would succeed.
//! This driver enforces the rules of real NOR flash in software, so that a bug in the
//! update core shows up on the virtual boards and in host tests instead of on a chip:
//!
//! - [`erase`](NorFlash::erase) works on whole 4 KiB sectors and sets every byte to the
//!   erased value, which is a parameter (0xFF like most NOR flash, 0x00 like STM32L1);
//! - [`write`](NorFlash::write) takes 4-byte aligned words only, and only over erased
//!   bytes: programming a byte that is not erased is [`Error::NotErased`], and nothing of
//!   that write is stored;
//! - reads have no restriction.
//!
//! The driver judges by value: a word written with the erased value still reads as
//! erased and may be written again (the K64 would refuse a second program of a phrase).
//!
//! The region is a `&mut [u8]` (host tests, a `Vec`) or a raw address range
//! ([`RamFlash::from_raw`], the board). All accesses are volatile, so address 0 is fine.

use core::marker::PhantomData;

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

use crate::{check_erase, check_range, Error};

/// The write granularity the driver enforces, in bytes.
pub const WRITE_SIZE: usize = 4;
/// The erase sector size the driver enforces, in bytes.
pub const SECTOR_SIZE: usize = 4096;

/// A RAM region with NOR flash rules. Offset 0 is the start of the region.
#[derive(Debug)]
pub struct RamFlash<'a> {
    base: *mut u8,
    capacity: u32,
    erased: u8,
    _region: PhantomData<&'a mut [u8]>,
}

impl<'a> RamFlash<'a> {
    /// A flash over `region`, whose erased bytes read `erased`. The contents are kept:
    /// bytes that equal `erased` count as erased.
    ///
    /// A region larger than 4 GiB is cut to the first 4 GiB - 4 KiB.
    pub fn new(region: &'a mut [u8], erased: u8) -> Self {
        let max = (u32::MAX - (SECTOR_SIZE as u32 - 1)) as usize;
        let len = region.len().min(max);
        RamFlash { base: region.as_mut_ptr(), capacity: len as u32, erased, _region: PhantomData }
    }

    /// The erased value of this flash.
    pub fn erased_value(&self) -> u8 {
        self.erased
    }

    fn byte(&self, offset: u32) -> u8 {
        // SAFETY: every caller checked `offset < capacity`; the region is ours. The
        // address is computed with `wrapping_add`: the virtual boards' region starts at
        // address 0, where `add` would be undefined; volatile access there is allowed.
        unsafe { core::ptr::read_volatile(self.base.wrapping_add(offset as usize)) }
    }

    fn set_byte(&mut self, offset: u32, value: u8) {
        // SAFETY: as in `byte`.
        unsafe { core::ptr::write_volatile(self.base.wrapping_add(offset as usize), value) }
    }
}

impl RamFlash<'static> {
    /// A flash over the memory at `base`, `size` bytes long, for the rest of the program.
    ///
    /// # Safety
    /// `base..base + size` must be RAM that nothing else writes while the driver lives
    /// (on the virtual boards: the bootloader runs from it, but only reads its own code).
    pub unsafe fn from_raw(base: *mut u8, size: u32, erased: u8) -> Self {
        RamFlash { base, capacity: size, erased, _region: PhantomData }
    }
}

impl ErrorType for RamFlash<'_> {
    type Error = Error;
}

impl ReadNorFlash for RamFlash<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        check_range(self.capacity, 1, offset, bytes.len())?;
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = self.byte(offset + i as u32);
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.capacity as usize
    }
}

impl NorFlash for RamFlash<'_> {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = SECTOR_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        check_erase(self.capacity, SECTOR_SIZE as u32, from, to)?;
        for offset in from..to {
            self.set_byte(offset, self.erased);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        check_range(self.capacity, WRITE_SIZE as u32, offset, bytes.len())?;
        // All or nothing: check the whole range before storing any of it.
        for i in 0..bytes.len() as u32 {
            if self.byte(offset + i) != self.erased {
                return Err(Error::NotErased { offset: offset + i });
            }
        }
        for (i, &value) in bytes.iter().enumerate() {
            self.set_byte(offset + i as u32, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_storage::nor_flash::{NorFlashError, NorFlashErrorKind};

    fn region(erased: u8) -> Vec<u8> {
        vec![erased; 4 * SECTOR_SIZE]
    }

    #[test]
    fn writes_only_aligned_words_over_erased_bytes() {
        let mut memory = region(0xFF);
        let mut flash = RamFlash::new(&mut memory, 0xFF);
        flash.write(8, &[1, 2, 3, 4]).unwrap();
        let mut back = [0; 8];
        flash.read(6, &mut back).unwrap();
        assert_eq!(back, [0xFF, 0xFF, 1, 2, 3, 4, 0xFF, 0xFF]);

        assert_eq!(flash.write(2, &[0; 4]), Err(Error::NotAligned));
        assert_eq!(flash.write(4, &[0; 2]), Err(Error::NotAligned));
        assert_eq!(flash.write(8, &[0; 4]), Err(Error::NotErased { offset: 8 }));
        assert_eq!(flash.write(8, &[0; 4]).unwrap_err().kind(), NorFlashErrorKind::Other);
    }

    #[test]
    fn a_refused_write_stores_nothing() {
        let mut memory = region(0xFF);
        {
            let mut flash = RamFlash::new(&mut memory, 0xFF);
            flash.write(4, &[0xAA; 4]).unwrap();
            // Bytes 0..4 are erased, 4..8 are not: the write must leave 0..4 untouched.
            assert_eq!(flash.write(0, &[0x55; 8]), Err(Error::NotErased { offset: 4 }));
        }
        assert_eq!(&memory[..8], &[0xFF, 0xFF, 0xFF, 0xFF, 0xAA, 0xAA, 0xAA, 0xAA]);
    }

    #[test]
    fn bytes_written_with_the_erased_value_still_count_as_erased() {
        // The driver sees values, not history. STM32 accepts this; the K64 does not
        // (a phrase is programmed once per erase), so the core must not rely on it.
        let mut memory = region(0xFF);
        let mut flash = RamFlash::new(&mut memory, 0xFF);
        flash.write(0, &[0xFF; 4]).unwrap();
        flash.write(0, &[0x12; 4]).unwrap();
    }

    #[test]
    fn erase_works_on_whole_sectors_and_sets_the_erased_value() {
        let mut memory = region(0xFF);
        let mut flash = RamFlash::new(&mut memory, 0xFF);
        flash.write(SECTOR_SIZE as u32, &[0; 8]).unwrap();
        flash.write(2 * SECTOR_SIZE as u32, &[0; 8]).unwrap();
        assert_eq!(flash.erase(0, 100), Err(Error::NotAligned));
        assert_eq!(flash.erase(0x800, 0x1000), Err(Error::NotAligned));
        assert_eq!(flash.erase(0x2000, 0x1000), Err(Error::OutOfBounds));
        assert_eq!(flash.erase(0, 5 * SECTOR_SIZE as u32), Err(Error::OutOfBounds));
        assert_eq!(flash.erase(0, 5 * SECTOR_SIZE as u32).unwrap_err().kind(), NorFlashErrorKind::OutOfBounds);
        flash.erase(SECTOR_SIZE as u32, 2 * SECTOR_SIZE as u32).unwrap();
        flash.write(SECTOR_SIZE as u32, &[7; 4]).unwrap();
        assert_eq!(flash.write(2 * SECTOR_SIZE as u32, &[7; 4]), Err(Error::NotErased { offset: 0x2000 }));
        flash.erase(0, 0).unwrap();
    }

    #[test]
    fn erases_to_zero_like_stm32l1() {
        let mut memory = region(0x00);
        memory[0..4].copy_from_slice(&[0xFF; 4]);
        let mut flash = RamFlash::new(&mut memory, 0x00);
        assert_eq!(flash.erased_value(), 0);
        assert_eq!(flash.write(0, &[1; 4]), Err(Error::NotErased { offset: 0 }));
        flash.write(4, &[0xFF; 4]).unwrap();
        flash.erase(0, SECTOR_SIZE as u32).unwrap();
        let mut back = [0xAA; 8];
        flash.read(0, &mut back).unwrap();
        assert_eq!(back, [0; 8]);
        flash.write(0, &[1; 4]).unwrap();
    }

    #[test]
    fn reads_are_bounded_but_not_aligned() {
        let mut memory = region(0xFF);
        let mut flash = RamFlash::new(&mut memory, 0xFF);
        assert_eq!(flash.capacity(), 4 * SECTOR_SIZE);
        let mut one = [0; 1];
        flash.read(4 * SECTOR_SIZE as u32 - 1, &mut one).unwrap();
        assert_eq!(flash.read(4 * SECTOR_SIZE as u32, &mut one), Err(Error::OutOfBounds));
        assert_eq!(flash.read(u32::MAX, &mut one), Err(Error::OutOfBounds));
        let mut empty = [0; 0];
        flash.read(4 * SECTOR_SIZE as u32, &mut empty).unwrap();
    }

    #[test]
    fn raw_regions_behave_like_slices() {
        let memory: &'static mut [u8] = Box::leak(region(0xFF).into_boxed_slice());
        let base = memory.as_mut_ptr();
        // SAFETY: the leaked region is used by this flash only.
        let mut flash = unsafe { RamFlash::from_raw(base, (2 * SECTOR_SIZE) as u32, 0xFF) };
        assert_eq!(flash.capacity(), 2 * SECTOR_SIZE);
        flash.write(0, &[9; 4]).unwrap();
        assert_eq!(flash.erase(0, 3 * SECTOR_SIZE as u32), Err(Error::OutOfBounds));
    }
}

//! STM32F42x/43x embedded flash (RM0090 section 3), 2 MiB dual-bank configuration.
//!
//! - Two banks of 1 MiB, each with sectors of 4 × 16 KiB, 1 × 64 KiB, 7 × 128 KiB.
//!   Sectors 0-11 are bank 1 (0x0800_0000), 12-23 bank 2 (0x0810_0000).
//! - `FLASH_CR.SNB` is **not** the sector index in bank 2: sectors 12-23 are SNB
//!   16-27 (sector + 4; SNB bit 4 selects the bank). Writing 12 to SNB erases nothing
//!   you wanted.
//! - Programming uses `PSIZE` = x32 (needs VDD 2.7-3.6 V), so `WRITE_SIZE` is 4.
//! - `ERASE_SIZE` is the smallest sector (16 KiB), as `embedded-storage` requires, but
//!   `erase` checks the range against the real map: a range that starts or ends inside
//!   a 64 or 128 KiB sector is [`Error::NotSectorAligned`] and nothing is erased.
//! - Errata (STM32F42x/43x errata sheet ES0206, 2.2.12: the data cache can be
//!   corrupted by dual-bank read-while-write): the data cache is switched off while the
//!   controller programs or erases. Afterwards both caches are reset, so that no stale line of the changed
//!   flash survives, and restored to their previous state.
//! - The dual-bank option `DB1M` (1 MiB parts split in two banks) is not supported:
//!   the map above is that of the 2 MiB parts.
//!
//! Offsets are relative to 0x0800_0000.

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

use crate::arch::{dsb, isb};
use crate::reg::{modify32, read32, write32};
use crate::{check_range, read_mapped, Error};

/// Address of the first byte of flash (bank 1, sector 0).
pub const FLASH_BASE: usize = 0x0800_0000;
/// The flash size.
pub const FLASH_SIZE: u32 = 0x20_0000;
/// The size of one bank.
pub const BANK_SIZE: u32 = 0x10_0000;
/// Number of erase sectors (both banks).
pub const SECTOR_COUNT: u8 = 24;
/// The write granularity (PSIZE = x32).
pub const WRITE_SIZE: usize = 4;
/// The smallest erase sector; real sectors are 16, 64 or 128 KiB.
pub const MIN_SECTOR_SIZE: usize = 0x4000;
/// The erased value.
pub const ERASED_VALUE: u8 = 0xFF;

/// Flash interface registers (RM0090 3.9).
mod regs {
    /// Flash interface base address.
    const BASE: usize = 0x4002_3C00;
    /// FLASH_ACR: access control (latency, prefetch, caches).
    pub const ACR: usize = BASE;
    /// FLASH_KEYR: unlock keys for FLASH_CR.
    pub const KEYR: usize = BASE + 0x04;
    /// FLASH_SR: status.
    pub const SR: usize = BASE + 0x0C;
    /// FLASH_CR: control.
    pub const CR: usize = BASE + 0x10;

    /// FLASH_KEYR KEY1.
    pub const KEY1: u32 = 0x4567_0123;
    /// FLASH_KEYR KEY2.
    pub const KEY2: u32 = 0xCDEF_89AB;

    /// FLASH_ACR.ICEN: instruction cache enable.
    pub const ACR_ICEN: u32 = 1 << 9;
    /// FLASH_ACR.DCEN: data cache enable.
    pub const ACR_DCEN: u32 = 1 << 10;
    /// FLASH_ACR.ICRST: instruction cache reset (only while ICEN = 0).
    pub const ACR_ICRST: u32 = 1 << 11;
    /// FLASH_ACR.DCRST: data cache reset (only while DCEN = 0).
    pub const ACR_DCRST: u32 = 1 << 12;

    /// FLASH_SR.EOP: end of operation.
    pub const SR_EOP: u32 = 1 << 0;
    /// FLASH_SR.OPERR: operation error.
    pub const SR_OPERR: u32 = 1 << 1;
    /// FLASH_SR.WRPERR: write protection error.
    pub const SR_WRPERR: u32 = 1 << 4;
    /// FLASH_SR.PGAERR: programming alignment error.
    pub const SR_PGAERR: u32 = 1 << 5;
    /// FLASH_SR.PGPERR: programming parallelism error.
    pub const SR_PGPERR: u32 = 1 << 6;
    /// FLASH_SR.PGSERR: programming sequence error.
    pub const SR_PGSERR: u32 = 1 << 7;
    /// FLASH_SR.RDERR: proprietary readout protection error (F42x/43x).
    pub const SR_RDERR: u32 = 1 << 8;
    /// FLASH_SR.BSY: operation in progress.
    pub const SR_BSY: u32 = 1 << 16;
    /// Every error flag (all rc_w1).
    pub const SR_ERRORS: u32 = SR_OPERR | SR_WRPERR | SR_PGAERR | SR_PGPERR | SR_PGSERR | SR_RDERR;

    /// FLASH_CR.PG: programming.
    pub const CR_PG: u32 = 1 << 0;
    /// FLASH_CR.SER: sector erase.
    pub const CR_SER: u32 = 1 << 1;
    /// FLASH_CR.SNB[4:0] position: sector number (bank 2: sector + 4).
    pub const CR_SNB_SHIFT: u32 = 3;
    /// FLASH_CR.SNB mask.
    pub const CR_SNB: u32 = 0x1F << CR_SNB_SHIFT;
    /// FLASH_CR.PSIZE = 0b10: x32 parallelism.
    pub const CR_PSIZE_X32: u32 = 0b10 << 8;
    /// FLASH_CR.PSIZE mask.
    pub const CR_PSIZE: u32 = 0b11 << 8;
    /// FLASH_CR.STRT: start an erase.
    pub const CR_STRT: u32 = 1 << 16;
    /// FLASH_CR.LOCK: FLASH_CR is locked.
    pub const CR_LOCK: u32 = 1 << 31;
}

/// One erase sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sector {
    /// The sector's index, 0-23 (bank 2 is 12-23).
    pub index: u8,
    /// Offset of its first byte from [`FLASH_BASE`].
    pub start: u32,
    /// Its size in bytes.
    pub size: u32,
}

impl Sector {
    /// The value for `FLASH_CR.SNB`: the index in bank 1, index + 4 in bank 2.
    pub const fn snb(&self) -> u32 {
        if self.index < 12 {
            self.index as u32
        } else {
            self.index as u32 + 4
        }
    }

    /// The offset just past the sector.
    pub const fn end(&self) -> u32 {
        self.start + self.size
    }
}

/// The sector that holds `offset`, or `None` past the end of flash.
pub const fn sector_containing(offset: u32) -> Option<Sector> {
    if offset >= FLASH_SIZE {
        return None;
    }
    let bank = offset / BANK_SIZE;
    let within = offset % BANK_SIZE;
    let (index, start, size) = if within < 0x1_0000 {
        (within / 0x4000, within / 0x4000 * 0x4000, 0x4000)
    } else if within < 0x2_0000 {
        (4, 0x1_0000, 0x1_0000)
    } else {
        (4 + within / 0x2_0000, within / 0x2_0000 * 0x2_0000, 0x2_0000)
    };
    Some(Sector { index: (bank * 12 + index) as u8, start: bank * BANK_SIZE + start, size })
}

/// Checks that `from..to` covers whole sectors.
pub fn check_sector_range(from: u32, to: u32) -> Result<(), Error> {
    if from > to || to > FLASH_SIZE {
        return Err(Error::OutOfBounds);
    }
    let mut at = from;
    while at < to {
        let sector = match sector_containing(at) {
            Some(sector) => sector,
            None => return Err(Error::OutOfBounds),
        };
        if sector.start != at {
            return Err(Error::NotSectorAligned { offset: at });
        }
        if sector.end() > to {
            return Err(Error::NotSectorAligned { offset: to });
        }
        at = sector.end();
    }
    Ok(())
}

/// The STM32F42x/43x flash controller.
#[derive(Debug)]
pub struct Stm32f4Flash {
    _private: (),
}

impl Stm32f4Flash {
    /// The driver.
    ///
    /// # Safety
    /// Only on an STM32F42x/43x with 2 MiB of flash, and only one driver at a time.
    pub unsafe fn new() -> Self {
        Stm32f4Flash { _private: () }
    }

    /// Erases one sector.
    pub fn erase_sector(&mut self, sector: Sector) -> Result<(), Error> {
        operation(|| {
            modify32(
                regs::CR,
                regs::CR_SNB | regs::CR_PSIZE,
                regs::CR_SER | regs::CR_PSIZE_X32 | (sector.snb() << regs::CR_SNB_SHIFT),
            );
            modify32(regs::CR, 0, regs::CR_STRT);
            wait_idle()
        })
    }
}

/// Waits for BSY to clear, then reports (and clears) any error flag.
fn wait_idle() -> Result<(), Error> {
    dsb();
    while read32(regs::SR) & regs::SR_BSY != 0 {}
    let status = read32(regs::SR);
    if status & regs::SR_ERRORS != 0 {
        write32(regs::SR, status & (regs::SR_ERRORS | regs::SR_EOP));
        return Err(if status & regs::SR_WRPERR != 0 { Error::Protected } else { Error::Controller(status) });
    }
    Ok(())
}

/// Runs one program or erase operation: unlock, caches off, `f`, caches reset and
/// restored, lock.
fn operation(f: impl FnOnce() -> Result<(), Error>) -> Result<(), Error> {
    wait_idle()?;
    if read32(regs::CR) & regs::CR_LOCK != 0 {
        write32(regs::KEYR, regs::KEY1);
        write32(regs::KEYR, regs::KEY2);
        if read32(regs::CR) & regs::CR_LOCK != 0 {
            return Err(Error::Locked);
        }
    }
    write32(regs::SR, regs::SR_ERRORS | regs::SR_EOP);
    let acr = read32(regs::ACR);
    // Errata: data cache off while the controller writes.
    write32(regs::ACR, acr & !regs::ACR_DCEN);
    let result = f();
    // Drop every cached line of the flash that just changed, then restore the caches.
    let off = acr & !(regs::ACR_DCEN | regs::ACR_ICEN);
    write32(regs::ACR, off);
    write32(regs::ACR, off | regs::ACR_DCRST | regs::ACR_ICRST);
    write32(regs::ACR, off);
    write32(regs::ACR, acr);
    modify32(regs::CR, regs::CR_PG | regs::CR_SER | regs::CR_SNB, regs::CR_LOCK);
    dsb();
    isb();
    result
}

impl ErrorType for Stm32f4Flash {
    type Error = Error;
}

impl ReadNorFlash for Stm32f4Flash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        check_range(FLASH_SIZE, 1, offset, bytes.len())?;
        // SAFETY: the range is inside the memory-mapped flash.
        unsafe { read_mapped(FLASH_BASE + offset as usize, bytes) };
        Ok(())
    }

    fn capacity(&self) -> usize {
        FLASH_SIZE as usize
    }
}

impl NorFlash for Stm32f4Flash {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = MIN_SECTOR_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        check_sector_range(from, to)?;
        let mut at = from;
        while let Some(sector) = sector_containing(at).filter(|_| at < to) {
            self.erase_sector(sector)?;
            at = sector.end();
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        check_range(FLASH_SIZE, WRITE_SIZE as u32, offset, bytes.len())?;
        operation(|| {
            modify32(regs::CR, regs::CR_PSIZE | regs::CR_SER, regs::CR_PSIZE_X32 | regs::CR_PG);
            for (i, word) in bytes.chunks_exact(WRITE_SIZE).enumerate() {
                let address = FLASH_BASE + offset as usize + i * WRITE_SIZE;
                let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                write32(address, value);
                wait_idle()?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sector_map_follows_rm0090() {
        let first = sector_containing(0).unwrap();
        assert_eq!(first, Sector { index: 0, start: 0, size: 0x4000 });
        assert_eq!(sector_containing(0xC000).unwrap(), Sector { index: 3, start: 0xC000, size: 0x4000 });
        assert_eq!(sector_containing(0x1_2345).unwrap(), Sector { index: 4, start: 0x1_0000, size: 0x1_0000 });
        assert_eq!(sector_containing(0x2_0000).unwrap(), Sector { index: 5, start: 0x2_0000, size: 0x2_0000 });
        assert_eq!(sector_containing(0xF_FFFF).unwrap(), Sector { index: 11, start: 0xE_0000, size: 0x2_0000 });
        assert_eq!(sector_containing(0x10_0000).unwrap(), Sector { index: 12, start: 0x10_0000, size: 0x4000 });
        assert_eq!(sector_containing(0x11_0000).unwrap(), Sector { index: 16, start: 0x11_0000, size: 0x1_0000 });
        assert_eq!(sector_containing(0x1F_FFFF).unwrap(), Sector { index: 23, start: 0x1E_0000, size: 0x2_0000 });
        assert_eq!(sector_containing(0x20_0000), None);
        let total: u32 = (0..SECTOR_COUNT)
            .map(|i| {
                let mut at = 0;
                while sector_containing(at).unwrap().index != i {
                    at = sector_containing(at).unwrap().end();
                }
                sector_containing(at).unwrap().size
            })
            .sum();
        assert_eq!(total, FLASH_SIZE);
    }

    #[test]
    fn bank_two_sectors_are_numbered_plus_four() {
        let snb = |offset| sector_containing(offset).unwrap().snb();
        assert_eq!(snb(0), 0);
        assert_eq!(snb(0xE_0000), 11);
        assert_eq!(snb(0x10_0000), 0x10);
        assert_eq!(snb(0x11_0000), 20);
        assert_eq!(snb(0x1E_0000), 27);
    }

    #[test]
    fn erase_ranges_must_cover_whole_sectors() {
        check_sector_range(0, 0x4000).unwrap();
        check_sector_range(0x4000, 0x4_0000).unwrap();
        check_sector_range(0x20_0000, 0x20_0000).unwrap();
        check_sector_range(0x8_0000, 0x18_0000).unwrap();
        // 16 KiB aligned, but inside the 64 KiB sector 4 and the 128 KiB sector 5.
        assert_eq!(check_sector_range(0x1_4000, 0x2_0000), Err(Error::NotSectorAligned { offset: 0x1_4000 }));
        assert_eq!(check_sector_range(0x2_0000, 0x2_4000), Err(Error::NotSectorAligned { offset: 0x2_4000 }));
        assert_eq!(check_sector_range(0, 0x20_4000), Err(Error::OutOfBounds));
        assert_eq!(check_sector_range(0x8000, 0x4000), Err(Error::OutOfBounds));
    }
}

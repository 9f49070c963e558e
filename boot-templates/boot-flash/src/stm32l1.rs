//! STM32L1 program memory (RM0038 section 3), as on the STM32L151CC (256 KiB).
//!
//! - Flash **erases to 0x00**, not 0xFF: an erased word reads 0, programming sets bits.
//!   Every "is this empty?" check, and the padding of images, must use 0x00
//!   ([`ERASED_VALUE`]). MCUboot and embassy-boot both needed special options for this.
//! - 256-byte pages ([`PAGE_SIZE`]), erased one at a time: set `PECR.ERASE` and
//!   `PECR.PROG`, then write 0x0000_0000 to the first word of the page.
//! - Programming is by 32-bit word (`WRITE_SIZE` 4) into erased words. Half-page
//!   programming (faster) must run from RAM; this driver does not use it, so it runs
//!   from flash: the CPU stalls on flash fetches while the controller works.
//! - Unlocking takes two key pairs in order: `PEKEYR` (unlocks `PECR` and data EEPROM),
//!   then `PRGKEYR` (unlocks program memory). Setting `PELOCK` locks everything again.
//!
//! Offsets are relative to 0x0800_0000. The size of the flash is a parameter
//! ([`Stm32l1Flash::new`]): the L1 family has 32 KiB to 512 KiB parts.

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

use crate::arch::dsb;
use crate::reg::{modify32, read32, write32};
use crate::{check_erase, check_range, read_mapped, Error};

/// Address of the first byte of flash.
pub const FLASH_BASE: usize = 0x0800_0000;
/// The erase page size.
pub const PAGE_SIZE: usize = 256;
/// The write granularity (one word).
pub const WRITE_SIZE: usize = 4;
/// The erased value: STM32L1 flash erases to zero.
pub const ERASED_VALUE: u8 = 0x00;

/// Flash interface registers (RM0038 3.9).
mod regs {
    /// Flash interface base address.
    const BASE: usize = 0x4002_3C00;
    /// FLASH_PECR: program/erase control.
    pub const PECR: usize = BASE + 0x04;
    /// FLASH_PEKEYR: PECR unlock keys.
    pub const PEKEYR: usize = BASE + 0x0C;
    /// FLASH_PRGKEYR: program memory unlock keys.
    pub const PRGKEYR: usize = BASE + 0x10;
    /// FLASH_SR: status.
    pub const SR: usize = BASE + 0x18;

    /// FLASH_PEKEYR PEKEY1.
    pub const PEKEY1: u32 = 0x89AB_CDEF;
    /// FLASH_PEKEYR PEKEY2.
    pub const PEKEY2: u32 = 0x0203_0405;
    /// FLASH_PRGKEYR PRGKEY1.
    pub const PRGKEY1: u32 = 0x8C9D_AEBF;
    /// FLASH_PRGKEYR PRGKEY2.
    pub const PRGKEY2: u32 = 0x1314_1516;

    /// FLASH_PECR.PELOCK: PECR and data EEPROM locked.
    pub const PECR_PELOCK: u32 = 1 << 0;
    /// FLASH_PECR.PRGLOCK: program memory locked.
    pub const PECR_PRGLOCK: u32 = 1 << 1;
    /// FLASH_PECR.PROG: program memory selected (for erase and half-page writes).
    pub const PECR_PROG: u32 = 1 << 3;
    /// FLASH_PECR.ERASE: page erase.
    pub const PECR_ERASE: u32 = 1 << 9;
    /// FLASH_PECR.FPRG: half-page programming.
    pub const PECR_FPRG: u32 = 1 << 10;

    /// FLASH_SR.BSY: operation in progress.
    pub const SR_BSY: u32 = 1 << 0;
    /// FLASH_SR.EOP: end of operation.
    pub const SR_EOP: u32 = 1 << 1;
    /// FLASH_SR.WRPERR: write protection error.
    pub const SR_WRPERR: u32 = 1 << 8;
    /// FLASH_SR.PGAERR: programming alignment error.
    pub const SR_PGAERR: u32 = 1 << 9;
    /// FLASH_SR.SIZERR: size error.
    pub const SR_SIZERR: u32 = 1 << 10;
    /// FLASH_SR.OPTVERR: option validity error.
    pub const SR_OPTVERR: u32 = 1 << 11;
    /// FLASH_SR.OPTVERRUSR: option UserOptbyte validity error (categories 3-6).
    pub const SR_OPTVERRUSR: u32 = 1 << 12;
    /// FLASH_SR.RDERR: read protected error (categories 3-6).
    pub const SR_RDERR: u32 = 1 << 13;
    /// The errors a program or erase can raise (all rc_w1).
    pub const SR_ERRORS: u32 = SR_WRPERR | SR_PGAERR | SR_SIZERR | SR_OPTVERR | SR_OPTVERRUSR | SR_RDERR;
}

/// The STM32L1 flash controller.
#[derive(Debug)]
pub struct Stm32l1Flash {
    size: u32,
}

impl Stm32l1Flash {
    /// The driver for a part with `size` bytes of program memory (256 KiB on the
    /// STM32L151CC). `size` is rounded down to whole pages.
    ///
    /// # Safety
    /// Only on an STM32L1, and only one driver at a time.
    pub unsafe fn new(size: u32) -> Self {
        Stm32l1Flash { size: size - size % PAGE_SIZE as u32 }
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

/// Runs `f` with program memory unlocked, then locks it again.
fn unlocked(f: impl FnOnce() -> Result<(), Error>) -> Result<(), Error> {
    wait_idle()?;
    if read32(regs::PECR) & regs::PECR_PELOCK != 0 {
        write32(regs::PEKEYR, regs::PEKEY1);
        write32(regs::PEKEYR, regs::PEKEY2);
    }
    if read32(regs::PECR) & regs::PECR_PRGLOCK != 0 {
        write32(regs::PRGKEYR, regs::PRGKEY1);
        write32(regs::PRGKEYR, regs::PRGKEY2);
    }
    if read32(regs::PECR) & (regs::PECR_PELOCK | regs::PECR_PRGLOCK) != 0 {
        return Err(Error::Locked);
    }
    write32(regs::SR, regs::SR_ERRORS | regs::SR_EOP);
    let result = f();
    modify32(regs::PECR, regs::PECR_ERASE | regs::PECR_PROG | regs::PECR_FPRG, 0);
    // PELOCK also sets PRGLOCK.
    modify32(regs::PECR, 0, regs::PECR_PRGLOCK | regs::PECR_PELOCK);
    result
}

impl ErrorType for Stm32l1Flash {
    type Error = Error;
}

impl ReadNorFlash for Stm32l1Flash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        check_range(self.size, 1, offset, bytes.len())?;
        // SAFETY: the range is inside the memory-mapped flash.
        unsafe { read_mapped(FLASH_BASE + offset as usize, bytes) };
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.size as usize
    }
}

impl NorFlash for Stm32l1Flash {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = PAGE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        check_erase(self.size, PAGE_SIZE as u32, from, to)?;
        unlocked(|| {
            for page in (from..to).step_by(PAGE_SIZE) {
                modify32(regs::PECR, 0, regs::PECR_ERASE | regs::PECR_PROG);
                write32(FLASH_BASE + page as usize, 0);
                wait_idle()?;
            }
            Ok(())
        })
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        check_range(self.size, WRITE_SIZE as u32, offset, bytes.len())?;
        unlocked(|| {
            for (i, word) in bytes.chunks_exact(WRITE_SIZE).enumerate() {
                let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                write32(FLASH_BASE + offset as usize + i * WRITE_SIZE, value);
                wait_idle()?;
            }
            Ok(())
        })
    }
}

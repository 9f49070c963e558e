//! Kinetis K64 program flash through the FTFE (K64 reference manual, "Flash Memory
//! Module (FTFE)"), as on the MK64FN1M0 (1 MiB, two 512 KiB blocks).
//!
//! - 4 KiB sectors ([`SECTOR_SIZE`]), erased with "Erase Flash Sector" (0x09).
//! - Programming is by 8-byte **phrase** ([`WRITE_SIZE`] 8) with "Program Phrase"
//!   (0x07), aligned to 8. A phrase may be programmed once per erase, even with bits
//!   that are still 1: writing a phrase twice is not allowed.
//! - A command is launched by writing 1 to `FSTAT.CCIF` and is finished when CCIF reads
//!   1 again. While the FTFE works on a block, that block cannot be read: if the CPU
//!   fetched code from it, it would stall or fault. So the launch-and-wait loop runs
//!   **from RAM** (it is placed in `.data.ramfunc`, which cortex-m-rt's `link.x` puts in
//!   `.data`: stored in flash, copied to RAM by the reset handler) with interrupts
//!   masked (a handler in flash must not run). The flash controller's cache is
//!   invalidated before the RAM code returns, so no stale line of the old contents is
//!   read afterwards.
//! - The flash configuration field at 0x400-0x40F (backdoor key, FPROT, FSEC, FOPT)
//!   is read by the chip at reset. An erased FSEC (0xFF) means *secured*: erasing sector
//!   0 and losing power before it is programmed again locks the debugger out. This
//!   driver refuses to erase sector 0 or to program the field ([`Error::Protected`]);
//!   the bootloader that lives there is installed by a debug probe.
//!
//! Offsets are addresses (flash starts at 0x0).

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

use crate::arch::interrupt_free;
use crate::reg::{read8, write32, write8};
use crate::{check_erase, check_range, read_mapped, Error};

/// Address of the first byte of flash.
pub const FLASH_BASE: usize = 0x0000_0000;
/// The erase sector size.
pub const SECTOR_SIZE: usize = 4096;
/// The write granularity: one phrase.
pub const WRITE_SIZE: usize = 8;
/// The erased value.
pub const ERASED_VALUE: u8 = 0xFF;
/// The flash configuration field: offset and length.
pub const FLASH_CONFIG_FIELD: core::ops::Range<u32> = 0x400..0x410;

/// FTFE and FMC registers.
mod regs {
    /// FTFE base address.
    const FTFE: usize = 0x4002_0000;
    /// FTFE_FSTAT: flash status (8 bits).
    pub const FSTAT: usize = FTFE;
    /// FTFE_FCCOB3..FCCOB0 (command in FCCOB0, address in FCCOB1..3), as one word.
    pub const FCCOB3_0: usize = FTFE + 0x04;
    /// FTFE_FCCOB7..FCCOB4 (phrase bytes 0-3), as one word.
    pub const FCCOB7_4: usize = FTFE + 0x08;
    /// FTFE_FCCOBB..FCCOB8 (phrase bytes 4-7), as one word.
    pub const FCCOBB_8: usize = FTFE + 0x0C;

    /// FSTAT.CCIF: command complete (write 1 to launch).
    pub const FSTAT_CCIF: u8 = 1 << 7;
    /// FSTAT.RDCOLERR: read collision error.
    pub const FSTAT_RDCOLERR: u8 = 1 << 6;
    /// FSTAT.ACCERR: access error (bad command or parameters).
    pub const FSTAT_ACCERR: u8 = 1 << 5;
    /// FSTAT.FPVIOL: protection violation.
    pub const FSTAT_FPVIOL: u8 = 1 << 4;
    /// FSTAT.MGSTAT0: the command failed to complete (verify error).
    pub const FSTAT_MGSTAT0: u8 = 1 << 0;

    /// FCCOB0 "Program Phrase".
    pub const CMD_PROGRAM_PHRASE: u32 = 0x07;
    /// FCCOB0 "Erase Flash Sector".
    pub const CMD_ERASE_SECTOR: u32 = 0x09;

    /// FMC_PFB0CR: flash memory controller bank 0 control (the cache is shared).
    pub const FMC_PFB0CR: usize = 0x4001_F004;
    /// FMC_PFB0CR.CINV_WAY (all four ways) | S_B_INV: invalidate cache and buffers.
    pub const PFB0CR_INVALIDATE: u32 = (0xF << 20) | (1 << 19);
}

/// Launches the command already in FCCOB, waits for it, invalidates the FMC cache and
/// returns FSTAT. Runs from RAM; nothing in it touches flash.
///
/// Written as one `asm!` block so that the compiler cannot call or outline anything
/// into flash-resident code.
#[cfg(all(target_arch = "arm", target_os = "none"))]
#[inline(never)]
#[link_section = ".data.ramfunc"]
unsafe extern "C" fn launch_and_wait(fstat: usize, pfb0cr: usize, invalidate: u32) -> u32 {
    let status: u32;
    // SAFETY: the caller has filled FCCOB and masked interrupts.
    unsafe {
        core::arch::asm!(
            "movs {tmp}, #0x80",
            "strb {tmp}, [{fstat}]",   // FSTAT = CCIF: launch
            "2:",
            "ldrb {tmp}, [{fstat}]",
            "lsls {tmp}, {tmp}, #24",  // CCIF (bit 7) into N
            "bpl 2b",
            "ldr {tmp}, [{pfb0cr}]",
            "orrs {tmp}, {tmp}, {invalidate}",
            "str {tmp}, [{pfb0cr}]",   // invalidate the FMC cache and speculation buffers
            "dsb",
            "isb",
            "ldrb {status}, [{fstat}]",
            fstat = in(reg) fstat,
            pfb0cr = in(reg) pfb0cr,
            invalidate = in(reg) invalidate,
            tmp = out(reg) _,
            status = lateout(reg) status,
            options(nostack),
        );
    }
    status
}

/// Host stand-in: never called (the driver only runs on the chip).
#[cfg(not(all(target_arch = "arm", target_os = "none")))]
unsafe extern "C" fn launch_and_wait(_fstat: usize, _pfb0cr: usize, _invalidate: u32) -> u32 {
    unreachable!("the Kinetis flash driver only runs on the chip")
}

/// Runs one FTFE command: `fccob` is (FCCOB3..0, FCCOB7..4, FCCOBB..8).
fn command(fccob: [u32; 3], phrase: bool) -> Result<(), Error> {
    interrupt_free(|| {
        while read8(regs::FSTAT) & regs::FSTAT_CCIF == 0 {}
        // Clear old errors (w1c); CCIF must not be written here: it would launch.
        write8(regs::FSTAT, regs::FSTAT_RDCOLERR | regs::FSTAT_ACCERR | regs::FSTAT_FPVIOL);
        write32(regs::FCCOB3_0, fccob[0]);
        if phrase {
            write32(regs::FCCOB7_4, fccob[1]);
            write32(regs::FCCOBB_8, fccob[2]);
        }
        // Called through a pointer (BLX): the RAM copy is out of BL range of flash.
        let run = core::hint::black_box(launch_and_wait as unsafe extern "C" fn(usize, usize, u32) -> u32);
        // SAFETY: FCCOB holds a complete command and interrupts are masked.
        let status = unsafe { run(regs::FSTAT, regs::FMC_PFB0CR, regs::PFB0CR_INVALIDATE) } as u8;
        if status & regs::FSTAT_FPVIOL != 0 {
            Err(Error::Protected)
        } else if status & (regs::FSTAT_ACCERR | regs::FSTAT_MGSTAT0 | regs::FSTAT_RDCOLERR) != 0 {
            Err(Error::Controller(u32::from(status)))
        } else {
            Ok(())
        }
    })
}

/// The K64 FTFE program flash.
#[derive(Debug)]
pub struct KinetisFlash {
    size: u32,
}

impl KinetisFlash {
    /// The driver for `size` bytes of program flash (1 MiB on the MK64FN1M0), rounded
    /// down to whole sectors.
    ///
    /// # Safety
    /// Only on a Kinetis with an FTFE, with cortex-m-rt's `link.x` (or another linker
    /// script that copies `.data.*` to RAM), and only one driver at a time.
    pub unsafe fn new(size: u32) -> Self {
        KinetisFlash { size: size - size % SECTOR_SIZE as u32 }
    }
}

/// Whether `from..to` touches sector 0 or the flash configuration field.
fn touches_configuration(from: u32, to: u32) -> bool {
    from < FLASH_CONFIG_FIELD.end && to > FLASH_CONFIG_FIELD.start
}

impl ErrorType for KinetisFlash {
    type Error = Error;
}

impl ReadNorFlash for KinetisFlash {
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

impl NorFlash for KinetisFlash {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = SECTOR_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        check_erase(self.size, SECTOR_SIZE as u32, from, to)?;
        if from < to && from < SECTOR_SIZE as u32 {
            return Err(Error::Protected);
        }
        for sector in (from..to).step_by(SECTOR_SIZE) {
            command([(regs::CMD_ERASE_SECTOR << 24) | sector, 0, 0], false)?;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        check_range(self.size, WRITE_SIZE as u32, offset, bytes.len())?;
        if touches_configuration(offset, offset + bytes.len() as u32) {
            return Err(Error::Protected);
        }
        for (i, phrase) in bytes.chunks_exact(WRITE_SIZE).enumerate() {
            let address = offset + (i * WRITE_SIZE) as u32;
            // FCCOB is big-endian per field: a little-endian word store puts the byte
            // at the lowest address into FCCOB7 (phrase byte 0), as the flash stores it.
            let low = u32::from_le_bytes([phrase[0], phrase[1], phrase[2], phrase[3]]);
            let high = u32::from_le_bytes([phrase[4], phrase[5], phrase[6], phrase[7]]);
            command([(regs::CMD_PROGRAM_PHRASE << 24) | address, low, high], true)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_field_is_guarded() {
        assert!(touches_configuration(0x400, 0x408));
        assert!(touches_configuration(0x3F8, 0x408));
        assert!(touches_configuration(0x408, 0x410));
        assert!(!touches_configuration(0x410, 0x418));
        assert!(!touches_configuration(0x3F8, 0x400));
    }

    #[test]
    fn guarded_ranges_are_refused_before_touching_registers() {
        // SAFETY: only the argument checks run: every call below fails before any
        // register access.
        let mut flash = unsafe { KinetisFlash::new(0x10_0000) };
        assert_eq!(flash.erase(0, 0x1000), Err(Error::Protected));
        assert_eq!(flash.write(0x400, &[0; 8]), Err(Error::Protected));
        assert_eq!(flash.write(0x1004, &[0; 8]), Err(Error::NotAligned));
        assert_eq!(flash.erase(0x1000, 0x1800), Err(Error::NotAligned));
        assert_eq!(flash.erase(0xFF000, 0x101000), Err(Error::OutOfBounds));
        assert_eq!(flash.capacity(), 0x10_0000);
    }
}

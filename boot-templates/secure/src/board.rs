//! The board's flash driver, watchdog and sector map, chosen by the driver feature.

use boot_core::SectorRun;

#[cfg(not(any(feature = "stm32f4", feature = "stm32l1", feature = "kinetis-ftfe", feature = "ram")))]
compile_error!(
    "enable the board's flash driver feature: stm32f4, stm32l1, kinetis-ftfe or ram (`cargo boot build` does)"
);

#[cfg(any(
    all(feature = "stm32f4", any(feature = "stm32l1", feature = "kinetis-ftfe", feature = "ram")),
    all(feature = "stm32l1", any(feature = "kinetis-ftfe", feature = "ram")),
    all(feature = "kinetis-ftfe", feature = "ram"),
))]
compile_error!("enable exactly one flash driver feature: stm32f4, stm32l1, kinetis-ftfe or ram");

/// The most sector runs a board's map has.
pub const MAX_RUNS: usize = 6;

#[cfg(feature = "stm32f4")]
mod chip {
    use boot_core::SectorRun;
    use boot_flash::stm32f4::Stm32f4Flash;
    use boot_flash::watchdog::iwdg::{Iwdg, STM32F4_LSI_HZ};

    pub type Flash = Stm32f4Flash;
    pub type Dog = Iwdg;

    /// One bank: 4 × 16 KiB, 64 KiB, 7 × 128 KiB.
    const BANK: [SectorRun; 3] = [
        SectorRun { size: 0x4000, count: 4 },
        SectorRun { size: 0x1_0000, count: 1 },
        SectorRun { size: 0x2_0000, count: 7 },
    ];

    /// # Safety
    /// Once, on the chip.
    pub unsafe fn flash(_base: u32, _size: u32, _erased: u8) -> Flash {
        unsafe { Stm32f4Flash::new() }
    }

    /// # Safety
    /// Once, on the chip.
    pub unsafe fn watchdog() -> Dog {
        unsafe { Iwdg::new(STM32F4_LSI_HZ) }
    }

    /// The IWDG is off at reset (unless the option bytes select the hardware watchdog).
    pub fn watchdog_off_at_reset(_dog: &mut Dog) {}

    pub const fn sectors(size: u32) -> ([SectorRun; super::MAX_RUNS], usize) {
        let runs = [BANK[0], BANK[1], BANK[2], BANK[0], BANK[1], BANK[2]];
        // The 2 MiB parts have two banks; a 1 MiB part has bank 1 only.
        (runs, if size > 0x10_0000 { 6 } else { 3 })
    }

    pub const fn erased_value(_from_layout: u8) -> u8 {
        boot_flash::stm32f4::ERASED_VALUE
    }
}

#[cfg(feature = "stm32l1")]
mod chip {
    use boot_core::SectorRun;
    use boot_flash::stm32l1::{Stm32l1Flash, PAGE_SIZE};
    use boot_flash::watchdog::iwdg::{Iwdg, STM32L1_LSI_HZ};

    pub type Flash = Stm32l1Flash;
    pub type Dog = Iwdg;

    /// # Safety
    /// Once, on the chip.
    pub unsafe fn flash(_base: u32, size: u32, _erased: u8) -> Flash {
        unsafe { Stm32l1Flash::new(size) }
    }

    /// # Safety
    /// Once, on the chip.
    pub unsafe fn watchdog() -> Dog {
        unsafe { Iwdg::new(STM32L1_LSI_HZ) }
    }

    /// The IWDG is off at reset (unless the option bytes select the hardware watchdog).
    pub fn watchdog_off_at_reset(_dog: &mut Dog) {}

    pub const fn sectors(size: u32) -> ([SectorRun; super::MAX_RUNS], usize) {
        let mut runs = [SectorRun { size: 0, count: 0 }; super::MAX_RUNS];
        runs[0] = SectorRun { size: PAGE_SIZE as u32, count: size / PAGE_SIZE as u32 };
        (runs, 1)
    }

    pub const fn erased_value(_from_layout: u8) -> u8 {
        boot_flash::stm32l1::ERASED_VALUE
    }
}

#[cfg(feature = "kinetis-ftfe")]
mod chip {
    use boot_core::SectorRun;
    use boot_flash::kinetis::{KinetisFlash, SECTOR_SIZE};
    use boot_flash::watchdog::kinetis::KinetisWdog;

    pub type Flash = KinetisFlash;
    pub type Dog = KinetisWdog;

    /// # Safety
    /// Once, on the chip.
    pub unsafe fn flash(_base: u32, size: u32, _erased: u8) -> Flash {
        unsafe { KinetisFlash::new(size) }
    }

    /// # Safety
    /// Once, on the chip.
    pub unsafe fn watchdog() -> Dog {
        unsafe { KinetisWdog::new() }
    }

    /// The K64's WDOG runs from reset: without a configured timeout it is turned off,
    /// as Mbed OS's start-up code does.
    pub fn watchdog_off_at_reset(dog: &mut Dog) {
        dog.disable();
    }

    pub const fn sectors(size: u32) -> ([SectorRun; super::MAX_RUNS], usize) {
        let mut runs = [SectorRun { size: 0, count: 0 }; super::MAX_RUNS];
        runs[0] = SectorRun { size: SECTOR_SIZE as u32, count: size / SECTOR_SIZE as u32 };
        (runs, 1)
    }

    pub const fn erased_value(_from_layout: u8) -> u8 {
        boot_flash::kinetis::ERASED_VALUE
    }

    /// The flash configuration field at 0x400-0x40F, which the chip reads at reset.
    /// FSEC = 0xFE: unsecured, mass erase enabled, backdoor key disabled. Another FSEC
    /// can lock the debugger out for good.
    #[link_section = ".flash_config"]
    #[used]
    #[no_mangle]
    pub static FLASH_CONFIG_FIELD: [u8; 16] = [
        // Backdoor comparison key (unused).
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // FPROT3-0: no program flash region is protected.
        0xFF, 0xFF, 0xFF, 0xFF, // FSEC, FOPT, FEPROT, FDPROT.
        0xFE, 0xFF, 0xFF, 0xFF,
    ];
}

#[cfg(feature = "ram")]
mod chip {
    use boot_core::SectorRun;
    use boot_flash::ram::{RamFlash, SECTOR_SIZE};
    use boot_flash::watchdog::cmsdk::CmsdkWatchdog;

    pub type Flash = RamFlash<'static>;
    pub type Dog = CmsdkWatchdog;

    /// # Safety
    /// Once, on an mps2 board, with `base..base + size` the RAM that stands in for flash.
    pub unsafe fn flash(base: u32, size: u32, erased: u8) -> Flash {
        unsafe { RamFlash::from_raw(base as usize as *mut u8, size, erased) }
    }

    /// # Safety
    /// Once, on an mps2 board.
    pub unsafe fn watchdog() -> Dog {
        unsafe { CmsdkWatchdog::mps2() }
    }

    /// The CMSDK watchdog does not reset the machine until it is enabled.
    pub fn watchdog_off_at_reset(_dog: &mut Dog) {}

    pub const fn sectors(size: u32) -> ([SectorRun; super::MAX_RUNS], usize) {
        let mut runs = [SectorRun { size: 0, count: 0 }; super::MAX_RUNS];
        runs[0] = SectorRun { size: SECTOR_SIZE as u32, count: size / SECTOR_SIZE as u32 };
        (runs, 1)
    }

    /// RAM has no erased value of its own: the board's (`__boot_erased_value`) is used,
    /// 0xFF on the bundled virtual boards; a board file can say 0x00 to model STM32L1.
    pub const fn erased_value(from_layout: u8) -> u8 {
        from_layout
    }
}

pub use chip::{erased_value, flash, sectors, watchdog, watchdog_off_at_reset, Dog, Flash};

/// A sector map of at most [`MAX_RUNS`] runs, as a slice.
pub const fn sector_runs(runs: &([SectorRun; MAX_RUNS], usize)) -> &[SectorRun] {
    runs.0.split_at(runs.1).0
}

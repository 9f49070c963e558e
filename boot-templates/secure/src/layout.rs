//! The flash and slot layout `cargo boot` generated into `memory.x`, checked against the
//! flash driver's own sector map with boot-core's rules.
//!
//! With `BOOT_MEMORY_X` set at build time (see `build.rs`) the values are constants and
//! the check runs in the compiler: a layout that does not fit the chip fails the build,
//! and no layout code is linked in. Otherwise they are the `__boot_*` linker symbols,
//! checked at every boot.

use core::ptr::addr_of;

use boot_core::{Erased, Geometry, LayoutRequest, Region, SlotLayout};
use embedded_storage::nor_flash::NorFlash;

use crate::board;

/// What `memory.x` says about the flash and the slots (absolute addresses).
#[derive(Clone, Copy)]
pub struct Memory {
    /// The flash's first address: `NorFlash` offset 0.
    pub flash_start: u32,
    /// The flash's size.
    pub flash_size: u32,
    /// The primary slot.
    pub primary: Region,
    /// The secondary slot.
    pub secondary: Region,
    /// The state area.
    pub state: Region,
    /// The image header's size (the app's vector table follows it).
    pub header_size: u32,
    /// The board's erased value (used by the `ram` driver).
    pub erased_value: u8,
}

// `pub const BUILT: Option<Memory>`, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/memory.rs"));

/// The layout checked when the bootloader was compiled, if `memory.x` was known then.
const CHECKED: Option<(Memory, SlotLayout)> = match BUILT {
    Some(memory) => match check(&memory) {
        Some(layout) => Some((memory, layout)),
        None => panic!(
            "the slot layout in memory.x does not fit the flash driver's sector map: the board's \
             [flash] sectors disagree with the chip; fix the board file and run `cargo boot build` again"
        ),
    },
    None => None,
};

/// The memory map and the checked slot layout, or `None` if the layout does not fit the
/// flash (only possible when it is checked at run time).
pub fn checked() -> Option<(Memory, SlotLayout)> {
    match CHECKED {
        Some(checked) => Some(checked),
        None => {
            let memory = from_symbols();
            check(&memory).map(|layout| (memory, layout))
        }
    }
}

/// Checks `memory`'s slots against the driver's sector map and write size.
const fn check(memory: &Memory) -> Option<SlotLayout> {
    let erased = board::erased_value(memory.erased_value);
    let runs = board::sectors(memory.flash_size);
    let geometry = Geometry {
        base: memory.flash_start,
        sectors: board::sector_runs(&runs),
        erased: if erased == 0 { Erased::Zeros } else { Erased::Ones },
    };
    let request = LayoutRequest {
        primary: memory.primary,
        secondary: memory.secondary,
        state: memory.state,
        header_size: memory.header_size,
        write_size: <board::Flash as NorFlash>::WRITE_SIZE as u32,
    };
    SlotLayout::check(&geometry, &request)
}

extern "C" {
    // Defined by the generated `memory.x`: each symbol's address is the value.
    static __boot_flash_start: u8;
    static __boot_flash_size: u8;
    static __boot_primary_start: u8;
    static __boot_primary_size: u8;
    static __boot_secondary_start: u8;
    static __boot_secondary_size: u8;
    static __boot_state_start: u8;
    static __boot_state_size: u8;
    static __boot_header_size: u8;
    static __boot_erased_value: u8;
}

/// The value of a linker symbol.
macro_rules! symbol {
    ($name:ident) => {
        // Only the address is taken, which is safe.
        addr_of!($name) as usize as u32
    };
}

/// The layout from the linker symbols.
fn from_symbols() -> Memory {
    Memory {
        flash_start: symbol!(__boot_flash_start),
        flash_size: symbol!(__boot_flash_size),
        primary: Region::new(symbol!(__boot_primary_start), symbol!(__boot_primary_size)),
        secondary: Region::new(symbol!(__boot_secondary_start), symbol!(__boot_secondary_size)),
        state: Region::new(symbol!(__boot_state_start), symbol!(__boot_state_size)),
        header_size: symbol!(__boot_header_size),
        erased_value: symbol!(__boot_erased_value) as u8,
    }
}

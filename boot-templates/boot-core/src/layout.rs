//! Slot layout: where the primary slot, the secondary slot and the state area go, and
//! the rules they must obey. Everything here is a `const fn`, so a bootloader can check
//! its layout at compile time and the host tool can check it before building.

use core::fmt;

use crate::geometry::{Addr, Erased, Geometry, Region, Sector, Size};
use crate::state::{record_size, required_page_size, StateArea};

/// The most swap units a slot may have (the swap records the unit count in 16 bits).
pub const MAX_UNITS: u32 = u16::MAX as u32;

/// The largest flash write size supported, in bytes (STM32H7 writes 32-byte flash words).
pub const MAX_WRITE_SIZE: u32 = 32;

/// A proposed layout, in absolute addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutRequest {
    /// The slot the app runs from: the image header at its start, the app's vector table
    /// at `primary.start + header_size`.
    pub primary: Region,
    /// The slot the app downloads a candidate into: at least the primary slot plus one
    /// swap unit.
    pub secondary: Region,
    /// The boot state: two equal halves, each a whole number of sectors.
    pub state: Region,
    /// The image header's size: the app starts this many bytes into the primary slot.
    pub header_size: u32,
    /// The flash's write size in bytes (`NorFlash::WRITE_SIZE`).
    pub write_size: u32,
}

/// Which region of a layout an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionName {
    /// The primary slot.
    Primary,
    /// The secondary slot.
    Secondary,
    /// The state area.
    State,
}

impl fmt::Display for RegionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegionName::Primary => "primary slot",
            RegionName::Secondary => "secondary slot",
            RegionName::State => "state area",
        })
    }
}

/// Which end of a region an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The first byte.
    Start,
    /// One past the last byte.
    End,
}

/// Why a layout is refused. The messages name the nearest valid values where there are
/// any, so the host tool can show them to users as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutError {
    /// The write size is not a power of two from 1 to [`MAX_WRITE_SIZE`].
    WriteSize {
        /// The write size given.
        write_size: u32,
    },
    /// The sector map is empty, has a run of zero sectors or zero-sized sectors, or goes
    /// past the 32-bit address space.
    SectorMap {
        /// Index of the offending run (the run count for an empty map).
        run: usize,
    },
    /// A region has no bytes.
    EmptyRegion {
        /// The region.
        region: RegionName,
    },
    /// A region is not inside the flash.
    OutsideFlash {
        /// The region.
        region: RegionName,
        /// The region as given.
        given: Region,
        /// The flash's first address.
        flash_start: u32,
        /// One past the flash's last address.
        flash_end: u64,
    },
    /// A region starts or ends inside a sector.
    NotSectorAligned {
        /// The region.
        region: RegionName,
        /// Which end.
        edge: Edge,
        /// The offending address.
        address: u64,
        /// The sector boundary below it.
        below: u32,
        /// The sector boundary above it.
        above: u64,
    },
    /// A sector in a region is too small for the boot state's records.
    SectorTooSmall {
        /// The region.
        region: RegionName,
        /// The sector.
        sector: Sector,
        /// The smallest sector size (and the multiple) that works.
        multiple: u32,
    },
    /// Two regions share bytes.
    Overlap {
        /// The first region.
        first: RegionName,
        /// The second region.
        second: RegionName,
    },
    /// A slot cannot be cut into whole swap units: a unit boundary falls inside a sector.
    MixedSectors {
        /// The slot.
        region: RegionName,
        /// The swap unit: the largest sector in either slot.
        unit: u32,
        /// The unit boundary that is not a sector boundary.
        boundary: u32,
        /// The sector it falls in.
        sector: Sector,
        /// The nearest start address at or after the slot's start where a slot of this
        /// size (rounded up to whole units) would consist of whole units.
        nearest_start: Option<u32>,
    },
    /// A slot is not a whole number of swap units.
    NotWholeUnits {
        /// The slot.
        region: RegionName,
        /// Its size.
        size: u32,
        /// The swap unit.
        unit: u32,
    },
    /// The secondary slot has no room for the extra swap unit.
    SecondaryTooSmall {
        /// The secondary slot's size.
        size: u32,
        /// The smallest size that works: primary + one unit.
        required: u64,
        /// The swap unit.
        unit: u32,
    },
    /// The header leaves no room for the app in the primary slot.
    HeaderTooLarge {
        /// The header size.
        header_size: u32,
        /// The primary slot's size.
        slot_size: u32,
    },
    /// The primary slot has more swap units than the state can track.
    TooManyUnits {
        /// The number of units.
        units: u32,
    },
    /// The state area cannot be split into two equal halves of whole sectors.
    StateNotSplit {
        /// The state area as given.
        given: Region,
        /// A state size from the same start that works, if there is one in the flash.
        suggested_size: Option<u32>,
    },
    /// Each half of the state area is too small for the swap's progress records.
    StateTooSmall {
        /// The size of each half.
        page_size: u32,
        /// The smallest half that works.
        required: u32,
        /// The swap units it must track.
        units: u32,
        /// A state size from the same start that works, if there is one in the flash.
        suggested_size: Option<u32>,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayoutError::WriteSize { write_size } => write!(
                f,
                "a flash write size of {write_size} bytes is not supported: it must be a power of two from 1 to \
                 {MAX_WRITE_SIZE} bytes"
            ),
            LayoutError::SectorMap { run } => write!(
                f,
                "the flash sector map is unusable at run {run}: give at least one run, every run with a non-zero \
                 sector size and count, all within the 32-bit address space"
            ),
            LayoutError::EmptyRegion { region } => write!(f, "the {region} is empty: give it a size"),
            LayoutError::OutsideFlash { region, given, flash_start, flash_end } => write!(
                f,
                "the {region} ({given}) is not inside the flash ({}..{})",
                Addr(flash_start as u64),
                Addr(flash_end)
            ),
            LayoutError::NotSectorAligned { region, edge, address, below, above } => write!(
                f,
                "the {region} {} at {}, inside a sector: the nearest sector boundaries are {} and {}",
                match edge {
                    Edge::Start => "starts",
                    Edge::End => "ends",
                },
                Addr(address),
                Addr(below as u64),
                Addr(above)
            ),
            LayoutError::SectorTooSmall { region, sector, multiple } => write!(
                f,
                "the {region} holds a sector of {} at {}, but sectors used by the boot core must be multiples of \
                 {multiple} bytes",
                Size(sector.size),
                Addr(sector.start as u64)
            ),
            LayoutError::Overlap { first, second } => write!(f, "the {first} and the {second} overlap"),
            LayoutError::MixedSectors { region, unit, boundary, sector, nearest_start } => {
                write!(
                    f,
                    "the {region} cannot be cut into whole {} swap units (the largest sector in either slot): the \
                     unit boundary at {} falls inside the {} sector at {}; ",
                    Size(unit),
                    Addr(boundary as u64),
                    Size(sector.size),
                    Addr(sector.start as u64)
                )?;
                match nearest_start {
                    Some(start) => write!(f, "start the {region} at {} instead", Addr(start as u64)),
                    None => f.write_str("put both slots in sectors of one size"),
                }
            }
            LayoutError::NotWholeUnits { region, size, unit } => {
                write!(f, "the {region} is {}, not a whole number of {} swap units: make it ", Size(size), Size(unit))?;
                let down = size / unit * unit;
                if down > 0 {
                    write!(f, "{} or ", Size(down))?;
                }
                write!(f, "{}", Size(down + unit))
            }
            LayoutError::SecondaryTooSmall { size, required, unit } => write!(
                f,
                "the secondary slot is {} but must be at least {} bytes ({:#x}): the primary slot's size plus one \
                 {} swap unit, the room the swap needs to move the old image aside",
                Size(size),
                required,
                required,
                Size(unit)
            ),
            LayoutError::HeaderTooLarge { header_size, slot_size } => write!(
                f,
                "the {header_size}-byte image header leaves no room for the app in the {} primary slot",
                Size(slot_size)
            ),
            LayoutError::TooManyUnits { units } => write!(
                f,
                "the primary slot has {units} swap units, more than the {MAX_UNITS} the boot state can track: use a \
                 smaller slot or larger sectors"
            ),
            LayoutError::StateNotSplit { given, suggested_size } => {
                write!(
                    f,
                    "the state area ({given}) must be two equal halves of whole sectors, but its middle {} is not a \
                     sector boundary",
                    Addr(given.start as u64 + given.size as u64 / 2)
                )?;
                suggest_state(f, suggested_size)
            }
            LayoutError::StateTooSmall { page_size, required, units, suggested_size } => {
                write!(
                    f,
                    "each half of the state area is {} but must be at least {} bytes to record the swap of {units} \
                     units",
                    Size(page_size),
                    required
                )?;
                suggest_state(f, suggested_size)
            }
        }
    }
}

/// Appends the suggested state size to a message.
fn suggest_state(f: &mut fmt::Formatter<'_>, suggested_size: Option<u32>) -> fmt::Result {
    match suggested_size {
        Some(size) => write!(f, ": make the state area {} ({size:#x} bytes)", Size(size)),
        None => f.write_str(": no state size from this start fits in the flash, move the state area"),
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LayoutError {}

/// `?` for `const fn`.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => return Err(error),
        }
    };
}

/// A checked layout and the numbers derived from it.
///
/// ```text
/// primary slot   | header | app ............................ |           n units
/// secondary slot | candidate ........................... | spare |   n + 1 units
/// state area     | page 0 | page 1 |                                2 × page
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLayout {
    flash_base: u32,
    erased: Erased,
    primary: Region,
    secondary: Region,
    state: Region,
    header_size: u32,
    write_size: u32,
    unit: u32,
}

impl SlotLayout {
    /// Checks `request` against the flash's `geometry` and derives the layout.
    pub const fn new(geometry: &Geometry<'_>, request: &LayoutRequest) -> Result<Self, LayoutError> {
        Self::checked::<true>(geometry, request)
    }

    /// The same checks as [`SlotLayout::new`], without working out the suggestions its
    /// errors carry (the nearest valid slot start, a state size that fits, the sector
    /// boundaries around a misplaced address). For a bootloader, which checks the layout
    /// it was built with against its flash driver's sector map but cannot show why it
    /// does not fit: the search for suggestions is over 1 KiB of code on Cortex-M.
    pub const fn check(geometry: &Geometry<'_>, request: &LayoutRequest) -> Option<Self> {
        match Self::checked::<false>(geometry, request) {
            Ok(layout) => Some(layout),
            Err(_) => None,
        }
    }

    /// [`SlotLayout::new`]; with `EXPLAIN` false, errors carry no suggestions.
    const fn checked<const EXPLAIN: bool>(
        geometry: &Geometry<'_>,
        request: &LayoutRequest,
    ) -> Result<Self, LayoutError> {
        tri!(check_write_size(request.write_size));
        tri!(check_sector_map(geometry));
        let record = record_size(request.write_size);
        tri!(check_region::<EXPLAIN>(geometry, &request.primary, RegionName::Primary, record));
        tri!(check_region::<EXPLAIN>(geometry, &request.secondary, RegionName::Secondary, record));
        tri!(check_region::<EXPLAIN>(geometry, &request.state, RegionName::State, record));
        tri!(check_overlaps(request));
        let unit = max(geometry.largest_sector_in(&request.primary), geometry.largest_sector_in(&request.secondary));
        tri!(check_units::<EXPLAIN>(geometry, &request.primary, RegionName::Primary, unit));
        tri!(check_units::<EXPLAIN>(geometry, &request.secondary, RegionName::Secondary, unit));
        let required = request.primary.size as u64 + unit as u64;
        if (request.secondary.size as u64) < required {
            return Err(LayoutError::SecondaryTooSmall { size: request.secondary.size, required, unit });
        }
        if request.header_size >= request.primary.size {
            return Err(LayoutError::HeaderTooLarge {
                header_size: request.header_size,
                slot_size: request.primary.size,
            });
        }
        let units = request.primary.size / unit;
        if units > MAX_UNITS {
            return Err(LayoutError::TooManyUnits { units });
        }
        tri!(check_state::<EXPLAIN>(geometry, &request.state, units, request.write_size));
        Ok(SlotLayout {
            flash_base: geometry.base,
            erased: geometry.erased,
            primary: request.primary,
            secondary: request.secondary,
            state: request.state,
            header_size: request.header_size,
            write_size: request.write_size,
            unit,
        })
    }

    /// The primary slot.
    pub const fn primary(&self) -> Region {
        self.primary
    }

    /// The secondary slot.
    pub const fn secondary(&self) -> Region {
        self.secondary
    }

    /// The state area.
    pub const fn state(&self) -> Region {
        self.state
    }

    /// The image header's size.
    pub const fn header_size(&self) -> u32 {
        self.header_size
    }

    /// The flash write size this layout was checked for.
    pub const fn write_size(&self) -> u32 {
        self.write_size
    }

    /// What an erased byte reads as.
    pub const fn erased(&self) -> Erased {
        self.erased
    }

    /// The address of `NorFlash` offset 0.
    pub const fn flash_base(&self) -> u32 {
        self.flash_base
    }

    /// The swap unit: the largest sector in either slot. The swap erases and copies one
    /// unit at a time.
    pub const fn unit_size(&self) -> u32 {
        self.unit
    }

    /// The number of swap units in the primary slot.
    pub const fn units(&self) -> u32 {
        self.primary.size / self.unit
    }

    /// The most bytes a signed image (header, app and TLVs) may occupy: the primary slot.
    /// There is no trailer in the slots; the boot state lives in the state area.
    pub const fn max_image_size(&self) -> u32 {
        self.primary.size
    }

    /// The most bytes the app (from its vector table on) may occupy: the primary slot
    /// minus the header. The signed image's TLVs must fit too, so the host subtracts
    /// their size as well before it writes the app's `FLASH` length.
    pub const fn max_app_size(&self) -> u32 {
        self.primary.size - self.header_size
    }

    /// Where the app's vector table is: the primary slot's start plus the header.
    pub const fn app_start(&self) -> u32 {
        self.primary.start + self.header_size
    }

    /// The size of each of the two state pages.
    pub const fn state_page_size(&self) -> u32 {
        self.state.size / 2
    }

    /// The smallest state page that can track this layout's swaps.
    pub const fn required_state_page_size(&self) -> u32 {
        required_page_size(self.units(), self.write_size)
    }

    /// The state area in flash offsets, for the state store.
    pub const fn state_area(&self) -> StateArea {
        StateArea { offset: self.offset(self.state.start), page_size: self.state_page_size(), erased: self.erased }
    }

    /// The flash offset of `address`.
    pub const fn offset(&self, address: u32) -> u32 {
        address - self.flash_base
    }

    /// The number of swap units that hold `bytes` bytes (at least one).
    pub const fn units_for(&self, bytes: u32) -> u32 {
        let units = bytes.div_ceil(self.unit);
        if units == 0 {
            1
        } else if units > self.units() {
            self.units()
        } else {
            units
        }
    }

    /// Flash erases per sector for one install of an image of `units` swap units (the
    /// same again for a revert): every swapped unit of both slots is erased once, and one
    /// state page once.
    pub const fn erases_per_swap(&self, units: u32) -> u32 {
        2 * units + 1
    }
}

const fn max(a: u32, b: u32) -> u32 {
    if a > b {
        a
    } else {
        b
    }
}

const fn check_write_size(write_size: u32) -> Result<(), LayoutError> {
    if write_size == 0 || !write_size.is_power_of_two() || write_size > MAX_WRITE_SIZE {
        return Err(LayoutError::WriteSize { write_size });
    }
    Ok(())
}

const fn check_sector_map(geometry: &Geometry<'_>) -> Result<(), LayoutError> {
    if geometry.sectors.is_empty() {
        return Err(LayoutError::SectorMap { run: 0 });
    }
    let mut i = 0;
    while i < geometry.sectors.len() {
        let run = geometry.sectors[i];
        if run.size == 0 || run.count == 0 {
            return Err(LayoutError::SectorMap { run: i });
        }
        i += 1;
    }
    if geometry.end() > 1 << 32 {
        return Err(LayoutError::SectorMap { run: geometry.sectors.len() - 1 });
    }
    Ok(())
}

/// Checks that `region` is non-empty, inside the flash, on sector boundaries and made of
/// sectors the state records can tile.
const fn check_region<const EXPLAIN: bool>(
    geometry: &Geometry<'_>,
    region: &Region,
    name: RegionName,
    record: u32,
) -> Result<(), LayoutError> {
    if region.size == 0 {
        return Err(LayoutError::EmptyRegion { region: name });
    }
    let flash_end = geometry.end();
    if region.start < geometry.base || region.end() > flash_end {
        return Err(LayoutError::OutsideFlash { region: name, given: *region, flash_start: geometry.base, flash_end });
    }
    tri!(check_boundary::<EXPLAIN>(geometry, region.start as u64, name, Edge::Start));
    tri!(check_boundary::<EXPLAIN>(geometry, region.end(), name, Edge::End));
    let mut address = region.start as u64;
    while address < region.end() {
        let Some(sector) = geometry.sector_at(address) else { break };
        if sector.size % record != 0 {
            return Err(LayoutError::SectorTooSmall { region: name, sector, multiple: record });
        }
        address = sector.end();
    }
    Ok(())
}

const fn check_boundary<const EXPLAIN: bool>(
    geometry: &Geometry<'_>,
    address: u64,
    region: RegionName,
    edge: Edge,
) -> Result<(), LayoutError> {
    if geometry.is_boundary(address) {
        return Ok(());
    }
    match if EXPLAIN { geometry.sector_at(address) } else { None } {
        Some(sector) => {
            Err(LayoutError::NotSectorAligned { region, edge, address, below: sector.start, above: sector.end() })
        }
        None => Err(LayoutError::NotSectorAligned { region, edge, address, below: 0, above: 0 }),
    }
}

const fn check_overlaps(request: &LayoutRequest) -> Result<(), LayoutError> {
    if request.primary.overlaps(&request.secondary) {
        return Err(LayoutError::Overlap { first: RegionName::Primary, second: RegionName::Secondary });
    }
    if request.primary.overlaps(&request.state) {
        return Err(LayoutError::Overlap { first: RegionName::Primary, second: RegionName::State });
    }
    if request.secondary.overlaps(&request.state) {
        return Err(LayoutError::Overlap { first: RegionName::Secondary, second: RegionName::State });
    }
    Ok(())
}

/// The first sector in `[start, start + size)` that straddles a `unit` boundary counted
/// from `start`, if any.
const fn straddling_sector(geometry: &Geometry<'_>, start: u64, size: u64, unit: u32) -> Option<Sector> {
    let mut address = start;
    while address < start + size {
        let Some(sector) = geometry.sector_at(address) else { return None };
        // `start` is a sector boundary at or below `sector.start`, and sectors end at most
        // at 2^32: the offsets fit in 32 bits (no 64-bit division on 32-bit cores).
        let offset = (sector.start as u64 - start) as u32;
        let first = offset / unit;
        let last = (offset + (sector.size - 1)) / unit;
        if first != last {
            return Some(sector);
        }
        address = sector.end();
    }
    None
}

/// Checks that a slot is a whole number of `unit`s, each a whole number of sectors.
const fn check_units<const EXPLAIN: bool>(
    geometry: &Geometry<'_>,
    region: &Region,
    name: RegionName,
    unit: u32,
) -> Result<(), LayoutError> {
    if let Some(sector) = straddling_sector(geometry, region.start as u64, region.size as u64, unit) {
        let boundary = region.start + ((sector.start - region.start) / unit + 1) * unit;
        let nearest_start = if EXPLAIN { nearest_unit_start(geometry, region, unit) } else { None };
        return Err(LayoutError::MixedSectors { region: name, unit, boundary, sector, nearest_start });
    }
    if region.size % unit != 0 {
        return Err(LayoutError::NotWholeUnits { region: name, size: region.size, unit });
    }
    Ok(())
}

/// The first sector boundary at or after `region.start` from which a slot of
/// `region.size` bytes (rounded up to whole units) is made of whole units.
const fn nearest_unit_start(geometry: &Geometry<'_>, region: &Region, unit: u32) -> Option<u32> {
    let size = (region.size as u64).div_ceil(unit as u64) * unit as u64;
    let mut candidate = region.start as u64;
    while candidate + size <= geometry.end() {
        let fits = geometry.is_boundary(candidate)
            && geometry.is_boundary(candidate + size)
            && straddling_sector(geometry, candidate, size, unit).is_none();
        if fits {
            return Some(candidate as u32);
        }
        match geometry.sector_at(candidate) {
            Some(sector) => candidate = sector.end(),
            None => return None,
        }
    }
    None
}

/// Checks that the state area splits into two pages of whole sectors, each large enough.
const fn check_state<const EXPLAIN: bool>(
    geometry: &Geometry<'_>,
    state: &Region,
    units: u32,
    write_size: u32,
) -> Result<(), LayoutError> {
    let required = required_page_size(units, write_size);
    let middle = state.start as u64 + state.size as u64 / 2;
    if state.size % 2 != 0 || !geometry.is_boundary(middle) {
        let suggested_size = if EXPLAIN { suggest_state_size(geometry, state.start, required) } else { None };
        return Err(LayoutError::StateNotSplit { given: *state, suggested_size });
    }
    let page_size = state.size / 2;
    if page_size < required {
        let suggested_size = if EXPLAIN { suggest_state_size(geometry, state.start, required) } else { None };
        return Err(LayoutError::StateTooSmall { page_size, required, units, suggested_size });
    }
    Ok(())
}

/// The smallest state size from `start` made of two equal halves of whole sectors, each
/// at least `required` bytes.
const fn suggest_state_size(geometry: &Geometry<'_>, start: u32, required: u32) -> Option<u32> {
    let mut middle = start as u64;
    loop {
        let Some(sector) = geometry.sector_at(middle) else { return None };
        middle = sector.end();
        let half = middle - start as u64;
        let end = middle + half;
        if half >= required as u64 && end <= geometry.end() && geometry.is_boundary(end) {
            return Some((2 * half) as u32);
        }
    }
}

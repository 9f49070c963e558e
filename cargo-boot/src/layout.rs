//! Where the bootloader and the app go in flash, and the rules they must obey.
//!
//! A managed layout, as Mbed OS builds it: the bootloader region starts at the
//! beginning of flash and is `restrict_size` bytes long; the app region starts right
//! after it (or at `app_offset`). An image header of `header_size` bytes may precede
//! the app's vector table. Every rule is checked here with an error that names the
//! nearest valid values.

use crate::board::Board;
use crate::metadata::{BootMetadata, Template};

/// A contiguous range of flash, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First address.
    pub start: u32,
    /// One past the last address.
    pub end: u32,
}

impl Region {
    /// Size in bytes.
    pub fn size(&self) -> u32 {
        self.end - self.start
    }
}

/// The flash layout of a project on its board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// All of the board's flash.
    pub flash: Region,
    /// The bootloader region (`restrict_size` bytes from the start of flash).
    pub bootloader: Region,
    /// The region the app image (header included) lives in.
    pub app_region: Region,
    /// Bytes of image header before the app's vector table.
    pub header_size: u32,
    /// Address of the app's vector table: `POST_APPLICATION_ADDR` in Mbed terms.
    pub app_start: u32,
    /// The byte value of erased flash, used for padding.
    pub erased_value: u8,
    /// The update slots of the secure template (None for the minimal one).
    pub slots: Option<Slots>,
}

/// The regions the secure bootloader's swap uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    /// The slot the app runs from (starts at `app_region.start`).
    pub primary: Region,
    /// The slot a candidate image is downloaded into.
    pub secondary: Region,
    /// The swap state (and scratch) area.
    pub state: Region,
    /// The largest image (header, app and TLVs) the primary slot takes.
    pub max_image_size: u32,
}

/// A layout rule that does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("restrict_size must not be 0: the bootloader region needs at least one sector ({first_sector:#x} bytes on this board)")]
    ZeroRestrictSize { first_sector: u32 },
    #[error("restrict_size {size:#x} is not a multiple of the vector-table alignment {align:#x} of {board}: the app's vector table must be aligned for VTOR. Use {below} or {above}")]
    VectorMisaligned { size: u32, align: u32, board: String, below: String, above: String },
    #[error("restrict_size {size:#x} ends at {end:#010x}, inside the {sector_kib} KiB sector {index} ({sector_start:#010x}-{sector_last:#010x}) of {board}: the app must start on a sector boundary so that updating it never erases the bootloader. Use {below} or {above}")]
    NotOnSectorBoundary {
        size: u32,
        end: u32,
        sector_kib: u32,
        index: usize,
        sector_start: u32,
        sector_last: u32,
        board: String,
        below: String,
        above: String,
    },
    #[error("restrict_size {size:#x} leaves no room for the app: {board} has {flash:#x} bytes of flash. Use a restrict_size below {flash:#x}, such as {suggestion}")]
    PastEndOfFlash { size: u32, flash: u32, board: String, suggestion: String },
    #[error("app_offset {offset:#x} is inside the bootloader region (restrict_size {restrict_size:#x}): use an app_offset of at least {restrict_size:#x}")]
    AppOffsetInsideBootloader { offset: u32, restrict_size: u32 },
    #[error("app_offset {offset:#x} is past the end of the {flash:#x} bytes of flash of {board}")]
    AppOffsetPastEnd { offset: u32, flash: u32, board: String },
    #[error("app_offset {offset:#x} is not on a sector boundary of {board}: use {below} or {above}")]
    AppOffsetNotOnSector { offset: u32, board: String, below: String, above: String },
    #[error("header_size {size:#x} would put the app's vector table at {app_start:#010x}, which is not aligned to {align:#x}: use a header_size that is a multiple of {align:#x}, such as {suggestion:#x}")]
    HeaderMisaligned { size: u32, app_start: u32, align: u32, suggestion: u32 },
    #[error("the bootloader is {size} bytes ({size:#x}) but restrict_size is {limit} bytes ({limit:#x}): it is over by {over} bytes. Raise restrict_size to {suggestion} (the next sector boundary that fits), or make the bootloader smaller (build it with --release)")]
    BootloaderTooBig { size: u32, limit: u32, over: u32, suggestion: String },
    #[error("no room for the update slots on {board}: {detail}. Lower restrict_size, set a smaller slot_size, or use template = \"minimal\"")]
    NoSlots { board: String, detail: String },
    #[error("the app image is {size} bytes ({size:#x}) but its region {start:#010x}-{end:#010x} holds {limit} bytes: it is over by {over} bytes. Make the app smaller (--release, opt-level = \"s\") or lower restrict_size")]
    AppTooBig { size: u32, limit: u32, over: u32, start: u32, end: u32 },
}

impl Layout {
    /// Computes the layout and checks every rule that does not need the built images.
    pub fn new(board: &Board, meta: &BootMetadata) -> Result<Layout, LayoutError> {
        let flash = Region { start: board.flash.base, end: board.flash_end() };
        check_restrict_size(board, meta.restrict_size)?;
        let bootloader = Region { start: flash.start, end: flash.start + meta.restrict_size };
        let app_region_start = match meta.app_offset {
            Some(offset) => check_app_offset(board, offset, meta.restrict_size)?,
            None => bootloader.end,
        };
        let app_region = Region { start: app_region_start, end: flash.end };
        let header_size = meta.header_size.unwrap_or(match meta.template {
            // MCUboot's header is 32 bytes, padded so that the app's vector table after it
            // stays aligned (imgtool's --header-size). 0x400 fits the largest ARMv7-M
            // table (256 vectors), which is what cortex-m-rt emits for an app without a PAC.
            Template::Secure => board.vector_table_align.max(0x400),
            Template::Minimal => 0,
        });
        let app_start = app_region.start.saturating_add(header_size);
        if app_start % board.vector_table_align != 0 || app_start >= app_region.end {
            return Err(LayoutError::HeaderMisaligned {
                size: header_size,
                app_start,
                align: board.vector_table_align,
                suggestion: header_size.next_multiple_of(board.vector_table_align).max(board.vector_table_align),
            });
        }
        let slots = match meta.template {
            Template::Secure => Some(crate::slots::place(board, app_region.start, header_size, meta.slot_size)?),
            Template::Minimal => None,
        };
        Ok(Layout {
            flash,
            bootloader,
            app_region,
            header_size,
            app_start,
            erased_value: board.flash.erased_value,
            slots,
        })
    }

    /// One past the last byte the app may occupy.
    pub fn app_end(&self) -> u32 {
        match &self.slots {
            Some(slots) => slots.primary.start + slots.max_image_size,
            None => self.app_region.end,
        }
    }

    /// The most bytes an app image (header included) may take.
    pub fn max_app_image_size(&self) -> u32 {
        self.app_end() - self.app_region.start
    }

    /// Checks that a bootloader image of `size` bytes fits its region.
    pub fn check_bootloader_fits(&self, board: &Board, size: u32) -> Result<(), LayoutError> {
        if size <= self.bootloader.size() {
            return Ok(());
        }
        let needed = self.flash.start.saturating_add(size);
        let suggestion = board
            .sectors()
            .map(|s| s.end())
            .find(|&end| end >= needed && (end - self.flash.start) % board.vector_table_align == 0)
            .map(|end| format!("{:#x}", end - self.flash.start))
            .unwrap_or_else(|| "a larger value".into());
        Err(LayoutError::BootloaderTooBig {
            size,
            limit: self.bootloader.size(),
            over: size - self.bootloader.size(),
            suggestion,
        })
    }

    /// Checks that an app image of `size` bytes (header included) fits its region.
    pub fn check_app_fits(&self, size: u32) -> Result<(), LayoutError> {
        let limit = self.max_app_image_size();
        if size <= limit {
            return Ok(());
        }
        Err(LayoutError::AppTooBig {
            size,
            limit,
            over: size - limit,
            start: self.app_region.start,
            end: self.app_end(),
        })
    }
}

/// The `restrict_size` rules: non-zero, vector-aligned, on a sector boundary, inside flash.
fn check_restrict_size(board: &Board, size: u32) -> Result<(), LayoutError> {
    let first_sector = board.sectors().next().map_or(0, |s| s.size);
    if size == 0 {
        return Err(LayoutError::ZeroRestrictSize { first_sector });
    }
    if size >= board.flash.size {
        let suggestion =
            valid_sizes_around(board, board.flash.size / 2).0.unwrap_or_else(|| format!("{first_sector:#x}"));
        return Err(LayoutError::PastEndOfFlash {
            size,
            flash: board.flash.size,
            board: board.name.clone(),
            suggestion,
        });
    }
    let (below, above) = valid_sizes_around(board, size);
    let (below, above) = (below.unwrap_or_else(|| "none".into()), above.unwrap_or_else(|| "none".into()));
    if size % board.vector_table_align != 0 {
        return Err(LayoutError::VectorMisaligned {
            size,
            align: board.vector_table_align,
            board: board.name.clone(),
            below,
            above,
        });
    }
    let end = board.flash.base + size;
    if !board.is_sector_boundary(end) {
        let sector = board.sector_containing(end).expect("end is inside flash");
        let index = board.sectors().position(|s| s == sector).unwrap_or(0);
        return Err(LayoutError::NotOnSectorBoundary {
            size,
            end,
            sector_kib: sector.size / 1024,
            index,
            sector_start: sector.start,
            sector_last: sector.end() - 1,
            board: board.name.clone(),
            below,
            above,
        });
    }
    Ok(())
}

/// An `app_offset` must be on a sector boundary, after the bootloader, inside flash.
fn check_app_offset(board: &Board, offset: u32, restrict_size: u32) -> Result<u32, LayoutError> {
    if offset < restrict_size {
        return Err(LayoutError::AppOffsetInsideBootloader { offset, restrict_size });
    }
    if offset >= board.flash.size {
        return Err(LayoutError::AppOffsetPastEnd { offset, flash: board.flash.size, board: board.name.clone() });
    }
    let start = board.flash.base + offset;
    if !board.is_sector_boundary(start) || offset % board.vector_table_align != 0 {
        let (below, above) = valid_sizes_around(board, offset);
        return Err(LayoutError::AppOffsetNotOnSector {
            offset,
            board: board.name.clone(),
            below: below.unwrap_or_else(|| "none".into()),
            above: above.unwrap_or_else(|| "none".into()),
        });
    }
    Ok(start)
}

/// The nearest valid region sizes (sector boundary and vector-aligned) below and above `size`.
pub fn valid_sizes_around(board: &Board, size: u32) -> (Option<String>, Option<String>) {
    let valid = |end: &u32| {
        let offset = end - board.flash.base;
        offset > 0 && offset < board.flash.size && offset % board.vector_table_align == 0
    };
    let ends: Vec<u32> = board.sectors().map(|s| s.end()).filter(valid).collect();
    let below =
        ends.iter().rev().find(|&&e| e - board.flash.base < size).map(|e| format!("{:#x}", e - board.flash.base));
    let above = ends.iter().find(|&&e| e - board.flash.base > size).map(|e| format!("{:#x}", e - board.flash.base));
    (below, above)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::BoardDatabase;

    fn meta(board: &str, restrict_size: u32) -> BootMetadata {
        BootMetadata::new(board, restrict_size, Template::Minimal)
    }

    fn layout(board: &str, m: &BootMetadata) -> Result<Layout, LayoutError> {
        Layout::new(BoardDatabase::bundled().get(board).unwrap(), m)
    }

    #[test]
    fn the_seeds_odin_w2_numbers_are_accepted() {
        let l = layout("odin-w2", &meta("odin-w2", 0x40000)).unwrap();
        assert_eq!(l.bootloader, Region { start: 0x0800_0000, end: 0x0804_0000 });
        assert_eq!(l.app_start, 0x0804_0000);
        assert_eq!(l.app_region.end, 0x0820_0000);
        assert_eq!(0x40000 % 0x400, 0, "the seed's page size divides restrict_size");
        assert_eq!(0x40000 % 0x4000, 0, "and so does its first sector size");
    }

    #[test]
    fn restrict_size_inside_a_sector_names_the_sector_and_the_nearest_boundaries() {
        let err = layout("odin-w2", &meta("odin-w2", 0x30000)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "restrict_size 0x30000 ends at 0x08030000, inside the 128 KiB sector 5 (0x08020000-0x0803ffff) of odin-w2: \
             the app must start on a sector boundary so that updating it never erases the bootloader. Use 0x20000 or 0x40000"
        );
    }

    #[test]
    fn misaligned_restrict_size_names_the_alignment() {
        let err = layout("qemu-an386", &meta("qemu-an386", 0x10100)).unwrap_err().to_string();
        assert!(err.contains("not a multiple of the vector-table alignment 0x200 of qemu-an386"), "{err}");
        assert!(err.contains("Use 0x10000 or 0x11000"), "{err}");
    }

    #[test]
    fn restrict_size_past_the_end_of_flash_is_rejected() {
        let err = layout("xdot", &meta("xdot", 0x40000)).unwrap_err().to_string();
        assert!(err.contains("restrict_size 0x40000 leaves no room for the app: xdot has 0x40000 bytes"), "{err}");
        let err = layout("xdot", &meta("xdot", 0)).unwrap_err().to_string();
        assert!(err.contains("must not be 0"), "{err}");
    }

    #[test]
    fn every_seed_board_accepts_its_default_restrict_size() {
        let db = BoardDatabase::bundled();
        for board in db.iter() {
            let l = Layout::new(board, &meta(&board.name, board.default_restrict_size))
                .unwrap_or_else(|e| panic!("{}: {e}", board.name));
            assert_eq!(l.app_start % board.vector_table_align, 0);
        }
    }

    #[test]
    fn header_size_must_keep_the_vector_table_aligned() {
        let mut m = meta("qemu-an386", 0x10000);
        m.header_size = Some(0x20);
        let err = layout("qemu-an386", &m).unwrap_err().to_string();
        assert!(err.contains("use a header_size that is a multiple of 0x200, such as 0x200"), "{err}");
        m.header_size = Some(0x200);
        assert_eq!(layout("qemu-an386", &m).unwrap().app_start, 0x10200);
    }

    #[test]
    fn app_offset_places_an_unmanaged_app() {
        let mut m = meta("odin-w2", 0x10000);
        m.app_offset = Some(0x40000);
        assert_eq!(layout("odin-w2", &m).unwrap().app_start, 0x0804_0000);
        m.app_offset = Some(0x8000);
        assert!(layout("odin-w2", &m).unwrap_err().to_string().contains("inside the bootloader region"));
        m.app_offset = Some(0x30000);
        assert!(layout("odin-w2", &m).unwrap_err().to_string().contains("use 0x20000 or 0x40000"));
    }

    #[test]
    fn size_checks_print_both_sizes_and_a_fix() {
        let db = BoardDatabase::bundled();
        let board = db.get("odin-w2").unwrap();
        let l = Layout::new(board, &meta("odin-w2", 0x4000)).unwrap();
        l.check_bootloader_fits(board, 0x4000).unwrap();
        let err = l.check_bootloader_fits(board, 0x4001).unwrap_err().to_string();
        assert!(err.contains("the bootloader is 16385 bytes (0x4001) but restrict_size is 16384 bytes (0x4000): it is over by 1 bytes. Raise restrict_size to 0x8000"), "{err}");
        let err = l.check_app_fits(0x20_0000).unwrap_err().to_string();
        assert!(err.contains("over by 16384 bytes"), "{err}");
    }
}

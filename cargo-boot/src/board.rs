//! The board database: one TOML file per board, embedded in the binary.
//!
//! A project can add its own boards in `boards/<name>.toml` beside its `Cargo.toml`
//! (or point `boards_dir` in the metadata elsewhere); a project board with the name
//! of a bundled one replaces it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The bundled boards, as `(file name, contents)`.
const BUNDLED: &[(&str, &str)] = &[
    ("odin-w2.toml", include_str!("../boards/odin-w2.toml")),
    ("nucleo-f429zi.toml", include_str!("../boards/nucleo-f429zi.toml")),
    ("frdm-k64f.toml", include_str!("../boards/frdm-k64f.toml")),
    ("xdot.toml", include_str!("../boards/xdot.toml")),
    ("qemu-an385.toml", include_str!("../boards/qemu-an385.toml")),
    ("qemu-an386.toml", include_str!("../boards/qemu-an386.toml")),
];

/// A board: its chip's memory map and how to build for, flash and run it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// The name used in `[package.metadata.boot] board = "..."`.
    pub name: String,
    /// One line for `cargo boot boards`.
    pub description: String,
    /// The Mbed OS target name of the same board, if it has one.
    #[serde(default)]
    pub mbed_target: Option<String>,
    /// The Rust target triple.
    pub target: String,
    /// The alignment, in bytes, that VTOR needs for this chip's vector table.
    pub vector_table_align: u32,
    /// The bootloader region size `cargo boot new` writes into a new project.
    pub default_restrict_size: u32,
    /// The internal flash.
    pub flash: Flash,
    /// RAM regions; the first is the `RAM` region of `memory.x`.
    pub ram: Vec<RamRegion>,
    /// How a debug probe reaches the chip.
    #[serde(default)]
    pub probe: Option<ProbeInfo>,
    /// Present on virtual boards: the QEMU machine that models the board.
    #[serde(default)]
    pub qemu: Option<QemuInfo>,
}

/// The internal flash of a board.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Flash {
    /// Address of the first byte of flash.
    pub base: u32,
    /// Size in bytes.
    pub size: u32,
    /// The page size that Mbed's FlashIAP reports (the program page).
    pub page_size: u32,
    /// The smallest unit that can be programmed, in bytes.
    pub write_size: u32,
    /// The value of an erased byte (0xFF on most NOR flash, 0x00 on STM32L1).
    pub erased_value: u8,
    /// Which flash driver the bundled bootloader uses.
    pub driver: FlashDriver,
    /// Erase sectors from `base` upwards, as runs of equal sizes.
    pub sectors: Vec<SectorRun>,
    /// Offset of the Kinetis flash configuration field (16 bytes), where the chip has one.
    #[serde(default)]
    pub flash_config_field: Option<u32>,
}

/// A run of `count` consecutive erase sectors of `size` bytes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SectorRun {
    /// Size of each sector in bytes.
    pub size: u32,
    /// How many sectors of that size follow each other.
    pub count: u32,
}

/// The flash driver family the bundled bootloader is built with.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FlashDriver {
    /// STM32F42x/43x, including the dual-bank sector numbering.
    Stm32f4,
    /// STM32L1 (erases to 0x00, 256-byte pages).
    Stm32l1,
    /// Kinetis K64 FTFE (8-byte phrases, commands run from RAM).
    KinetisFtfe,
    /// The RAM-backed flash of the virtual boards, with NOR rules enforced in software.
    Ram,
}

impl FlashDriver {
    /// The cargo feature of the bundled bootloader that selects this driver.
    pub fn feature(self) -> &'static str {
        match self {
            FlashDriver::Stm32f4 => "stm32f4",
            FlashDriver::Stm32l1 => "stm32l1",
            FlashDriver::KinetisFtfe => "kinetis-ftfe",
            FlashDriver::Ram => "ram",
        }
    }
}

/// A RAM region.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RamRegion {
    /// A name for tables (`SRAM`, `CCM`).
    pub name: String,
    /// Start address.
    pub origin: u32,
    /// Size in bytes.
    pub length: u32,
}

/// How probe-rs reaches the chip.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProbeInfo {
    /// The probe-rs chip name.
    #[serde(default)]
    pub chip: Option<String>,
    /// Why probe-rs cannot flash this chip, and what to use instead.
    #[serde(default)]
    pub unsupported: Option<String>,
}

/// The QEMU machine of a virtual board.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QemuInfo {
    /// `-machine` value.
    pub machine: String,
    /// Address of the CMSDK UART the console is on.
    pub uart: u32,
    /// Address of the CMSDK watchdog.
    pub watchdog: u32,
    /// The NIC model for `-nic user,model=...`.
    pub ethernet: String,
}

/// An erase sector: where it starts and how big it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sector {
    /// Absolute address of the first byte.
    pub start: u32,
    /// Size in bytes.
    pub size: u32,
}

impl Sector {
    /// The address one past the last byte.
    pub fn end(&self) -> u32 {
        self.start + self.size
    }
}

/// Errors from loading or querying the board database.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("unknown board `{name}`{suggestion}. Run `cargo boot boards` to list the boards, or add `boards/{name}.toml` beside Cargo.toml")]
    Unknown { name: String, suggestion: String },
    #[error("board file {file} is not valid: {message}")]
    Invalid { file: String, message: String },
    #[error("cannot read board file {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

impl Board {
    /// Parses and checks one board file.
    pub fn parse(file: &str, text: &str) -> Result<Board, BoardError> {
        let board: Board =
            toml::from_str(text).map_err(|e| BoardError::Invalid { file: file.to_string(), message: e.to_string() })?;
        board.check().map_err(|message| BoardError::Invalid { file: file.to_string(), message })?;
        Ok(board)
    }

    /// Checks that the data is self-consistent.
    fn check(&self) -> Result<(), String> {
        let covered: u64 = self.flash.sectors.iter().map(|r| r.size as u64 * r.count as u64).sum();
        if covered != self.flash.size as u64 {
            return Err(format!("the sector map covers {covered:#x} bytes but flash.size is {:#x}", self.flash.size));
        }
        if !self.vector_table_align.is_power_of_two() || self.vector_table_align < 128 {
            return Err(format!(
                "vector_table_align {:#x} must be a power of two of at least 128",
                self.vector_table_align
            ));
        }
        if self.flash.write_size == 0 || !self.flash.write_size.is_power_of_two() {
            return Err(format!("flash.write_size {} must be a power of two", self.flash.write_size));
        }
        if self.ram.is_empty() {
            return Err("at least one [[ram]] region is needed".into());
        }
        if self.flash.base.checked_add(self.flash.size - 1).is_none() {
            return Err("flash.base + flash.size overflows the 32-bit address space".into());
        }
        Ok(())
    }

    /// Address one past the end of flash.
    pub fn flash_end(&self) -> u32 {
        self.flash.base + self.flash.size
    }

    /// Every erase sector, in address order.
    pub fn sectors(&self) -> impl Iterator<Item = Sector> + '_ {
        let mut start = self.flash.base;
        self.flash.sectors.iter().flat_map(|r| std::iter::repeat_n(r.size, r.count as usize)).map(move |size| {
            let sector = Sector { start, size };
            start += size;
            sector
        })
    }

    /// The sector that contains `addr`, if `addr` is inside flash.
    pub fn sector_containing(&self, addr: u32) -> Option<Sector> {
        self.sectors().find(|s| s.start <= addr && addr < s.end())
    }

    /// True when `addr` is the first byte of a sector, or the end of flash.
    pub fn is_sector_boundary(&self, addr: u32) -> bool {
        addr == self.flash_end() || self.sectors().any(|s| s.start == addr)
    }

    /// The nearest sector boundaries at or below and above `addr` (either may be None).
    pub fn sector_boundaries_around(&self, addr: u32) -> (Option<u32>, Option<u32>) {
        let below = self.sectors().map(|s| s.start).chain([self.flash_end()]).filter(|&a| a <= addr).max();
        let above = self.sectors().map(|s| s.start).chain([self.flash_end()]).filter(|&a| a > addr).min();
        (below, above)
    }

    /// The main RAM region (the first one).
    pub fn main_ram(&self) -> &RamRegion {
        &self.ram[0]
    }

    /// True for boards that QEMU models.
    pub fn is_virtual(&self) -> bool {
        self.qemu.is_some()
    }
}

/// The boards known to a project: the bundled ones, plus any the project adds.
#[derive(Debug, Clone)]
pub struct BoardDatabase {
    boards: BTreeMap<String, Board>,
}

impl BoardDatabase {
    /// The bundled boards only.
    pub fn bundled() -> BoardDatabase {
        let boards = BUNDLED
            .iter()
            .map(|(file, text)| {
                let board = Board::parse(file, text).expect("bundled board files are checked by tests");
                (board.name.clone(), board)
            })
            .collect();
        BoardDatabase { boards }
    }

    /// The bundled boards plus every `*.toml` in `dir` (if the directory exists).
    pub fn with_project_boards(dir: &Path) -> Result<BoardDatabase, BoardError> {
        let mut db = BoardDatabase::bundled();
        let Ok(entries) = std::fs::read_dir(dir) else { return Ok(db) };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "toml")) {
            let file = path.display().to_string();
            let text =
                std::fs::read_to_string(&path).map_err(|source| BoardError::Read { file: file.clone(), source })?;
            let board = Board::parse(&file, &text)?;
            db.boards.insert(board.name.clone(), board);
        }
        Ok(db)
    }

    /// Looks a board up by name; an unknown name suggests the closest known one.
    pub fn get(&self, name: &str) -> Result<&Board, BoardError> {
        self.boards.get(name).ok_or_else(|| BoardError::Unknown {
            name: name.to_string(),
            suggestion: crate::metadata::did_you_mean(name, self.boards.keys().map(String::as_str)),
        })
    }

    /// Every board, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Board> {
        self.boards.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_board_parses_and_tiles_its_flash() {
        let db = BoardDatabase::bundled();
        assert_eq!(db.iter().count(), BUNDLED.len());
        for board in db.iter() {
            let last = board.sectors().last().unwrap();
            assert_eq!(last.end(), board.flash_end(), "{}", board.name);
        }
    }

    #[test]
    fn odin_w2_has_the_f4_dual_bank_sector_map() {
        let db = BoardDatabase::bundled();
        let odin = db.get("odin-w2").unwrap();
        let sectors: Vec<_> = odin.sectors().collect();
        assert_eq!(sectors.len(), 24);
        assert_eq!(sectors[0], Sector { start: 0x0800_0000, size: 0x4000 });
        assert_eq!(sectors[4], Sector { start: 0x0801_0000, size: 0x1_0000 });
        assert_eq!(sectors[5], Sector { start: 0x0802_0000, size: 0x2_0000 });
        assert_eq!(sectors[12], Sector { start: 0x0810_0000, size: 0x4000 });
        assert!(odin.is_sector_boundary(0x0804_0000));
        assert!(!odin.is_sector_boundary(0x0803_0000));
        assert_eq!(odin.sector_boundaries_around(0x0803_0000), (Some(0x0802_0000), Some(0x0804_0000)));
        assert_eq!(odin.flash.page_size, 0x400);
    }

    #[test]
    fn xdot_erases_to_zero_and_k64f_has_a_flash_configuration_field() {
        let db = BoardDatabase::bundled();
        assert_eq!(db.get("xdot").unwrap().flash.erased_value, 0x00);
        assert_eq!(db.get("frdm-k64f").unwrap().flash.flash_config_field, Some(0x400));
        assert!(db.get("frdm-k64f").unwrap().probe.as_ref().unwrap().unsupported.is_some());
    }

    #[test]
    fn unknown_board_suggests_the_closest_name() {
        let err = BoardDatabase::bundled().get("odin-w3").unwrap_err().to_string();
        assert!(err.contains("unknown board `odin-w3`"), "{err}");
        assert!(err.starts_with("unknown board `odin-w3` (did you mean `odin-w2`?). Run `cargo boot boards`"), "{err}");
        assert!(err.contains("cargo boot boards"), "{err}");
    }

    #[test]
    fn a_sector_map_that_does_not_cover_flash_is_rejected() {
        let text = include_str!("../boards/xdot.toml").replace("count = 1024", "count = 1000");
        let err = Board::parse("xdot.toml", &text).unwrap_err().to_string();
        assert!(err.contains("covers 0x3e800 bytes but flash.size is 0x40000"), "{err}");
    }

    #[test]
    fn project_boards_are_added_and_override_bundled_ones() {
        let dir = tempfile::tempdir().unwrap();
        let custom = include_str!("../boards/xdot.toml").replace("name = \"xdot\"", "name = \"my-xdot\"");
        std::fs::write(dir.path().join("my-xdot.toml"), custom).unwrap();
        let db = BoardDatabase::with_project_boards(dir.path()).unwrap();
        assert_eq!(db.get("my-xdot").unwrap().flash.erased_value, 0);
        assert!(db.get("xdot").is_ok());
    }

    #[test]
    fn the_book_documents_every_bundled_board() {
        let book = include_str!("../../book/src/boards.md");
        for board in BoardDatabase::bundled().iter() {
            assert!(
                book.contains(&format!("| `{}` |", board.name)),
                "book/src/boards.md has no row for {}",
                board.name
            );
        }
    }

    #[test]
    fn unknown_keys_in_a_board_file_are_errors() {
        let text = include_str!("../boards/xdot.toml").replace("driver = ", "drivr = ");
        let err = Board::parse("xdot.toml", &text).unwrap_err().to_string();
        assert!(err.contains("drivr"), "{err}");
    }
}

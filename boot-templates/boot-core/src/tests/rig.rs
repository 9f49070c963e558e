//! A simulated device: flash, layout, validator, and the app's side of the state.

use std::vec;
use std::vec::Vec;

use embedded_storage::nor_flash::NorFlash;

use crate::sim::{SimError, SimFlash, TestImage, TestValidator};
use crate::{
    BootConfig, BootDecision, BootError, BootLoader, BootState, Confirmation, Erased, Geometry, InstallKind,
    LayoutRequest, Region, SectorRun, SlotLayout, StateError, StateStore,
};

/// A flash map and a layout on it.
#[derive(Debug, Clone, Copy)]
pub struct Board {
    pub name: &'static str,
    pub base: u32,
    pub sectors: &'static [SectorRun],
    pub primary: Region,
    pub secondary: Region,
    pub state: Region,
    pub header_size: u32,
}

impl Board {
    pub fn geometry(&self, erased: Erased) -> Geometry<'static> {
        Geometry { base: self.base, sectors: self.sectors, erased }
    }

    pub fn request(&self, write_size: u32) -> LayoutRequest {
        LayoutRequest {
            primary: self.primary,
            secondary: self.secondary,
            state: self.state,
            header_size: self.header_size,
            write_size,
        }
    }

    pub fn layout(&self, erased: Erased, write_size: u32) -> SlotLayout {
        match SlotLayout::new(&self.geometry(erased), &self.request(write_size)) {
            Ok(layout) => layout,
            Err(error) => panic!("{}: {error}", self.name),
        }
    }
}

const KIB: u32 = 1024;

/// Uniform 4 KiB sectors (K64F-like): 16-unit primary slot.
pub const UNIFORM_4K: Board = Board {
    name: "uniform 4 KiB",
    base: 0,
    sectors: &[SectorRun { size: 4 * KIB, count: 64 }],
    state: Region::new(16 * KIB, 8 * KIB),
    primary: Region::new(32 * KIB, 64 * KIB),
    secondary: Region::new(96 * KIB, 68 * KIB),
    header_size: 0x200,
};

/// STM32F4 with its real sector sizes (2 MiB, two banks): slots in 128 KiB sectors,
/// state in two 16 KiB sectors.
pub const STM32F4: Board = Board {
    name: "STM32F4",
    base: 0x0800_0000,
    sectors: &[
        SectorRun { size: 16 * KIB, count: 4 },
        SectorRun { size: 64 * KIB, count: 1 },
        SectorRun { size: 128 * KIB, count: 7 },
        SectorRun { size: 16 * KIB, count: 4 },
        SectorRun { size: 64 * KIB, count: 1 },
        SectorRun { size: 128 * KIB, count: 7 },
    ],
    state: Region::new(0x0800_8000, 32 * KIB),
    primary: Region::new(0x0802_0000, 3 * 128 * KIB),
    secondary: Region::new(0x0812_0000, 4 * 128 * KIB),
    header_size: 0x200,
};

/// The STM32F4 map scaled down 64 times (256 B / 1 KiB / 2 KiB sectors).
pub const STM32F4_SCALED: Board = Board {
    name: "STM32F4 / 64",
    base: 0x0800_0000,
    sectors: &[
        SectorRun { size: 256, count: 4 },
        SectorRun { size: KIB, count: 1 },
        SectorRun { size: 2 * KIB, count: 7 },
        SectorRun { size: 256, count: 4 },
        SectorRun { size: KIB, count: 1 },
        SectorRun { size: 2 * KIB, count: 7 },
    ],
    state: Region::new(0x0800_0000, KIB),
    primary: Region::new(0x0800_0800, 6 * 2 * KIB),
    secondary: Region::new(0x0800_4800, 7 * 2 * KIB),
    header_size: 0x100,
};

/// Small sectors for the primary slot, large ones for the secondary: units of four
/// 4 KiB sectors in the primary slot, one 16 KiB sector in the secondary.
pub const MIXED: Board = Board {
    name: "mixed 4/16 KiB",
    base: 0,
    sectors: &[SectorRun { size: 4 * KIB, count: 20 }, SectorRun { size: 16 * KIB, count: 8 }],
    state: Region::new(8 * KIB, 8 * KIB),
    primary: Region::new(16 * KIB, 64 * KIB),
    secondary: Region::new(80 * KIB, 80 * KIB),
    header_size: 0x200,
};

/// 256-byte pages, erased to 0x00 on the real chip (STM32L1 / xDot-like).
pub const PAGES_256: Board = Board {
    name: "256 B pages",
    base: 0x0800_0000,
    sectors: &[SectorRun { size: 256, count: 1024 }],
    state: Region::new(0x0800_1000, 10 * 256),
    primary: Region::new(0x0800_2000, 0x8000),
    secondary: Region::new(0x0800_A000, 0x8100),
    header_size: 0x200,
};

/// A simulated device.
#[derive(Clone)]
pub struct Device<const W: usize> {
    pub flash: SimFlash<W>,
    pub layout: SlotLayout,
    pub validator: TestValidator,
    pub config: BootConfig,
    pub buf: Vec<u8>,
}

impl<const W: usize> Device<W> {
    /// An erased device; the bootloader copies in `chunk`-byte pieces.
    pub fn new(board: &Board, erased: Erased, chunk: usize) -> Self {
        let layout = board.layout(erased, W as u32);
        let flash = SimFlash::new(&board.geometry(erased));
        Self { flash, layout, validator: TestValidator::default(), config: BootConfig::default(), buf: vec![0; chunk] }
    }

    /// A device whose flash starts with random contents.
    pub fn random(board: &Board, erased: Erased, chunk: usize, seed: u64) -> Self {
        let mut device = Self::new(board, erased, chunk);
        device.flash = SimFlash::random(&board.geometry(erased), seed);
        device
    }

    fn offset(&self, address: u32) -> u32 {
        self.layout.offset(address)
    }

    pub fn boot(&mut self) -> Result<BootDecision, BootError<SimError>> {
        let loader = BootLoader::new(&self.layout, self.config);
        loader.boot(&mut self.flash, &mut self.validator, &mut self.buf)
    }

    /// Boots, which must succeed.
    pub fn boot_ok(&mut self) -> BootDecision {
        match self.boot() {
            Ok(decision) => {
                assert_eq!(decision.slot_start, self.layout.primary().start);
                assert_eq!(decision.vector_table, self.layout.app_start());
                decision
            }
            Err(error) => panic!("boot failed: {error}"),
        }
    }

    /// Restores the power (cancelling any scheduled cut) and boots, which must succeed.
    pub fn reboot(&mut self) -> BootDecision {
        self.flash.power_cycle();
        self.boot_ok()
    }

    /// Boots with the power cut at the `n`-th write or erase, which must be reached.
    pub fn boot_cut_at(&mut self, n: u64) {
        self.flash.power_cycle();
        self.flash.fail_after(n);
        match self.boot() {
            Err(BootError::Flash(SimError::PowerLoss)) => assert!(self.flash.is_off()),
            other => panic!("the cut at operation {n} was not reached: {other:?}"),
        }
    }

    /// Counts the writes and erases of one boot after a power-up (on a copy of the device).
    pub fn ops_of_boot(&self) -> u64 {
        let mut copy = self.clone();
        copy.flash.power_cycle();
        let before = copy.flash.stats().ops();
        copy.boot_ok();
        copy.flash.stats().ops() - before
    }

    /// Flashes `image` into the primary slot the way a debug probe does.
    pub fn flash_primary(&mut self, image: &TestImage) {
        let slot = self.layout.primary();
        self.flash.wipe(self.offset(slot.start), slot.size as usize);
        self.flash.program(self.offset(slot.start), image.bytes());
    }

    /// The app's download: erases the secondary slot and writes `image` at its start.
    pub fn download(&mut self, image: &TestImage) {
        let slot = self.layout.secondary();
        let start = self.offset(slot.start);
        self.flash.erase(start, start + slot.size).unwrap();
        let mut bytes = image.bytes().to_vec();
        bytes.resize(bytes.len().div_ceil(W) * W, self.layout.erased().byte());
        self.flash.write(start, &bytes).unwrap();
    }

    fn store(&self) -> StateStore {
        StateStore::new(self.layout.state_area())
    }

    pub fn mark_pending(&mut self, kind: InstallKind) -> Result<(), StateError<SimError>> {
        self.store().request_install(&mut self.flash, kind)
    }

    pub fn confirm(&mut self) -> Result<Confirmation, StateError<SimError>> {
        self.store().confirm(&mut self.flash)
    }

    pub fn state(&mut self) -> BootState {
        self.store().load(&mut self.flash).unwrap().state
    }

    /// True if the primary slot starts with exactly `image`.
    pub fn primary_holds(&self, image: &TestImage) -> bool {
        self.flash.contents(self.offset(self.layout.primary().start), image.len()) == image.bytes()
    }

    /// True if the secondary slot holds exactly `image`, `units` swap units in.
    pub fn secondary_holds(&self, image: &TestImage, units: u32) -> bool {
        let start = self.layout.secondary().start + units * self.layout.unit_size();
        self.flash.contents(self.offset(start), image.len()) == image.bytes()
    }
}

//! A simulated NOR flash with power-loss injection, and a small test image format.
//!
//! [`SimFlash`] enforces what real NOR flash demands and panics on any violation, like
//! MCUboot's simulator: writes aligned to `W` bytes and inside the flash, every written
//! byte erased beforehand ("write to unerased location"), erases on sector boundaries
//! of its sector map. It counts writes and erases, per sector too, and can cut the power
//! at the n-th write or erase: that operation is torn (a write programs only some of its
//! bits, an erase leaves a sector half erased), it and everything after it fail with
//! [`SimError::PowerLoss`] until [`SimFlash::power_cycle`].

use std::vec;
use std::vec::Vec;

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

use crate::geometry::{Erased, Geometry};
use crate::validate::{ImageInfo, ImageValidator, Rejection, SlotReader};

/// Why a simulated flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// The power was cut during this operation or before it.
    PowerLoss,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        NorFlashErrorKind::Other
    }
}

/// What the operation the power is cut in leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tear {
    /// The operation did not start: nothing changed.
    Clean,
    /// The operation stopped at a random point: a write programmed its bytes up to there
    /// and some bits of the byte at it; an erase erased its sectors up to there and
    /// some bits of the sector at it.
    #[default]
    Partial,
}

/// Operation counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Write operations (calls).
    pub writes: u64,
    /// Erase operations (calls).
    pub erases: u64,
    /// Sector erases (an erase call over several sectors counts each).
    pub sector_erases: u64,
}

impl Stats {
    /// Writes plus erases: the operations a power loss can hit.
    pub fn ops(&self) -> u64 {
        self.writes + self.erases
    }
}

/// A small deterministic random number generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A random number below `bound` (which must not be 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// Fills `bytes` with random bytes.
    pub fn fill(&mut self, bytes: &mut [u8]) {
        for byte in bytes {
            *byte = self.next_u64() as u8;
        }
    }
}

/// What happens to one write or erase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    /// It runs.
    On,
    /// The power is cut during it.
    Cut,
    /// The power was already off: nothing happens.
    Off,
}

/// One sector, in flash offsets.
#[derive(Debug, Clone, Copy)]
struct SimSector {
    start: u32,
    size: u32,
}

/// A NOR flash in memory with `W`-byte writes. Offset 0 is the geometry's base.
#[derive(Debug, Clone)]
pub struct SimFlash<const W: usize> {
    data: Vec<u8>,
    sectors: Vec<SimSector>,
    erase_counts: Vec<u32>,
    erased: Erased,
    stats: Stats,
    /// Operations left before the power is cut (1 = the next one).
    fail_in: Option<u64>,
    powered: bool,
    tear: Tear,
    rng: Rng,
    /// Writes left before one programs a wrong bit (1 = the next one).
    bad_write_in: Option<u64>,
}

impl<const W: usize> SimFlash<W> {
    /// An erased flash with `geometry`'s sectors.
    pub fn new(geometry: &Geometry<'_>) -> Self {
        let mut sectors = Vec::new();
        let mut start = 0u32;
        for run in geometry.sectors {
            for _ in 0..run.count {
                sectors.push(SimSector { start, size: run.size });
                start += run.size;
            }
        }
        Self {
            data: vec![geometry.erased.byte(); start as usize],
            erase_counts: vec![0; sectors.len()],
            sectors,
            erased: geometry.erased,
            stats: Stats::default(),
            fail_in: None,
            powered: true,
            tear: Tear::Partial,
            rng: Rng::new(0x5EED),
            bad_write_in: None,
        }
    }

    /// A flash with random contents, as a chip may come from the factory or be left by
    /// earlier firmware: catches code that relies on erased flash it did not erase.
    pub fn random(geometry: &Geometry<'_>, seed: u64) -> Self {
        let mut flash = Self::new(geometry);
        let mut rng = Rng::new(seed);
        rng.fill(&mut flash.data);
        flash.rng = rng;
        flash
    }

    /// Sets what the operation the power is cut in leaves behind.
    pub fn set_tear(&mut self, tear: Tear) {
        self.tear = tear;
    }

    /// Reseeds the generator that decides where torn operations stop.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// Cuts the power in the `n`-th write or erase from now (1 = the next one).
    pub fn fail_after(&mut self, n: u64) {
        assert!(n > 0, "fail_after counts from 1");
        self.fail_in = Some(n);
    }

    /// Makes the `n`-th write from now (1 = the next one) leave the lowest bit of its
    /// first byte wrong while reporting success, like a worn-out flash cell.
    pub fn fail_to_program_after(&mut self, n: u64) {
        assert!(n > 0, "fail_to_program_after counts from 1");
        self.bad_write_in = Some(n);
    }

    /// Restores the power and cancels any pending cut.
    pub fn power_cycle(&mut self) {
        self.powered = true;
        self.fail_in = None;
    }

    /// True if the power was cut and not restored.
    pub fn is_off(&self) -> bool {
        !self.powered
    }

    /// The operation counts so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// How often the sector that holds `offset` was erased.
    pub fn erase_count(&self, offset: u32) -> u32 {
        self.erase_counts[self.sector_index(offset)]
    }

    /// The bytes at `offset`.
    pub fn contents(&self, offset: u32, len: usize) -> &[u8] {
        &self.data[offset as usize..offset as usize + len]
    }

    /// Sets the bytes at `offset`, the way a debug probe reprograms flash, without the
    /// NOR rules and without counting.
    pub fn program(&mut self, offset: u32, bytes: &[u8]) {
        self.data[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
    }

    /// Erases `len` bytes at `offset` without counting (a debug probe's erase).
    pub fn wipe(&mut self, offset: u32, len: usize) {
        self.data[offset as usize..offset as usize + len].fill(self.erased.byte());
    }

    fn sector_index(&self, offset: u32) -> usize {
        self.sectors.partition_point(|s| s.start + s.size <= offset)
    }

    /// Whether a write or erase runs, is cut, or finds the power off. Counts it unless
    /// the power was already off.
    fn power_for_op(&mut self) -> Power {
        if !self.powered {
            return Power::Off;
        }
        if let Some(left) = self.fail_in.as_mut() {
            *left -= 1;
            if *left == 0 {
                self.fail_in = None;
                self.powered = false;
                return Power::Cut;
            }
        }
        Power::On
    }

    /// Programs the bits of `target` that differ from erased into `byte`.
    fn program_bits(&self, byte: u8, target: u8, mask: u8) -> u8 {
        match self.erased {
            Erased::Ones => byte & (target | !mask),
            Erased::Zeros => byte | (target & mask),
        }
    }

    fn tear_write(&mut self, offset: usize, bytes: &[u8]) {
        if self.tear == Tear::Clean {
            return;
        }
        let cut = self.rng.below(bytes.len() as u64) as usize;
        for (i, &target) in bytes[..cut].iter().enumerate() {
            self.data[offset + i] = self.program_bits(self.data[offset + i], target, 0xFF);
        }
        let mask = self.rng.next_u64() as u8;
        self.data[offset + cut] = self.program_bits(self.data[offset + cut], bytes[cut], mask);
    }

    fn tear_erase(&mut self, first: usize, last: usize) {
        if self.tear == Tear::Clean {
            return;
        }
        let stop = first + self.rng.below((last - first + 1) as u64) as usize;
        for index in first..stop {
            self.erase_sector(index);
        }
        let sector = self.sectors[stop];
        let erased = self.erased.byte();
        for i in sector.start as usize..(sector.start + sector.size) as usize {
            // Some bits of each byte go back to the erased value.
            let mask = self.rng.next_u64() as u8;
            self.data[i] = (self.data[i] & !mask) | (erased & mask);
        }
    }

    fn erase_sector(&mut self, index: usize) {
        let sector = self.sectors[index];
        self.data[sector.start as usize..(sector.start + sector.size) as usize].fill(self.erased.byte());
        self.erase_counts[index] += 1;
        self.stats.sector_erases += 1;
    }
}

impl<const W: usize> ErrorType for SimFlash<W> {
    type Error = SimError;
}

impl<const W: usize> ReadNorFlash for SimFlash<W> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLoss);
        }
        let start = offset as usize;
        assert!(start + bytes.len() <= self.data.len(), "read past the end: {offset:#x}+{}", bytes.len());
        bytes.copy_from_slice(&self.data[start..start + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl<const W: usize> NorFlash for SimFlash<W> {
    const WRITE_SIZE: usize = W;
    /// The sector map decides what may be erased; this is only a lower bound.
    const ERASE_SIZE: usize = W;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        let first = self.sector_index(from);
        let last = self.sector_index(to - 1);
        assert!(to > from && (to as usize) <= self.data.len(), "erase out of bounds: {from:#x}..{to:#x}");
        assert_eq!(self.sectors[first].start, from, "erase from {from:#x} is not on a sector boundary");
        let sector = self.sectors[last];
        assert_eq!(sector.start + sector.size, to, "erase to {to:#x} is not on a sector boundary");
        match self.power_for_op() {
            Power::Off => return Err(SimError::PowerLoss),
            Power::Cut => {
                self.stats.erases += 1;
                self.tear_erase(first, last);
                return Err(SimError::PowerLoss);
            }
            Power::On => self.stats.erases += 1,
        }
        for index in first..=last {
            self.erase_sector(index);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        let start = offset as usize;
        assert!(start % W == 0 && bytes.len() % W == 0, "unaligned write: {offset:#x}+{}", bytes.len());
        assert!(start + bytes.len() <= self.data.len(), "write past the end: {offset:#x}+{}", bytes.len());
        let erased = self.erased.byte();
        if let Some(i) = self.data[start..start + bytes.len()].iter().position(|&b| b != erased) {
            panic!("write to unerased location {:#x}", start + i);
        }
        match self.power_for_op() {
            Power::Off => return Err(SimError::PowerLoss),
            Power::Cut => {
                self.stats.writes += 1;
                self.tear_write(start, bytes);
                return Err(SimError::PowerLoss);
            }
            Power::On => self.stats.writes += 1,
        }
        self.data[start..start + bytes.len()].copy_from_slice(bytes);
        if let Some(left) = self.bad_write_in.as_mut() {
            *left -= 1;
            if *left == 0 {
                self.bad_write_in = None;
                self.data[start] ^= 1;
            }
        }
        Ok(())
    }
}

/// The test image format's magic.
pub const TEST_MAGIC: u32 = 0x7E57_1A6E;

/// A test image: a 16-byte header (magic, total size, security counter, checksum),
/// padding to the header size, then random bytes. The checksum (FNV-1a) covers
/// everything after the header fields, so any corruption is caught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestImage {
    bytes: Vec<u8>,
}

impl TestImage {
    /// An image of `size` bytes (header included) with random contents from `seed`.
    pub fn new(seed: u64, size: usize, header_size: usize, security_counter: u32) -> Self {
        assert!(size >= header_size && header_size >= 16);
        let mut bytes = vec![0; size];
        Rng::new(seed).fill(&mut bytes[header_size..]);
        bytes[0..4].copy_from_slice(&TEST_MAGIC.to_le_bytes());
        bytes[4..8].copy_from_slice(&(size as u32).to_le_bytes());
        bytes[8..12].copy_from_slice(&security_counter.to_le_bytes());
        let sum = checksum(&bytes[..12], &bytes[16..]);
        bytes[12..16].copy_from_slice(&sum.to_le_bytes());
        Self { bytes }
    }

    /// The image's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The image's size.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for an empty image (never: images have a header).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A copy with one bit flipped at `offset`: its checksum no longer matches.
    pub fn corrupted(&self, offset: usize) -> Self {
        let mut bytes = self.bytes.clone();
        bytes[offset] ^= 0x10;
        Self { bytes }
    }
}

/// FNV-1a over the header fields and the rest of the image.
fn checksum(fields: &[u8], rest: &[u8]) -> u32 {
    let mut hash = 0x811C_9DC5u32;
    for &byte in fields.iter().chain(rest) {
        hash = (hash ^ byte as u32).wrapping_mul(0x0100_0193);
    }
    hash
}

/// Validates [`TestImage`]s, counting the calls.
#[derive(Debug, Clone, Default)]
pub struct TestValidator {
    /// How many images were validated.
    pub calls: u32,
}

impl ImageValidator for TestValidator {
    fn validate<F: ReadNorFlash>(&mut self, image: &mut SlotReader<'_, F>) -> Result<ImageInfo, Rejection> {
        self.calls += 1;
        let mut header = [0u8; 16];
        image.read(0, &mut header).map_err(|_| Rejection::NoImage)?;
        let word = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        if word(0) != TEST_MAGIC {
            return Err(Rejection::NoImage);
        }
        let (size, counter, expected) = (word(4), word(8), word(12));
        if size < 16 {
            return Err(Rejection::Malformed);
        }
        if size > image.len() {
            return Err(Rejection::TooLarge { size });
        }
        let mut hash = checksum(&header[..12], &[]);
        let mut chunk = [0u8; 256];
        let mut at = 16;
        while at < size {
            let len = (size - at).min(chunk.len() as u32) as usize;
            image.read(at, &mut chunk[..len]).map_err(|_| Rejection::Malformed)?;
            for &byte in &chunk[..len] {
                hash = (hash ^ byte as u32).wrapping_mul(0x0100_0193);
            }
            at += len as u32;
        }
        if hash != expected {
            return Err(Rejection::HashMismatch);
        }
        Ok(ImageInfo::new(size, counter))
    }
}

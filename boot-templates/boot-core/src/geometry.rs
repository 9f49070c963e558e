//! Flash geometry: erase sectors, erased value, address ranges.

use core::fmt;

/// A run of `count` consecutive erase sectors of `size` bytes each.
///
/// An STM32F4 bank is `[16 KiB × 4, 64 KiB × 1, 128 KiB × 7]`; uniform flash is one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectorRun {
    /// Size of each sector in bytes.
    pub size: u32,
    /// How many sectors of that size follow each other.
    pub count: u32,
}

/// What an erased flash byte reads as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Erased {
    /// `0xFF`: most NOR flash.
    #[default]
    Ones,
    /// `0x00`: STM32L0 and STM32L1 data and program flash.
    Zeros,
}

impl Erased {
    /// The value of an erased byte.
    pub const fn byte(self) -> u8 {
        match self {
            Erased::Ones => 0xFF,
            Erased::Zeros => 0x00,
        }
    }

    /// The value of a byte with every bit programmed (the opposite of [`Erased::byte`]).
    pub const fn programmed(self) -> u8 {
        !self.byte()
    }

    /// The erased state for an erased byte value, if it is `0xFF` or `0x00`.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0xFF => Some(Erased::Ones),
            0x00 => Some(Erased::Zeros),
            _ => None,
        }
    }

    /// True if every byte of `bytes` reads as erased.
    pub fn is_erased(self, bytes: &[u8]) -> bool {
        let value = self.byte();
        bytes.iter().all(|&b| b == value)
    }
}

/// A contiguous range of flash addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Address of the first byte.
    pub start: u32,
    /// Length in bytes.
    pub size: u32,
}

impl Region {
    /// The region of `size` bytes at `start`.
    pub const fn new(start: u32, size: u32) -> Self {
        Self { start, size }
    }

    /// The address one past the last byte (computed in 64 bits, so it cannot overflow).
    pub const fn end(&self) -> u64 {
        self.start as u64 + self.size as u64
    }

    /// True if the two regions share at least one byte.
    pub const fn overlaps(&self, other: &Region) -> bool {
        (self.start as u64) < other.end() && (other.start as u64) < self.end() && self.size > 0 && other.size > 0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{} ({})", Addr(self.start as u64), Addr(self.end()), Size(self.size))
    }
}

/// One erase sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sector {
    /// Address of its first byte.
    pub start: u32,
    /// Size in bytes.
    pub size: u32,
}

impl Sector {
    /// The address one past its last byte.
    pub const fn end(&self) -> u64 {
        self.start as u64 + self.size as u64
    }
}

/// A flash device's erase layout: the sectors from `base` upwards and the erased value.
///
/// `base` is the address of the device's offset 0: the `NorFlash` driver handed to the
/// boot core must address the whole device, so that a flash offset is `address - base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry<'a> {
    /// Address of the first sector (and of `NorFlash` offset 0).
    pub base: u32,
    /// The sectors from `base` upwards, as runs of equal sizes.
    pub sectors: &'a [SectorRun],
    /// What an erased byte reads as.
    pub erased: Erased,
}

impl<'a> Geometry<'a> {
    /// The address one past the last sector.
    pub const fn end(&self) -> u64 {
        let mut end = self.base as u64;
        let mut i = 0;
        while i < self.sectors.len() {
            end += self.sectors[i].size as u64 * self.sectors[i].count as u64;
            i += 1;
        }
        end
    }

    /// The sector that contains `address`, if any.
    ///
    /// Only 32-bit addresses can be in a sector ([`Sector::start`] is a `u32`), so the
    /// arithmetic below the range checks is 32-bit: no 64-bit division on 32-bit cores.
    pub const fn sector_at(&self, address: u64) -> Option<Sector> {
        if address > u32::MAX as u64 {
            return None;
        }
        let mut start = self.base as u64;
        let mut i = 0;
        while i < self.sectors.len() {
            let run = self.sectors[i];
            let span = run.size as u64 * run.count as u64;
            if address >= start && address < start + span && run.size > 0 {
                // start <= address <= u32::MAX, so both fit in 32 bits.
                let start = start as u32;
                let index = (address as u32 - start) / run.size;
                return Some(Sector { start: start + index * run.size, size: run.size });
            }
            start += span;
            i += 1;
        }
        None
    }

    /// True if `address` is the first byte of a sector or the end of the flash.
    pub const fn is_boundary(&self, address: u64) -> bool {
        if address == self.end() {
            return true;
        }
        match self.sector_at(address) {
            Some(sector) => sector.start as u64 == address,
            None => false,
        }
    }

    /// The largest sector in `region` (0 if the region holds no sector).
    pub const fn largest_sector_in(&self, region: &Region) -> u32 {
        let mut largest = 0;
        let mut address = region.start as u64;
        while address < region.end() {
            match self.sector_at(address) {
                Some(sector) => {
                    if sector.size > largest {
                        largest = sector.size;
                    }
                    address = sector.end();
                }
                None => return largest,
            }
        }
        largest
    }
}

/// Formats an address as `0x0800_0000`-style hex (8 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr(pub u64);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// Formats a byte count as `128 KiB`, `1 MiB` or `300 bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u32);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
            write!(f, "{} MiB", bytes >> 20)
        } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
            write!(f, "{} KiB", bytes >> 10)
        } else {
            write!(f, "{bytes} bytes")
        }
    }
}

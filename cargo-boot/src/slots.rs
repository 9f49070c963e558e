//! Placing the secure template's update slots in the flash after the bootloader.
//!
//! The rules themselves live in `boot_core::SlotLayout` (the bootloader checks the same
//! layout with the same code): the secondary slot is the primary slot plus one swap
//! unit, and the state area is two equal halves of whole sectors. This module only
//! searches for the placement that gives the app the largest primary slot.

use boot_core::{Erased, Geometry, LayoutRequest, Region as CoreRegion, SectorRun, SlotLayout};

use crate::board::Board;
use crate::layout::{LayoutError, Region, Slots};

/// Bytes kept free at the end of the primary slot for the image's TLVs (hash, key
/// hash, signature, security counter, vendor and class UUIDs).
pub const TLV_RESERVE: u32 = 0x400;

/// Boards with more sector boundaries than this after the bootloader must have
/// uniform sectors there (the search is exhaustive otherwise).
const MAX_SEARCH_BOUNDARIES: usize = 64;

/// Places primary, secondary and state after `start`, with a primary of `slot_size`
/// bytes if given, else the largest that fits.
pub fn place(board: &Board, start: u32, header_size: u32, slot_size: Option<u32>) -> Result<Slots, LayoutError> {
    let runs: Vec<SectorRun> = board.flash.sectors.iter().map(|r| SectorRun { size: r.size, count: r.count }).collect();
    let erased = if board.flash.erased_value == 0 { Erased::Zeros } else { Erased::Ones };
    let geometry = Geometry { base: board.flash.base, sectors: &runs, erased };
    let sizes: Vec<u32> = board.sectors().filter(|s| s.start >= start).map(|s| s.size).collect();
    let uniform = sizes.windows(2).all(|w| w[0] == w[1]);
    let candidates = if uniform {
        uniform_candidates(board, start, sizes.first().copied().unwrap_or(0), slot_size)
    } else {
        searched_candidates(board, start, slot_size)?
    };
    let mut first_error = None;
    for (primary, secondary, state) in candidates {
        let request = LayoutRequest { primary, secondary, state, header_size, write_size: board.flash.write_size };
        match SlotLayout::new(&geometry, &request) {
            Ok(layout) => return Ok(slots_of(&layout)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(LayoutError::NoSlots {
        board: board.name.clone(),
        detail: first_error
            .map_or_else(|| "the flash after the bootloader is too small".to_string(), |e| e.to_string()),
    })
}

fn slots_of(layout: &SlotLayout) -> Slots {
    let region = |r: CoreRegion| Region { start: r.start, end: r.start + r.size };
    Slots {
        primary: region(layout.primary()),
        secondary: region(layout.secondary()),
        state: region(layout.state()),
        max_image_size: layout.max_image_size().saturating_sub(TLV_RESERVE),
    }
}

type Candidate = (CoreRegion, CoreRegion, CoreRegion);

/// Uniform sectors: primary, then secondary (one sector larger), then the state area,
/// largest primary first.
fn uniform_candidates(board: &Board, start: u32, sector: u32, slot_size: Option<u32>) -> Vec<Candidate> {
    if sector == 0 {
        return vec![];
    }
    let room = board.flash_end() - start;
    let max_units = (room / sector).saturating_sub(1) / 2;
    let units: Vec<u32> = match slot_size {
        Some(size) => vec![size.div_ceil(sector)],
        None => (1..=max_units).rev().collect(),
    };
    let mut out = Vec::new();
    for u in units {
        let state_half = state_sectors(board, u) * sector;
        let primary = CoreRegion::new(start, u * sector);
        let secondary = CoreRegion::new(start + u * sector, (u + 1) * sector);
        let used = (2 * u + 1) as u64 * sector as u64 + 2 * state_half as u64;
        if used <= room as u64 {
            let state = CoreRegion::new(secondary.start + secondary.size, 2 * state_half);
            out.push((CoreRegion::new(primary.start, slot_size.unwrap_or(primary.size)), secondary, state));
            if slot_size.is_none() {
                break;
            }
        }
    }
    if let (Some(size), true) = (slot_size, out.is_empty()) {
        // Too big to fit: let SlotLayout say so with its own numbers.
        out.push((CoreRegion::new(start, size), CoreRegion::new(start + size, size + sector), CoreRegion::new(0, 0)));
    }
    out
}

/// Sectors per state half for `units` swap units (boot-core's formula, checked by SlotLayout).
fn state_sectors(board: &Board, units: u32) -> u32 {
    let sector = board.sectors().last().map_or(1, |s| s.size);
    (224 + 2 * board.flash.write_size * units).div_ceil(sector).max(1)
}

/// Mixed sectors: every placement on sector boundaries, largest primary first.
fn searched_candidates(board: &Board, start: u32, slot_size: Option<u32>) -> Result<Vec<Candidate>, LayoutError> {
    let bounds: Vec<u32> =
        board.sectors().map(|s| s.start).chain([board.flash_end()]).filter(|&a| a >= start).collect();
    if bounds.len() > MAX_SEARCH_BOUNDARIES {
        return Err(LayoutError::NoSlots {
            board: board.name.clone(),
            detail: "its sectors after the bootloader are not uniform and too many to search: set slot_size".into(),
        });
    }
    let mut out = Vec::new();
    for &p_end in bounds.iter().rev().filter(|&&e| e > start) {
        let p_size = p_end - start;
        if slot_size.is_some_and(|s| s != p_size) {
            continue;
        }
        for (s_start, s_end) in pairs(&bounds, p_end) {
            for (t_start, t_end) in pairs(&bounds, p_end) {
                let disjoint = t_end <= s_start || t_start >= s_end;
                if disjoint && s_end - s_start > p_size {
                    out.push((
                        CoreRegion::new(start, p_size),
                        CoreRegion::new(s_start, s_end - s_start),
                        CoreRegion::new(t_start, t_end - t_start),
                    ));
                }
            }
        }
    }
    // Largest primary first; then the smallest secondary and state.
    out.sort_by_key(|(p, s, t)| (std::cmp::Reverse(p.size), s.size, t.size));
    Ok(out)
}

/// Every (start, end) pair of boundaries at or after `from`.
fn pairs(bounds: &[u32], from: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
    bounds
        .iter()
        .filter(move |&&a| a >= from)
        .flat_map(move |&a| bounds.iter().filter(move |&&b| b > a).map(move |&b| (a, b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::BoardDatabase;

    fn board(name: &str) -> Board {
        BoardDatabase::bundled().get(name).unwrap().clone()
    }

    #[test]
    fn odin_w2_puts_the_state_in_bank_two_small_sectors() {
        let odin = board("odin-w2");
        let slots = place(&odin, 0x0804_0000, 0x200, None).unwrap();
        assert_eq!(slots.primary, Region { start: 0x0804_0000, end: 0x0810_0000 }, "sectors 6-11");
        assert_eq!(slots.secondary.end - slots.secondary.start, 0xE_0000, "primary + one 128 KiB unit");
        assert!(slots.state.start >= 0x0810_0000 && slots.state.end <= 0x0812_0000, "{slots:?}");
    }

    #[test]
    fn the_virtual_board_gets_a_secondary_one_sector_larger() {
        let qemu = board("qemu-an386");
        let slots = place(&qemu, 0x1_0000, 0x200, None).unwrap();
        let primary = slots.primary.end - slots.primary.start;
        assert_eq!(slots.secondary.end - slots.secondary.start, primary + 0x1000);
        assert!(slots.state.end <= 0x40_0000);
        assert_eq!(slots.max_image_size, primary - TLV_RESERVE);
        let fixed = place(&qemu, 0x1_0000, 0x200, Some(0x2_0000)).unwrap();
        assert_eq!(fixed.primary, Region { start: 0x1_0000, end: 0x3_0000 });
    }

    #[test]
    fn every_seed_board_gets_slots() {
        for name in ["odin-w2", "nucleo-f429zi", "frdm-k64f", "xdot", "qemu-an385"] {
            let b = board(name);
            let start = b.flash.base + b.default_restrict_size;
            place(&b, start, 0x200, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_slot_size_that_does_not_fit_is_refused_with_boot_cores_reason() {
        let err = place(&board("qemu-an386"), 0x1_0000, 0x200, Some(0x30_0000)).unwrap_err().to_string();
        assert!(err.starts_with("no room for the update slots on qemu-an386"), "{err}");
    }
}

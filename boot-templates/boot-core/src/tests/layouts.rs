//! Layout checks: derived numbers, and every error's message.

use std::string::ToString;

use super::rig::{Board, MIXED, PAGES_256, STM32F4, STM32F4_SCALED, UNIFORM_4K};
use crate::{Edge, Erased, Geometry, LayoutError, LayoutRequest, Region, RegionName, Sector, SectorRun, SlotLayout};

const KIB: u32 = 1024;

fn check(board: &Board, change: impl FnOnce(&mut LayoutRequest)) -> Result<SlotLayout, LayoutError> {
    let mut request = board.request(4);
    change(&mut request);
    let geometry = board.geometry(Erased::Ones);
    let result = SlotLayout::new(&geometry, &request);
    // The bootloader's check, without suggestions, decides the same.
    assert_eq!(SlotLayout::check(&geometry, &request), result.ok(), "{}", board.name);
    result
}

fn error(board: &Board, change: impl FnOnce(&mut LayoutRequest)) -> (LayoutError, std::string::String) {
    let error = check(board, change).unwrap_err();
    let message = error.to_string();
    (error, message)
}

#[test]
fn derived_numbers_for_uniform_flash() {
    let layout = UNIFORM_4K.layout(Erased::Ones, 4);
    assert_eq!(layout.unit_size(), 4 * KIB);
    assert_eq!(layout.units(), 16);
    assert_eq!(layout.max_image_size(), 64 * KIB);
    assert_eq!(layout.max_app_size(), 64 * KIB - 0x200);
    assert_eq!(layout.app_start(), 32 * KIB + 0x200);
    assert_eq!(layout.state_page_size(), 4 * KIB);
    // 14 records of 16 bytes, two 4-byte words per unit.
    assert_eq!(layout.required_state_page_size(), 14 * 16 + 2 * 16 * 4);
    assert_eq!(layout.units_for(1), 1);
    assert_eq!(layout.units_for(4 * KIB + 1), 2);
    assert_eq!(layout.units_for(u32::MAX), 16);
    assert_eq!(layout.erases_per_swap(13), 27);
    let area = layout.state_area();
    assert_eq!((area.offset, area.page_size), (16 * KIB, 4 * KIB));
}

#[test]
fn derived_numbers_for_the_stm32f4_map() {
    let layout = STM32F4.layout(Erased::Ones, 4);
    assert_eq!(layout.unit_size(), 128 * KIB);
    assert_eq!(layout.units(), 3);
    assert_eq!(layout.flash_base(), 0x0800_0000);
    assert_eq!(layout.offset(0x0802_0000), 0x2_0000);
    assert_eq!(layout.state_page_size(), 16 * KIB);
    let scaled = STM32F4_SCALED.layout(Erased::Zeros, 8);
    assert_eq!((scaled.unit_size(), scaled.units()), (2 * KIB, 6));
}

#[test]
fn units_span_several_small_sectors() {
    let layout = MIXED.layout(Erased::Ones, 16);
    assert_eq!(layout.unit_size(), 16 * KIB);
    assert_eq!(layout.units(), 4);
    let pages = PAGES_256.layout(Erased::Zeros, 4);
    assert_eq!((pages.unit_size(), pages.units(), pages.state_page_size()), (256, 128, 1280));
}

#[test]
fn layouts_are_checked_at_compile_time() {
    const SECTORS: &[SectorRun] = &[SectorRun { size: 4096, count: 64 }];
    const LAYOUT: SlotLayout = match SlotLayout::new(
        &Geometry { base: 0, sectors: SECTORS, erased: Erased::Ones },
        &LayoutRequest {
            primary: Region::new(0x8000, 0x1_0000),
            secondary: Region::new(0x1_8000, 0x1_1000),
            state: Region::new(0x4000, 0x2000),
            header_size: 0x200,
            write_size: 4,
        },
    ) {
        Ok(layout) => layout,
        Err(_) => panic!("invalid layout"),
    };
    assert_eq!(LAYOUT.units(), 16);
}

#[test]
fn a_slot_end_inside_a_sector_names_the_nearest_boundaries() {
    let (error, message) = error(&STM32F4, |r| r.primary = Region::new(0x0801_0000, 3 * 128 * KIB));
    assert_eq!(
        error,
        LayoutError::NotSectorAligned {
            region: RegionName::Primary,
            edge: Edge::End,
            address: 0x0807_0000,
            below: 0x0806_0000,
            above: 0x0808_0000
        }
    );
    assert_eq!(
        message,
        "the primary slot ends at 0x08070000, inside a sector: the nearest sector boundaries are 0x08060000 and \
         0x08080000"
    );
}

#[test]
fn a_slot_over_mixed_sectors_names_where_it_would_fit() {
    let (_, message) = error(&STM32F4, |r| r.primary = Region::new(0x0801_0000, 64 * KIB + 2 * 128 * KIB));
    assert_eq!(
        message,
        "the primary slot cannot be cut into whole 128 KiB swap units (the largest sector in either slot): the unit \
         boundary at 0x08030000 falls inside the 128 KiB sector at 0x08020000; start the primary slot at 0x08020000 \
         instead"
    );
}

#[test]
fn a_slot_of_partial_units_names_the_sizes_around_it() {
    let (error, message) = error(&MIXED, |r| r.primary = Region::new(16 * KIB, 60 * KIB));
    assert_eq!(error, LayoutError::NotWholeUnits { region: RegionName::Primary, size: 60 * KIB, unit: 16 * KIB });
    assert_eq!(
        message,
        "the primary slot is 60 KiB, not a whole number of 16 KiB swap units: make it 48 KiB or 64 KiB"
    );
}

#[test]
fn the_secondary_slot_needs_one_spare_unit() {
    let (_, message) = error(&STM32F4, |r| r.secondary = Region::new(0x0812_0000, 3 * 128 * KIB));
    assert_eq!(
        message,
        "the secondary slot is 384 KiB but must be at least 524288 bytes (0x80000): the primary slot's size plus one \
         128 KiB swap unit, the room the swap needs to move the old image aside"
    );
}

#[test]
fn a_state_area_that_does_not_halve_suggests_a_size() {
    let (_, message) = error(&STM32F4, |r| r.state = Region::new(0x0800_8000, 96 * KIB));
    assert_eq!(
        message,
        "the state area (0x08008000..0x08020000 (96 KiB)) must be two equal halves of whole sectors, but its middle \
         0x08014000 is not a sector boundary: make the state area 32 KiB (0x8000 bytes)"
    );
}

#[test]
fn a_small_state_area_suggests_a_size() {
    let (error, message) = error(&PAGES_256, |r| r.state = Region::new(0x0800_1000, 512));
    assert_eq!(
        error,
        LayoutError::StateTooSmall { page_size: 256, required: 1248, units: 128, suggested_size: Some(2560) }
    );
    assert_eq!(
        message,
        "each half of the state area is 256 bytes but must be at least 1248 bytes to record the swap of 128 units: \
         make the state area 2560 bytes (0xa00 bytes)"
    );
}

#[test]
fn overlaps_outside_and_empty_regions_are_refused() {
    let (_, message) = error(&UNIFORM_4K, |r| r.state = Region::new(60 * KIB, 8 * KIB));
    assert_eq!(message, "the primary slot and the state area overlap");
    let (_, message) = error(&UNIFORM_4K, |r| r.secondary = Region::new(200 * KIB, 68 * KIB));
    assert_eq!(
        message,
        "the secondary slot (0x00032000..0x00043000 (68 KiB)) is not inside the flash (0x00000000..0x00040000)"
    );
    let (_, message) = error(&UNIFORM_4K, |r| r.state.size = 0);
    assert_eq!(message, "the state area is empty: give it a size");
    let (_, message) = error(&UNIFORM_4K, |r| r.header_size = 64 * KIB);
    assert_eq!(message, "the 65536-byte image header leaves no room for the app in the 64 KiB primary slot");
}

#[test]
fn write_sizes_and_sector_maps_are_checked() {
    let (_, message) = error(&UNIFORM_4K, |r| r.write_size = 3);
    assert_eq!(message, "a flash write size of 3 bytes is not supported: it must be a power of two from 1 to 32 bytes");
    let empty = Geometry { base: 0, sectors: &[], erased: Erased::Ones };
    let error = SlotLayout::new(&empty, &UNIFORM_4K.request(4)).unwrap_err();
    assert_eq!(error, LayoutError::SectorMap { run: 0 });
    assert!(error.to_string().starts_with("the flash sector map is unusable at run 0"), "{error}");
    let tiny = Geometry { base: 0, sectors: &[SectorRun { size: 8, count: 1 << 16 }], erased: Erased::Ones };
    let error = SlotLayout::new(&tiny, &UNIFORM_4K.request(4)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the primary slot holds a sector of 8 bytes at 0x00008000, but sectors used by the boot core must be \
         multiples of 16 bytes"
    );
}

#[test]
fn the_quiet_check_accepts_and_refuses_what_new_does() {
    for board in [UNIFORM_4K, STM32F4, STM32F4_SCALED, MIXED, PAGES_256] {
        for write_size in [1, 4, 8, 16, 32] {
            let (geometry, request) = (board.geometry(Erased::Ones), board.request(write_size));
            let checked = SlotLayout::check(&geometry, &request);
            assert_eq!(checked, SlotLayout::new(&geometry, &request).ok(), "{} {write_size}", board.name);
        }
    }
    // Each kind of error, from the tests above, is refused by `check` too (the `check`
    // helper compares them); and a layout that needs the suggestion search is refused
    // without running it.
    let mut request = STM32F4.request(4);
    request.primary = Region::new(0x0801_0000, 64 * KIB + 2 * 128 * KIB);
    assert_eq!(SlotLayout::check(&STM32F4.geometry(Erased::Ones), &request), None);
    const CHECKED: Option<SlotLayout> = SlotLayout::check(
        &Geometry { base: 0, sectors: UNIFORM_4K.sectors, erased: Erased::Ones },
        &LayoutRequest {
            primary: Region::new(32 * KIB, 64 * KIB),
            secondary: Region::new(96 * KIB, 68 * KIB),
            state: Region::new(16 * KIB, 8 * KIB),
            header_size: 0x200,
            write_size: 4,
        },
    );
    assert_eq!(CHECKED.map(|layout| layout.units()), Some(16));
}

#[test]
fn sectors_reach_the_top_of_the_address_space_and_no_further() {
    // 1 MiB of 4 KiB sectors ending at 2^32, then a map that would go past it.
    let top = Geometry { base: 0xFFF0_0000, sectors: &[SectorRun { size: 4 * KIB, count: 256 }], erased: Erased::Ones };
    assert_eq!(top.end(), 1 << 32);
    assert_eq!(top.sector_at(0xFFFF_FFFF), Some(Sector { start: 0xFFFF_F000, size: 4 * KIB }));
    assert_eq!(top.sector_at(0xFFF0_1234), Some(Sector { start: 0xFFF0_1000, size: 4 * KIB }));
    assert_eq!(top.sector_at(1 << 32), None);
    assert_eq!(top.sector_at(u64::MAX), None);
    assert!(top.is_boundary(1 << 32));
    assert_eq!(top.largest_sector_in(&Region::new(0xFFFF_0000, 0x1_0000)), 4 * KIB);
    let request = LayoutRequest {
        primary: Region::new(0xFFF8_0000, 0x3_0000),
        secondary: Region::new(0xFFFB_0000, 0x3_1000),
        state: Region::new(0xFFF0_0000, 0x2000),
        header_size: 0x200,
        write_size: 4,
    };
    let layout = SlotLayout::new(&top, &request).unwrap();
    assert_eq!((layout.unit_size(), layout.units()), (4 * KIB, 48));
    assert_eq!(SlotLayout::check(&top, &request), Some(layout));
    // A slot that ends exactly at 2^32 is inside the flash.
    let at_end = LayoutRequest { secondary: Region::new(0xFFFC_F000, 0x3_1000), ..request };
    assert!(SlotLayout::new(&top, &at_end).is_ok());
    let past =
        Geometry { base: 0xFFF0_0000, sectors: &[SectorRun { size: 4 * KIB, count: 257 }], erased: Erased::Ones };
    assert_eq!(SlotLayout::new(&past, &request).unwrap_err(), LayoutError::SectorMap { run: 0 });
    assert_eq!(SlotLayout::check(&past, &request), None);
    // Mixed sizes: the unit boundary arithmetic is 32-bit and exact up there too.
    let mixed = Geometry {
        base: 0xFFF0_0000,
        sectors: &[SectorRun { size: 16 * KIB, count: 32 }, SectorRun { size: 64 * KIB, count: 8 }],
        erased: Erased::Ones,
    };
    let straddling = LayoutRequest {
        primary: Region::new(0xFFF4_0000, 0x4_0000),
        secondary: Region::new(0xFFF8_0000, 0x5_0000),
        state: Region::new(0xFFF0_0000, 0x8000),
        header_size: 0x200,
        write_size: 4,
    };
    let layout = SlotLayout::new(&mixed, &straddling).unwrap();
    assert_eq!((layout.unit_size(), layout.units()), (64 * KIB, 4));
}

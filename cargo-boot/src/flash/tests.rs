//! Flash plans for every bundled board, probe-rs dry runs against the real chip
//! descriptions, the probe errors, and the virtual boards' flash files.

use std::path::{Path, PathBuf};

use probe_rs::integration::{FakeProbe, ProbeLister};
use probe_rs::probe::list::{Accessibility, Lister, ProbeListItem};
use probe_rs::probe::{DebugProbe, DebugProbeError, DebugProbeInfo, DebugProbeSelector, Probe, ProbeFactory};

use super::*;
use crate::board::{Board, BoardDatabase};
use crate::layout::{Layout, Region, Slots};

fn board(name: &str) -> Board {
    BoardDatabase::bundled().get(name).unwrap().clone()
}

/// The layout of a minimal-template project on `board` with `restrict_size`.
/// A minimal-template layout (no slots): the app right after the bootloader.
fn layout(board: &Board, restrict_size: u32) -> Layout {
    let package = serde_json::json!({ "boot": {
        "board": board.name, "restrict_size": format!("{restrict_size:#x}"), "template": "minimal" } });
    let meta =
        crate::metadata::read(&package, &serde_json::Value::Null, Path::new("/p/Cargo.toml"), Path::new("/p")).unwrap();
    Layout::new(board, &meta).unwrap()
}

/// An ODIN-W2 secure layout: bootloader 128 KiB, primary = the rest of bank 1,
/// swap state = the first 128 KiB of bank 2, secondary = the rest of bank 2.
fn secure_odin_layout() -> Layout {
    let odin = board("odin-w2");
    let mut l = layout(&odin, 0x2_0000);
    let primary = Region { start: 0x0802_0000, end: 0x0810_0000 };
    l.app_region = primary;
    l.slots = Some(Slots {
        primary,
        state: Region { start: 0x0810_0000, end: 0x0812_0000 },
        secondary: Region { start: 0x0812_0000, end: 0x0820_0000 },
        max_image_size: primary.size() - 0x1000,
    });
    l
}

/// Writes a combined image (bootloader of `bl` bytes padded to the app region, then an
/// app of `app` bytes) and the app image, as `cargo boot build` does.
fn built(dir: &Path, layout: &Layout, bl: usize, app: usize) -> BuiltImages {
    let images = BuiltImages::in_dir(dir, "fw");
    let app_offset = (layout.app_region.start - layout.flash.start) as usize;
    let mut combined = vec![0xB1; bl];
    combined.resize(app_offset, layout.erased_value);
    combined.extend(std::iter::repeat_n(0xA9, app));
    std::fs::write(&images.combined, &combined).unwrap();
    std::fs::write(&images.application, &combined[app_offset..]).unwrap();
    images
}

fn plan(board: &Board, layout: &Layout, targets: &[ProgramTarget]) -> (tempfile::TempDir, FlashPlan) {
    let dir = tempfile::tempdir().unwrap();
    let images = built(dir.path(), layout, 1000, 1200);
    let plan = FlashPlan::new(board, layout, &images, targets).unwrap();
    (dir, plan)
}

fn spans(plan: &FlashPlan) -> Vec<(ChunkKind, u32, usize, Region, usize)> {
    plan.chunks.iter().map(|c| (c.image.kind, c.image.address, c.image.data.len(), c.erases, c.sectors)).collect()
}

fn region(start: u32, end: u32) -> Region {
    Region { start, end }
}

// --- Plans for the seed boards.

#[test]
fn odin_w2_combined_image_goes_to_flash_base_and_erases_whole_sectors() {
    let odin = board("odin-w2");
    let l = layout(&odin, 0x4_0000);
    let (_dir, plan) = plan(&odin, &l, &[ProgramTarget::Combined]);
    // 0x40000 + 1200 bytes end in sector 6 (128 KiB at 0x08040000): sectors 0-6 are erased.
    assert_eq!(
        spans(&plan),
        [(ChunkKind::Combined, 0x0800_0000, 0x4_0000 + 1200, region(0x0800_0000, 0x0806_0000), 7)]
    );
    assert_eq!(plan.flash, region(0x0800_0000, 0x0820_0000));
}

#[test]
fn odin_w2_app_only_goes_to_the_app_region_and_keeps_the_bootloader() {
    let odin = board("odin-w2");
    let l = layout(&odin, 0x4_0000);
    let (_dir, plan) = plan(&odin, &l, &[ProgramTarget::App]);
    assert_eq!(spans(&plan), [(ChunkKind::App, 0x0804_0000, 1200, region(0x0804_0000, 0x0806_0000), 1)]);
    assert!(plan.chunks[0].erases.start >= l.bootloader.end, "nothing of the bootloader region is erased");
}

#[test]
fn bootloader_only_is_the_bootloader_without_its_padding() {
    let odin = board("odin-w2");
    let l = layout(&odin, 0x4_0000);
    let (_dir, plan) = plan(&odin, &l, &[ProgramTarget::Bootloader]);
    assert_eq!(spans(&plan), [(ChunkKind::Bootloader, 0x0800_0000, 1000, region(0x0800_0000, 0x0800_4000), 1)]);
}

#[test]
fn images_are_ordered_by_address_whatever_order_they_are_asked_in() {
    let nucleo = board("nucleo-f429zi");
    let l = layout(&nucleo, 0x4_0000);
    let (_dir, plan) = plan(&nucleo, &l, &[ProgramTarget::App, ProgramTarget::Bootloader]);
    let kinds: Vec<_> = plan.chunks.iter().map(|c| (c.image.kind, c.image.address)).collect();
    assert_eq!(kinds, [(ChunkKind::Bootloader, 0x0800_0000), (ChunkKind::App, 0x0804_0000)]);
    assert_eq!(plan.bytes(), 2200);
}

#[test]
fn xdot_plans_use_256_byte_sectors_and_trim_zero_padding() {
    let xdot = board("xdot");
    let l = layout(&xdot, 0x8000);
    let (_dir, plan) = plan(&xdot, &l, &[ProgramTarget::Bootloader, ProgramTarget::App]);
    // 1000 bytes = 4 sectors of 256; 1200 bytes = 5 sectors.
    assert_eq!(
        spans(&plan),
        [
            (ChunkKind::Bootloader, 0x0800_0000, 1000, region(0x0800_0000, 0x0800_0400), 4),
            (ChunkKind::App, 0x0800_8000, 1200, region(0x0800_8000, 0x0800_8500), 5),
        ]
    );
    assert_eq!(plan.erased_value, 0x00);
}

#[test]
fn frdm_k64f_plans_start_at_address_zero() {
    let k64 = board("frdm-k64f");
    let l = layout(&k64, 0x8000);
    let (_dir, plan) = plan(&k64, &l, &[ProgramTarget::Combined]);
    assert_eq!(spans(&plan), [(ChunkKind::Combined, 0, 0x8000 + 1200, region(0, 0x9000), 9)]);
    let (_dir, plan) = plan_app(&k64, &l);
    assert_eq!(spans(&plan), [(ChunkKind::App, 0x8000, 1200, region(0x8000, 0x9000), 1)]);
}

fn plan_app(board: &Board, layout: &Layout) -> (tempfile::TempDir, FlashPlan) {
    plan(board, layout, &[ProgramTarget::App])
}

#[test]
fn virtual_boards_plan_like_real_ones() {
    for name in ["qemu-an385", "qemu-an386"] {
        let qemu = board(name);
        let l = layout(&qemu, 0x1_0000);
        let (_dir, plan) = plan(&qemu, &l, &[ProgramTarget::Combined]);
        assert_eq!(spans(&plan), [(ChunkKind::Combined, 0, 0x1_0000 + 1200, region(0, 0x1_1000), 17)], "{name}");
    }
}

// --- Plan errors.

#[test]
fn an_app_that_starts_mid_sector_is_refused_because_it_would_erase_the_bootloader() {
    let odin = board("odin-w2");
    let mut l = layout(&odin, 0x4_0000);
    l.app_region.start = 0x0803_0000;
    let dir = tempfile::tempdir().unwrap();
    let images = built(dir.path(), &l, 1000, 1200);
    let err = FlashPlan::new(&odin, &l, &images, &[ProgramTarget::App]).unwrap_err().to_string();
    assert_eq!(
        err,
        "the app image would start at 0x08030000, inside the sector 0x08020000-0x0803ffff: flash is erased a whole \
         sector at a time, so programming it would also erase 0x08020000-0x0802ffff, which is not part of the app \
         image. Put the app region on a sector boundary with restrict_size or app_offset (`cargo boot boards <board>` \
         prints the sector map)"
    );
}

fn image(kind: ChunkKind, address: u32, len: usize, region: Region) -> Image {
    let region = NamedRegion { name: "app region", region };
    Image { kind, source: PathBuf::from("fw.bin"), address, data: vec![0x5A; len], region }
}

#[test]
fn an_image_past_the_end_of_flash_says_how_big_and_where() {
    let odin = board("odin-w2");
    let img = image(ChunkKind::App, 0x0804_0000, 0x1C_0001, region(0x0804_0000, 0x0830_0000));
    let err = FlashPlan::check(&odin, vec![img]).unwrap_err().to_string();
    assert!(
        err.starts_with("image of 1835009 bytes at 0x08040000 does not fit the chip's flash ending at 0x08200000"),
        "{err}"
    );
    assert!(err.contains("over by 1 bytes"), "{err}");
    let below = image(ChunkKind::App, 0x07FF_F000, 16, region(0, 0x0820_0000));
    let err = FlashPlan::check(&odin, vec![below]).unwrap_err().to_string();
    assert!(err.contains("before the start of flash at 0x08000000"), "{err}");
}

#[test]
fn an_app_bigger_than_its_region_is_refused() {
    let odin = board("odin-w2");
    let img = image(ChunkKind::App, 0x0804_0000, 0x2_0001, region(0x0804_0000, 0x0806_0000));
    let err = FlashPlan::check(&odin, vec![img]).unwrap_err().to_string();
    assert!(err.contains("the app image is 131073 bytes (fw.bin), but the app region 0x08040000-0x0805ffff holds 131072 bytes: it is over by 1 bytes"), "{err}");
}

#[test]
fn an_image_whose_last_sector_reaches_past_its_region_is_refused() {
    let odin = board("odin-w2");
    let img = image(ChunkKind::Bootloader, 0x0800_0000, 0x5000, region(0x0800_0000, 0x0800_6000));
    let err = FlashPlan::check(&odin, vec![img]).unwrap_err().to_string();
    assert!(err.contains("ends at 0x08005000, inside the sector 0x08004000-0x08007fff, which reaches past the end of the app region at 0x08006000"), "{err}");
}

#[test]
fn images_that_share_a_sector_are_refused() {
    let odin = board("odin-w2");
    let l = layout(&odin, 0x4_0000);
    let dir = tempfile::tempdir().unwrap();
    let images = built(dir.path(), &l, 1000, 1200);
    let err =
        FlashPlan::new(&odin, &l, &images, &[ProgramTarget::App, ProgramTarget::Combined]).unwrap_err().to_string();
    assert!(err.contains("the combined (bootloader + app) image (erases 0x08000000-0x0805ffff) and the app image (erases 0x08040000-0x0805ffff) share flash"), "{err}");
}

#[test]
fn missing_and_empty_build_outputs_say_to_build() {
    let odin = board("odin-w2");
    let l = layout(&odin, 0x4_0000);
    let dir = tempfile::tempdir().unwrap();
    let images = BuiltImages::in_dir(dir.path(), "fw");
    let err = FlashPlan::new(&odin, &l, &images, &[ProgramTarget::Combined]).unwrap_err().to_string();
    assert!(err.ends_with("fw.bin does not exist: run `cargo boot build` first, or drop `--no-build` so that `cargo boot flash` builds it"), "{err}");
    std::fs::write(&images.application, b"").unwrap();
    let err = FlashPlan::new(&odin, &l, &images, &[ProgramTarget::App]).unwrap_err().to_string();
    assert!(err.contains("the app image") && err.contains("is empty"), "{err}");
}

// --- Updates.

fn signed(dir: &Path, len: usize) -> PathBuf {
    let path = dir.join("update.bin");
    let mut data = IMAGE_MAGIC.to_le_bytes().to_vec();
    data.resize(len, 0x77);
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn update_needs_the_secure_template() {
    let odin = board("odin-w2");
    let l = layout(&odin, 0x4_0000);
    let dir = tempfile::tempdir().unwrap();
    let images = built(dir.path(), &l, 1000, 1200);
    let update = signed(dir.path(), 64);
    let err = FlashPlan::new(&odin, &l, &images, &[ProgramTarget::Update(update)]).unwrap_err().to_string();
    assert!(err.starts_with("`--update` writes into the secondary slot, which only the secure template has: set `template = \"secure\"`"), "{err}");
}

#[test]
fn update_goes_into_the_secondary_slot_beside_the_app() {
    let odin = board("odin-w2");
    let l = secure_odin_layout();
    let dir = tempfile::tempdir().unwrap();
    let images = built(dir.path(), &l, 1000, 1200);
    let update = signed(dir.path(), 0x3_0000);
    let plan = FlashPlan::new(&odin, &l, &images, &[ProgramTarget::Update(update), ProgramTarget::App]).unwrap();
    assert_eq!(
        spans(&plan),
        [
            (ChunkKind::App, 0x0802_0000, 1200, region(0x0802_0000, 0x0804_0000), 1),
            (ChunkKind::StateReset, 0x0810_0000, 0x2_0000, region(0x0810_0000, 0x0812_0000), 5),
            (ChunkKind::Update, 0x0812_0000, 0x3_0000, region(0x0812_0000, 0x0816_0000), 2),
        ]
    );
}

#[test]
fn updates_go_to_the_secondary_slot_that_the_secure_layout_places() {
    for b in BoardDatabase::bundled().iter() {
        let package = serde_json::json!({ "boot": {
            "board": b.name, "restrict_size": format!("{:#x}", b.default_restrict_size), "template": "secure" } });
        let meta =
            crate::metadata::read(&package, &serde_json::Value::Null, Path::new("/p/Cargo.toml"), Path::new("/p"));
        let l = Layout::new(b, &meta.unwrap()).unwrap_or_else(|e| panic!("{}: {e}", b.name));
        let slots = l.slots.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let images = built(dir.path(), &l, 1000, 1200);
        let update = ProgramTarget::Update(signed(dir.path(), 0x800));
        let plan = FlashPlan::new(b, &l, &images, &[ProgramTarget::Combined, update]).unwrap();
        let mut addresses: Vec<_> = plan.chunks.iter().map(|c| (c.image.kind, c.image.address)).collect();
        addresses.sort_by_key(|(kind, _)| *kind as u8);
        assert_eq!(
            addresses,
            [
                (ChunkKind::Combined, l.flash.start),
                (ChunkKind::Update, slots.secondary.start),
                (ChunkKind::StateReset, slots.state.start)
            ],
            "programming the primary slot also erases the swap state"
        );
        let update = plan.chunks.iter().find(|c| c.image.kind == ChunkKind::Update).unwrap();
        assert!(update.erases.end <= slots.secondary.end, "{}", b.name);
    }
}

#[test]
fn update_errors_name_the_file_and_the_fix() {
    let odin = board("odin-w2");
    let l = secure_odin_layout();
    let dir = tempfile::tempdir().unwrap();
    let images = built(dir.path(), &l, 1000, 1200);
    let plan = |path: PathBuf| FlashPlan::new(&odin, &l, &images, &[ProgramTarget::Update(path)]);
    let err = plan(dir.path().join("nope.bin")).unwrap_err().to_string();
    assert!(err.contains("nope.bin does not exist: sign the app with `cargo boot sign`"), "{err}");
    let raw = dir.path().join("raw.bin");
    std::fs::write(&raw, [0u8; 64]).unwrap();
    let err = plan(raw).unwrap_err().to_string();
    assert!(
        err.contains("raw.bin is not a signed image (it does not start with the MCUboot magic 0x96f3b83d)"),
        "{err}"
    );
    // The secondary slot ends where flash ends: too big for one is too big for the other.
    let err = plan(signed(dir.path(), 0xE_0001)).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "image of 917505 bytes at 0x08120000 does not fit the chip's flash ending at 0x08200000 (update, "
        ),
        "{err}"
    );
    // A slot that ends before the end of flash names the slot.
    let mut l = l.clone();
    l.slots.as_mut().unwrap().secondary.end = 0x0816_0000;
    let err = FlashPlan::new(&odin, &l, &images, &[ProgramTarget::Update(signed(dir.path(), 0x4_0001))]).unwrap_err();
    assert!(err.to_string().contains("but the secondary slot 0x08120000-0x0815ffff holds 262144 bytes: it is over by 1 bytes. Flash an update signed for this layout, or raise slot_size"), "{err}");
}

#[test]
fn a_secondary_slot_off_the_sector_map_is_refused() {
    let odin = board("odin-w2");
    let mut l = secure_odin_layout();
    l.slots.as_mut().unwrap().secondary.start = 0x0813_0000;
    let dir = tempfile::tempdir().unwrap();
    let images = built(dir.path(), &l, 1000, 1200);
    let err = FlashPlan::new(&odin, &l, &images, &[ProgramTarget::Update(signed(dir.path(), 64))]).unwrap_err();
    assert!(err.to_string().contains("Choose a slot_size that puts the secondary slot on a sector boundary"), "{err}");
}

// --- Chips: resolution and checks against probe-rs' descriptions.

fn dry_run() -> ProbeOptions {
    ProbeOptions { dry_run: true, verify: true, ..ProbeOptions::default() }
}

/// Runs the plan against `FakeProbe` and returns the events.
fn dry_run_events(plan: &FlashPlan, board: &Board, options: &ProbeOptions) -> Result<Vec<FlashEvent>, FlashError> {
    let mut events = Vec::new();
    program(plan, board, options, &Lister::with_lister(Box::new(FakeLister::default())), &mut |e| events.push(e))?;
    Ok(events)
}

#[test]
fn dry_runs_commit_on_the_real_chip_descriptions_of_the_seed_boards() {
    for (name, restrict, chip) in [
        ("odin-w2", 0x4_0000, "STM32F439ZITx"),
        ("nucleo-f429zi", 0x4_0000, "STM32F429ZITx"),
        ("xdot", 0x8000, "STM32L151CCUx"),
    ] {
        let b = board(name);
        let l = layout(&b, restrict);
        let (_dir, plan) = plan(&b, &l, &[ProgramTarget::Bootloader, ProgramTarget::App]);
        let events = dry_run_events(&plan, &b, &dry_run()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            events,
            [
                FlashEvent::Attaching { probe: "probe-rs FakeProbe (dry run)".into(), chip: chip.into() },
                FlashEvent::Skipped(Operation::Fill),
                FlashEvent::Skipped(Operation::Erase),
                FlashEvent::Skipped(Operation::Program),
            ],
            "{name}"
        );
    }
}

#[test]
fn the_k64f_names_the_alternative_and_the_chip_description_option() {
    let k64 = board("frdm-k64f");
    let l = layout(&k64, 0x8000);
    let (_dir, plan) = plan(&k64, &l, &[ProgramTarget::Combined]);
    let err = dry_run_events(&plan, &k64, &dry_run()).unwrap_err().to_string();
    assert!(
        err.starts_with("probe-rs cannot flash the frdm-k64f: probe-rs has no built-in target for the MK64FN1M0VLL12"),
        "{err}"
    );
    assert!(err.contains("pyocd flash -t k64f") && err.contains("--chip-description-path"), "{err}");
    let options = ProbeOptions { chip: Some("MK64FN1M0VLL12".into()), ..dry_run() };
    let err = dry_run_events(&plan, &k64, &options).unwrap_err().to_string();
    assert!(
        err.starts_with("probe-rs does not know the chip `MK64FN1M0VLL12` (frdm-k64f: probe-rs has no built-in target"),
        "{err}"
    );
    assert!(err.contains("pass it with `--chip-description-path <file.yaml>`"), "{err}");
}

/// A K64 description written for this test: the real memory map and sector size, and a
/// stand-in flash algorithm (four `bx lr`) that a dry run never runs.
const K64_DESCRIPTION: &str = r#"
name: MK64F12 (cargo boot test)
variants:
- name: MK64FN1M0VLL12
  cores:
  - name: main
    type: armv7em
    core_access_options: !Arm
      ap: !v1 0
  memory_map:
  - !Nvm
    name: PROGRAM_FLASH
    range: { start: 0x0, end: 0x100000 }
    cores: [main]
    access: { boot: true }
  - !Ram
    name: SRAM
    range: { start: 0x1fff0000, end: 0x20030000 }
    cores: [main]
  flash_algorithms: [stand_in]
flash_algorithms:
- name: stand_in
  description: never run
  default: true
  instructions: cEdwR3BHcEc=
  pc_init: 0x1
  pc_uninit: 0x1
  pc_program_page: 0x1
  pc_erase_sector: 0x1
  data_section_offset: 0x8
  flash_properties:
    address_range: { start: 0x0, end: 0x100000 }
    page_size: 0x200
    erased_byte_value: 0xff
    program_page_timeout: 1000
    erase_sector_timeout: 1000
    sectors:
    - { size: 0x1000, address: 0x0 }
"#;

#[test]
fn the_k64f_dry_run_works_with_a_chip_description() {
    let k64 = board("frdm-k64f");
    let l = layout(&k64, 0x8000);
    let (dir, plan) = plan(&k64, &l, &[ProgramTarget::Combined]);
    let yaml = dir.path().join("MK64F12.yaml");
    std::fs::write(&yaml, K64_DESCRIPTION).unwrap();
    let options = ProbeOptions { chip_description: Some(yaml.clone()), ..dry_run() };
    let events = dry_run_events(&plan, &k64, &options).unwrap();
    assert_eq!(
        events[0],
        FlashEvent::Attaching { probe: "probe-rs FakeProbe (dry run)".into(), chip: "MK64FN1M0VLL12".into() }
    );
    std::fs::write(&yaml, "name: [broken").unwrap();
    let err = dry_run_events(&plan, &k64, &options).unwrap_err().to_string();
    assert!(err.contains("MK64F12.yaml is not usable") && err.contains("target-gen arm"), "{err}");
}

#[test]
fn unknown_and_ambiguous_chip_names_say_what_to_pass() {
    let odin = board("odin-w2");
    let l = layout(&odin, 0x4_0000);
    let (_dir, plan) = plan(&odin, &l, &[ProgramTarget::App]);
    let options = ProbeOptions { chip: Some("STM32F999ZZ".into()), ..dry_run() };
    let err = dry_run_events(&plan, &odin, &options).unwrap_err().to_string();
    assert!(err.starts_with("probe-rs does not know the chip `STM32F999ZZ`: check the name"), "{err}");
    let options = ProbeOptions { chip: Some("STM32F4".into()), ..dry_run() };
    let err = dry_run_events(&plan, &odin, &options).unwrap_err().to_string();
    assert!(err.starts_with("`STM32F4` matches several chips (STM32F401CB, "), "{err}");
    assert!(err.ends_with(", ...): pass the full name with `--chip`"), "{err}");
}

#[test]
fn a_plan_outside_the_chips_flash_is_refused() {
    let odin = board("odin-w2");
    let img = image(ChunkKind::App, 0x0814_0000, 64, region(0x0804_0000, 0x0820_0000));
    let plan = FlashPlan::check(&odin, vec![img]).unwrap();
    let options = ProbeOptions { chip: Some("STM32F429ZGTx".into()), ..dry_run() };
    let err = dry_run_events(&plan, &odin, &options).unwrap_err().to_string();
    assert!(err.starts_with("the app image (0x08140000-0x0814003f) is not in the flash of STM32F429ZGTx"), "{err}");
}

#[test]
fn a_board_sector_map_that_disagrees_with_the_chip_is_caught() {
    let text = include_str!("../../boards/odin-w2.toml");
    let start = text.find("sectors = [").unwrap();
    let end = start + text[start..].find(']').unwrap() + 1;
    let wrong = format!("{}sectors = [{{ size = 0x4000, count = 128 }}]{}", &text[..start], &text[end..]);
    let odin = Board::parse("odin-w2.toml", &wrong).unwrap();
    let img = image(ChunkKind::App, 0x0803_0000, 64, region(0x0803_0000, 0x0820_0000));
    let plan = FlashPlan::check(&odin, vec![img]).unwrap();
    let err = dry_run_events(&plan, &odin, &dry_run()).unwrap_err().to_string();
    assert!(err.starts_with("the app image starts at 0x08030000, inside a 0x20000-byte sector of STM32F439ZITx that starts at 0x08020000"), "{err}");
    assert!(err.ends_with("Fix `sectors` under [flash] in the board file"), "{err}");
}

#[test]
fn a_board_without_a_chip_asks_for_one() {
    let text = include_str!("../../boards/xdot.toml").replace("chip = \"STM32L151CCUx\"", "");
    let xdot = Board::parse("xdot.toml", &text).unwrap();
    let l = layout(&xdot, 0x8000);
    let (_dir, plan) = plan(&xdot, &l, &[ProgramTarget::App]);
    let err = dry_run_events(&plan, &xdot, &dry_run()).unwrap_err().to_string();
    assert!(err.starts_with("the board xdot names no probe-rs chip: pass `--chip <name>`"), "{err}");
}

// --- Probes: listing, choosing, opening.

#[derive(Debug)]
struct FakeFactory;

impl std::fmt::Display for FakeFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fake")
    }
}

impl ProbeFactory for FakeFactory {
    fn open(&self, _: &DebugProbeSelector) -> Result<Box<dyn DebugProbe>, DebugProbeError> {
        Ok(Box::new(FakeProbe::with_mocked_core()))
    }

    fn list_probes(&self) -> Vec<ProbeListItem> {
        Vec::new()
    }
}

static FACTORY: FakeFactory = FakeFactory;

fn probe(name: &str, vid: u16, pid: u16, serial: &str, accessibility: Accessibility) -> ProbeListItem {
    let info = DebugProbeInfo::new(name, vid, pid, Some(serial.to_string()), &FACTORY, None, false);
    ProbeListItem { info, accessibility }
}

fn stlink(serial: &str) -> ProbeListItem {
    probe("STLink V2-1", 0x0483, 0x374b, serial, Accessibility::Accessible)
}

/// A probe list for `Lister::with_lister`; opening fails with `open_error` (nothing is
/// ever attached for real in these tests).
#[derive(Debug, Default)]
struct FakeLister {
    probes: Vec<ProbeListItem>,
    open_error: Option<std::io::ErrorKind>,
}

impl ProbeLister for FakeLister {
    fn open(&self, _: &DebugProbeSelector) -> Result<Probe, DebugProbeError> {
        let kind = self.open_error.unwrap_or(std::io::ErrorKind::Other);
        Err(DebugProbeError::Usb(std::io::Error::new(kind, "fake open")))
    }

    fn list_with_access(&self, selector: Option<&DebugProbeSelector>) -> Vec<ProbeListItem> {
        self.probes.iter().filter(|p| selector.is_none_or(|s| s.matches_probe(&p.info))).cloned().collect()
    }
}

fn program_with(probes: Vec<ProbeListItem>, options: ProbeOptions, open_error: Option<std::io::ErrorKind>) -> String {
    let odin = board("odin-w2");
    let l = layout(&odin, 0x4_0000);
    let (_dir, plan) = plan(&odin, &l, &[ProgramTarget::Combined]);
    let lister = Lister::with_lister(Box::new(FakeLister { probes, open_error }));
    program(&plan, &odin, &options, &lister, &mut |_| {}).unwrap_err().to_string()
}

#[test]
fn no_probe_says_to_connect_one_and_install_the_udev_rules() {
    let err = program_with(Vec::new(), ProbeOptions::default(), None);
    assert!(err.starts_with("no debug probe found: connect one"), "{err}");
    assert!(err.contains("install the udev rules (/etc/udev/rules.d/69-probe-rs.rules"), "{err}");
    assert!(err.contains("`cargo boot flash --dry-run`"), "{err}");
}

#[test]
fn several_probes_are_listed_with_the_option_that_picks_each() {
    let err = program_with(vec![stlink("AAA1"), stlink("BBB2")], ProbeOptions::default(), None);
    assert!(err.starts_with("2 debug probes are connected: choose one with `--probe VID:PID[:SERIAL]`:"), "{err}");
    assert!(err.contains("  --probe 0483:374b:AAA1    STLink V2-1"), "{err}");
    assert!(err.contains("  --probe 0483:374b:BBB2    STLink V2-1"), "{err}");
}

#[test]
fn a_probe_without_permission_gets_the_exact_udev_rule() {
    let denied = probe("STLink V3", 0x0483, 0x374e, "CCC3", Accessibility::PermissionDenied);
    let err = program_with(vec![denied], ProbeOptions::default(), None);
    assert!(err.starts_with("this user may not open the debug probe STLink V3 (0483:374e:CCC3)."), "{err}");
    assert!(err.contains("put these lines in /etc/udev/rules.d/69-probe-rs.rules:\n\n# STLink V3\nSUBSYSTEM==\"usb\", ATTRS{idVendor}==\"0483\", ATTRS{idProduct}==\"374e\", MODE=\"660\", GROUP=\"plugdev\", TAG+=\"uaccess\"\n\n"), "{err}");
    assert!(err.contains("sudo udevadm control --reload && sudo udevadm trigger"), "{err}");
    // A probe listed as accessible that still refuses to open gets the same fix.
    let err = program_with(vec![stlink("AAA1")], ProbeOptions::default(), Some(std::io::ErrorKind::PermissionDenied));
    assert!(err.starts_with("this user may not open the debug probe STLink V2-1 (0483:374b:AAA1)"), "{err}");
}

#[test]
fn probe_selection_picks_one_of_several_or_says_what_is_there() {
    let probes = vec![stlink("AAA1"), stlink("BBB2")];
    let options = ProbeOptions { probe: Some("0483:374b:BBB2".into()), ..ProbeOptions::default() };
    // The chosen probe is opened (and the fake open fails, showing which one it was).
    let err = program_with(probes.clone(), options, None);
    assert!(err.starts_with("cannot open the debug probe STLink V2-1 (0483:374b:BBB2): "), "{err}");
    let options = ProbeOptions { probe: Some("1366:0101".into()), ..ProbeOptions::default() };
    let err = program_with(probes.clone(), options, None);
    assert_eq!(err, "no debug probe matches `--probe 1366:0101`; connected: STLink V2-1 (0483:374b:AAA1), STLink V2-1 (0483:374b:BBB2)");
    let options = ProbeOptions { probe: Some("stlink".into()), ..ProbeOptions::default() };
    let err = program_with(probes, options, None);
    assert!(err.starts_with("`--probe stlink` is not VID:PID[:SERIAL] in hex"), "{err}");
}

#[test]
fn udev_rules_have_one_line_per_probe_model() {
    let a = stlink("A");
    let b = stlink("B");
    let c = probe("J-Link", 0x1366, 0x0101, "C", Accessibility::Accessible);
    let rules = udev_rules(&[&a.info, &b.info, &c.info]);
    assert_eq!(rules.lines().filter(|l| l.starts_with("SUBSYSTEM")).count(), 2, "{rules}");
    assert!(rules.contains("ATTRS{idVendor}==\"1366\", ATTRS{idProduct}==\"0101\""), "{rules}");
}

// --- Virtual boards: the flash file.

#[test]
fn a_virtual_board_flash_file_is_programmed_like_a_chip() {
    let qemu = board("qemu-an386");
    let l = layout(&qemu, 0x1_0000);
    let dir = tempfile::tempdir().unwrap();
    let images = built(dir.path(), &l, 1000, 1200);
    let file = default_flash_file(&dir.path().join("target/boot/debug"), &qemu);
    assert!(file.ends_with("target/boot/debug/qemu-an386.flash"));

    let combined = FlashPlan::new(&qemu, &l, &images, &[ProgramTarget::Combined]).unwrap();
    let report = program_flash_file(&combined, &qemu, &l, &file).unwrap();
    assert!(report.created);
    let flash = std::fs::read(&file).unwrap();
    assert_eq!(flash.len(), 0x40_0000, "the whole flash, from its base");
    assert_eq!(&flash[..1000], &[0xB1; 1000][..]);
    assert_eq!(&flash[0x1_0000..0x1_0000 + 1200], &[0xA9; 1200][..]);
    assert!(flash[0x1_0000 + 1200..].iter().all(|&b| b == 0xFF), "the rest is erased");

    // A new app: the bootloader stays, the old app's sector is erased first.
    std::fs::write(&images.application, [0xC3; 100]).unwrap();
    let app = FlashPlan::new(&qemu, &l, &images, &[ProgramTarget::App]).unwrap();
    let report = program_flash_file(&app, &qemu, &l, &file).unwrap();
    assert!(!report.created);
    let flash = std::fs::read(&file).unwrap();
    assert_eq!(&flash[..1000], &[0xB1; 1000][..], "bootloader kept");
    assert_eq!(&flash[0x1_0000..0x1_0000 + 100], &[0xC3; 100][..]);
    assert!(flash[0x1_0000 + 100..0x1_1000].iter().all(|&b| b == 0xFF), "the rest of the sector was erased");
}

#[test]
fn a_flash_file_of_the_wrong_size_is_refused() {
    let qemu = board("qemu-an385");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.flash");
    std::fs::write(&file, [0u8; 16]).unwrap();
    let err = read_flash_file(&file, &qemu).unwrap_err().to_string();
    assert!(
        err.contains("old.flash is 16 bytes, but the flash of the qemu-an385 is 4194304 bytes: delete the file"),
        "{err}"
    );
    assert_eq!(read_flash_file(&dir.path().join("none.flash"), &qemu).unwrap().len(), 0x40_0000);
}

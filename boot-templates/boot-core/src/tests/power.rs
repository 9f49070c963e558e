//! Power cuts: at every write and erase of installs, reverts and restores, and at random
//! several times in one update, on several flash maps, write sizes and erased values.
//!
//! After each cut the device is powered up and booted again, without faults, and must
//! boot exactly the old or exactly the new image; then the update is carried on (confirm,
//! or reset without confirming) to check that the state is still consistent.

use std::println;

use super::rig::{Board, Device, MIXED, PAGES_256, STM32F4, STM32F4_SCALED, UNIFORM_4K};
use crate::sim::{Rng, Tear, TestImage};
use crate::{BootOutcome, Confirmation, Erased, InstallKind, LastUpdate, Phase};

/// A flash map, its erased value, the bootloader's copy chunk and the two images.
#[derive(Clone, Copy)]
struct Case {
    board: &'static Board,
    erased: Erased,
    chunk: usize,
    old_size: usize,
    new_size: usize,
    tear: Tear,
}

impl Case {
    fn images(&self, old_counter: u32, new_counter: u32) -> (TestImage, TestImage) {
        let header = self.board.header_size as usize;
        (TestImage::new(11, self.old_size, header, old_counter), TestImage::new(22, self.new_size, header, new_counter))
    }

    /// A device running `old`, with `new` downloaded and marked pending as `kind`.
    fn pending<const W: usize>(&self, old: &TestImage, new: &TestImage, kind: InstallKind) -> Device<W> {
        let mut device = Device::<W>::new(self.board, self.erased, self.chunk);
        device.flash.set_tear(self.tear);
        device.flash_primary(old);
        assert_eq!(device.reboot().outcome, BootOutcome::Normal);
        device.download(new);
        device.mark_pending(kind).unwrap();
        device
    }

    fn label<const W: usize>(&self) -> std::string::String {
        std::format!("{}, {}-byte writes, erased {:#04x}, {:?} cuts", self.board.name, W, self.erased.byte(), self.tear)
    }
}

/// Chunks of `len` bytes at `offset` that the swap writes (those not reading as erased).
fn written_chunks<const W: usize>(device: &Device<W>, address: u32, len: u32) -> u64 {
    let offset = device.layout.offset(address);
    let bytes = device.flash.contents(offset, len as usize);
    bytes.chunks(device.buf.len()).filter(|chunk| !device.layout.erased().is_erased(chunk)).count() as u64
}

/// Checks the op counts of the next boot, a swap of `units` units from `sources`, against
/// the algorithm: one state page erase and two writes, one erase per unit and step, the
/// non-erased chunks, one progress word per step, and `extra` writes.
fn assert_swap_ops<const W: usize>(device: &Device<W>, units: u32, sources: [(u32, u32); 2], extra: u64) -> u64 {
    let unit = device.layout.unit_size();
    let data: u64 =
        sources.iter().map(|&(start, first)| written_chunks(device, start + first * unit, units * unit)).sum();
    let mut copy = device.clone();
    let before = copy.flash.stats();
    copy.boot_ok();
    let after = copy.flash.stats();
    assert_eq!(after.erases - before.erases, 1 + 2 * units as u64, "erases");
    assert_eq!(after.writes - before.writes, 2 + data + 2 * units as u64 + extra, "writes");
    after.ops() - before.ops()
}

/// Boots after a cut in a test install: the new image gets its trial, unless the cut
/// was in the last write (the record that the trial starts) and that write completed
/// anyway: then the trial counts as started and the reset reverts it. Returns true for
/// a trial.
fn trial_after_cut<const W: usize>(device: &mut Device<W>, cut: u64, ops: u64, old: &TestImage) -> bool {
    let outcome = device.reboot().outcome;
    if outcome == BootOutcome::Reverted && cut == ops {
        assert!(device.primary_holds(old));
        return false;
    }
    assert_eq!(outcome, BootOutcome::Trial { security_counter: 2 }, "cut {cut} of {ops}");
    true
}

/// Cuts the power at every operation of a test install; returns the number of cuts.
fn every_cut_in_an_install<const W: usize>(case: &Case) -> u64 {
    let (old, new) = case.images(1, 2);
    let device = case.pending::<W>(&old, &new, InstallKind::Test);
    let units = device.layout.units_for(case.old_size.max(case.new_size) as u32);
    let (primary, secondary) = (device.layout.primary().start, device.layout.secondary().start);
    let ops = assert_swap_ops(&device, units, [(primary, 0), (secondary, 0)], 1);
    for cut in 1..=ops {
        let mut cut_device = device.clone();
        cut_device.flash.reseed(cut);
        cut_device.boot_cut_at(cut);
        // The install resumes (or restarts) and the new image gets its trial.
        if !trial_after_cut(&mut cut_device, cut, ops, &old) {
            continue;
        }
        assert!(cut_device.primary_holds(&new), "cut {cut}: primary");
        assert!(cut_device.secondary_holds(&old, 1), "cut {cut}: old image one unit up");
        // A reset without confirmation reverts to exactly the old image.
        let mut reverted = cut_device.clone();
        assert_eq!(reverted.reboot().outcome, BootOutcome::Reverted, "cut {cut}");
        assert!(reverted.primary_holds(&old) && reverted.secondary_holds(&new, 0), "cut {cut}: reverted");
        assert_eq!(reverted.reboot().outcome, BootOutcome::Normal);
        // A confirmation keeps the new image.
        assert_eq!(cut_device.confirm(), Ok(Confirmation::Confirmed { security_counter: 2 }));
        assert_eq!(cut_device.reboot().outcome, BootOutcome::Normal, "cut {cut}");
        assert!(cut_device.primary_holds(&new));
        assert_eq!(cut_device.state().installed_counter, 2);
    }
    println!("{}: install of {units} units, {ops} cut points", case.label::<W>());
    ops
}

/// Cuts the power at every operation of the revert of an unconfirmed trial.
fn every_cut_in_a_revert<const W: usize>(case: &Case) -> u64 {
    let (old, new) = case.images(1, 2);
    let mut device = case.pending::<W>(&old, &new, InstallKind::Test);
    assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 2 });
    let units = device.layout.units_for(case.old_size.max(case.new_size) as u32);
    let unit = device.layout.unit_size();
    let (primary, secondary) = (device.layout.primary().start, device.layout.secondary().start);
    let ops = assert_swap_ops(&device, units, [(primary, 0), (secondary + unit, 0)], 0);
    for cut in 1..=ops {
        let mut cut_device = device.clone();
        cut_device.flash.reseed(cut);
        cut_device.boot_cut_at(cut);
        let outcome = cut_device.reboot().outcome;
        // A cut in the last progress word leaves a finished revert: a normal boot.
        assert!(matches!(outcome, BootOutcome::Reverted | BootOutcome::Normal), "cut {cut}: {outcome:?}");
        assert!(cut_device.primary_holds(&old), "cut {cut}: primary");
        assert!(cut_device.secondary_holds(&new, 0), "cut {cut}: secondary");
        let state = cut_device.state();
        assert_eq!((state.phase, state.last, state.installed_counter), (Phase::Idle, LastUpdate::Reverted, 1));
        // The candidate can be installed again and confirmed.
        cut_device.mark_pending(InstallKind::Test).unwrap();
        assert_eq!(cut_device.reboot().outcome, BootOutcome::Trial { security_counter: 2 }, "cut {cut}");
        assert!(cut_device.primary_holds(&new));
        cut_device.confirm().unwrap();
        assert_eq!(cut_device.reboot().outcome, BootOutcome::Normal);
    }
    println!("{}: revert of {units} units, {ops} cut points", case.label::<W>());
    ops
}

/// Cuts the power at every operation of a permanent install.
fn every_cut_in_a_permanent_install<const W: usize>(case: &Case) -> u64 {
    let (old, new) = case.images(1, 3);
    let device = case.pending::<W>(&old, &new, InstallKind::Permanent);
    let units = device.layout.units_for(case.old_size.max(case.new_size) as u32);
    let (primary, secondary) = (device.layout.primary().start, device.layout.secondary().start);
    let ops = assert_swap_ops(&device, units, [(primary, 0), (secondary, 0)], 0);
    for cut in 1..=ops {
        let mut cut_device = device.clone();
        cut_device.flash.reseed(cut);
        cut_device.boot_cut_at(cut);
        let outcome = cut_device.reboot().outcome;
        let expected = [BootOutcome::Installed { security_counter: 3 }, BootOutcome::Normal];
        assert!(expected.contains(&outcome), "cut {cut}: {outcome:?}");
        assert!(cut_device.primary_holds(&new), "cut {cut}");
        assert_eq!(cut_device.state().installed_counter, 3);
        assert_eq!(cut_device.reboot().outcome, BootOutcome::Normal);
    }
    println!("{}: permanent install of {units} units, {ops} cut points", case.label::<W>());
    ops
}

/// Cuts the power at every operation of the restore of the previous image, after the
/// confirmed primary image got corrupted.
fn every_cut_in_a_restore<const W: usize>(case: &Case) -> u64 {
    let (old, new) = case.images(2, 2);
    let mut device = case.pending::<W>(&old, &new, InstallKind::Test);
    device.reboot();
    device.confirm().unwrap();
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
    let corrupt = new.corrupted(new.len() - 1);
    device.flash_primary(&corrupt);
    let units = device.layout.units_for(case.old_size.max(case.new_size) as u32);
    let unit = device.layout.unit_size();
    let (primary, secondary) = (device.layout.primary().start, device.layout.secondary().start);
    let ops = assert_swap_ops(&device, units, [(primary, 0), (secondary + unit, 0)], 0);
    for cut in 1..=ops {
        let mut cut_device = device.clone();
        cut_device.flash.reseed(cut);
        cut_device.boot_cut_at(cut);
        let outcome = cut_device.reboot().outcome;
        assert!(matches!(outcome, BootOutcome::Restored | BootOutcome::Normal), "cut {cut}: {outcome:?}");
        assert!(cut_device.primary_holds(&old), "cut {cut}");
        assert!(cut_device.secondary_holds(&corrupt, 0), "cut {cut}");
        assert_eq!(cut_device.state().last, LastUpdate::Restored);
        assert_eq!(cut_device.reboot().outcome, BootOutcome::Normal);
    }
    println!("{}: restore of {units} units, {ops} cut points", case.label::<W>());
    ops
}

/// Boots with up to `cuts` power cuts at random operations, then without.
fn boot_with_random_cuts<const W: usize>(device: &mut Device<W>, rng: &mut Rng, cuts: u32) -> BootOutcome {
    for _ in 0..cuts {
        let ops = device.ops_of_boot();
        if ops == 0 {
            break;
        }
        device.flash.reseed(rng.next_u64());
        device.boot_cut_at(1 + rng.below(ops));
    }
    device.reboot().outcome
}

/// Several random cuts in one install, then several in its revert.
fn random_cuts<const W: usize>(case: &Case, seeds: u64) {
    let (old, new) = case.images(1, 2);
    let device = case.pending::<W>(&old, &new, InstallKind::Test);
    for seed in 0..seeds {
        let mut rng = Rng::new(seed);
        let mut cut_device = device.clone();
        let outcome = boot_with_random_cuts(&mut cut_device, &mut rng, 5);
        if outcome == BootOutcome::Reverted {
            // A cut completed the write that starts the trial.
            assert!(cut_device.primary_holds(&old), "seed {seed}");
            continue;
        }
        assert_eq!(outcome, BootOutcome::Trial { security_counter: 2 }, "seed {seed}");
        assert!(cut_device.primary_holds(&new), "seed {seed}");
        let outcome = boot_with_random_cuts(&mut cut_device, &mut rng, 5);
        assert!(matches!(outcome, BootOutcome::Reverted | BootOutcome::Normal), "seed {seed}: {outcome:?}");
        assert!(cut_device.primary_holds(&old) && cut_device.secondary_holds(&new, 0), "seed {seed}");
    }
}

const KIB: usize = 1024;

const UNIFORM: Case = Case {
    board: &UNIFORM_4K,
    erased: Erased::Ones,
    chunk: 1024,
    old_size: 40 * KIB,
    new_size: 50 * KIB,
    tear: Tear::Partial,
};

#[test]
fn uniform_4k_every_cut_erased_ones() {
    assert!(every_cut_in_an_install::<4>(&UNIFORM) > 100);
    every_cut_in_a_revert::<4>(&UNIFORM);
    every_cut_in_a_permanent_install::<4>(&UNIFORM);
    every_cut_in_a_restore::<4>(&UNIFORM);
}

#[test]
fn uniform_4k_every_cut_erased_zeros_8_byte_writes() {
    let case = Case { erased: Erased::Zeros, chunk: 2048, ..UNIFORM };
    every_cut_in_an_install::<8>(&case);
    every_cut_in_a_revert::<8>(&case);
}

#[test]
fn uniform_4k_every_cut_smaller_new_image_clean_cuts() {
    let case = Case { old_size: 30 * KIB, new_size: 9 * KIB, chunk: 4096, tear: Tear::Clean, ..UNIFORM };
    every_cut_in_an_install::<8>(&case);
    every_cut_in_a_revert::<4>(&Case { erased: Erased::Zeros, ..case });
}

#[test]
fn stm32f4_real_sectors_every_cut() {
    let case = Case { board: &STM32F4, chunk: 8 * KIB, old_size: 200 * KIB, new_size: 150 * KIB, ..UNIFORM };
    every_cut_in_an_install::<4>(&case);
    every_cut_in_a_revert::<4>(&case);
}

#[test]
fn stm32f4_scaled_every_cut() {
    let case = Case {
        board: &STM32F4_SCALED,
        erased: Erased::Zeros,
        chunk: 256,
        old_size: 5 * KIB,
        new_size: 9 * KIB + 4,
        ..UNIFORM
    };
    every_cut_in_an_install::<4>(&case);
    every_cut_in_a_revert::<4>(&case);
    every_cut_in_a_restore::<4>(&case);
    let case = Case { erased: Erased::Ones, ..case };
    every_cut_in_an_install::<8>(&case);
    every_cut_in_a_permanent_install::<8>(&case);
}

#[test]
fn mixed_sector_sizes_every_cut() {
    let case = Case { board: &MIXED, chunk: 4096, old_size: 40 * KIB, new_size: 60 * KIB, ..UNIFORM };
    every_cut_in_an_install::<16>(&case);
    every_cut_in_a_revert::<16>(&case);
    every_cut_in_a_restore::<16>(&case);
}

#[test]
fn pages_of_256_bytes_every_cut() {
    let case =
        Case { board: &PAGES_256, erased: Erased::Zeros, chunk: 256, old_size: 6 * KIB, new_size: 7 * KIB, ..UNIFORM };
    every_cut_in_an_install::<4>(&case);
    every_cut_in_a_revert::<4>(&case);
}

#[test]
fn random_multiple_cuts() {
    random_cuts::<4>(&UNIFORM, 200);
    let scaled =
        Case { board: &STM32F4_SCALED, erased: Erased::Zeros, chunk: 512, old_size: 9000, new_size: 3000, ..UNIFORM };
    random_cuts::<8>(&scaled, 200);
}

#[test]
fn every_cut_on_random_initial_contents() {
    let case = Case { board: &STM32F4_SCALED, chunk: 512, old_size: 7000, new_size: 8000, ..UNIFORM };
    let (old, new) = case.images(1, 2);
    for seed in 0..4 {
        let mut device = Device::<4>::random(case.board, case.erased, case.chunk, seed);
        device.flash_primary(&old);
        assert_eq!(device.reboot().outcome, BootOutcome::Normal);
        device.download(&new);
        device.mark_pending(InstallKind::Test).unwrap();
        let ops = device.ops_of_boot();
        for cut in 1..=ops {
            let mut cut_device = device.clone();
            cut_device.boot_cut_at(cut);
            if !trial_after_cut(&mut cut_device, cut, ops, &old) {
                continue;
            }
            assert!(cut_device.primary_holds(&new));
            assert_eq!(cut_device.reboot().outcome, BootOutcome::Reverted);
            assert!(cut_device.primary_holds(&old));
        }
        println!("{} (random contents, seed {seed}): install, {ops} cut points", case.label::<4>());
    }
}

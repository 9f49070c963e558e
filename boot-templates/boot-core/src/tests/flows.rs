//! Boot decisions without power cuts: installs, confirms, reverts, refusals, restores.

use std::string::ToString;
use std::vec;

use super::rig::{Device, MIXED, STM32F4_SCALED, UNIFORM_4K};
use crate::sim::{SimError, TestImage};
use crate::{
    BootConfig, BootError, BootLoader, BootOutcome, Confirmation, Erased, InstallKind, LastUpdate, Phase, PrimaryCheck,
    Rejection, StateError,
};

const KIB: usize = 1024;

fn images(old_counter: u32, new_counter: u32) -> (TestImage, TestImage) {
    (TestImage::new(1, 40 * KIB, 0x200, old_counter), TestImage::new(2, 50 * KIB, 0x200, new_counter))
}

/// A device running `old`, with `new` downloaded and marked pending.
fn pending(old: &TestImage, new: &TestImage, kind: InstallKind) -> Device<4> {
    let mut device = Device::<4>::new(&UNIFORM_4K, Erased::Ones, 1024);
    device.flash_primary(old);
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
    device.download(new);
    device.mark_pending(kind).unwrap();
    device
}

#[test]
fn the_first_boot_installs_the_primary_image_security_counter() {
    let (old, _) = images(7, 8);
    let mut device = Device::<4>::new(&UNIFORM_4K, Erased::Ones, 1024);
    device.flash_primary(&old);
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
    assert_eq!(device.state().installed_counter, 7);
    // Later boots read the state and validate, but write nothing.
    let before = device.flash.stats();
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
    assert_eq!(device.flash.stats(), before);
}

#[test]
fn a_confirmed_trial_image_stays() {
    let (old, new) = images(1, 2);
    let mut device = pending(&old, &new, InstallKind::Test);
    assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 2 });
    assert!(device.primary_holds(&new));
    assert!(device.secondary_holds(&old, 1), "the old image waits one unit into the secondary slot");
    assert!(device.state().is_trial());
    assert_eq!(device.state().installed_counter, 1, "the counter waits for the confirmation");
    assert_eq!(device.confirm(), Ok(Confirmation::Confirmed { security_counter: 2 }));
    assert_eq!(device.confirm(), Ok(Confirmation::AlreadyConfirmed));
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
    assert!(device.primary_holds(&new));
    let state = device.state();
    assert_eq!((state.installed_counter, state.last, state.phase), (2, LastUpdate::Confirmed, Phase::Idle));
    assert_eq!(state.backup_units, Some(13));
}

#[test]
fn an_unconfirmed_trial_image_is_reverted_at_the_next_reset() {
    let (old, new) = images(1, 2);
    let mut device = pending(&old, &new, InstallKind::Test);
    assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 2 });
    assert_eq!(device.reboot().outcome, BootOutcome::Reverted);
    assert!(device.primary_holds(&old));
    assert!(device.secondary_holds(&new, 0), "the candidate is back where the app wrote it");
    let state = device.state();
    assert_eq!((state.installed_counter, state.last, state.phase), (1, LastUpdate::Reverted, Phase::Idle));
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
    // The app may try the same candidate again.
    device.mark_pending(InstallKind::Test).unwrap();
    assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 2 });
    assert!(device.primary_holds(&new));
}

#[test]
fn a_permanent_install_needs_no_confirmation() {
    let (old, new) = images(1, 5);
    let mut device = pending(&old, &new, InstallKind::Permanent);
    assert_eq!(device.reboot().outcome, BootOutcome::Installed { security_counter: 5 });
    assert!(device.primary_holds(&new));
    assert_eq!(device.state().installed_counter, 5);
    assert_eq!(device.state().last, LastUpdate::Installed);
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
    assert!(device.primary_holds(&new));
}

#[test]
fn a_corrupt_candidate_is_refused_once_and_not_retried() {
    let (old, new) = images(1, 2);
    let mut device = pending(&old, &new.corrupted(30_000), InstallKind::Test);
    assert_eq!(device.reboot().outcome, BootOutcome::Refused(Rejection::HashMismatch));
    assert!(device.primary_holds(&old));
    assert_eq!(device.state().last, LastUpdate::Refused(Rejection::HashMismatch));
    let (before, calls) = (device.flash.stats(), device.validator.calls);
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
    assert_eq!(device.flash.stats(), before, "nothing is written at later boots");
    assert_eq!(device.validator.calls, calls + 1, "only the primary image is validated");
}

#[test]
fn an_empty_secondary_slot_is_refused() {
    let (old, _) = images(1, 2);
    let mut device = Device::<4>::new(&UNIFORM_4K, Erased::Zeros, 1024);
    device.flash_primary(&old);
    device.mark_pending(InstallKind::Permanent).unwrap();
    assert_eq!(device.reboot().outcome, BootOutcome::Refused(Rejection::NoImage));
    assert!(device.primary_holds(&old));
}

#[test]
fn downgrades_are_refused_and_equal_counters_allowed() {
    let (old, new) = images(3, 2);
    let mut device = pending(&old, &new, InstallKind::Test);
    let outcome = device.reboot().outcome;
    assert_eq!(outcome, BootOutcome::Refused(Rejection::Downgrade { candidate: 2 }));
    assert_eq!(
        outcome.to_string(),
        "refused the candidate image: the image's security counter 2 is below the installed image's: downgrades are \
         refused"
    );
    assert!(device.primary_holds(&old));
    let (old, new) = images(3, 3);
    let mut device = pending(&old, &new, InstallKind::Test);
    assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 3 });
}

#[test]
fn a_trial_image_cannot_start_another_install() {
    let (old, new) = images(1, 2);
    let mut device = pending(&old, &new, InstallKind::Test);
    device.reboot();
    assert_eq!(device.mark_pending(InstallKind::Test), Err(StateError::Unconfirmed));
}

#[test]
fn an_invalid_primary_image_is_replaced_by_the_previous_one() {
    let (old, new) = images(4, 4);
    let mut device = pending(&old, &new, InstallKind::Test);
    device.reboot();
    device.confirm().unwrap();
    let corrupt = new.corrupted(20_000);
    device.flash_primary(&corrupt);
    assert_eq!(device.reboot().outcome, BootOutcome::Restored);
    assert!(device.primary_holds(&old));
    assert!(device.secondary_holds(&corrupt, 0));
    assert_eq!(device.state().last, LastUpdate::Restored);
    assert_eq!(device.state().backup_units, None);
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
}

#[test]
fn nothing_boots_without_a_valid_image() {
    let (old, new) = images(1, 2);
    // The previous image has a lower security counter: restoring it would be a downgrade.
    let mut device = pending(&old, &new, InstallKind::Test);
    device.reboot();
    device.confirm().unwrap();
    device.flash_primary(&new.corrupted(100));
    let error = device.boot().unwrap_err();
    assert_eq!(error, BootError::NoBootableImage(Rejection::HashMismatch));
    assert_eq!(
        error.to_string(),
        "no bootable image: the primary image is invalid (the image's hash does not match its contents (corrupt or \
         incompletely written)) and no valid previous image exists"
    );
    // No previous image at all.
    let mut blank = Device::<4>::new(&UNIFORM_4K, Erased::Ones, 1024);
    assert_eq!(blank.boot(), Err(BootError::NoBootableImage(Rejection::NoImage)));
}

#[test]
fn a_valid_candidate_replaces_an_invalid_primary_image_for_good() {
    let (old, new) = images(1, 2);
    let mut device = pending(&old, &new, InstallKind::Test);
    device.flash_primary(&old.corrupted(5000));
    // A trial would fall back to an invalid image: the install is permanent.
    assert_eq!(device.reboot().outcome, BootOutcome::Installed { security_counter: 2 });
    assert!(device.primary_holds(&new));
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
}

#[test]
fn trusting_the_primary_image_skips_its_validation() {
    let (old, new) = images(1, 2);
    let mut device = pending(&old, &new, InstallKind::Test);
    device.config = BootConfig { primary_check: PrimaryCheck::Trust };
    device.flash_primary(&old.corrupted(5000));
    let calls = device.validator.calls;
    assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 2 });
    assert_eq!(device.validator.calls, calls + 1, "only the candidate");
    // Without the primary image's size, the whole slot is swapped.
    assert_eq!(device.state().phase, Phase::Trial { units: 16, security_counter: 2 });
    assert_eq!(device.reboot().outcome, BootOutcome::Reverted);
    assert!(device.primary_holds(&old.corrupted(5000)));
    assert_eq!(device.reboot().outcome, BootOutcome::Normal);
}

#[test]
fn a_smaller_new_image_swaps_all_units_of_the_old_one() {
    let old = TestImage::new(1, 60 * KIB, 0x200, 1);
    let new = TestImage::new(2, 5 * KIB, 0x200, 1);
    let mut device = pending(&old, &new, InstallKind::Test);
    device.reboot();
    assert!(device.primary_holds(&new));
    assert!(device.secondary_holds(&old, 1));
    assert_eq!(device.reboot().outcome, BootOutcome::Reverted);
    assert!(device.primary_holds(&old));
}

#[test]
fn installs_work_on_random_initial_flash_contents() {
    for seed in 0..8 {
        let old = TestImage::new(seed, 3 * KIB + 100, 0x100, 1);
        let new = TestImage::new(seed + 100, 9 * KIB + 3, 0x100, 2);
        let mut device = Device::<8>::random(&STM32F4_SCALED, Erased::Zeros, 256, seed);
        device.flash_primary(&old);
        assert_eq!(device.reboot().outcome, BootOutcome::Normal);
        device.download(&new);
        device.mark_pending(InstallKind::Test).unwrap();
        assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 2 });
        assert_eq!(device.reboot().outcome, BootOutcome::Reverted);
        assert!(device.primary_holds(&old));
        device.mark_pending(InstallKind::Test).unwrap();
        assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 2 });
        device.confirm().unwrap();
        assert_eq!(device.reboot().outcome, BootOutcome::Normal);
        assert!(device.primary_holds(&new));
    }
}

#[test]
fn units_of_several_sectors_swap_whole() {
    let old = TestImage::new(5, 40 * KIB, 0x200, 1);
    let new = TestImage::new(6, 33 * KIB, 0x200, 1);
    let mut device = Device::<16>::new(&MIXED, Erased::Ones, 2048);
    device.flash_primary(&old);
    device.reboot();
    device.download(&new);
    device.mark_pending(InstallKind::Test).unwrap();
    assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 1 });
    assert!(device.primary_holds(&new));
    assert!(device.secondary_holds(&old, 1));
    // Each 16 KiB unit of the primary slot is four 4 KiB sectors, each erased once.
    let primary = device.layout.offset(device.layout.primary().start);
    for sector in 0..12 {
        assert_eq!(device.flash.erase_count(primary + sector * 4096), 1, "sector {sector}");
    }
    assert_eq!(device.reboot().outcome, BootOutcome::Reverted);
    assert!(device.primary_holds(&old));
}

#[test]
fn setup_errors_are_reported() {
    let (old, _) = images(1, 2);
    let mut device = Device::<4>::new(&UNIFORM_4K, Erased::Ones, 1024);
    device.flash_primary(&old);
    let loader = BootLoader::new(&device.layout, BootConfig::default());
    let mut odd = vec![0u8; 1022];
    let error = loader.boot(&mut device.flash, &mut device.validator, &mut odd).unwrap_err();
    assert_eq!(error.to_string(), "the copy buffer is 1022 bytes: it must be a non-zero multiple of 4 bytes");
    let layout8 = UNIFORM_4K.layout(Erased::Ones, 8);
    let loader = BootLoader::new(&layout8, BootConfig::default());
    let error: BootError<SimError> =
        loader.boot(&mut device.flash, &mut device.validator, &mut device.buf).unwrap_err();
    assert_eq!(error.to_string(), "the layout was checked for 8-byte flash writes but the flash driver writes 4 bytes");
}

#[test]
fn a_copy_that_reads_back_wrong_stops_the_boot_and_the_next_boot_redoes_it() {
    let (old, new) = images(1, 2);
    let mut device = pending(&old, &new, InstallKind::Test);
    // The state rewrite takes two writes; the tenth write is a chunk of the swap.
    device.flash.fail_to_program_after(10);
    let error = device.boot().unwrap_err();
    let BootError::Verify { address } = error else { panic!("{error:?}") };
    let primary = device.layout.primary();
    let secondary = device.layout.secondary();
    assert!(primary.overlaps(&crate::Region::new(address, 1)) || secondary.overlaps(&crate::Region::new(address, 1)));
    assert!(error.to_string().starts_with("flash verify failed at 0x"), "{error}");
    assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 2 });
    assert!(device.primary_holds(&new));
    assert!(device.secondary_holds(&old, 1));
}

/// A flash whose reads fail inside one range.
struct ReadFaults {
    inner: crate::sim::SimFlash<4>,
    bad: core::ops::Range<u32>,
}

impl embedded_storage::nor_flash::ErrorType for ReadFaults {
    type Error = SimError;
}

impl embedded_storage::nor_flash::ReadNorFlash for ReadFaults {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        let end = offset + bytes.len() as u32;
        if offset < self.bad.end && self.bad.start < end {
            return Err(SimError::PowerLoss);
        }
        self.inner.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

impl embedded_storage::nor_flash::NorFlash for ReadFaults {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.inner.erase(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        self.inner.write(offset, bytes)
    }
}

#[test]
fn a_read_error_while_validating_is_reported_not_held_against_the_candidate() {
    let (old, new) = images(1, 2);
    let device = pending(&old, &new, InstallKind::Test);
    let secondary = device.layout.offset(device.layout.secondary().start);
    let mut flash = ReadFaults { inner: device.flash.clone(), bad: secondary + 100..secondary + 200 };
    let loader = BootLoader::new(&device.layout, device.config);
    let mut buf = vec![0u8; 1024];
    let result = loader.boot(&mut flash, &mut device.validator.clone(), &mut buf);
    assert_eq!(result, Err(BootError::Flash(SimError::PowerLoss)));
    // Nothing was recorded: the candidate is still pending and installs once reads work.
    let mut device = Device { flash: flash.inner, ..device };
    assert_eq!(device.state().phase, Phase::Pending(InstallKind::Test));
    assert_eq!(device.reboot().outcome, BootOutcome::Trial { security_counter: 2 });
}

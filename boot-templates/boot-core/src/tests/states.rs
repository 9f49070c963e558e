//! The state store on its own: record format, appends, page rewrites, app-side cuts.

use std::string::ToString;

use super::rig::{Device, UNIFORM_4K};
use crate::sim::SimError;
use crate::state::test_support;
use crate::{BootState, Confirmation, Erased, InstallKind, Phase, StateError};

#[test]
fn records_round_trip_and_torn_records_never_read_as_valid() {
    assert_eq!(test_support::encode_decode_roundtrips(), 12);
}

#[test]
fn blank_or_random_state_areas_read_as_the_default_state() {
    for erased in [Erased::Ones, Erased::Zeros] {
        assert_eq!(Device::<4>::new(&UNIFORM_4K, erased, 1024).state(), BootState::default());
        for seed in 0..20 {
            assert_eq!(Device::<8>::random(&UNIFORM_4K, erased, 1024, seed).state(), BootState::default());
        }
    }
}

fn alternate(i: u32) -> InstallKind {
    if i % 2 == 0 {
        InstallKind::Test
    } else {
        InstallKind::Permanent
    }
}

#[test]
fn appends_fill_a_page_before_it_is_rewritten() {
    let mut device = Device::<4>::new(&UNIFORM_4K, Erased::Ones, 1024);
    let state = device.layout.state();
    for i in 0..1000 {
        device.mark_pending(alternate(i)).unwrap();
        assert_eq!(device.state().phase, Phase::Pending(alternate(i)));
    }
    // A 4 KiB page holds 253 appended records after a one-record rewrite: 1000 changes
    // rewrite a page 4 times (the first one creates the state).
    let page = state.size / 2;
    let erases = device.flash.erase_count(state.start) + device.flash.erase_count(state.start + page);
    assert_eq!(erases, 4);
    // Asking again for what is pending writes nothing.
    let before = device.flash.stats();
    device.mark_pending(alternate(999)).unwrap();
    assert_eq!(device.flash.stats(), before);
}

#[test]
fn confirming_a_confirmed_image_writes_nothing() {
    let mut device = Device::<4>::new(&UNIFORM_4K, Erased::Zeros, 1024);
    let before = device.flash.stats();
    assert_eq!(device.confirm(), Ok(Confirmation::AlreadyConfirmed));
    assert_eq!(device.flash.stats(), before);
}

#[test]
fn every_cut_in_app_side_changes_leaves_the_old_or_the_new_state() {
    let mut device = Device::<4>::new(&UNIFORM_4K, Erased::Ones, 1024);
    // Bring the page close to full, so the changes below include a page rewrite.
    for i in 0..250 {
        device.mark_pending(alternate(i)).unwrap();
    }
    let mut points = 0;
    for i in 250..260 {
        let before = device.state();
        let mut probe = device.clone();
        let ops = probe.flash.stats().ops();
        probe.mark_pending(alternate(i)).unwrap();
        let after = probe.state();
        for cut in 1..=probe.flash.stats().ops() - ops {
            let mut cut_device = device.clone();
            cut_device.flash.reseed(cut + 17 * i as u64);
            cut_device.flash.fail_after(cut);
            assert_eq!(cut_device.mark_pending(alternate(i)), Err(StateError::Flash(SimError::PowerLoss)));
            cut_device.flash.power_cycle();
            let state = cut_device.state();
            assert!(state == before || state == after, "cut {cut} of change {i}: {state:?}");
            cut_device.mark_pending(alternate(i)).unwrap();
            assert_eq!(cut_device.state(), after);
            points += 1;
        }
        device = probe;
    }
    // Nine appends (one write each) and one rewrite (erase, records, header).
    assert_eq!(points, 9 + 3);
}

#[test]
fn state_errors_say_what_to_do() {
    let unconfirmed: StateError<SimError> = StateError::Unconfirmed;
    assert_eq!(
        unconfirmed.to_string(),
        "the running image is on trial: confirm it (mark_booted) before installing another image, because the \
         secondary slot still holds the image a revert would restore"
    );
    assert_eq!(StateError::Flash(SimError::PowerLoss).to_string(), "the boot state's flash failed: PowerLoss");
}

//! The app's operations against the bootloader core on a simulated flash.

extern crate std;

use std::string::ToString;
use std::vec;
use std::vec::Vec;

use boot_core::sim::{SimError, SimFlash, TestImage, TestValidator};
use boot_core::{BootConfig, BootLoader, BootOutcome, Geometry, LayoutRequest, SectorRun, SlotLayout};

use super::*;

const BASE: u32 = 0x0800_0000;
const SECTORS: &[SectorRun] = &[SectorRun { size: 4096, count: 64 }];

fn app_layout(erased: Erased) -> Layout {
    Layout {
        flash_start: BASE,
        primary: Region::new(BASE + 0x8000, 0x1_0000),
        secondary: Region::new(BASE + 0x1_8000, 0x1_1000),
        state: Region::new(BASE + 0x4000, 0x2000),
        header_size: 0x200,
        erased,
    }
}

/// The bootloader's view of the same layout, checked by the core.
fn boot_layout(erased: Erased) -> SlotLayout {
    let app = app_layout(erased);
    let geometry = Geometry { base: BASE, sectors: SECTORS, erased };
    let request = LayoutRequest {
        primary: app.primary,
        secondary: app.secondary,
        state: app.state,
        header_size: app.header_size,
        write_size: 4,
    };
    SlotLayout::new(&geometry, &request).unwrap()
}

struct Device {
    flash: SimFlash<4>,
    erased: Erased,
}

impl Device {
    /// A device running `image`.
    fn new(erased: Erased, image: &TestImage) -> Self {
        let mut flash = SimFlash::new(&Geometry { base: BASE, sectors: SECTORS, erased });
        flash.program(0x8000, image.bytes());
        let mut device = Self { flash, erased };
        assert_eq!(device.boot(), BootOutcome::Normal);
        device
    }

    /// A reset: the bootloader runs.
    fn boot(&mut self) -> BootOutcome {
        self.flash.power_cycle();
        let layout = boot_layout(self.erased);
        let mut buf = [0u8; 512];
        let loader = BootLoader::new(&layout, BootConfig::default());
        loader.boot(&mut self.flash, &mut TestValidator::default(), &mut buf).unwrap().outcome
    }

    fn app(&mut self) -> BootControl<'_, SimFlash<4>> {
        BootControl::new(&mut self.flash, app_layout(self.erased)).unwrap()
    }

    fn primary_holds(&self, image: &TestImage) -> bool {
        self.flash.contents(0x8000, image.len()) == image.bytes()
    }
}

/// The app's download: erase, then write the image in pieces.
fn download(app: &mut BootControl<'_, SimFlash<4>>, image: &TestImage) {
    app.erase_candidate().unwrap();
    let mut bytes: Vec<u8> = image.bytes().to_vec();
    bytes.resize(bytes.len().div_ceil(4) * 4, 0xFF);
    for (index, piece) in bytes.chunks(1000).enumerate() {
        app.write_candidate(index as u32 * 1000, piece).unwrap();
    }
}

fn images() -> (TestImage, TestImage) {
    (TestImage::new(1, 30_000, 0x200, 1), TestImage::new(2, 41_001, 0x200, 2))
}

#[test]
fn pending_swap_confirm_then_normal_boots() {
    for erased in [Erased::Ones, Erased::Zeros] {
        let (old, new) = images();
        let mut device = Device::new(erased, &old);
        let mut app = device.app();
        assert_eq!(app.status().unwrap().image, RunningImage::Confirmed);
        assert_eq!(app.mark_booted(), Ok(Confirmation::AlreadyConfirmed));
        download(&mut app, &new);
        app.mark_pending(InstallKind::Test).unwrap();
        assert_eq!(app.status().unwrap().pending, Some(InstallKind::Test));

        assert_eq!(device.boot(), BootOutcome::Trial { security_counter: 2 });
        assert!(device.primary_holds(&new));
        let mut app = device.app();
        let status = app.status().unwrap();
        assert_eq!(status.image, RunningImage::Trial);
        assert_eq!(
            status.to_string(),
            "image on trial (not confirmed: the next reset reverts it), last update: none yet, security counter 1"
        );
        assert_eq!(app.mark_booted(), Ok(Confirmation::Confirmed { security_counter: 2 }));
        assert_eq!(app.mark_booted(), Ok(Confirmation::AlreadyConfirmed));

        assert_eq!(device.boot(), BootOutcome::Normal);
        assert!(device.primary_holds(&new));
        let status = device.app().status().unwrap();
        assert_eq!(status.to_string(), "image confirmed, last update: installed and confirmed, security counter 2");
    }
}

#[test]
fn an_unconfirmed_image_is_reverted_and_the_app_sees_why() {
    let (old, new) = images();
    let mut device = Device::new(Erased::Ones, &old);
    let mut app = device.app();
    download(&mut app, &new);
    app.mark_pending(InstallKind::Test).unwrap();
    assert_eq!(device.boot(), BootOutcome::Trial { security_counter: 2 });
    assert_eq!(device.boot(), BootOutcome::Reverted);
    assert!(device.primary_holds(&old));
    let status = device.app().status().unwrap();
    assert_eq!(status.last_update, LastUpdate::Reverted);
    assert_eq!(
        status.to_string(),
        "image confirmed, last update: reverted: the new image did not confirm itself, security counter 1"
    );
}

#[test]
fn a_permanent_install_and_a_refusal_are_reported() {
    let (old, new) = images();
    let mut device = Device::new(Erased::Zeros, &old);
    let mut app = device.app();
    download(&mut app, &new.corrupted(1000));
    app.mark_pending(InstallKind::Permanent).unwrap();
    assert_eq!(
        app.status().unwrap().to_string(),
        "image confirmed, permanent install pending, last update: none yet, security counter 1"
    );
    assert_eq!(device.boot(), BootOutcome::Refused(Rejection::HashMismatch));
    let mut app = device.app();
    assert_eq!(app.status().unwrap().last_update, LastUpdate::Refused(Rejection::HashMismatch));
    download(&mut app, &new);
    app.mark_pending(InstallKind::Permanent).unwrap();
    assert_eq!(device.boot(), BootOutcome::Installed { security_counter: 2 });
    assert_eq!(device.app().status().unwrap().image, RunningImage::Confirmed);
}

#[test]
fn the_secondary_slot_is_off_limits_during_a_trial() {
    let (old, new) = images();
    let mut device = Device::new(Erased::Ones, &old);
    let mut app = device.app();
    download(&mut app, &new);
    app.mark_pending(InstallKind::Test).unwrap();
    device.boot();
    let mut app = device.app();
    assert_eq!(app.erase_candidate(), Err(Error::Unconfirmed));
    assert_eq!(app.write_candidate(0, &[0; 4]), Err(Error::Unconfirmed));
    let error = app.mark_pending(InstallKind::Test).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the running image is on trial: call mark_booted before writing or marking a new image, because the \
         secondary slot holds the image a revert would restore"
    );
}

#[test]
fn candidates_must_fit_the_primary_slot() {
    let (old, _) = images();
    let mut device = Device::new(Erased::Ones, &old);
    let mut app = device.app();
    let error = app.write_candidate(0x1_0000 - 4, &[0; 8]).unwrap_err();
    assert_eq!(error, Error::OutOfBounds { offset: 0xFFFC, len: 8, max: 0x1_0000 });
    assert_eq!(
        error.to_string(),
        "cannot write 8 bytes at offset 0xfffc of the candidate: images may occupy at most 0x10000 bytes (the \
         primary slot's size)"
    );
    assert_eq!(app.layout().app_start(), BASE + 0x8200);
}

#[test]
fn layouts_that_do_not_fit_the_driver_are_refused() {
    let mut flash = SimFlash::<4>::new(&Geometry { base: BASE, sectors: SECTORS, erased: Erased::Ones });
    let mut layout = app_layout(Erased::Ones);
    layout.state.size = 0x2001;
    let error = BootControl::new(&mut flash, layout).err().unwrap();
    assert_eq!(
        error.to_string(),
        "the state area (8193 bytes) must be two equal pages, each a multiple of 16 bytes: check __boot_state_size \
         in memory.x"
    );
    let mut layout = app_layout(Erased::Ones);
    layout.flash_start = BASE + 0x1_0000;
    let error: Error<SimError> = BootControl::new(&mut flash, layout).err().unwrap();
    assert_eq!(
        error.to_string(),
        "the primary slot starts at 0x08008000, below the flash start 0x08010000: check the __boot_* symbols in \
         memory.x"
    );
}

#[test]
fn a_cut_while_confirming_leaves_the_trial_or_the_confirmation() {
    let (old, new) = images();
    let mut device = Device::new(Erased::Ones, &old);
    let mut app = device.app();
    download(&mut app, &new);
    app.mark_pending(InstallKind::Test).unwrap();
    device.boot();
    let mut outcomes = vec![];
    for seed in 0..32 {
        let mut cut = Device { flash: device.flash.clone(), erased: device.erased };
        cut.flash.reseed(seed);
        cut.flash.fail_after(1);
        assert_eq!(cut.app().mark_booted(), Err(Error::Flash(SimError::PowerLoss)));
        let outcome = cut.boot();
        // Either the confirmation was written in full (keep) or not at all (revert).
        match outcome {
            BootOutcome::Normal => assert!(cut.primary_holds(&new)),
            BootOutcome::Reverted => assert!(cut.primary_holds(&old)),
            other => panic!("{other:?}"),
        }
        outcomes.push(outcome);
    }
    assert!(outcomes.contains(&BootOutcome::Reverted));
}

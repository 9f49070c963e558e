//! Staging an update candidate in a virtual board's flash, the way the app would:
//! erase the secondary slot, write the image, and mark it pending. The work is done
//! by the same `boot-app` code the app runs, over the flash file's bytes, with the
//! virtual boards' NOR rules (`boot_flash::ram`).

use boot_app::{BootControl, InstallKind};
use boot_flash::ram::RamFlash;

use crate::layout::Layout;

/// Why a candidate could not be staged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CandidateError {
    #[error(
        "this project has no secondary slot: update images need `template = \"secure\"` in [package.metadata.boot]"
    )]
    NoSlots,
    #[error("the flash image is {len} bytes but the board's flash is {expected} bytes: give the board's flash file")]
    WrongFlashSize { len: usize, expected: u32 },
    #[error("the candidate could not be staged: {0}")]
    Update(String),
}

/// Writes `image` into the secondary slot of `flash` (the whole flash, from its base)
/// and marks it for installation at the next boot.
pub fn stage(flash: &mut [u8], layout: &Layout, image: &[u8], kind: InstallKind) -> Result<(), CandidateError> {
    let slots = layout.slots.as_ref().ok_or(CandidateError::NoSlots)?;
    if flash.len() != layout.flash.size() as usize {
        return Err(CandidateError::WrongFlashSize { len: flash.len(), expected: layout.flash.size() });
    }
    let app_layout = boot_app::Layout {
        flash_start: layout.flash.start,
        primary: region(slots.primary),
        secondary: region(slots.secondary),
        state: region(slots.state),
        header_size: layout.header_size,
        erased: if layout.erased_value == 0 { boot_app::Erased::Zeros } else { boot_app::Erased::Ones },
    };
    let mut driver = RamFlash::new(flash, layout.erased_value);
    let mut control = BootControl::new(&mut driver, app_layout).map_err(update_error)?;
    control.erase_candidate().map_err(update_error)?;
    let mut padded = image.to_vec();
    padded.resize(image.len().next_multiple_of(4), layout.erased_value);
    control.write_candidate(0, &padded).map_err(update_error)?;
    control.mark_pending(kind).map_err(update_error)
}

fn region(r: crate::layout::Region) -> boot_app::Region {
    boot_app::Region { start: r.start, size: r.size() }
}

fn update_error(e: impl std::fmt::Debug) -> CandidateError {
    CandidateError::Update(format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::BoardDatabase;
    use crate::metadata::{BootMetadata, Template};

    fn secure_layout() -> Layout {
        let db = BoardDatabase::bundled();
        let board = db.get("qemu-an386").unwrap();
        let mut meta = BootMetadata::new(&board.name, 0x10000, Template::Secure);
        meta.slot_size = Some(0x2_0000);
        Layout::new(board, &meta).unwrap()
    }

    #[test]
    fn a_staged_candidate_is_in_the_secondary_slot_and_pending() {
        let layout = secure_layout();
        let mut flash = vec![0xFF; layout.flash.size() as usize];
        let image = vec![0x5A; 1001];
        stage(&mut flash, &layout, &image, InstallKind::Test).unwrap();
        let slots = layout.slots.unwrap();
        let at = slots.secondary.start as usize;
        assert_eq!(&flash[at..at + 1001], &image[..]);
        let state = &flash[slots.state.start as usize..slots.state.end as usize];
        assert!(state.iter().any(|&b| b != 0xFF), "the pending record was written");
    }

    #[test]
    fn staging_needs_slots_and_the_whole_flash() {
        let mut layout = secure_layout();
        let mut short = vec![0xFF; 16];
        let err = stage(&mut short, &layout, &[1], InstallKind::Test).unwrap_err();
        assert!(err.to_string().contains("give the board's flash file"), "{err}");
        layout.slots = None;
        assert_eq!(stage(&mut short, &layout, &[1], InstallKind::Test).unwrap_err(), CandidateError::NoSlots);
    }
}

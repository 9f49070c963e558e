//! The flash of a virtual board, kept in a file between runs.

use std::path::{Path, PathBuf};

use boot_app::InstallKind;

use super::{ChunkKind, FlashError, FlashPlan};
use crate::board::Board;
use crate::error::Result;
use crate::layout::Layout;
use crate::{candidate, fsutil};

/// The default flash file of a board: `<output dir>/<board>.flash`, where the output
/// directory is `target/boot/<profile>/`.
pub fn default_flash_file(output_dir: &Path, board: &Board) -> PathBuf {
    output_dir.join(format!("{}.flash", board.name))
}

/// Reads a flash file: the board's whole flash from its base. A missing file is flash
/// that was never programmed, every byte erased.
pub fn read_flash_file(path: &Path, board: &Board) -> Result<Vec<u8>, FlashError> {
    let shown = path.display().to_string();
    let flash = match std::fs::read(path) {
        Ok(flash) => flash,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(vec![board.flash.erased_value; board.flash.size as usize])
        }
        Err(source) => return Err(FlashError::Read { path: shown, source }),
    };
    if flash.len() as u64 != board.flash.size as u64 {
        return Err(FlashError::FlashFileSize {
            path: shown,
            size: flash.len() as u64,
            expected: board.flash.size,
            board: board.name.clone(),
        });
    }
    Ok(flash)
}

/// What programming a flash file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashFileReport {
    /// The file.
    pub path: PathBuf,
    /// True when there was no file before: the rest of flash is erased.
    pub created: bool,
    /// Bytes of images written.
    pub bytes: u64,
}

/// Applies the plan to the board's flash file the way a probe programs a chip (whole
/// sectors erased, then each image written) and saves it atomically. An update is
/// staged the way the app stages one: written into the secondary slot and marked
/// pending, so the bootloader test-installs it at the next boot.
pub fn program_flash_file(plan: &FlashPlan, board: &Board, layout: &Layout, path: &Path) -> Result<FlashFileReport> {
    let created = !path.exists();
    let mut flash = read_flash_file(path, board)?;
    plan.apply_chunks(&mut flash, |chunk| chunk.image.kind != ChunkKind::Update);
    for chunk in plan.chunks.iter().filter(|c| c.image.kind == ChunkKind::Update) {
        candidate::stage(&mut flash, layout, &chunk.image.data, InstallKind::Test)?;
    }
    fsutil::write_atomic(path, &flash)?;
    Ok(FlashFileReport { path: path.to_path_buf(), created, bytes: plan.bytes() })
}

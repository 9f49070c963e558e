//! The flash plan: which image goes where, checked without hardware.

use std::path::{Path, PathBuf};

use super::{FlashError, NamedRegion, IMAGE_MAGIC};
use crate::board::Board;
use crate::layout::{Layout, Region};
use crate::pipeline::BuildOutput;

/// What one `cargo boot flash` programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramTarget {
    /// The bootloader and the app as one image from the start of flash: first programming.
    Combined,
    /// The app image alone, at the start of the app region; the bootloader stays.
    App,
    /// The bootloader alone, at the start of flash; the app stays.
    Bootloader,
    /// A signed update image, into the secondary slot of the secure template.
    Update(PathBuf),
}

/// Which image a chunk of the plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// Bootloader and app.
    Combined,
    /// The bootloader alone.
    Bootloader,
    /// The app image alone.
    App,
    /// An update in the secondary slot.
    Update,
    /// The swap state area, erased: a freshly programmed primary image starts with no
    /// stale pending or trial record.
    StateReset,
}

impl std::fmt::Display for ChunkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkKind::Combined => "combined (bootloader + app)",
            ChunkKind::Bootloader => "bootloader",
            ChunkKind::App => "app",
            ChunkKind::Update => "update",
            ChunkKind::StateReset => "swap state (erased)",
        })
    }
}

/// The files a plan reads: the outputs of `cargo boot build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImages {
    /// `<name>.bin`: the bootloader padded to the app region, then the app.
    pub combined: PathBuf,
    /// `<name>_application.bin`: the app image, for the start of the app region.
    pub application: PathBuf,
}

impl BuiltImages {
    /// The images a build just wrote.
    pub fn from_build(output: &BuildOutput) -> BuiltImages {
        BuiltImages { combined: output.combined.clone(), application: output.application.clone() }
    }

    /// The images an earlier `cargo boot build` wrote into `dir` for the binary `name`
    /// (`target/boot/<profile>/<name>.bin` and `<name>_application.bin`).
    pub fn in_dir(dir: &Path, name: &str) -> BuiltImages {
        BuiltImages {
            combined: dir.join(format!("{name}.bin")),
            application: dir.join(format!("{name}_application.bin")),
        }
    }
}

/// An image to program, before the plan checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Which image it is.
    pub kind: ChunkKind,
    /// The file it came from.
    pub source: PathBuf,
    /// Where its first byte goes.
    pub address: u32,
    /// Its bytes.
    pub data: Vec<u8>,
    /// The region it belongs to: programming it may erase nothing outside.
    pub region: NamedRegion,
}

impl Image {
    /// One past its last byte.
    pub fn end(&self) -> u64 {
        self.address as u64 + self.data.len() as u64
    }
}

/// A checked image of the plan, with the flash its programming erases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The image.
    pub image: Image,
    /// The whole sectors programming it erases.
    pub erases: Region,
    /// How many sectors that is.
    pub sectors: usize,
}

/// What to write where, checked against the board: the same plan drives a probe and a
/// virtual board's flash file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashPlan {
    /// The board's name.
    pub board: String,
    /// All of the board's flash.
    pub flash: Region,
    /// The value of an erased byte.
    pub erased_value: u8,
    /// The images, in address order.
    pub chunks: Vec<Chunk>,
}

impl FlashPlan {
    /// Reads the images `targets` name and checks them against the board.
    pub fn new(
        board: &Board,
        layout: &Layout,
        images: &BuiltImages,
        targets: &[ProgramTarget],
    ) -> Result<FlashPlan, FlashError> {
        let mut images =
            targets.iter().map(|target| read_image(layout, images, target)).collect::<Result<Vec<_>, _>>()?;
        let writes_primary = targets.iter().any(|t| matches!(t, ProgramTarget::Combined | ProgramTarget::App));
        if let (true, Some(slots)) = (writes_primary, &layout.slots) {
            let data = vec![layout.erased_value; slots.state.size() as usize];
            let region = NamedRegion { name: "state area", region: slots.state };
            images.push(image(ChunkKind::StateReset, Path::new("(erased)"), slots.state.start, data, region));
        }
        FlashPlan::check(board, images)
    }

    /// Checks images against the board's flash and sector map, and orders them.
    pub fn check(board: &Board, images: Vec<Image>) -> Result<FlashPlan, FlashError> {
        let mut chunks = images.into_iter().map(|image| check_image(board, image)).collect::<Result<Vec<_>, _>>()?;
        chunks.sort_by_key(|chunk| chunk.image.address);
        check_no_overlap(&chunks)?;
        Ok(FlashPlan {
            board: board.name.clone(),
            flash: Region { start: board.flash.base, end: board.flash_end() },
            erased_value: board.flash.erased_value,
            chunks,
        })
    }

    /// Programs the plan into `flash` (the whole flash, from its base) the way a probe
    /// does: each image's sectors are erased, then the image is written.
    pub fn apply(&self, flash: &mut [u8]) {
        self.apply_chunks(flash, |_| true);
    }

    /// Like [`FlashPlan::apply`], for the chunks `keep` selects.
    pub fn apply_chunks(&self, flash: &mut [u8], keep: impl Fn(&Chunk) -> bool) {
        for chunk in self.chunks.iter().filter(|c| keep(c)) {
            let erase_start = (chunk.erases.start - self.flash.start) as usize;
            let erase_end = (chunk.erases.end - self.flash.start) as usize;
            flash[erase_start..erase_end].fill(self.erased_value);
            let start = (chunk.image.address - self.flash.start) as usize;
            flash[start..start + chunk.image.data.len()].copy_from_slice(&chunk.image.data);
        }
    }

    /// The number of bytes the plan writes.
    pub fn bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.image.data.len() as u64).sum()
    }
}

/// The region the app image lives in: the primary slot with the secure template.
fn app_region(layout: &Layout) -> NamedRegion {
    match &layout.slots {
        Some(slots) => NamedRegion { name: "primary slot", region: slots.primary },
        None => NamedRegion { name: "app region", region: layout.app_region },
    }
}

/// Reads the image one target names.
fn read_image(layout: &Layout, images: &BuiltImages, target: &ProgramTarget) -> Result<Image, FlashError> {
    match target {
        ProgramTarget::Combined => {
            let app = app_region(layout);
            let region = Region { start: layout.flash.start, end: app.region.end };
            let data = read_build_output(&images.combined)?;
            let region = NamedRegion { name: "bootloader and app regions", region };
            Ok(image(ChunkKind::Combined, &images.combined, layout.flash.start, data, region))
        }
        ProgramTarget::App => {
            let app = app_region(layout);
            let data = read_build_output(&images.application)?;
            Ok(image(ChunkKind::App, &images.application, app.region.start, data, app))
        }
        ProgramTarget::Bootloader => {
            let data = bootloader_bytes(read_build_output(&images.combined)?, layout);
            let region = NamedRegion { name: "bootloader region", region: layout.bootloader };
            Ok(image(ChunkKind::Bootloader, &images.combined, layout.bootloader.start, data, region))
        }
        ProgramTarget::Update(path) => {
            let slots = layout.slots.as_ref().ok_or(FlashError::UpdateNeedsSecure)?;
            let data = read_update(path)?;
            let region = NamedRegion { name: "secondary slot", region: slots.secondary };
            Ok(image(ChunkKind::Update, path, slots.secondary.start, data, region))
        }
    }
}

fn image(kind: ChunkKind, source: &Path, address: u32, data: Vec<u8>, region: NamedRegion) -> Image {
    Image { kind, source: source.to_path_buf(), address, data, region }
}

/// The bootloader part of a combined image, without the erased padding after it
/// (programming erased bytes into freshly erased sectors changes nothing).
fn bootloader_bytes(mut combined: Vec<u8>, layout: &Layout) -> Vec<u8> {
    combined.truncate(layout.bootloader.size() as usize);
    let used = combined.iter().rposition(|&b| b != layout.erased_value).map_or(0, |last| last + 1);
    combined.truncate(used);
    combined
}

fn read_build_output(path: &Path) -> Result<Vec<u8>, FlashError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => FlashError::BuildOutputMissing { path: path.display().to_string() },
        _ => FlashError::Read { path: path.display().to_string(), source },
    })
}

/// Reads an update and checks that it is a signed image.
fn read_update(path: &Path) -> Result<Vec<u8>, FlashError> {
    let shown = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => FlashError::UpdateMissing { path: shown.clone() },
        _ => FlashError::Read { path: shown.clone(), source },
    })?;
    if data.get(..4) != Some(&IMAGE_MAGIC.to_le_bytes()[..]) && !data.is_empty() {
        return Err(FlashError::NotSigned { path: shown });
    }
    Ok(data)
}

/// Checks one image: inside flash, inside its region, starting on a sector boundary,
/// and erasing nothing past its region.
fn check_image(board: &Board, image: Image) -> Result<Chunk, FlashError> {
    let path = image.source.display().to_string();
    if image.data.is_empty() {
        return Err(FlashError::EmptyImage { what: image.kind, path });
    }
    check_inside_flash(board, &image)?;
    check_inside_region(&image)?;
    check_starts_on_sector(board, &image)?;
    let last = board.sector_containing((image.end() - 1) as u32).expect("the image is inside flash");
    if last.end() > image.region.region.end {
        return Err(FlashError::EraseSpill {
            what: image.kind,
            end: image.end() as u32,
            sector_start: last.start,
            sector_last: last.end() - 1,
            region_name: image.region.name,
            region_end: image.region.region.end,
        });
    }
    let erases = Region { start: image.address, end: last.end() };
    let sectors = board.sectors().filter(|s| s.start >= erases.start && s.end() <= erases.end).count();
    Ok(Chunk { image, erases, sectors })
}

fn check_inside_flash(board: &Board, image: &Image) -> Result<(), FlashError> {
    let path = image.source.display().to_string();
    if image.address < board.flash.base {
        return Err(FlashError::BeforeFlash {
            what: image.kind,
            path,
            address: image.address,
            flash_start: board.flash.base,
        });
    }
    let flash_end = board.flash_end();
    if image.end() > flash_end as u64 {
        return Err(FlashError::DoesNotFit {
            what: image.kind,
            path,
            size: image.data.len() as u64,
            address: image.address,
            flash_end,
            over: image.end() - flash_end as u64,
        });
    }
    Ok(())
}

fn check_inside_region(image: &Image) -> Result<(), FlashError> {
    let region = image.region.region;
    if image.end() <= region.end as u64 {
        return Ok(());
    }
    Err(FlashError::TooBigForRegion {
        what: image.kind,
        path: image.source.display().to_string(),
        size: image.data.len() as u64,
        region_name: image.region.name,
        start: region.start,
        last: region.end - 1,
        limit: region.end - image.address,
        over: image.end() - region.end as u64,
        fix: match image.kind {
            ChunkKind::Combined | ChunkKind::App => {
                "Make the app smaller (--release, opt-level = \"s\"), or lower restrict_size"
            }
            ChunkKind::Bootloader => "Raise restrict_size, or make the bootloader smaller (build it with --release)",
            ChunkKind::Update => "Flash an update signed for this layout, or raise slot_size",
            ChunkKind::StateReset => "This is a bug in cargo boot's slot layout: please report it",
        },
    })
}

fn check_starts_on_sector(board: &Board, image: &Image) -> Result<(), FlashError> {
    if board.is_sector_boundary(image.address) {
        return Ok(());
    }
    let sector = board.sector_containing(image.address).expect("the image is inside flash");
    Err(FlashError::StartsMidSector {
        what: image.kind,
        address: image.address,
        sector_start: sector.start,
        sector_last: sector.end() - 1,
        before: image.address - 1,
        fix: match image.kind {
            ChunkKind::Update => {
                "Choose a slot_size that puts the secondary slot on a sector boundary (`cargo boot boards <board>` prints the sector map)"
            }
            _ => "Put the app region on a sector boundary with restrict_size or app_offset (`cargo boot boards <board>` prints the sector map)",
        },
    })
}

/// Images in address order must not erase each other's sectors.
fn check_no_overlap(chunks: &[Chunk]) -> Result<(), FlashError> {
    for pair in chunks.windows(2) {
        let (first, second) = (&pair[0], &pair[1]);
        if first.erases.end > second.erases.start {
            return Err(FlashError::Overlap {
                first: first.image.kind,
                first_start: first.erases.start,
                first_last: first.erases.end - 1,
                second: second.image.kind,
                second_start: second.erases.start,
                second_last: second.erases.end - 1,
            });
        }
    }
    Ok(())
}

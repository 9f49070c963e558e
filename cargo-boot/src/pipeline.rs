//! `cargo boot build`: from `[package.metadata.boot]` to the combined image.
//!
//! 1. read the package and its metadata, find the board, compute and check the layout;
//! 2. find a toolchain for the board's target;
//! 3. build the bundled bootloader template (or load `bootloader_img`) and check its size;
//! 4. build the app against a generated `memory.x` and check where it was linked and
//!    that it fits;
//! 5. combine: the bootloader padded to `restrict_size` with the erased value, then
//!    the app; check chip rules on the result (the K64F flash configuration field);
//! 6. write every output at once, atomically, under `target/boot/<profile>/`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::board::{Board, BoardDatabase};
use crate::cargo::{CargoSelection, FirmwareBuild, FirmwareKind, Profile, Workspace};
use crate::elf::{self, FlatImage};
use crate::error::{IoContext, Result};
use crate::layout::Layout;
use crate::linker::{self, Image};
use crate::metadata::{self, BootMetadata};
use crate::toolchain::{self, Toolchain};
use crate::{fsutil, ihex, secure, templates};

/// Progress of a build, for the command line to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step has started.
    Step(String),
    /// Something the user should know, that does not stop the build.
    Warning(String),
}

/// Errors about images: prebuilt bootloaders, link addresses and chip rules.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("bootloader_img {path} does not exist: fix the path in [package.metadata.boot], or remove the key to build the bundled bootloader")]
    BootloaderImgMissing { path: String },
    #[error("bootloader_img {path} is not a bootloader image ({reason}): give a .bin, an Intel .hex or an ELF file")]
    BootloaderImgFormat { path: String, reason: String },
    #[error("bootloader_img {path} starts at {start:#010x}, but the bootloader region starts at the beginning of flash, {flash:#010x}: give an image built for that address")]
    BootloaderImgAddress { path: String, start: u32, flash: u32 },
    #[error("the app was linked at {linked:#010x}, but the layout puts it at {expected:#010x}: another memory.x is on the link search path (a memory.x that your build.rs copies, or a HAL feature such as embassy-stm32's `memory-x`). Remove it: cargo boot generates memory.x for you")]
    AppLinkedElsewhere { linked: u32, expected: u32 },
    #[error("the combined image would {what}: the flash configuration field's FSEC byte at {addr:#x} is {fsec:#04x}. Put FSEC = 0xFE (unsecured, mass erase allowed) in the bootloader's `.flash_config` section")]
    FlashConfigUnsafe { what: &'static str, addr: u32, fsec: u8 },
}

/// One row of the memory-map table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionUsage {
    /// Region name.
    pub name: String,
    /// First address.
    pub start: u32,
    /// One past the last address.
    pub end: u32,
    /// Bytes used.
    pub used: u32,
}

/// Everything a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The board.
    pub board: Board,
    /// The checked layout.
    pub layout: Layout,
    /// The metadata the build used.
    pub metadata: BootMetadata,
    /// The toolchain used.
    pub toolchain: Toolchain,
    /// `target/boot/<profile>/`.
    pub dir: PathBuf,
    /// The image name (the binary's name).
    pub name: String,
    /// `<name>.bin`: bootloader + app, for first programming.
    pub combined: PathBuf,
    /// `<name>_application.bin`: the app alone (signed, with the secure template).
    pub application: PathBuf,
    /// `update.bin`: the signed image to download into the secondary slot.
    pub update: Option<PathBuf>,
    /// The app's ELF, as cargo built it.
    pub app_elf: PathBuf,
    /// Bootloader size in bytes.
    pub bootloader_size: u32,
    /// App image size in bytes.
    pub app_size: u32,
    /// The memory-map table.
    pub regions: Vec<RegionUsage>,
}

/// A project ready to build: its workspace, metadata, board and layout.
#[derive(Debug, Clone)]
pub struct Project {
    /// The workspace and chosen package.
    pub workspace: Workspace,
    /// Its boot metadata.
    pub metadata: BootMetadata,
    /// Its board.
    pub board: Board,
    /// Its checked layout.
    pub layout: Layout,
    /// What was selected on the command line.
    pub selection: CargoSelection,
}

impl Project {
    /// Reads the package, its metadata and its board, and checks the layout.
    pub fn load(selection: &CargoSelection) -> Result<Project> {
        let workspace = Workspace::load(selection)?;
        let manifest = workspace.package.manifest_path.as_std_path().to_path_buf();
        let metadata = metadata::read(
            &workspace.package.metadata,
            &workspace.metadata.workspace_metadata,
            &manifest,
            workspace.metadata.workspace_root.as_std_path(),
        )?;
        let boards_dir = metadata.boards_dir.clone().unwrap_or_else(|| workspace.package_dir().join("boards"));
        let board = BoardDatabase::with_project_boards(&boards_dir)?.get(&metadata.board)?.clone();
        let layout = Layout::new(&board, &metadata)?;
        Ok(Project { workspace, metadata, board, layout, selection: selection.clone() })
    }

    /// `target/boot/`.
    pub fn boot_dir(&self) -> PathBuf {
        self.workspace.target_dir(&self.selection).join("boot")
    }

    /// `target/boot/<profile>/`.
    pub fn output_dir(&self) -> PathBuf {
        self.boot_dir().join(self.selection.profile.dir_name())
    }
}

/// Builds everything and writes the outputs.
pub fn build(selection: &CargoSelection, on_event: &mut dyn FnMut(Event)) -> Result<BuildOutput> {
    let project = Project::load(selection)?;
    let (board, layout) = (&project.board, &project.layout);
    let dir = project.output_dir();
    let cache = project.boot_dir().join(format!("toolchain-{}.json", board.target));
    let toolchain = toolchain::resolve_cached(&board.target, &cache)?;
    let signing = layout.slots.is_some().then(|| secure::signing_key(&project.metadata)).transpose()?;
    if let Some(choice) = signing.as_ref().filter(|c| c.is_dev_key) {
        on_event(Event::Warning(secure::dev_key_warning(&choice.path)));
    }
    let bootloader_env = match &signing {
        Some(choice) => secure::bootloader_env(&project.metadata, &choice.key.public_key())?,
        None => vec![],
    };
    let bootloader = bootloader_image(&project, &toolchain, &dir, &bootloader_env, on_event)?;
    layout.check_bootloader_fits(board, bootloader.len())?;
    let name = project.workspace.binary_name(selection)?;
    on_event(Event::Step(format!("app `{name}` at {:#010x}", layout.app_start)));
    // The app gets the public key too, so that it can check a download's signature.
    let app_env: Vec<(String, String)> =
        bootloader_env.iter().filter(|(name, _)| name == "BOOT_PUBKEY_HEX").cloned().collect();
    let (app_elf, app) = build_app(&project, &toolchain, &name, &dir, &app_env)?;
    layout.check_app_fits(app.len() + layout.header_size)?;
    let (application, update) = match &signing {
        Some(choice) => {
            let version = secure::image_version(&project.metadata, &project.workspace.package.version.to_string())?;
            on_event(Event::Step(format!("signing `{name}` v{version}")));
            let signed = secure::sign_app(&app, layout, &project.metadata, &choice.key, version)?;
            layout.check_app_fits(signed.len() as u32)?;
            (FlatImage { base: layout.app_region.start, bytes: signed.clone() }, Some(signed))
        }
        None => (app_image(layout, &app), None),
    };
    let combined = combine(layout, &bootloader, &application);
    check_chip_rules(board, &combined)?;
    let outputs = OutputSet::new(&dir, &name);
    outputs.write(&combined, &application, update.as_deref())?;
    Ok(BuildOutput {
        regions: usage(layout, bootloader.len(), application.len()),
        board: project.board.clone(),
        layout: project.layout.clone(),
        metadata: project.metadata.clone(),
        toolchain,
        update: update.map(|_| outputs.update_bin.clone()),
        combined: outputs.combined_bin,
        application: outputs.application_bin,
        app_elf,
        bootloader_size: bootloader.len(),
        app_size: application.len(),
        dir,
        name,
    })
}

/// The bootloader bytes, from flash base: `bootloader_img`, or the bundled template built.
fn bootloader_image(
    project: &Project,
    toolchain: &Toolchain,
    dir: &Path,
    env: &[(String, String)],
    on_event: &mut dyn FnMut(Event),
) -> Result<FlatImage> {
    if let Some(path) = &project.metadata.bootloader_img {
        on_event(Event::Step(format!("bootloader_img {}", path.display())));
        return load_bootloader_img(path, &project.board);
    }
    let template = project.metadata.template.name();
    on_event(Event::Step(format!("bootloader ({template} template, {} driver)", project.board.flash.driver.feature())));
    build_template(project, toolchain, template, dir, env)
}

/// Reads a prebuilt bootloader: .bin at the start of flash, or .hex/.elf at their addresses.
pub fn load_bootloader_img(path: &Path, board: &Board) -> Result<FlatImage> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|_| ImageError::BootloaderImgMissing { path: shown.clone() })?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let format_error = |reason: String| ImageError::BootloaderImgFormat { path: shown.clone(), reason };
    let image = if elf::is_elf(&bytes) {
        elf::flatten(&shown, &bytes).map_err(|e| format_error(e.to_string()))?
    } else if extension == "hex" || bytes.first() == Some(&b':') {
        let text = String::from_utf8(bytes).map_err(|_| format_error("not text".into()))?;
        ihex::read(&text, board.flash.erased_value).map_err(|e| format_error(e.to_string()))?
    } else if extension == "bin" {
        FlatImage { base: board.flash.base, bytes }
    } else {
        return Err(format_error(format!("unknown file type `.{extension}`")).into());
    };
    if image.is_empty() {
        return Err(format_error("it is empty".into()).into());
    }
    if image.base != board.flash.base {
        return Err(ImageError::BootloaderImgAddress { path: shown, start: image.base, flash: board.flash.base }.into());
    }
    Ok(image)
}

/// Builds a bundled bootloader template for the board, unless the same inputs built
/// it before: the unpacked template never changes (its directory is named after its
/// contents), so a stamp of the inputs is enough to reuse the last result.
fn build_template(
    project: &Project,
    toolchain: &Toolchain,
    template: &str,
    dir: &Path,
    env: &[(String, String)],
) -> Result<FlatImage> {
    let memory_x = linker::memory_x(&project.board, &project.layout, Image::Bootloader);
    let mut features = vec![project.board.flash.driver.feature().to_string()];
    if project.board.is_virtual() && template == "secure" {
        features.push("log-uart".into());
    }
    let selection = CargoSelection {
        profile: Profile::release(),
        features,
        target_dir: Some(project.boot_dir().join("bootloader-build")),
        quiet: project.selection.quiet,
        ..CargoSelection::default()
    };
    let stamp = bootloader_stamp(template, &memory_x, &selection, toolchain, env);
    let (bin_path, stamp_path) = (dir.join("bootloader.bin"), dir.join("bootloader.stamp"));
    if std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str()) {
        if let Ok(bytes) = std::fs::read(&bin_path) {
            return Ok(FlatImage { base: project.board.flash.base, bytes });
        }
    }
    let image = compile_template(template, &memory_x, &selection, toolchain, dir, env)?;
    fsutil::write_all_atomic(&[(bin_path, image.bytes.clone()), (stamp_path, stamp.into_bytes())])?;
    Ok(image)
}

/// A hash of everything a template build depends on.
fn bootloader_stamp(
    template: &str,
    memory_x: &str,
    selection: &CargoSelection,
    toolchain: &Toolchain,
    env: &[(String, String)],
) -> String {
    let inputs = format!(
        "{}|{template}|{memory_x}|{:?}|{env:?}|{}|{}",
        templates::content_hash(),
        selection.features,
        serde_json::to_string(toolchain).unwrap_or_default(),
        env!("CARGO_PKG_VERSION")
    );
    Sha256::digest(inputs.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn compile_template(
    template: &str,
    memory_x: &str,
    selection: &CargoSelection,
    toolchain: &Toolchain,
    dir: &Path,
    env: &[(String, String)],
) -> Result<FlatImage> {
    let crate_dir = templates::unpack()?.join(template);
    let link_dir = write_link_dir(dir, "bootloader", memory_x)?;
    let manifest = crate_dir.join("Cargo.toml");
    // The secure template's build.rs reads the layout from this file, so that it is
    // checked at compile time rather than at every boot (about 1.3 KiB less code).
    let mut env = env.to_vec();
    env.push(("BOOT_MEMORY_X".into(), link_dir.join("memory.x").display().to_string()));
    let elf_path = FirmwareBuild {
        what: "the bootloader",
        manifest: &manifest,
        bin: "bootloader",
        selection,
        toolchain,
        link_dir: &link_dir,
        env: &env,
        kind: FirmwareKind::Bootloader,
    }
    .run()?;
    read_elf(&elf_path)
}

/// Builds the app against the generated memory.x and checks where it was linked.
fn build_app(
    project: &Project,
    toolchain: &Toolchain,
    bin: &str,
    dir: &Path,
    env: &[(String, String)],
) -> Result<(PathBuf, FlatImage)> {
    let memory_x = linker::memory_x(&project.board, &project.layout, Image::App);
    let link_dir = write_link_dir(dir, "app", &memory_x)?;
    // The same file at a stable path, for plain `cargo build`/`cargo run` (the project
    // template's build.rs puts `target/boot/<profile>/` on the link search path).
    let stable = dir.join("memory.x");
    if std::fs::read_to_string(&stable).ok().as_deref() != Some(memory_x.as_str()) {
        fsutil::write_atomic(&stable, memory_x.as_bytes())?;
    }
    let manifest = project.workspace.package.manifest_path.as_std_path().to_path_buf();
    let elf_path = FirmwareBuild {
        what: "the app",
        manifest: &manifest,
        bin,
        selection: &project.selection,
        toolchain,
        link_dir: &link_dir,
        env,
        kind: FirmwareKind::App,
    }
    .run()?;
    let image = read_elf(&elf_path)?;
    if image.base != project.layout.app_start {
        return Err(ImageError::AppLinkedElsewhere { linked: image.base, expected: project.layout.app_start }.into());
    }
    Ok((elf_path, image))
}

fn read_elf(path: &Path) -> Result<FlatImage> {
    let bytes = std::fs::read(path).io_context(|| format!("cannot read {}", path.display()))?;
    Ok(elf::flatten(&path.display().to_string(), &bytes)?)
}

/// Writes `memory.x` into a directory named after its hash, so that a layout change
/// changes the link flags and cargo relinks.
fn write_link_dir(dir: &Path, image: &str, memory_x: &str) -> Result<PathBuf> {
    let hash: String = Sha256::digest(memory_x.as_bytes())[..6].iter().map(|b| format!("{b:02x}")).collect();
    let link_dir = dir.join("link").join(format!("{image}-{hash}"));
    let path = link_dir.join("memory.x");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(memory_x) {
        fsutil::write_atomic(&path, memory_x.as_bytes())?;
    }
    Ok(link_dir)
}

/// The application image as it sits in the app region: header space (erased), then the app.
fn app_image(layout: &Layout, app: &FlatImage) -> FlatImage {
    let mut bytes = vec![layout.erased_value; layout.header_size as usize];
    bytes.extend_from_slice(&app.bytes);
    FlatImage { base: layout.app_region.start, bytes }
}

/// The bootloader padded with the erased value up to the app region, then the app.
pub fn combine(layout: &Layout, bootloader: &FlatImage, application: &FlatImage) -> FlatImage {
    let mut bytes = bootloader.bytes.clone();
    bytes.resize((application.base - layout.flash.start) as usize, layout.erased_value);
    bytes.extend_from_slice(&application.bytes);
    FlatImage { base: layout.flash.start, bytes }
}

/// Chip rules on the combined image: the Kinetis flash configuration field must leave
/// the chip unsecured and mass-erasable.
pub fn check_chip_rules(board: &Board, combined: &FlatImage) -> Result<(), ImageError> {
    let Some(offset) = board.flash.flash_config_field else { return Ok(()) };
    let addr = offset + 0xC;
    let fsec = combined.bytes.get(addr as usize).copied().unwrap_or(board.flash.erased_value);
    if fsec & 0b11 != 0b10 {
        return Err(ImageError::FlashConfigUnsafe { what: "secure the chip and lock out the debugger", addr, fsec });
    }
    if (fsec >> 4) & 0b11 == 0b10 {
        return Err(ImageError::FlashConfigUnsafe {
            what: "disable mass erase, so a secured chip could never be recovered",
            addr,
            fsec,
        });
    }
    Ok(())
}

fn usage(layout: &Layout, bootloader: u32, application: u32) -> Vec<RegionUsage> {
    let mut rows = vec![
        RegionUsage {
            name: "bootloader".into(),
            start: layout.bootloader.start,
            end: layout.bootloader.end,
            used: bootloader,
        },
        RegionUsage {
            name: "application".into(),
            start: layout.app_region.start,
            end: layout.app_end(),
            used: application,
        },
    ];
    if let Some(slots) = &layout.slots {
        rows.push(RegionUsage {
            name: "secondary slot".into(),
            start: slots.secondary.start,
            end: slots.secondary.end,
            used: 0,
        });
        rows.push(RegionUsage { name: "swap state".into(), start: slots.state.start, end: slots.state.end, used: 0 });
    }
    rows.sort_by_key(|row| row.start);
    rows
}

/// The files one build writes.
struct OutputSet {
    combined_bin: PathBuf,
    application_bin: PathBuf,
    combined_hex: PathBuf,
    application_hex: PathBuf,
    update_bin: PathBuf,
}

impl OutputSet {
    fn new(dir: &Path, name: &str) -> OutputSet {
        OutputSet {
            combined_bin: dir.join(format!("{name}.bin")),
            application_bin: dir.join(format!("{name}_application.bin")),
            combined_hex: dir.join(format!("{name}.hex")),
            application_hex: dir.join(format!("{name}_application.hex")),
            update_bin: dir.join("update.bin"),
        }
    }

    /// Writes all files, or none.
    fn write(&self, combined: &FlatImage, application: &FlatImage, update: Option<&[u8]>) -> Result<()> {
        let mut files = vec![
            (self.combined_bin.clone(), combined.bytes.clone()),
            (self.application_bin.clone(), application.bytes.clone()),
            (self.combined_hex.clone(), ihex::write(combined).into_bytes()),
            (self.application_hex.clone(), ihex::write(application).into_bytes()),
        ];
        if let Some(update) = update {
            files.push((self.update_bin.clone(), update.to_vec()));
        }
        fsutil::write_all_atomic(&files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(name: &str) -> Board {
        BoardDatabase::bundled().get(name).unwrap().clone()
    }

    #[test]
    fn combine_pads_with_the_erased_value() {
        let xdot = board("xdot");
        let layout = Layout {
            flash: crate::layout::Region { start: 0x0800_0000, end: 0x0804_0000 },
            bootloader: crate::layout::Region { start: 0x0800_0000, end: 0x0800_0100 },
            app_region: crate::layout::Region { start: 0x0800_0100, end: 0x0804_0000 },
            header_size: 0,
            app_start: 0x0800_0100,
            erased_value: xdot.flash.erased_value,
            slots: None,
        };
        let bl = FlatImage { base: 0x0800_0000, bytes: vec![0xAA; 3] };
        let app = FlatImage { base: 0x0800_0100, bytes: vec![0xBB; 2] };
        let combined = combine(&layout, &bl, &app);
        assert_eq!(combined.bytes.len(), 0x102);
        assert_eq!(&combined.bytes[..4], &[0xAA, 0xAA, 0xAA, 0x00]);
        assert_eq!(&combined.bytes[0x100..], &[0xBB, 0xBB]);
    }

    #[test]
    fn a_kinetis_image_without_a_flash_configuration_field_is_refused() {
        let k64 = board("frdm-k64f");
        let mut image = FlatImage { base: 0, bytes: vec![0xFF; 0x800] };
        let err = check_chip_rules(&k64, &image).unwrap_err();
        assert!(err.to_string().starts_with("the combined image would secure the chip"), "{err}");
        image.bytes[0x40C] = 0xFE;
        check_chip_rules(&k64, &image).unwrap();
        image.bytes[0x40C] = 0xE2;
        assert!(check_chip_rules(&k64, &image).unwrap_err().to_string().contains("disable mass erase"));
        check_chip_rules(&board("odin-w2"), &FlatImage { base: 0x0800_0000, bytes: vec![0xFF; 4] }).unwrap();
    }

    #[test]
    fn bootloader_img_errors_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let odin = board("odin-w2");
        let missing = dir.path().join("nope.bin");
        let err = load_bootloader_img(&missing, &odin).unwrap_err().to_string();
        assert!(err.contains("nope.bin does not exist: fix the path"), "{err}");
        let wrong = dir.path().join("bl.txt");
        std::fs::write(&wrong, b"hello").unwrap();
        let err = load_bootloader_img(&wrong, &odin).unwrap_err().to_string();
        assert!(err.contains("unknown file type `.txt`"), "{err}");
        let hex = dir.path().join("bl.hex");
        std::fs::write(&hex, ihex::write(&FlatImage { base: 0x0800_4000, bytes: vec![1, 2] })).unwrap();
        let err = load_bootloader_img(&hex, &odin).unwrap_err().to_string();
        assert!(
            err.contains(
                "starts at 0x08004000, but the bootloader region starts at the beginning of flash, 0x08000000"
            ),
            "{err}"
        );
        let bin = dir.path().join("bl.bin");
        std::fs::write(&bin, [7u8; 16]).unwrap();
        assert_eq!(load_bootloader_img(&bin, &odin).unwrap().base, 0x0800_0000);
    }
}

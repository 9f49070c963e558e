//! `cargo boot flash`: programming a board with the images `cargo boot build` wrote.
//!
//! Three steps, each usable on its own:
//!
//! 1. [`FlashPlan`], computed without hardware: which image goes where, checked against
//!    the board's sector map (probe-rs erases whole sectors, so every image must start on
//!    a sector boundary and erase nothing outside its own region), against the end of
//!    flash, and against the other images of the same run.
//! 2. [`program`]: the plan through a debug probe with probe-rs, in one `FlashLoader` and
//!    one commit, then a reset so that the program runs (probe-rs does not reset by
//!    itself). With [`ProbeOptions::dry_run`] it attaches to probe-rs' `FakeProbe`
//!    instead: everything is checked against the chip description, nothing is written.
//! 3. [`program_flash_file`]: the plan applied to a virtual board's flash, the way a
//!    probe would program it (whole sectors erased, then the images written).
//!
//! # The flash file of a virtual board
//!
//! A raw image of the whole flash region: byte `i` of the file is the byte at
//! `flash.base + i`, and the file is exactly `flash.size` bytes long. A missing file is
//! flash that was never programmed (every byte erased). The QEMU runner loads it as the
//! board's flash and writes it back when the board stops, so what the bootloader
//! installed survives until the next run. Its default place is
//! [`default_flash_file`]: `target/boot/<profile>/<board>.flash`.

mod file;
mod plan;
mod probe;
mod runner;

pub use file::{default_flash_file, program_flash_file, read_flash_file, FlashFileReport};
pub use plan::{BuiltImages, Chunk, ChunkKind, FlashPlan, Image, ProgramTarget};
pub use probe::{
    choose_probe, describe_probe, program, udev_rules, ChipTarget, FlashEvent, Operation, ProbeOptions, Programmed,
};
pub use runner::{runner_selection, RunnerEnv};

use crate::layout::Region;

/// The MCUboot image magic (`IMAGE_MAGIC`), little-endian, at the start of a signed image.
pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;

/// Where probe-rs' udev rules go on Linux.
pub const UDEV_RULES_FILE: &str = "/etc/udev/rules.d/69-probe-rs.rules";

/// Everything that can stop a flash, each message naming the fix.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    // --- The plan.
    #[error("`--update` writes into the secondary slot, which only the secure template has: set `template = \"secure\"` in [package.metadata.boot] (this project uses the minimal template, which has no update slots)")]
    UpdateNeedsSecure,
    #[error("{path} does not exist: run `cargo boot build` first, or drop `--no-build` so that `cargo boot flash` builds it")]
    BuildOutputMissing { path: String },
    #[error("update image {path} does not exist: sign the app with `cargo boot sign` and pass the signed file to `--update`")]
    UpdateMissing { path: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the {what} image {path} is empty: nothing would be programmed. Rebuild it with `cargo boot build`")]
    EmptyImage { what: ChunkKind, path: String },
    #[error("{path} is not a signed image (it does not start with the MCUboot magic {IMAGE_MAGIC:#010x}): the bootloader would refuse it. Sign the app with `cargo boot sign` and pass the signed file to `--update`")]
    NotSigned { path: String },
    #[error("image of {size} bytes at {address:#010x} does not fit the chip's flash ending at {flash_end:#010x} ({what}, {path}): it is over by {over} bytes. Make the image smaller, or check the board's flash size")]
    DoesNotFit { what: ChunkKind, path: String, size: u64, address: u32, flash_end: u32, over: u64 },
    #[error("the {what} image ({path}) would start at {address:#010x}, before the start of flash at {flash_start:#010x}: check the board's flash base")]
    BeforeFlash { what: ChunkKind, path: String, address: u32, flash_start: u32 },
    #[error("the {what} image is {size} bytes ({path}), but the {region_name} {start:#010x}-{last:#010x} holds {limit} bytes: it is over by {over} bytes. {fix}")]
    TooBigForRegion {
        what: ChunkKind,
        path: String,
        size: u64,
        region_name: &'static str,
        start: u32,
        last: u32,
        limit: u32,
        over: u64,
        fix: &'static str,
    },
    #[error("the {what} image would start at {address:#010x}, inside the sector {sector_start:#010x}-{sector_last:#010x}: flash is erased a whole sector at a time, so programming it would also erase {sector_start:#010x}-{before:#010x}, which is not part of the {what} image. {fix}")]
    StartsMidSector {
        what: ChunkKind,
        address: u32,
        sector_start: u32,
        sector_last: u32,
        before: u32,
        fix: &'static str,
    },
    #[error("the {what} image ends at {end:#010x}, inside the sector {sector_start:#010x}-{sector_last:#010x}, which reaches past the end of the {region_name} at {region_end:#010x}: erasing that sector would destroy what follows. Move the {region_name}'s end to a sector boundary")]
    EraseSpill {
        what: ChunkKind,
        end: u32,
        sector_start: u32,
        sector_last: u32,
        region_name: &'static str,
        region_end: u32,
    },
    #[error("the {first} image (erases {first_start:#010x}-{first_last:#010x}) and the {second} image (erases {second_start:#010x}-{second_last:#010x}) share flash: programming one would erase the other. Flash them in separate runs")]
    Overlap {
        first: ChunkKind,
        first_start: u32,
        first_last: u32,
        second: ChunkKind,
        second_start: u32,
        second_last: u32,
    },

    // --- The chip.
    #[error("probe-rs cannot flash the {board}: {alternative}")]
    ChipUnsupported { board: String, alternative: String },
    #[error("the board {board} names no probe-rs chip: pass `--chip <name>` (`probe-rs chip list` lists them), or add `chip = \"...\"` under [probe] in its board file")]
    NoChip { board: String },
    #[error("probe-rs does not know the chip `{chip}`{hint}: check the name (`probe-rs chip list`), or describe the chip in a target YAML (`target-gen arm` makes one from the chip's CMSIS pack) and pass it with `--chip-description-path <file.yaml>`")]
    UnknownChip { chip: String, hint: String },
    #[error("`{chip}` matches several chips ({candidates}): pass the full name with `--chip`")]
    AmbiguousChip { chip: String, candidates: String },
    #[error("chip description {path} is not usable: {message}. Generate one from the chip's CMSIS pack with `target-gen arm`")]
    ChipDescription { path: String, message: String },
    #[error("chip description {path} describes {variants}: choose one with `--chip <name>`")]
    ChipDescriptionVariants { path: String, variants: String },
    #[error("the {what} image ({start:#010x}-{last:#010x}) is not in the flash of {chip} as probe-rs describes it: check `--chip` (the board file and the chip disagree)")]
    OutsideChipFlash { what: ChunkKind, start: u32, last: u32, chip: String },
    #[error("the {what} image starts at {address:#010x}, inside a {size:#x}-byte sector of {chip} that starts at {sector_start:#010x} (probe-rs flash algorithm `{algorithm}`): the board file's sector map does not match the chip. Fix `sectors` under [flash] in the board file")]
    ChipSectorMismatch { what: ChunkKind, address: u32, size: u64, sector_start: u64, chip: String, algorithm: String },

    // --- The probe.
    #[error("no debug probe found: connect one (the board's on-board ST-LINK or DAPLink USB port, or an external probe). On Linux a probe this user may not open can be missing from the list: install the udev rules ({UDEV_RULES_FILE}, see the Flashing chapter of the book) and replug it. `cargo boot flash --dry-run` checks everything else without a probe")]
    NoProbe,
    #[error("no debug probe matches `--probe {selector}`; connected: {found}")]
    NoMatchingProbe { selector: String, found: String },
    #[error("{count} debug probes are connected: choose one with `--probe VID:PID[:SERIAL]`:\n{list}")]
    SeveralProbes { count: usize, list: String },
    #[error("this user may not open the debug probe {probes}. On Linux, put these lines in {UDEV_RULES_FILE}:\n\n{rules}\n\nthen run `sudo udevadm control --reload && sudo udevadm trigger`, make sure your user is in the `plugdev` group (`sudo usermod -aG plugdev $USER`, then log in again), and replug the probe")]
    PermissionDenied { probes: String, rules: String },
    #[error("`--probe {value}` is not VID:PID[:SERIAL] in hex (like 0483:374b or 0483:374b:066DFF555051): {message}")]
    BadProbeSelector { value: String, message: String },
    #[error("cannot open the debug probe {probe}: {source}. Replug it, or close the program that uses it (another probe-rs, OpenOCD, an IDE debugger)")]
    OpenProbe {
        probe: String,
        #[source]
        source: probe_rs::probe::DebugProbeError,
    },
    #[error("the debug probe {probe} cannot run at {speed} kHz: {source}. Choose another `--speed`")]
    Speed {
        probe: String,
        speed: u32,
        #[source]
        source: probe_rs::probe::DebugProbeError,
    },
    #[error("cannot attach to the {chip} through {probe}: {source}. Check the wiring and the board's power; try `--connect-under-reset` or a lower `--speed`")]
    Attach {
        chip: String,
        probe: String,
        #[source]
        source: probe_rs::Error,
    },
    #[error("probe-rs refused the flash plan for {chip}: {source}")]
    Stage {
        chip: String,
        #[source]
        source: probe_rs::flashing::FlashError,
    },
    #[error("programming the {chip} failed: {source}. The flash may be half written: run `cargo boot flash` again (with `--connect-under-reset` if the chip no longer answers)")]
    Program {
        chip: String,
        #[source]
        source: probe_rs::flashing::FlashError,
    },
    #[error("the {chip} was programmed but could not be reset: {source}. Press the board's reset button")]
    Reset {
        chip: String,
        #[source]
        source: probe_rs::Error,
    },

    // --- The virtual board's flash file.
    #[error("flash file {path} is {size} bytes, but the flash of the {board} is {expected} bytes: delete the file (flashing then starts from erased flash) or pass another `--flash-file`")]
    FlashFileSize { path: String, size: u64, expected: u32, board: String },

    // --- cargo run.
    #[error("{path} is not a binary that cargo built for a board (expected <target-dir>/<target>/<profile>/<binary>): `cargo boot flash <ELF>` is meant to be cargo's runner. Set `runner = \"cargo boot flash\"` for the board's target in .cargo/config.toml")]
    NotARunnerPath { path: String },
}

/// A region of flash with a name for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedRegion {
    /// Its name ("bootloader region", "secondary slot").
    pub name: &'static str,
    /// Where it is.
    pub region: Region,
}

#[cfg(test)]
mod tests;

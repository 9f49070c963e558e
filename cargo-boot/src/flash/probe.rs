//! Programming a flash plan through a debug probe with probe-rs.

use std::path::{Path, PathBuf};

use probe_rs::config::{FlashProperties, MemoryRegion, Registry, RegistryError, Target};
use probe_rs::flashing::{DownloadOptions, FlashProgress, ProgressEvent, ProgressOperation};
use probe_rs::integration::FakeProbe;
use probe_rs::probe::list::{Accessibility, Lister, ProbeListItem};
use probe_rs::probe::{DebugProbeError, DebugProbeInfo, DebugProbeSelector, Probe, ProbeCreationError};
use probe_rs::{Permissions, Session};

use super::{Chunk, FlashError, FlashPlan};
use crate::board::Board;

/// How to reach the chip, as probe-rs' own `--chip`, `--probe`, ... options say it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeOptions {
    /// The probe-rs chip name; the board's `[probe] chip` when not given.
    pub chip: Option<String>,
    /// A probe-rs target description (YAML) for a chip probe-rs does not know.
    pub chip_description: Option<PathBuf>,
    /// The probe to use, as `VID:PID[:SERIAL]`; needed when several are connected.
    pub probe: Option<String>,
    /// The probe's clock in kHz (probe-rs' default when not given).
    pub speed_khz: Option<u32>,
    /// Hold the chip in reset while attaching (for firmware that disables the debug pins).
    pub connect_under_reset: bool,
    /// Read the flash back after programming and compare.
    pub verify: bool,
    /// Check everything against the chip description with probe-rs' `FakeProbe`; write nothing.
    pub dry_run: bool,
}

/// A step of programming, as probe-rs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Reading back flash that a sector erase would destroy (not used by cargo boot's plans).
    Fill,
    /// Erasing sectors.
    Erase,
    /// Writing pages.
    Program,
    /// Reading back and comparing.
    Verify,
}

impl From<ProgressOperation> for Operation {
    fn from(operation: ProgressOperation) -> Operation {
        match operation {
            ProgressOperation::Fill => Operation::Fill,
            ProgressOperation::Erase => Operation::Erase,
            ProgressOperation::Program => Operation::Program,
            ProgressOperation::Verify => Operation::Verify,
        }
    }
}

/// Progress of programming, for the command line to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashEvent {
    /// Attaching to the chip through a probe.
    Attaching {
        /// The probe, as `--probe` would name it.
        probe: String,
        /// The probe-rs chip name.
        chip: String,
    },
    /// An operation will run, over `total` bytes if known.
    Planned {
        /// The operation.
        operation: Operation,
        /// Its size in bytes.
        total: Option<u64>,
    },
    /// An operation started.
    Started(Operation),
    /// An operation got `bytes` further.
    Progress {
        /// The operation.
        operation: Operation,
        /// Bytes done since the last event.
        bytes: u64,
    },
    /// An operation finished.
    Finished(Operation),
    /// An operation did not run: this is a dry run.
    Skipped(Operation),
    /// An operation failed (the error follows).
    Failed(Operation),
    /// A message from the flash algorithm.
    Message(String),
    /// Resetting the chip so that the new program runs.
    Resetting,
}

/// What was programmed, and through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programmed {
    /// The probe used.
    pub probe: String,
    /// The probe-rs chip name.
    pub chip: String,
}

/// Programs `plan` into the board's chip: one flash loader, one commit, then a reset so
/// that the program runs. With `options.dry_run` it attaches to probe-rs' `FakeProbe`
/// (which prints its register accesses to stdout) and writes nothing.
pub fn program(
    plan: &FlashPlan,
    board: &Board,
    options: &ProbeOptions,
    lister: &Lister,
    on_event: &mut dyn FnMut(FlashEvent),
) -> Result<Programmed, FlashError> {
    let chip = ChipTarget::resolve(board, options)?;
    chip.check_plan(plan)?;
    let (probe, probe_name) = match options.dry_run {
        true => (FakeProbe::with_mocked_core().into_probe(), "probe-rs FakeProbe (dry run)".to_string()),
        false => open_probe(lister, options)?,
    };
    on_event(FlashEvent::Attaching { probe: probe_name.clone(), chip: chip.name.clone() });
    let mut session = attach(probe, &probe_name, &chip, options)?;
    commit(&mut session, plan, &chip, options, on_event)?;
    if !options.dry_run {
        on_event(FlashEvent::Resetting);
        session
            .core(0)
            .and_then(|mut core| core.reset())
            .map_err(|source| FlashError::Reset { chip: chip.name.clone(), source })?;
    }
    Ok(Programmed { probe: probe_name, chip: chip.name })
}

/// A chip from probe-rs' database (or a chip description file), ready to attach to.
pub struct ChipTarget {
    /// The chip's probe-rs name.
    pub name: String,
    registry: Registry,
    target: Target,
}

impl std::fmt::Debug for ChipTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChipTarget").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ChipTarget {
    /// Finds the chip: `--chip`, else the only chip of `--chip-description-path`, else
    /// the board's `[probe] chip`.
    pub fn resolve(board: &Board, options: &ProbeOptions) -> Result<ChipTarget, FlashError> {
        let mut registry = Registry::from_builtin_families();
        let described = match &options.chip_description {
            Some(path) => add_description(&mut registry, path)?,
            None => Vec::new(),
        };
        let board_chip = board.probe.as_ref().and_then(|p| p.chip.clone());
        let name = match (&options.chip, described.as_slice(), board_chip) {
            (Some(chip), _, _) => chip.clone(),
            (None, [only], _) => only.clone(),
            (None, [], Some(chip)) => chip,
            (None, [], None) => return Err(no_chip_error(board)),
            (None, several, Some(chip)) if several.iter().any(|v| v.eq_ignore_ascii_case(&chip)) => chip,
            (None, several, _) => {
                return Err(FlashError::ChipDescriptionVariants {
                    path: options.chip_description.as_deref().unwrap_or(Path::new("")).display().to_string(),
                    variants: several.join(", "),
                })
            }
        };
        let target = registry.get_target_by_name(&name).map_err(|e| registry_error(board, &name, e))?;
        Ok(ChipTarget { name: target.name.clone(), registry, target })
    }

    /// Checks the plan against the chip as probe-rs describes it: every image in its
    /// flash, and starting on one of its flash algorithm's sector boundaries (the board
    /// file's sector map could disagree with the chip's).
    pub fn check_plan(&self, plan: &FlashPlan) -> Result<(), FlashError> {
        plan.chunks.iter().try_for_each(|chunk| self.check_chunk(chunk))
    }

    fn check_chunk(&self, chunk: &Chunk) -> Result<(), FlashError> {
        let image = &chunk.image;
        if !covered_by_nvm(&self.target.memory_map, image.address as u64, image.end()) {
            return Err(FlashError::OutsideChipFlash {
                what: image.kind,
                start: image.address,
                last: (image.end() - 1) as u32,
                chip: self.name.clone(),
            });
        }
        let address = image.address as u64;
        let algorithm = self
            .target
            .flash_algorithms
            .iter()
            .filter(|a| a.flash_properties.address_range.contains(&address))
            .max_by_key(|a| a.default);
        let Some(algorithm) = algorithm else { return Ok(()) };
        match sector_at(&algorithm.flash_properties, address) {
            Some((start, size)) if start != address => Err(FlashError::ChipSectorMismatch {
                what: image.kind,
                address: image.address,
                size,
                sector_start: start,
                chip: self.name.clone(),
                algorithm: algorithm.name.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// Adds a target YAML to the registry and returns the names of its chips.
fn add_description(registry: &mut Registry, path: &Path) -> Result<Vec<String>, FlashError> {
    let description_error = |message: String| FlashError::ChipDescription { path: path.display().to_string(), message };
    let yaml = std::fs::read_to_string(path).map_err(|e| description_error(e.to_string()))?;
    let family = registry.add_target_family_from_yaml(&yaml).map_err(|e| description_error(e.to_string()))?;
    let variants = registry
        .families()
        .iter()
        .filter(|f| f.name == family)
        .flat_map(|f| f.variants.iter().map(|chip| chip.name.clone()))
        .collect::<Vec<_>>();
    if variants.is_empty() {
        return Err(description_error("it describes no chip".into()));
    }
    Ok(variants)
}

/// The board has no probe-rs chip: say why, and what to use instead.
fn no_chip_error(board: &Board) -> FlashError {
    match board.probe.as_ref().and_then(|p| p.unsupported.clone()) {
        Some(alternative) => FlashError::ChipUnsupported { board: board.name.clone(), alternative },
        None => FlashError::NoChip { board: board.name.clone() },
    }
}

fn registry_error(board: &Board, chip: &str, error: RegistryError) -> FlashError {
    match error {
        RegistryError::ChipNotUnique(_, candidates) => {
            let candidates: Vec<&str> = candidates.split(", ").collect();
            let shown = candidates.iter().take(8).copied().collect::<Vec<_>>().join(", ");
            let more = if candidates.len() > 8 { ", ..." } else { "" };
            FlashError::AmbiguousChip { chip: chip.to_string(), candidates: format!("{shown}{more}") }
        }
        RegistryError::ChipNotFound(_) => {
            let hint = match board.probe.as_ref().and_then(|p| p.unsupported.as_deref()) {
                Some(alternative) => format!(" ({}: {alternative})", board.name),
                None => String::new(),
            };
            FlashError::UnknownChip { chip: chip.to_string(), hint }
        }
        other => FlashError::UnknownChip { chip: chip.to_string(), hint: format!(" ({other})") },
    }
}

/// True when `[start, end)` lies in the chip's non-volatile memory.
fn covered_by_nvm(memory_map: &[MemoryRegion], start: u64, end: u64) -> bool {
    let mut address = start;
    while address < end {
        let region = memory_map.iter().filter_map(MemoryRegion::as_nvm_region).find(|r| r.range.contains(&address));
        match region {
            Some(region) => address = region.range.end,
            None => return false,
        }
    }
    true
}

/// The start and size of the flash algorithm's sector that holds `address`.
fn sector_at(properties: &FlashProperties, address: u64) -> Option<(u64, u64)> {
    let offset = address.checked_sub(properties.address_range.start)?;
    let run = properties.sectors.iter().rev().find(|s| s.address <= offset && s.size > 0)?;
    let start = run.address + (offset - run.address) / run.size * run.size;
    Some((properties.address_range.start + start, run.size))
}

/// Lists the probes, chooses one and opens it.
fn open_probe(lister: &Lister, options: &ProbeOptions) -> Result<(Probe, String), FlashError> {
    let selector = options.probe.as_deref().map(parse_selector).transpose()?;
    let info = choose_probe(lister.list_all_with_access(), selector.as_ref())?;
    let name = describe_probe(&info);
    let probe = lister.open(DebugProbeSelector::from(&info)).map_err(|source| open_error(&info, source))?;
    Ok((probe, name))
}

fn parse_selector(value: &str) -> Result<DebugProbeSelector, FlashError> {
    value
        .parse::<DebugProbeSelector>()
        .map_err(|e| FlashError::BadProbeSelector { value: value.to_string(), message: e.to_string() })
}

/// Chooses the probe to use from the listed ones: the one `--probe` selects, or the
/// only one connected. Several probes without `--probe` are an error, so that the
/// wrong board is never programmed.
pub fn choose_probe(
    items: Vec<ProbeListItem>,
    selector: Option<&DebugProbeSelector>,
) -> Result<DebugProbeInfo, FlashError> {
    let matching: Vec<ProbeListItem> =
        items.iter().filter(|item| selector.is_none_or(|s| s.matches_probe(&item.info))).cloned().collect();
    match (matching.as_slice(), selector) {
        ([], None) => Err(FlashError::NoProbe),
        ([], Some(selector)) => Err(FlashError::NoMatchingProbe {
            selector: selector.to_string(),
            found: match items.is_empty() {
                true => "none".into(),
                false => items.iter().map(|i| describe_probe(&i.info)).collect::<Vec<_>>().join(", "),
            },
        }),
        ([only], _) if only.accessibility == Accessibility::PermissionDenied => Err(permission_error(&[&only.info])),
        ([only], _) => Ok(only.info.clone()),
        (several, _) => Err(FlashError::SeveralProbes { count: several.len(), list: probe_list(several) }),
    }
}

/// One line per probe, with the value `--probe` takes.
fn probe_list(items: &[ProbeListItem]) -> String {
    items
        .iter()
        .map(|item| {
            let access = match item.accessibility {
                Accessibility::Accessible => "",
                Accessibility::PermissionDenied => " (no permission: see the udev rules in the book)",
            };
            format!("  --probe {}    {}{access}", DebugProbeSelector::from(&item.info), item.info.identifier)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A probe as `--probe` selects it, with its name: `ST-Link V2-1 (0483:374b:0668FF...)`.
pub fn describe_probe(info: &DebugProbeInfo) -> String {
    format!("{} ({})", info.identifier, DebugProbeSelector::from(info))
}

/// udev rules that give the logged-in user (and the `plugdev` group) access to these
/// probes, one line per USB vendor and product id.
pub fn udev_rules(probes: &[&DebugProbeInfo]) -> String {
    let mut ids: Vec<(u16, u16, &str)> =
        probes.iter().map(|p| (p.vendor_id, p.product_id, p.identifier.as_str())).collect();
    ids.sort();
    ids.dedup_by_key(|(vid, pid, _)| (*vid, *pid));
    ids.iter()
        .map(|(vid, pid, name)| {
            format!(
                "# {name}\nSUBSYSTEM==\"usb\", ATTRS{{idVendor}}==\"{vid:04x}\", ATTRS{{idProduct}}==\"{pid:04x}\", MODE=\"660\", GROUP=\"plugdev\", TAG+=\"uaccess\""
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn permission_error(probes: &[&DebugProbeInfo]) -> FlashError {
    FlashError::PermissionDenied {
        probes: probes.iter().map(|p| describe_probe(p)).collect::<Vec<_>>().join(", "),
        rules: udev_rules(probes),
    }
}

/// An open that failed for lack of permission gets the udev fix; others say what failed.
fn open_error(info: &DebugProbeInfo, source: DebugProbeError) -> FlashError {
    let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied;
    match &source {
        DebugProbeError::Usb(e) | DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::Usb(e)) if denied(e) => {
            permission_error(&[info])
        }
        _ => FlashError::OpenProbe { probe: describe_probe(info), source },
    }
}

/// Sets the speed and attaches, under reset if asked. A dry run attaches plainly: the
/// fake probe has no reset line.
fn attach(
    mut probe: Probe,
    probe_name: &str,
    chip: &ChipTarget,
    options: &ProbeOptions,
) -> Result<Session, FlashError> {
    if let Some(speed) = options.speed_khz.filter(|_| !options.dry_run) {
        probe.set_speed(speed).map_err(|source| FlashError::Speed { probe: probe_name.to_string(), speed, source })?;
    }
    let permissions = Permissions::default();
    let result = match options.connect_under_reset && !options.dry_run {
        true => probe.attach_under_reset_with_registry(chip.name.as_str(), permissions, &chip.registry),
        false => probe.attach_with_registry(chip.name.as_str(), permissions, &chip.registry),
    };
    result.map_err(|source| FlashError::Attach { chip: chip.name.clone(), probe: probe_name.to_string(), source })
}

/// Stages every chunk at its address in one flash loader and commits it once.
fn commit(
    session: &mut Session,
    plan: &FlashPlan,
    chip: &ChipTarget,
    options: &ProbeOptions,
    on_event: &mut dyn FnMut(FlashEvent),
) -> Result<(), FlashError> {
    let mut loader = session.target().flash_loader();
    for chunk in &plan.chunks {
        loader
            .add_data(chunk.image.address as u64, &chunk.image.data)
            .map_err(|source| FlashError::Stage { chip: chip.name.clone(), source })?;
    }
    let dry_run = options.dry_run;
    let mut download = DownloadOptions::default();
    download.verify = options.verify;
    download.dry_run = dry_run;
    download.progress = FlashProgress::new(|event| {
        if let Some(event) = flash_event(event, dry_run) {
            on_event(event);
        }
    });
    loader.commit(session, download).map_err(|source| FlashError::Program { chip: chip.name.clone(), source })
}

/// probe-rs' progress as cargo boot's events. A dry run reports every operation as
/// failed: those are skipped, not failed.
fn flash_event(event: ProgressEvent, dry_run: bool) -> Option<FlashEvent> {
    Some(match event {
        ProgressEvent::FlashLayoutReady { .. } => return None,
        ProgressEvent::AddProgressBar { operation, total } => {
            FlashEvent::Planned { operation: operation.into(), total }
        }
        ProgressEvent::Started(operation) => FlashEvent::Started(operation.into()),
        ProgressEvent::Progress { operation, size, .. } => {
            FlashEvent::Progress { operation: operation.into(), bytes: size }
        }
        ProgressEvent::Failed(operation) if dry_run => FlashEvent::Skipped(operation.into()),
        ProgressEvent::Failed(operation) => FlashEvent::Failed(operation.into()),
        ProgressEvent::Finished(operation) => FlashEvent::Finished(operation.into()),
        ProgressEvent::DiagnosticMessage { message } => FlashEvent::Message(message),
    })
}

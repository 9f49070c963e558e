//! The boot decision the bootloader makes at every reset.

use core::fmt;

use embedded_storage::nor_flash::NorFlash;

use crate::layout::SlotLayout;
use crate::state::{Direction, InstallKind, Phase, Snapshot, StateError, StateStore, Swap};
use crate::swap::SwapPlan;
use crate::validate::{ImageInfo, ImageValidator, Rejection, SlotReader};

/// Whether the primary image is validated at every boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrimaryCheck {
    /// Validate it at every boot (hash and signature: costs boot time). An invalid primary
    /// image is replaced by the previous image if that one is valid and not a downgrade;
    /// otherwise nothing boots ([`BootError::NoBootableImage`]).
    #[default]
    Validate,
    /// Boot it without checking: only candidates are validated, before they are installed.
    Trust,
}

/// How the bootloader behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BootConfig {
    /// Whether the primary image is validated at every boot.
    pub primary_check: PrimaryCheck,
}

/// What happened at this boot, for the bootloader to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootOutcome {
    /// Nothing to do: the confirmed primary image boots.
    Normal,
    /// A new image was installed and boots on trial: it must confirm itself
    /// (`mark_booted`), or the next reset reverts it.
    Trial {
        /// The new image's security counter.
        security_counter: u32,
    },
    /// A new image was installed for good.
    Installed {
        /// The new image's security counter.
        security_counter: u32,
    },
    /// The trial image did not confirm itself: the previous image is back.
    Reverted,
    /// The candidate was refused; the current image boots. It is not tried again until
    /// the app marks a candidate pending again.
    Refused(Rejection),
    /// The primary image was invalid and the previous image was restored.
    Restored,
}

impl fmt::Display for BootOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootOutcome::Normal => f.write_str("booting the confirmed image"),
            BootOutcome::Trial { security_counter } => write!(
                f,
                "installed a new image (security counter {security_counter}) on trial: it must confirm itself"
            ),
            BootOutcome::Installed { security_counter } => {
                write!(f, "installed a new image (security counter {security_counter}) permanently")
            }
            BootOutcome::Reverted => {
                f.write_str("the trial image did not confirm itself: reverted to the previous image")
            }
            BootOutcome::Refused(reason) => write!(f, "refused the candidate image: {reason}"),
            BootOutcome::Restored => f.write_str("the primary image was invalid: restored the previous image"),
        }
    }
}

/// Where to jump, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootDecision {
    /// The primary slot's address (the image header). Always the primary slot: images
    /// only ever run from there.
    pub slot_start: u32,
    /// The app's vector table: the primary slot plus the header.
    pub vector_table: u32,
    /// What happened at this boot.
    pub outcome: BootOutcome,
}

/// Why the bootloader cannot boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootError<E> {
    /// A flash operation failed. The state is consistent: the next boot resumes.
    Flash(E),
    /// The primary image is invalid and there is no valid previous image to restore.
    NoBootableImage(Rejection),
    /// The flash driver's write size is not the one the layout was checked for.
    WriteSizeMismatch {
        /// The layout's write size.
        layout: u32,
        /// The driver's `WRITE_SIZE`.
        flash: u32,
    },
    /// The copy buffer is empty or not a multiple of the flash's write and read sizes.
    Buffer {
        /// The buffer's length.
        len: usize,
        /// The multiple it must be.
        multiple: usize,
    },
    /// The state page cannot hold the swap's progress (the layout was not checked).
    StateFull,
    /// A copied chunk read back differently: the flash is failing.
    Verify {
        /// The address of the first differing piece.
        address: u32,
    },
}

impl<E> From<E> for BootError<E> {
    fn from(error: E) -> Self {
        BootError::Flash(error)
    }
}

impl<E> From<StateError<E>> for BootError<E> {
    fn from(error: StateError<E>) -> Self {
        match error {
            StateError::Flash(error) => BootError::Flash(error),
            // The bootloader only writes progress words, which can only run out of room.
            StateError::Full | StateError::Unconfirmed | StateError::Busy => BootError::StateFull,
        }
    }
}

impl<E: fmt::Debug> fmt::Display for BootError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::Flash(error) => write!(f, "flash operation failed: {error:?}"),
            BootError::NoBootableImage(reason) => {
                write!(
                    f,
                    "no bootable image: the primary image is invalid ({reason}) and no valid previous image exists"
                )
            }
            BootError::WriteSizeMismatch { layout, flash } => write!(
                f,
                "the layout was checked for {layout}-byte flash writes but the flash driver writes {flash} bytes"
            ),
            BootError::Buffer { len, multiple } => {
                write!(f, "the copy buffer is {len} bytes: it must be a non-zero multiple of {multiple} bytes")
            }
            BootError::StateFull => f.write_str("the state area cannot hold the swap's progress: check the layout"),
            BootError::Verify { address } => write!(f, "flash verify failed at {address:#010x}: the flash is failing"),
        }
    }
}

#[cfg(feature = "std")]
impl<E: fmt::Debug> std::error::Error for BootError<E> {}

/// What to do with a pending candidate.
enum Verdict {
    Install(Swap),
    Refuse(Rejection),
}

/// Where the boot procedure goes after a step.
enum Next {
    /// Boot now.
    Boot(BootDecision),
    /// Carry on with this state; report this outcome unless a later step has another.
    Continue(Snapshot, BootOutcome),
}

/// Decides what boots, and installs, reverts or restores images on the way.
#[derive(Debug, Clone, Copy)]
pub struct BootLoader<'a> {
    layout: &'a SlotLayout,
    config: BootConfig,
}

impl<'a> BootLoader<'a> {
    /// A boot loader for `layout`.
    pub const fn new(layout: &'a SlotLayout, config: BootConfig) -> Self {
        Self { layout, config }
    }

    /// Runs the boot procedure: finishes an interrupted swap, reverts an unconfirmed trial,
    /// installs (or refuses) a pending candidate, checks the primary image, and says
    /// where to jump.
    ///
    /// `flash` must address the whole device (offset 0 at the layout's flash base).
    /// `buf` is the copy buffer: any non-zero multiple of the write size; larger is faster.
    ///
    /// Any error leaves the state consistent: after a reset, the next call resumes.
    pub fn boot<F: NorFlash, V: ImageValidator>(
        &self,
        flash: &mut F,
        validator: &mut V,
        buf: &mut [u8],
    ) -> Result<BootDecision, BootError<F::Error>> {
        self.check_setup::<F>(buf)?;
        let store = StateStore::new(self.layout.state_area());
        let mut snapshot = store.load(flash)?;
        let mut outcome = BootOutcome::Normal;
        if let Phase::Swapping { swap, steps_done } = snapshot.state.phase {
            snapshot = self.run_swap(flash, &store, &snapshot, swap, steps_done, buf)?;
            outcome = finished(&swap);
        }
        let (snapshot, outcome) = match snapshot.state.phase {
            Phase::ReadyForTrial { security_counter, .. } => {
                return self.start_trial(flash, &store, &snapshot, security_counter);
            }
            Phase::Trial { units, .. } => {
                // The trial image was started at an earlier boot and did not confirm itself.
                let revert = Swap { direction: Direction::Revert, kind: InstallKind::Test, units, security_counter: 0 };
                (self.start_swap(flash, &store, &snapshot, revert, buf)?, BootOutcome::Reverted)
            }
            Phase::Pending(kind) => match self.handle_pending(flash, validator, &store, &snapshot, kind, buf)? {
                Next::Boot(decision) => return Ok(decision),
                Next::Continue(snapshot, outcome) => (snapshot, outcome),
            },
            Phase::Idle | Phase::Swapping { .. } => (snapshot, outcome),
        };
        match self.check_primary(flash, validator, &store, &snapshot, buf)? {
            PrimaryState::Restored => Ok(self.decision(BootOutcome::Restored)),
            PrimaryState::Valid => Ok(self.decision(outcome)),
        }
    }

    /// Installs or refuses the pending candidate.
    fn handle_pending<F: NorFlash, V: ImageValidator>(
        &self,
        flash: &mut F,
        validator: &mut V,
        store: &StateStore,
        snapshot: &Snapshot,
        kind: InstallKind,
        buf: &mut [u8],
    ) -> Result<Next, BootError<F::Error>> {
        match self.consider(flash, validator, snapshot, kind)? {
            Verdict::Install(swap) => {
                let installed = self.start_swap(flash, store, snapshot, swap, buf)?;
                if let Phase::ReadyForTrial { security_counter, .. } = installed.state.phase {
                    return Ok(Next::Boot(self.start_trial(flash, store, &installed, security_counter)?));
                }
                Ok(Next::Continue(installed, finished(&swap)))
            }
            Verdict::Refuse(reason) => {
                store.refuse(flash, snapshot, reason)?;
                Ok(Next::Continue(store.load(flash)?, BootOutcome::Refused(reason)))
            }
        }
    }

    /// Records that the trial image starts now, and boots it.
    fn start_trial<F: NorFlash>(
        &self,
        flash: &mut F,
        store: &StateStore,
        snapshot: &Snapshot,
        security_counter: u32,
    ) -> Result<BootDecision, BootError<F::Error>> {
        store.start_trial(flash, snapshot)?;
        Ok(self.decision(BootOutcome::Trial { security_counter }))
    }

    fn decision(&self, outcome: BootOutcome) -> BootDecision {
        BootDecision { slot_start: self.layout.primary().start, vector_table: self.layout.app_start(), outcome }
    }

    fn check_setup<F: NorFlash>(&self, buf: &[u8]) -> Result<(), BootError<F::Error>> {
        if self.layout.write_size() as usize != F::WRITE_SIZE {
            return Err(BootError::WriteSizeMismatch { layout: self.layout.write_size(), flash: F::WRITE_SIZE as u32 });
        }
        let multiple = F::WRITE_SIZE.max(F::READ_SIZE);
        if buf.is_empty() || buf.len() % multiple != 0 {
            return Err(BootError::Buffer { len: buf.len(), multiple });
        }
        Ok(())
    }

    /// Records `swap` in a fresh state page, then runs it.
    fn start_swap<F: NorFlash>(
        &self,
        flash: &mut F,
        store: &StateStore,
        snapshot: &Snapshot,
        swap: Swap,
        buf: &mut [u8],
    ) -> Result<Snapshot, BootError<F::Error>> {
        store.start_swap(flash, snapshot, swap)?;
        let started = store.load(flash)?;
        self.run_swap(flash, store, &started, swap, 0, buf)
    }

    /// Runs the remaining steps of `swap` and reads the resulting state.
    fn run_swap<F: NorFlash>(
        &self,
        flash: &mut F,
        store: &StateStore,
        snapshot: &Snapshot,
        swap: Swap,
        steps_done: u32,
        buf: &mut [u8],
    ) -> Result<Snapshot, BootError<F::Error>> {
        // A swap phase is only ever read from a page.
        let Some(page) = snapshot.page else { return Err(BootError::StateFull) };
        SwapPlan::new(self.layout, swap).run(flash, store, &page, steps_done, buf)?;
        Ok(store.load(flash)?)
    }

    /// Validates the pending candidate and plans its install.
    fn consider<F: NorFlash, V: ImageValidator>(
        &self,
        flash: &mut F,
        validator: &mut V,
        snapshot: &Snapshot,
        kind: InstallKind,
    ) -> Result<Verdict, BootError<F::Error>> {
        let installed = snapshot.state.installed_counter;
        let candidate = match self.validate(flash, validator, self.layout.secondary().start, installed)? {
            Ok(info) => info,
            Err(reason) => return Ok(Verdict::Refuse(reason)),
        };
        let (primary_units, kind) = match self.config.primary_check {
            PrimaryCheck::Trust => (self.layout.units(), kind),
            PrimaryCheck::Validate => match self.validate(flash, validator, self.layout.primary().start, installed)? {
                Ok(current) => (self.layout.units_for(current.size), kind),
                // Nothing valid to revert to: a trial would only fall back to nothing.
                Err(_) => (self.layout.units(), InstallKind::Permanent),
            },
        };
        let units = self.layout.units_for(candidate.size).max(primary_units);
        let security_counter = candidate.security_counter;
        Ok(Verdict::Install(Swap { direction: Direction::Install, kind, units, security_counter }))
    }

    /// Validates the image at `address`, refusing it below the installed security counter.
    fn validate<F: NorFlash, V: ImageValidator>(
        &self,
        flash: &mut F,
        validator: &mut V,
        address: u32,
        installed: u32,
    ) -> Result<Result<ImageInfo, Rejection>, BootError<F::Error>> {
        let capacity = self.layout.max_image_size();
        let mut reader = SlotReader::new(flash, self.layout.offset(address), capacity);
        let verdict = validator.validate(&mut reader);
        if let Some(error) = reader.take_error() {
            return Err(BootError::Flash(error));
        }
        Ok(match verdict {
            Ok(info) if info.size == 0 => Err(Rejection::Malformed),
            Ok(info) if info.size > capacity => Err(Rejection::TooLarge { size: info.size }),
            Ok(info) if info.security_counter < installed => {
                Err(Rejection::Downgrade { candidate: info.security_counter })
            }
            other => other,
        })
    }

    /// Checks the primary image (if configured): raises the installed security counter to
    /// a valid image's, or restores the previous image in place of an invalid one.
    fn check_primary<F: NorFlash, V: ImageValidator>(
        &self,
        flash: &mut F,
        validator: &mut V,
        store: &StateStore,
        snapshot: &Snapshot,
        buf: &mut [u8],
    ) -> Result<PrimaryState, BootError<F::Error>> {
        if self.config.primary_check == PrimaryCheck::Trust {
            return Ok(PrimaryState::Valid);
        }
        let installed = snapshot.state.installed_counter;
        match self.validate(flash, validator, self.layout.primary().start, installed)? {
            Ok(info) => {
                if info.security_counter > installed {
                    store.raise_counter(flash, snapshot, info.security_counter)?;
                }
                Ok(PrimaryState::Valid)
            }
            Err(reason) => self.restore(flash, validator, store, snapshot, reason, buf),
        }
    }

    /// Brings the previous image back if there is one and it is valid and no downgrade.
    fn restore<F: NorFlash, V: ImageValidator>(
        &self,
        flash: &mut F,
        validator: &mut V,
        store: &StateStore,
        snapshot: &Snapshot,
        reason: Rejection,
        buf: &mut [u8],
    ) -> Result<PrimaryState, BootError<F::Error>> {
        let Some(units) = snapshot.state.backup_units else { return Err(BootError::NoBootableImage(reason)) };
        let installed = snapshot.state.installed_counter;
        let backup = self.layout.secondary().start + self.layout.unit_size();
        if self.validate(flash, validator, backup, installed)?.is_err() {
            return Err(BootError::NoBootableImage(reason));
        }
        let restore = Swap { direction: Direction::Restore, kind: InstallKind::Test, units, security_counter: 0 };
        let restored = self.start_swap(flash, store, snapshot, restore, buf)?;
        match self.validate(flash, validator, self.layout.primary().start, restored.state.installed_counter)? {
            Ok(_) => Ok(PrimaryState::Restored),
            Err(reason) => Err(BootError::NoBootableImage(reason)),
        }
    }
}

/// The primary image after [`BootLoader::check_primary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrimaryState {
    Valid,
    Restored,
}

/// The outcome of a completed swap.
fn finished(swap: &Swap) -> BootOutcome {
    match (swap.direction, swap.kind) {
        (Direction::Install, InstallKind::Test) => BootOutcome::Trial { security_counter: swap.security_counter },
        (Direction::Install, InstallKind::Permanent) => {
            BootOutcome::Installed { security_counter: swap.security_counter }
        }
        (Direction::Revert, _) => BootOutcome::Reverted,
        (Direction::Restore, _) => BootOutcome::Restored,
    }
}

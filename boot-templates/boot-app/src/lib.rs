//! The app's side of `cargo boot` updates.
//!
//! An app that updates itself:
//!
//! 1. writes the new signed image into the secondary slot
//!    ([`BootControl::erase_candidate`], [`BootControl::write_candidate`]);
//! 2. marks it pending ([`BootControl::mark_pending`]) and resets: the bootloader
//!    validates it and swaps it in, keeping the old image in the secondary slot;
//! 3. once the new image runs and works, it confirms itself ([`BootControl::mark_booted`]).
//!    Without that, the next reset brings the old image back.
//!
//! ```
//! use boot_app::{BootControl, Layout, RunningImage};
//! use embedded_storage::nor_flash::NorFlash;
//!
//! /// At every start: confirm the running image (this writes nothing once confirmed).
//! fn confirm<F: NorFlash>(flash: &mut F, layout: Layout) -> Result<(), boot_app::Error<F::Error>> {
//!     let mut control = BootControl::new(flash, layout)?;
//!     if control.status()?.image == RunningImage::Trial {
//!         // Self-tests go here: return early to let the next reset revert this image.
//!     }
//!     control.mark_booted()?;
//!     Ok(())
//! }
//! ```
//!
//! On the device, `boot_app::mark_booted(&mut flash)` does the same with the layout from `memory.x`.
//!
//! The layout comes from the symbols `cargo boot` writes into the app's `memory.x`
//! (`layout()`, on the device); host code builds a [`Layout`] itself. The state format is
//! `boot-core`'s: the bootloader and the app share one implementation.

#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

use core::fmt;

use boot_core::{state::record_size, BootState, Phase, StateArea, StateError, StateStore};
pub use boot_core::{Confirmation, Erased, InstallKind, LastUpdate, Region, Rejection};
use embedded_storage::nor_flash::NorFlash;

/// The flash layout the bootloader and the app share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The address of the flash driver's offset 0.
    pub flash_start: u32,
    /// The slot the app runs from (the image header at its start).
    pub primary: Region,
    /// The slot the app writes candidates into.
    pub secondary: Region,
    /// The boot state: two equal pages.
    pub state: Region,
    /// The image header's size: the app's vector table is this far into the primary slot.
    pub header_size: u32,
    /// What an erased flash byte reads as.
    pub erased: Erased,
}

impl Layout {
    /// Where the app's vector table is.
    pub const fn app_start(&self) -> u32 {
        self.primary.start + self.header_size
    }

    /// The most bytes a candidate image (header, app and TLVs) may occupy.
    pub const fn max_image_size(&self) -> u32 {
        self.primary.size
    }

    /// The flash offset of `address`.
    const fn offset(&self, address: u32) -> u32 {
        address - self.flash_start
    }

    /// Checks that the layout fits a flash driver of type `F`.
    fn check<F: NorFlash>(&self) -> Result<StateArea, LayoutMismatch> {
        let regions = [("primary slot", self.primary), ("secondary slot", self.secondary), ("state area", self.state)];
        for (name, region) in regions {
            if region.start < self.flash_start {
                return Err(LayoutMismatch::BelowFlash { name, address: region.start, flash_start: self.flash_start });
            }
        }
        let record = record_size(F::WRITE_SIZE as u32);
        let page_size = self.state.size / 2;
        if self.state.size % 2 != 0 || page_size < record * 4 || page_size % record != 0 {
            return Err(LayoutMismatch::StateArea { size: self.state.size, record });
        }
        Ok(StateArea { offset: self.offset(self.state.start), page_size, erased: self.erased })
    }
}

/// Reads the layout from the symbols `cargo boot` defines in the app's `memory.x`:
/// `__boot_flash_start`, `__boot_primary_start`, `__boot_primary_size`,
/// `__boot_secondary_start`, `__boot_secondary_size`, `__boot_state_start`,
/// `__boot_state_size`, `__boot_header_size` and `__boot_erased_value` (`0xFF` or `0x00`).
#[cfg(all(target_os = "none", target_arch = "arm"))]
pub fn layout() -> Layout {
    /// The value of a linker symbol. Read with an instruction rather than through a Rust
    /// pointer, because some of these values are 0, an address Rust assumes no static has.
    macro_rules! symbol {
        ($name:ident) => {{
            extern "C" {
                static $name: u8;
            }
            let value: u32;
            // SAFETY: loads the symbol's value (its address) from a literal; reads no memory.
            unsafe {
                core::arch::asm!("ldr {0}, ={1}", out(reg) value, sym $name,
                    options(nomem, nostack, preserves_flags, pure));
            }
            value
        }};
    }
    Layout {
        flash_start: symbol!(__boot_flash_start),
        primary: Region::new(symbol!(__boot_primary_start), symbol!(__boot_primary_size)),
        secondary: Region::new(symbol!(__boot_secondary_start), symbol!(__boot_secondary_size)),
        state: Region::new(symbol!(__boot_state_start), symbol!(__boot_state_size)),
        header_size: symbol!(__boot_header_size),
        erased: if symbol!(__boot_erased_value) == 0 { Erased::Zeros } else { Erased::Ones },
    }
}

/// Whether the running image still has to confirm itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunningImage {
    /// Confirmed: it stays installed.
    Confirmed,
    /// On trial: unless it calls [`BootControl::mark_booted`], the next reset reverts it.
    Trial,
}

/// The update state, as the app sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Whether the running image is confirmed or on trial.
    pub image: RunningImage,
    /// A candidate waiting for the next reset, and how it will be installed.
    pub pending: Option<InstallKind>,
    /// How the last update ended.
    pub last_update: LastUpdate,
    /// The security counter of the last confirmed image: the bootloader refuses images
    /// with a lower one.
    pub installed_counter: u32,
}

impl Status {
    fn from_state(state: &BootState) -> Self {
        let image = if state.is_trial() { RunningImage::Trial } else { RunningImage::Confirmed };
        let pending = match state.phase {
            Phase::Pending(kind) => Some(kind),
            _ => None,
        };
        Self { image, pending, last_update: state.last, installed_counter: state.installed_counter }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.image {
            RunningImage::Confirmed => f.write_str("image confirmed")?,
            RunningImage::Trial => f.write_str("image on trial (not confirmed: the next reset reverts it)")?,
        }
        if let Some(kind) = self.pending {
            write!(f, ", {kind} install pending")?;
        }
        write!(f, ", last update: {}, security counter {}", self.last_update, self.installed_counter)
    }
}

/// Why a layout does not fit the flash driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutMismatch {
    /// A region starts below the flash start.
    BelowFlash {
        /// The region.
        name: &'static str,
        /// Its start.
        address: u32,
        /// The flash start.
        flash_start: u32,
    },
    /// The state area is not two equal pages of whole records.
    StateArea {
        /// Its size.
        size: u32,
        /// The record size for the driver's write size.
        record: u32,
    },
}

/// Why an update operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    /// The flash driver failed.
    Flash(E),
    /// The running image is on trial: confirm it before touching the secondary slot,
    /// which holds the image a revert would restore.
    Unconfirmed,
    /// The boot state shows a swap under way, which only the bootloader may finish:
    /// reset the device.
    Busy,
    /// The write is outside the candidate's room (the primary slot's size).
    OutOfBounds {
        /// The offset into the candidate.
        offset: u32,
        /// The write's length.
        len: usize,
        /// The most a candidate may occupy.
        max: u32,
    },
    /// The layout does not fit the flash driver.
    Layout(LayoutMismatch),
}

impl<E> From<StateError<E>> for Error<E> {
    fn from(error: StateError<E>) -> Self {
        match error {
            StateError::Flash(error) => Error::Flash(error),
            StateError::Unconfirmed => Error::Unconfirmed,
            // Apps write no progress words, so they cannot run out of room for them.
            StateError::Busy | StateError::Full => Error::Busy,
        }
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Flash(error) => write!(f, "flash operation failed: {error:?}"),
            Error::Unconfirmed => f.write_str(
                "the running image is on trial: call mark_booted before writing or marking a new image, because the \
                 secondary slot holds the image a revert would restore",
            ),
            Error::Busy => f.write_str("the boot state shows a swap under way: reset so the bootloader finishes it"),
            Error::OutOfBounds { offset, len, max } => write!(
                f,
                "cannot write {len} bytes at offset {offset:#x} of the candidate: images may occupy at most {max:#x} \
                 bytes (the primary slot's size)"
            ),
            Error::Layout(LayoutMismatch::BelowFlash { name, address, flash_start }) => write!(
                f,
                "the {name} starts at {address:#010x}, below the flash start {flash_start:#010x}: check the \
                 __boot_* symbols in memory.x"
            ),
            Error::Layout(LayoutMismatch::StateArea { size, record }) => write!(
                f,
                "the state area ({size} bytes) must be two equal pages, each a multiple of {record} bytes: check \
                 __boot_state_size in memory.x"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl<E: fmt::Debug> std::error::Error for Error<E> {}

/// Update operations for the running app, on the flash driver `F`.
pub struct BootControl<'a, F> {
    flash: &'a mut F,
    layout: Layout,
    store: StateStore,
}

impl<'a, F: NorFlash> BootControl<'a, F> {
    /// Update operations on `flash` (offset 0 at `layout.flash_start`).
    pub fn new(flash: &'a mut F, layout: Layout) -> Result<Self, Error<F::Error>> {
        let area = layout.check::<F>().map_err(Error::Layout)?;
        Ok(Self { flash, layout, store: StateStore::new(area) })
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Confirms the running image: it stays installed. Writes nothing (and is cheap) if
    /// it is already confirmed, so apps can call it at every start.
    pub fn mark_booted(&mut self) -> Result<Confirmation, Error<F::Error>> {
        Ok(self.store.confirm(self.flash)?)
    }

    /// Asks the bootloader to install the candidate in the secondary slot at the next
    /// reset: on trial ([`InstallKind::Test`]) or for good ([`InstallKind::Permanent`]).
    pub fn mark_pending(&mut self, kind: InstallKind) -> Result<(), Error<F::Error>> {
        Ok(self.store.request_install(self.flash, kind)?)
    }

    /// The update state.
    pub fn status(&mut self) -> Result<Status, Error<F::Error>> {
        let snapshot = self.store.load(self.flash).map_err(Error::Flash)?;
        Ok(Status::from_state(&snapshot.state))
    }

    /// Erases the secondary slot for a new candidate. Refused while the running image is
    /// on trial: the secondary slot then holds the image a revert needs.
    pub fn erase_candidate(&mut self) -> Result<(), Error<F::Error>> {
        self.refuse_on_trial()?;
        let start = self.layout.offset(self.layout.secondary.start);
        self.flash.erase(start, start + self.layout.secondary.size).map_err(Error::Flash)
    }

    /// Writes `bytes` at `offset` into the candidate (after [`Self::erase_candidate`]).
    /// `offset` and the length must be multiples of the flash's write size.
    pub fn write_candidate(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error<F::Error>> {
        self.refuse_on_trial()?;
        let max = self.layout.max_image_size();
        let fits =
            u32::try_from(bytes.len()).ok().and_then(|len| offset.checked_add(len)).is_some_and(|end| end <= max);
        if !fits {
            return Err(Error::OutOfBounds { offset, len: bytes.len(), max });
        }
        let start = self.layout.offset(self.layout.secondary.start);
        self.flash.write(start + offset, bytes).map_err(Error::Flash)
    }

    fn refuse_on_trial(&mut self) -> Result<(), Error<F::Error>> {
        match self.status()?.image {
            RunningImage::Trial => Err(Error::Unconfirmed),
            RunningImage::Confirmed => Ok(()),
        }
    }
}

/// Confirms the running image, with the layout from `memory.x` ([`BootControl::mark_booted`]).
#[cfg(all(target_os = "none", target_arch = "arm"))]
pub fn mark_booted<F: NorFlash>(flash: &mut F) -> Result<Confirmation, Error<F::Error>> {
    BootControl::new(flash, layout())?.mark_booted()
}

/// Marks the candidate pending, with the layout from `memory.x` ([`BootControl::mark_pending`]).
#[cfg(all(target_os = "none", target_arch = "arm"))]
pub fn mark_pending<F: NorFlash>(flash: &mut F, kind: InstallKind) -> Result<(), Error<F::Error>> {
    BootControl::new(flash, layout())?.mark_pending(kind)
}

/// The update state, with the layout from `memory.x` ([`BootControl::status`]).
#[cfg(all(target_os = "none", target_arch = "arm"))]
pub fn state<F: NorFlash>(flash: &mut F) -> Result<Status, Error<F::Error>> {
    BootControl::new(flash, layout())?.status()
}

#[cfg(test)]
mod tests;

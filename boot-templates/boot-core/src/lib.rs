//! The power-fail-safe update core of `cargo boot`'s bootloaders.
//!
//! Generic over `embedded_storage::nor_flash::NorFlash`; no allocation, no panics on the
//! boot path. The bootloader calls [`BootLoader::boot`] at every reset; the app marks
//! candidates pending and confirms itself through [`StateStore`] (wrapped by the
//! `boot-app` crate); the host tool checks layouts with [`SlotLayout::new`].
//!
//! # Layout
//!
//! ```text
//! primary slot    | header | app ...................... TLVs |   (erased) |  n units
//! secondary slot  | candidate (as the app wrote it) ...        | spare unit |  n + 1 units
//! state area      | page 0 | page 1 |                                         2 pages
//! ```
//!
//! - The **swap unit** is the largest sector in either slot; each slot must be a whole
//!   number of units, each unit a whole number of sectors ([`SlotLayout::unit_size`]).
//! - The **secondary slot** is at least one unit larger than the primary slot: the swap
//!   moves the old image one unit up in it, so no scratch area is needed.
//! - The **state area** is two pages of whole sectors, each at least
//!   [`SlotLayout::required_state_page_size`]: `16 × 14` bytes plus two write-size words
//!   per unit of the primary slot (see [`state`] for the format).
//! - Images run only from the primary slot; there is no trailer in the slots, so an image
//!   may fill the whole primary slot ([`SlotLayout::max_image_size`]).
//!
//! Layouts that work:
//!
//! | Flash                  | Unit    | Primary          | Secondary          | State           | Flash for updates  |
//! |------------------------|---------|------------------|--------------------|-----------------|--------------------|
//! | uniform 4 KiB (K64F)   | 4 KiB   | `n × 4 KiB`      | `(n+1) × 4 KiB`    | `2 × 4 KiB`*    | 1 unit + 8 KiB     |
//! | uniform 256 B (STM32L1)| 256 B   | `n × 256 B`      | `(n+1) × 256 B`    | `2 × k × 256 B` | 1 unit + state     |
//! | STM32F4 16/64/128 KiB  | 128 KiB | in 128 KiB sectors | in 128 KiB sectors, one more | 2 × 16 KiB sectors | 128 KiB + 32 KiB |
//!
//! \* a 4 KiB page tracks up to 484 units (1.9 MiB of 4 KiB units) with 4-byte writes, 242 with
//! 8-byte writes. On the STM32F4, slots must sit in the 128 KiB sectors (both banks'
//! sectors 5 to 11); the 16 KiB sectors hold the bootloader and the state. A scratch-based
//! swap would need a 128 KiB scratch sector there too, and would erase it once per unit
//! per swap; this design costs the same flash and erases every sector once per swap.
//!
//! # Boot procedure
//!
//! [`BootLoader::boot`], at every reset:
//!
//! 1. **Finish an interrupted swap** from its progress words.
//! 2. **Revert an unconfirmed trial**: if the image installed on trial at the previous
//!    boot did not confirm itself, swap the old image back.
//! 3. **Consider a pending candidate**: validate it with the [`ImageValidator`]; refuse it
//!    (and record why, so it is not retried) if it is invalid or its security counter is
//!    below the installed one; otherwise swap it in, on trial or for good.
//! 4. **Check the primary image** ([`PrimaryCheck::Validate`], the default): raise the
//!    installed security counter to a valid confirmed image's; if the primary image is
//!    invalid, restore the previous image if it is valid and no downgrade, or return
//!    [`BootError::NoBootableImage`] and boot nothing.
//!
//! It returns a [`BootDecision`]: always the primary slot, and a [`BootOutcome`] to log.
//!
//! # Update states
//!
//! ```text
//!                 app: mark_pending(Test)                     boot: valid, counter ok
//!   Idle ──────────────────────────────────► Pending(Test) ─────────────────────────► Swapping(Install)
//!    ▲  ▲                                        │ boot: invalid or downgrade               │ boot: done
//!    │  └──────────── Idle, last = Refused ◄─────┘                                          ▼
//!    │                                                  app: mark_booted               Trial (new image runs)
//!    ├──────────── Idle, last = Confirmed, counter raised ◄─────────────────────────────────┤
//!    │                                                                                       │ boot (reset, not confirmed)
//!    └──────────── Idle, last = Reverted ◄──── Swapping(Revert) ◄──────────────────────────┘
//! ```
//!
//! `mark_pending(Permanent)` goes from `Swapping(Install)` straight to `Idle` (counter
//! raised). A primary image found invalid in `Idle` goes through `Swapping(Restore)`.
//!
//! # Power-fail safety
//!
//! Every state change is one record write or one page rewrite whose header is written
//! last; every swap step is repeatable and is recorded by a write-once progress word
//! only after it completed (see [`state`] and the step tables in the `swap` module's
//! source). Cut at any write or erase, the next boot resumes where the records say and
//! ends with exactly the old or exactly the new image. The tests in `src/tests` cut the
//! power at every single write and erase of installs, reverts, restores and app-side
//! state changes, on several flash maps, write sizes and erased values, and with random
//! multiple cuts and random initial flash contents.
//!
//! # Flash wear per update
//!
//! An install of `m` units erases each of the `m` swapped primary units once, secondary
//! units `1..=m` once, and one state page once ([`SlotLayout::erases_per_swap`]); a revert
//! costs the same again. Confirming writes one record. A state page is also rewritten
//! (one erase) when its spare records run out, after about eight app-side changes.

#![no_std]
#![deny(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

mod boot;
mod geometry;
mod layout;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod state;
mod swap;
mod validate;

pub use boot::{BootConfig, BootDecision, BootError, BootLoader, BootOutcome, PrimaryCheck};
pub use geometry::{Addr, Erased, Geometry, Region, Sector, SectorRun, Size};
pub use layout::{Edge, LayoutError, LayoutRequest, RegionName, SlotLayout, MAX_UNITS, MAX_WRITE_SIZE};
pub use state::{
    BootState, Confirmation, Direction, InstallKind, LastUpdate, Phase, Snapshot, StateArea, StateError, StateStore,
    Swap,
};
pub use validate::{ImageInfo, ImageValidator, Rejection, SlotReadError, SlotReader};

#[cfg(test)]
mod tests;

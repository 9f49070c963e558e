//! The power-fail-safe update core of `cargo boot`'s bootloaders.
//!
//! Generic over `embedded_storage::nor_flash::NorFlash`, `no_std`, no allocation. The
//! bootloader calls [`BootLoader::boot`] at every reset; the app marks candidates
//! pending and confirms itself through [`StateStore`] (wrapped by the `boot-app` crate);
//! the host tool checks layouts with [`SlotLayout::new`], which is a `const fn` so a
//! bootloader can check its layout at compile time too. The boot path does not panic:
//! the only panic branches left in it are slice bounds checks on sizes that const
//! assertions already bound.
//!
//! # Layout
//!
//! ```text
//! primary slot    | header | app ...... | TLVs |  (unused)  |             n units
//! secondary slot  | candidate, as the app wrote it |   ...   | spare unit | n + 1 units
//! state area      | page 0 | page 1 |
//! ```
//!
//! - The **swap unit** is the largest sector in either slot; each slot must be a whole
//!   number of units, and each unit a whole number of sectors ([`SlotLayout::unit_size`]).
//!   Units may be several small sectors (a primary slot in 4 KiB sectors against a
//!   secondary slot in 16 KiB sectors has 16 KiB units).
//! - The **secondary slot** is at least one unit larger than the primary slot: the swap
//!   moves the old image one unit up in it, so no scratch area is needed.
//! - The **state area** is two pages of whole sectors, each at least
//!   [`SlotLayout::required_state_page_size`]: 14 records (16 bytes, or the write size if
//!   larger) plus two write-size progress words per unit of the primary slot (see
//!   [`state`] for the format).
//! - Images run only from the primary slot. The slots hold no trailer, so an image may
//!   fill the whole primary slot ([`SlotLayout::max_image_size`]).
//!
//! | Flash                              | Unit    | Primary           | Secondary             | State                | Extra flash           |
//! |------------------------------------|---------|-------------------|-----------------------|----------------------|-----------------------|
//! | uniform 4 KiB sectors (K64F, QEMU) | 4 KiB   | `n` sectors       | `n + 1` sectors       | 2 × 4 KiB (`n` ≤ 484; ≤ 242 with 8-byte writes) | 12 KiB |
//! | uniform 256 B pages (STM32L1)      | 256 B   | `n` pages         | `n + 1` pages         | 2 × `k` pages, `k·256 ≥ 224 + 8n` | 256 B + state |
//! | STM32F4 16/16/16/16/64/128… KiB    | 128 KiB | 128 KiB sectors   | 128 KiB sectors, one more | 2 × 16 KiB sectors | 128 KiB + 32 KiB    |
//!
//! On the STM32F4 the slots must sit in 128 KiB sectors (sectors 5 to 11 of either bank)
//! and the 16 KiB sectors hold the bootloader and the state. A scratch-based swap would
//! need a 128 KiB scratch sector as well, and would erase it once per unit per swap; this
//! design costs the same flash and erases each sector at most once per swap.
//!
//! # Boot procedure
//!
//! [`BootLoader::boot`], at every reset:
//!
//! 1. **Finish an interrupted swap** from its progress words.
//! 2. **Start or revert a trial**: an image installed on trial but not started yet is
//!    started (recorded, then booted); one that was started at an earlier boot and did
//!    not confirm itself is swapped back out.
//! 3. **Consider a pending candidate**: validate it with the [`ImageValidator`]; refuse it,
//!    and record why so it is not tried again, if it is invalid or its security counter
//!    is below the installed one; otherwise swap it in, on trial or for good. The swap
//!    covers the units of the larger of both images. If the primary image is invalid,
//!    the install is permanent: a trial would have nothing valid to revert to.
//! 4. **Check the primary image** ([`PrimaryCheck::Validate`], the default): raise the
//!    installed security counter to the valid (confirmed) image's; if it is invalid,
//!    restore the previous image when that one is valid and no downgrade, or else return
//!    [`BootError::NoBootableImage`]: the bootloader then boots nothing and waits for
//!    recovery, rather than run an unverified image.
//!
//! It returns a [`BootDecision`]: always the primary slot, and a [`BootOutcome`] to log.
//!
//! # Update states
//!
//! ```text
//!  Idle ──app: mark_pending(Test)──► Pending(Test) ──boot: invalid / downgrade──► Idle, last = Refused(reason)
//!   ▲                                    │
//!   │                                    │ boot: valid, counter >= installed
//!   │                                    ▼
//!   │                              Swapping(Install) ──boot: all steps done──► ReadyForTrial
//!   │                                                                               │
//!   │                                              boot: record Started, jump ──────┘
//!   │                                                                               ▼
//!   ├──── Idle, last = Confirmed, counter raised ◄──── app: mark_booted ───── Trial (new image runs)
//!   │                                                                               │
//!   └──── Idle, last = Reverted ◄── all steps done ── Swapping(Revert) ◄── boot: reset while on Trial
//! ```
//!
//! `mark_pending(Permanent)` goes from `Swapping(Install)` straight to `Idle` with the
//! counter raised. In `Idle`, an invalid primary image goes through `Swapping(Restore)`
//! to `Idle, last = Restored` when the previous image is valid and no downgrade. An
//! interrupted swap is resumed from its progress words at the next boot; a trial is only
//! consumed once the bootloader has recorded that it starts the new image.

//! # Swap algorithm
//!
//! Unit `i` of a slot is the `i`-th unit from its start; the candidate starts at unit 0
//! of the secondary slot. An install of `m` units (those of the larger image) runs
//! backwards, each step erasing one unit and copying one unit into it:
//!
//! | Step         | Erase and write      | From               |
//! |--------------|----------------------|--------------------|
//! | `2(m-1-i)`   | secondary unit `i+1` | primary unit `i`   |
//! | `2(m-1-i)+1` | primary unit `i`     | secondary unit `i` |
//!
//! For `m = 3` (`O` old, `N` new, `·` spare):
//!
//! | After step | Primary units 0 1 2 | Secondary units 0 1 2 3 |
//! |------------|---------------------|-------------------------|
//! | (start)    | O0 O1 O2            | N0 N1 N2 ·              |
//! | 0          | O0 O1 O2            | N0 N1 N2 O2             |
//! | 1          | O0 O1 N2            | N0 N1 N2 O2             |
//! | 2          | O0 O1 N2            | N0 N1 O1 O2             |
//! | 3          | O0 N1 N2            | N0 N1 O1 O2             |
//! | 4          | O0 N1 N2            | N0 O0 O1 O2             |
//! | 5          | N0 N1 N2            | N0 O0 O1 O2             |
//!
//! A revert (or a restore) runs forwards and undoes it:
//!
//! | Step   | Erase and write    | From                 |
//! |--------|--------------------|----------------------|
//! | `2i`   | secondary unit `i` | primary unit `i`     |
//! | `2i+1` | primary unit `i`   | secondary unit `i+1` |
//!
//! No step overwrites its own source or data a later step needs, so a step cut short is
//! done again from the start: erase, copy, read back. Progress word `k` is programmed
//! after step `k` completes; a swap starts by rewriting the state into the other page, so
//! its progress words start erased.
//!
//! # Power-fail safety
//!
//! Every state change is one record write or one page rewrite whose header is written
//! last, and every swap step is repeatable and recorded by a write-once progress word
//! after it completed (see [`state`]). Cut at any write or erase, the next boot resumes
//! where the records say and ends with exactly the old or exactly the new image, and the
//! state stays consistent: a later confirm, revert or install works. The design assumes
//! what NOR flash does: an interrupted write or erase only moves bits towards programmed
//! (write) or erased (erase), and leaves everything outside its range alone.
//!
//! The tests (`src/tests`, on `sim::SimFlash` from the `sim` feature) cut the power at
//! every single write and erase of installs, reverts, permanent installs, restores and
//! app-side state changes, leaving the interrupted operation torn at a random point;
//! they use uniform 4 KiB sectors, the real STM32F4 map, the STM32F4 map scaled down,
//! mixed 4/16 KiB sectors and 256-byte pages, with 4-, 8- and 16-byte writes, erased
//! values `0xFF` and `0x00`, several random cuts in one update, and random initial flash
//! contents.
//!
//! # Flash wear and time per update
//!
//! An install of `m` units erases each swapped primary unit once, secondary units
//! `1..=m` once and one state page once ([`SlotLayout::erases_per_swap`]); a revert costs
//! the same again. Starting the trial and confirming write one record each. A state page
//! is also rewritten (one erase) when its free records run out: after at least 8 changes,
//! about 250 on a 4 KiB page. With 10 000 erase cycles per sector, that is 10 000
//! confirmed updates, or 5 000 reverted ones.
//!
//! A swap takes `2m` unit erases and `2m` unit copies: on an STM32F4 a 128 KiB sector
//! erase takes one to two seconds, so a bootloader with a watchdog must feed it from
//! its flash driver.

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

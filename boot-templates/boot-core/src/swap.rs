//! The swap engine: exchanges units between the slots one resumable step at a time.
//!
//! Unit `i` of a slot is the `i`-th `unit_size` bytes from its start. The secondary slot
//! has one unit more than the primary slot. An install of `m` units runs backwards, so
//! that each step's destination was freed by the step before:
//!
//! | Step       | Erase and write      | From                 |
//! |------------|----------------------|----------------------|
//! | `2(m-1-i)` | secondary unit `i+1` | primary unit `i`     |
//! | `2(m-1-i)+1` | primary unit `i`   | secondary unit `i`   |
//!
//! A revert (or restore) of `m` units runs forwards and undoes it:
//!
//! | Step   | Erase and write    | From                 |
//! |--------|--------------------|----------------------|
//! | `2i`   | secondary unit `i` | primary unit `i`     |
//! | `2i+1` | primary unit `i`   | secondary unit `i+1` |
//!
//! No step overwrites data that a later step still needs, or its own source, so a step
//! cut short by a power loss is simply done again from the start (erase, then copy).
//! Progress word `k` is programmed after step `k` completes.

use embedded_storage::nor_flash::NorFlash;

use crate::boot::BootError;
use crate::geometry::Erased;
use crate::layout::SlotLayout;
use crate::state::{Direction, Page, StateStore, Swap};

/// A swap's geometry in flash offsets.
pub(crate) struct SwapPlan {
    primary: u32,
    secondary: u32,
    unit: u32,
    erased: Erased,
    flash_base: u32,
    swap: Swap,
}

/// One step: erase `destination` (one unit) and copy `source` into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub source: u32,
    pub destination: u32,
}

impl SwapPlan {
    /// The plan for `swap` in `layout`.
    pub(crate) fn new(layout: &SlotLayout, swap: Swap) -> Self {
        Self {
            primary: layout.offset(layout.primary().start),
            secondary: layout.offset(layout.secondary().start),
            unit: layout.unit_size(),
            erased: layout.erased(),
            flash_base: layout.flash_base(),
            swap,
        }
    }

    fn primary_unit(&self, index: u32) -> u32 {
        self.primary + index * self.unit
    }

    fn secondary_unit(&self, index: u32) -> u32 {
        self.secondary + index * self.unit
    }

    /// Step `k` of the swap.
    pub(crate) fn step(&self, k: u32) -> Step {
        let second_half = k % 2 == 1;
        match self.swap.direction {
            Direction::Install => {
                let i = self.swap.units - 1 - k / 2;
                if second_half {
                    Step { source: self.secondary_unit(i), destination: self.primary_unit(i) }
                } else {
                    Step { source: self.primary_unit(i), destination: self.secondary_unit(i + 1) }
                }
            }
            Direction::Revert | Direction::Restore => {
                let i = k / 2;
                if second_half {
                    Step { source: self.secondary_unit(i + 1), destination: self.primary_unit(i) }
                } else {
                    Step { source: self.primary_unit(i), destination: self.secondary_unit(i) }
                }
            }
        }
    }

    /// Runs steps `first..` to the end, recording each in `page`.
    pub(crate) fn run<F: NorFlash>(
        &self,
        flash: &mut F,
        store: &StateStore,
        page: &Page,
        first: u32,
        buf: &mut [u8],
    ) -> Result<(), BootError<F::Error>> {
        for k in first..self.swap.steps() {
            self.copy_unit(flash, self.step(k), buf)?;
            store.mark_step(flash, page, k)?;
        }
        Ok(())
    }

    /// Erases the step's destination and copies its source into it, chunk by chunk,
    /// reading every written chunk back. Chunks that read as erased are not written.
    fn copy_unit<F: NorFlash>(&self, flash: &mut F, step: Step, buf: &mut [u8]) -> Result<(), BootError<F::Error>> {
        flash.erase(step.destination, step.destination + self.unit)?;
        let mut done = 0;
        while done < self.unit {
            let len = buf.len().min((self.unit - done) as usize);
            let chunk = &mut buf[..len];
            flash.read(step.source + done, chunk)?;
            if !self.erased.is_erased(chunk) {
                flash.write(step.destination + done, chunk)?;
                self.verify(flash, step.destination + done, chunk)?;
            }
            done += len as u32;
        }
        Ok(())
    }

    /// Reads `expected.len()` bytes at `offset` back and compares them.
    fn verify<F: NorFlash>(&self, flash: &mut F, offset: u32, expected: &[u8]) -> Result<(), BootError<F::Error>> {
        let mut bytes = [0u8; 32];
        let piece = bytes.len() / F::READ_SIZE * F::READ_SIZE;
        for (index, want) in expected.chunks(piece).enumerate() {
            let at = offset + (index * piece) as u32;
            let Some(got) = bytes.get_mut(..want.len()) else { return Err(BootError::Verify { address: at }) };
            flash.read(at, got)?;
            if got != want {
                return Err(BootError::Verify { address: self.flash_base + at });
            }
        }
        Ok(())
    }
}

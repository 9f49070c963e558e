//! Keeping the flash when the guest ends the run through semihosting.
//!
//! QEMU handles a semihosting exit (`SYS_EXIT`, `SYS_EXIT_EXTENDED`) by exiting on the
//! spot: nothing can read the flash afterwards. So, when the flash is to be saved, the
//! runner puts a breakpoint on every `bkpt #0xab` (the semihosting call) in flash. When
//! the CPU reaches one with an exit request in r0, the runner reads the flash first and
//! then lets the call go ahead.
//!
//! The code in flash can change while the board runs (a bootloader installs an update),
//! so the calls are looked for again each time a boot stage starts: at the reset
//! handler of each vector table the caller names (the bootloader's, the app's).

use std::collections::BTreeSet;
use std::io;

use super::rsp::{GdbClient, Registers};

/// `bkpt #0xab` in little-endian Thumb: the semihosting call of M-profile cores.
const SEMIHOSTING_CALL: [u8; 2] = [0xAB, 0xBE];
/// Semihosting operations that end the run.
const SYS_EXIT: u32 = 0x18;
const SYS_EXIT_EXTENDED: u32 = 0x20;

/// Why the CPU stopped at one of the traps' breakpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// A boot stage (the bootloader or the app) is starting.
    BootStage,
    /// A semihosting call is about to run.
    SemihostingCall,
}

/// The breakpoints that catch semihosting exits before QEMU acts on them.
#[derive(Debug, Clone, Default)]
pub struct ExitTraps {
    flash_base: u32,
    /// Vector tables whose reset handlers start a boot stage.
    boot_stages: Vec<u32>,
    /// Breakpoints on the reset handlers.
    stage_entries: BTreeSet<u32>,
    /// Breakpoints on semihosting calls.
    calls: BTreeSet<u32>,
}

impl ExitTraps {
    /// Traps for a flash at `flash_base`, rearmed when the reset handler of one of the
    /// vector tables at `boot_stages` runs.
    pub fn new(flash_base: u32, boot_stages: &[u32]) -> ExitTraps {
        ExitTraps { flash_base, boot_stages: boot_stages.to_vec(), ..ExitTraps::default() }
    }

    /// Looks for semihosting calls and reset handlers in `flash` (the whole flash, as it
    /// is now) and makes the breakpoints match.
    pub fn arm(&mut self, gdb: &mut GdbClient, flash: &[u8]) -> io::Result<()> {
        let calls: BTreeSet<u32> = semihosting_calls(flash, self.flash_base).collect();
        let entries: BTreeSet<u32> =
            self.boot_stages.iter().filter_map(|&table| reset_handler(flash, self.flash_base, table)).collect();
        let old: BTreeSet<u32> = self.calls.union(&self.stage_entries).copied().collect();
        let new: BTreeSet<u32> = calls.union(&entries).copied().collect();
        for &address in old.difference(&new) {
            gdb.remove_breakpoint(address)?;
        }
        for &address in new.difference(&old) {
            gdb.insert_breakpoint(address)?;
        }
        (self.calls, self.stage_entries) = (calls, entries);
        Ok(())
    }

    /// What the breakpoint at `pc` is for, if it is one of these traps.
    pub fn at(&self, pc: u32) -> Option<Trap> {
        if self.stage_entries.contains(&pc) {
            Some(Trap::BootStage)
        } else if self.calls.contains(&pc) {
            Some(Trap::SemihostingCall)
        } else {
            None
        }
    }
}

/// True when the CPU, stopped on `instruction` with `registers`, is about to ask
/// QEMU to end the run.
pub fn is_exit_call(registers: &Registers, instruction: &[u8]) -> bool {
    instruction == SEMIHOSTING_CALL && matches!(registers.r[0], SYS_EXIT | SYS_EXIT_EXTENDED)
}

/// Every halfword-aligned `bkpt #0xab` in `flash`, as addresses. Data that happens to
/// look like one only costs a breakpoint that never hits.
pub fn semihosting_calls(flash: &[u8], base: u32) -> impl Iterator<Item = u32> + '_ {
    flash
        .chunks_exact(2)
        .enumerate()
        .filter(|(_, pair)| *pair == SEMIHOSTING_CALL)
        .map(move |(i, _)| base + 2 * i as u32)
}

/// The reset handler of the vector table at `table`, if it is a Thumb address inside
/// flash (erased flash has none).
pub fn reset_handler(flash: &[u8], base: u32, table: u32) -> Option<u32> {
    let at = table.checked_sub(base)? as usize + 4;
    let vector = u32::from_le_bytes(flash.get(at..at + 4)?.try_into().ok()?);
    let handler = vector & !1;
    let inside = handler >= base && ((handler - base) as usize) < flash.len();
    (vector & 1 == 1 && inside).then_some(handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_semihosting_calls_on_halfword_boundaries_only() {
        let mut flash = vec![0xFF; 64];
        flash[10..12].copy_from_slice(&SEMIHOSTING_CALL);
        flash[21..23].copy_from_slice(&SEMIHOSTING_CALL);
        flash[62..64].copy_from_slice(&SEMIHOSTING_CALL);
        let calls: Vec<u32> = semihosting_calls(&flash, 0x1000).collect();
        assert_eq!(calls, [0x100A, 0x103E]);
    }

    #[test]
    fn reset_handlers_must_be_thumb_addresses_inside_flash() {
        let mut flash = vec![0xFF; 0x100];
        flash[0x84..0x88].copy_from_slice(&0x0000_00C1u32.to_le_bytes());
        assert_eq!(reset_handler(&flash, 0, 0x80), Some(0xC0));
        assert_eq!(reset_handler(&flash, 0, 0x40), None, "erased flash");
        flash[0x84..0x88].copy_from_slice(&0x0000_00C0u32.to_le_bytes());
        assert_eq!(reset_handler(&flash, 0, 0x80), None, "not Thumb");
        flash[0x84..0x88].copy_from_slice(&0x0000_0201u32.to_le_bytes());
        assert_eq!(reset_handler(&flash, 0, 0x80), None, "outside flash");
        assert_eq!(reset_handler(&flash, 0x1000, 0x80), None, "table below flash");
        assert_eq!(reset_handler(&flash, 0, 0xFE), None, "table past the end");
    }

    #[test]
    fn only_exit_requests_on_a_semihosting_call_end_the_run() {
        let mut registers = Registers { r: [0; 16], xpsr: 0 };
        registers.r[0] = SYS_EXIT;
        assert!(is_exit_call(&registers, &SEMIHOSTING_CALL));
        registers.r[0] = SYS_EXIT_EXTENDED;
        assert!(is_exit_call(&registers, &SEMIHOSTING_CALL));
        registers.r[0] = 0x04; // SYS_WRITE0
        assert!(!is_exit_call(&registers, &SEMIHOSTING_CALL));
        registers.r[0] = SYS_EXIT;
        assert!(!is_exit_call(&registers, &[0x00, 0xBF]), "a nop, where the call used to be");
    }

    #[test]
    fn breakpoints_are_classified() {
        let mut traps = ExitTraps::new(0, &[0]);
        traps.stage_entries.insert(0x400);
        traps.calls.insert(0x1234);
        assert_eq!(traps.at(0x400), Some(Trap::BootStage));
        assert_eq!(traps.at(0x1234), Some(Trap::SemihostingCall));
        assert_eq!(traps.at(0x1236), None);
    }
}

//! The boot state: a small log in two flash pages, shared by the bootloader and the app.
//!
//! # Format
//!
//! The state area is two equal pages; one is *current*. A page is an array of records
//! of `S = max(16, WRITE_SIZE)` bytes from its start, and an array of progress words of
//! `WRITE_SIZE` bytes from its end, growing down:
//!
//! | Position                          | Content                                               |
//! |-----------------------------------|-------------------------------------------------------|
//! | record 0                          | header: format, magic, sequence number (written last) |
//! | records 1, 2, ...                 | state records, appended in order                      |
//! | (at least one erased record)      | gap                                                   |
//! | ..., word 1, word 0 (at page end) | swap progress: word k is programmed after swap step k |
//!
//! A record is 8 payload bytes followed by their bitwise complement (padded with erased
//! bytes to `S`). Every valid record has exactly 64 bits set, so a write or an erase cut
//! short by a power loss, which only moves bits one way, can never yield a valid record:
//! a torn record reads as invalid and is skipped, and its slot is never written again.
//! A progress word is "done" as soon as any of its bits is programmed, because it is only
//! written after its step has completed.
//!
//! The current page is the one whose header is valid with the highest sequence number.
//! Changing the state appends a record to the current page; when the page is full, or
//! when a swap starts (it needs fresh progress words), the whole state is written as a
//! few records into the other page, after erasing it, and that page's header is written
//! last. Until the header is complete the old page stays current, so every state change
//! is atomic: it happened or it did not.
//!
//! | Record        | Written by | Meaning                                                       |
//! |---------------|------------|---------------------------------------------------------------|
//! | `Counter(c)`  | bootloader | the installed security counter is at least `c`               |
//! | `Backup(n)`   | bootloader | the previous image sits one unit into the secondary slot      |
//! | `Last(l)`     | bootloader | the outcome of the last update, for the app to read           |
//! | `Pending(k)`  | app        | install the candidate in the secondary slot (test/permanent)  |
//! | `Swap(s)`     | bootloader | a swap (install, revert or restore) of `n` units has started  |
//! | `Trial(n, c)` | bootloader | an install on trial finished (only in a rewritten page)       |
//! | `Started`     | bootloader | the trial image was started: the next reset reverts it        |
//! | `Confirmed`   | app        | the trial image confirmed itself                              |
//! | `Refused(r)`  | bootloader | the pending candidate was refused for reason `r`              |

use core::fmt;

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

use crate::geometry::Erased;
use crate::validate::Rejection;

/// Bytes of a record's payload; the record holds the payload and its complement.
const PAYLOAD: usize = 8;

/// The largest record (for the largest write size).
const MAX_RECORD: usize = 32;

/// The most records a rewritten page starts with (counter, backup, last, phase).
pub(crate) const SNAPSHOT_RECORDS: u32 = 4;

/// Records kept free in a freshly rewritten page for appends (confirm, pending, ...).
pub(crate) const SPARE_RECORDS: u32 = 8;

/// The header's magic, and the format version.
const MAGIC: u16 = 0xB007;
const FORMAT: u8 = 1;

/// The size of one state record for a flash with `write_size`-byte writes.
pub const fn record_size(write_size: u32) -> u32 {
    if write_size > 16 {
        write_size
    } else {
        16
    }
}

/// The smallest state page that can track a swap of `units` units: the header, a
/// rewritten state, spare records, the gap, and two progress words per unit.
pub const fn required_page_size(units: u32, write_size: u32) -> u32 {
    record_size(write_size) * (2 + SNAPSHOT_RECORDS + SPARE_RECORDS) + 2 * units * write_size
}

/// Where the state lives, in flash offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateArea {
    /// Flash offset of page 0; page 1 follows it.
    pub offset: u32,
    /// The size of each page: a whole number of sectors.
    pub page_size: u32,
    /// What an erased byte reads as.
    pub erased: Erased,
}

/// How a candidate is to be installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallKind {
    /// Boot it once on trial; unless it confirms itself, the next reset reverts it.
    Test,
    /// Install it for good: no trial, no revert.
    Permanent,
}

/// What a swap does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Installs the candidate from the secondary slot; the old image moves one unit up
    /// in the secondary slot.
    Install,
    /// Undoes an install whose trial image did not confirm itself.
    Revert,
    /// Brings the previous image back because the primary one is invalid.
    Restore,
}

/// A swap: the units of both slots it exchanges, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swap {
    /// Install, revert or restore.
    pub direction: Direction,
    /// For an install: test or permanent.
    pub kind: InstallKind,
    /// The number of units swapped, from the start of the slots.
    pub units: u32,
    /// The security counter of the image being installed (0 for reverts and restores).
    pub security_counter: u32,
}

impl Swap {
    /// The number of steps: two per unit.
    pub const fn steps(&self) -> u32 {
        2 * self.units
    }
}

/// Where the update process stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The primary image is confirmed; nothing to do.
    Idle,
    /// The app asked for the candidate in the secondary slot to be installed.
    Pending(InstallKind),
    /// A swap is under way: `steps_done` of its steps have completed.
    Swapping {
        /// The swap.
        swap: Swap,
        /// How many steps have completed.
        steps_done: u32,
    },
    /// A new image was installed on trial but has not been started yet.
    ReadyForTrial {
        /// The units the install swapped (a revert swaps them back).
        units: u32,
        /// The new image's security counter, installed once it confirms.
        security_counter: u32,
    },
    /// A new image was installed on trial, was started and has not confirmed itself.
    Trial {
        /// The units the install swapped (a revert swaps them back).
        units: u32,
        /// The new image's security counter, installed once it confirms.
        security_counter: u32,
    },
}

/// How the last update ended, kept for the app to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastUpdate {
    /// No update has finished since the state was created.
    None,
    /// A permanent install finished.
    Installed,
    /// A trial image confirmed itself.
    Confirmed,
    /// A trial image did not confirm itself and was reverted.
    Reverted,
    /// The primary image was invalid and the previous image was restored.
    Restored,
    /// The candidate was refused.
    Refused(Rejection),
}

impl fmt::Display for LastUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LastUpdate::None => f.write_str("none yet"),
            LastUpdate::Installed => f.write_str("installed permanently"),
            LastUpdate::Confirmed => f.write_str("installed and confirmed"),
            LastUpdate::Reverted => f.write_str("reverted: the new image did not confirm itself"),
            LastUpdate::Restored => f.write_str("the previous image was restored: the installed one was invalid"),
            LastUpdate::Refused(reason) => write!(f, "refused: {reason}"),
        }
    }
}

impl fmt::Display for InstallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InstallKind::Test => "test",
            InstallKind::Permanent => "permanent",
        })
    }
}

/// The whole boot state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootState {
    /// The highest security counter of a confirmed image: candidates below it are refused.
    pub installed_counter: u32,
    /// Set when the previous image sits one unit into the secondary slot, after a
    /// confirmed or permanent install: the number of units it spans.
    pub backup_units: Option<u32>,
    /// How the last update ended.
    pub last: LastUpdate,
    /// Where the update process stands.
    pub phase: Phase,
}

impl Default for BootState {
    fn default() -> Self {
        Self { installed_counter: 0, backup_units: None, last: LastUpdate::None, phase: Phase::Idle }
    }
}

impl BootState {
    /// True while the running image is on trial and has not confirmed itself.
    pub const fn is_trial(&self) -> bool {
        matches!(self.phase, Phase::Trial { .. } | Phase::ReadyForTrial { .. })
    }

    /// Applies one record. `steps` is the number of progress words in the record's page.
    fn apply(&mut self, record: Record, steps: u32) {
        if let Phase::Swapping { swap, steps_done } = self.phase {
            if steps_done < swap.steps() {
                // Nothing is appended while a swap runs: ignore anything that is.
                return;
            }
            self.finish(swap);
        }
        match record {
            Record::Header { .. } => {}
            Record::Counter(counter) => self.raise_counter(counter),
            Record::Backup(units) => self.backup_units = Some(units),
            Record::Last(last) => self.last = last,
            Record::Pending(kind) => self.request(kind),
            Record::Swap(swap) => self.phase = Phase::Swapping { swap, steps_done: steps },
            Record::Trial { units, security_counter, started: false } => {
                self.phase = Phase::ReadyForTrial { units, security_counter };
            }
            Record::Trial { units, security_counter, started: true } => {
                self.phase = Phase::Trial { units, security_counter };
            }
            Record::Started => self.start_trial(),
            Record::Confirmed => self.confirm(),
            Record::Refused(reason) => self.refuse(reason),
        }
    }

    /// Resolves a swap whose steps have all completed.
    fn finish(&mut self, swap: Swap) {
        self.phase = Phase::Idle;
        match (swap.direction, swap.kind) {
            (Direction::Install, InstallKind::Test) => {
                self.phase = Phase::ReadyForTrial { units: swap.units, security_counter: swap.security_counter };
            }
            (Direction::Install, InstallKind::Permanent) => {
                self.raise_counter(swap.security_counter);
                self.backup_units = Some(swap.units);
                self.last = LastUpdate::Installed;
            }
            (Direction::Revert, _) => {
                self.backup_units = None;
                self.last = LastUpdate::Reverted;
            }
            (Direction::Restore, _) => {
                self.backup_units = None;
                self.last = LastUpdate::Restored;
            }
        }
    }

    /// Resolves a finished swap at the end of a page.
    fn settle(&mut self) {
        if let Phase::Swapping { swap, steps_done } = self.phase {
            if steps_done >= swap.steps() {
                self.finish(swap);
            }
        }
    }

    fn raise_counter(&mut self, counter: u32) {
        self.installed_counter = self.installed_counter.max(counter);
    }

    fn request(&mut self, kind: InstallKind) {
        if matches!(self.phase, Phase::Idle | Phase::Pending(_)) {
            // The app overwrote the secondary slot: the previous image is gone.
            self.backup_units = None;
            self.phase = Phase::Pending(kind);
        }
    }

    fn start_trial(&mut self) {
        if let Phase::ReadyForTrial { units, security_counter } = self.phase {
            self.phase = Phase::Trial { units, security_counter };
        }
    }

    fn confirm(&mut self) {
        if let Phase::Trial { units, security_counter } | Phase::ReadyForTrial { units, security_counter } = self.phase
        {
            self.raise_counter(security_counter);
            self.backup_units = Some(units);
            self.last = LastUpdate::Confirmed;
            self.phase = Phase::Idle;
        }
    }

    fn refuse(&mut self, reason: Rejection) {
        if matches!(self.phase, Phase::Pending(_)) {
            self.last = LastUpdate::Refused(reason);
            self.phase = Phase::Idle;
        }
    }

    /// The records that recreate this state in a fresh page.
    fn snapshot(&self) -> [Option<Record>; SNAPSHOT_RECORDS as usize] {
        let phase = match self.phase {
            Phase::Idle => None,
            Phase::Pending(kind) => Some(Record::Pending(kind)),
            Phase::Swapping { swap, .. } => Some(Record::Swap(swap)),
            Phase::ReadyForTrial { units, security_counter } => {
                Some(Record::Trial { units, security_counter, started: false })
            }
            Phase::Trial { units, security_counter } => Some(Record::Trial { units, security_counter, started: true }),
        };
        [
            (self.installed_counter > 0).then_some(Record::Counter(self.installed_counter)),
            self.backup_units.map(Record::Backup),
            (self.last != LastUpdate::None).then_some(Record::Last(self.last)),
            phase,
        ]
    }
}

/// One state record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    Header { seq: u32 },
    Counter(u32),
    Backup(u32),
    Last(LastUpdate),
    Pending(InstallKind),
    Swap(Swap),
    Trial { units: u32, security_counter: u32, started: bool },
    Started,
    Confirmed,
    Refused(Rejection),
}

mod tag {
    pub const HEADER: u8 = 0xB0;
    pub const COUNTER: u8 = 0xC1;
    pub const BACKUP: u8 = 0xC2;
    pub const LAST: u8 = 0xC3;
    pub const PENDING: u8 = 0xD1;
    pub const SWAP: u8 = 0xD2;
    pub const TRIAL: u8 = 0xD3;
    pub const STARTED: u8 = 0xD4;
    pub const CONFIRMED: u8 = 0xE1;
    pub const REFUSED: u8 = 0xE2;
}

impl Record {
    /// The payload: tag, `a`, `b` (u16 LE), `v` (u32 LE).
    fn encode(self) -> [u8; PAYLOAD] {
        let (tag, a, b, v): (u8, u8, u32, u32) = match self {
            Record::Header { seq } => (tag::HEADER, FORMAT, MAGIC as u32, seq),
            Record::Counter(counter) => (tag::COUNTER, 0, 0, counter),
            Record::Backup(units) => (tag::BACKUP, 0, units, 0),
            Record::Last(last) => {
                let (kind, code, detail) = encode_last(last);
                (tag::LAST, kind, code as u32, detail)
            }
            Record::Pending(kind) => (tag::PENDING, encode_kind(kind), 0, 0),
            Record::Swap(swap) => (tag::SWAP, encode_swap(&swap), swap.units, swap.security_counter),
            Record::Trial { units, security_counter, started } => (tag::TRIAL, started as u8, units, security_counter),
            Record::Started => (tag::STARTED, 0, 0, 0),
            Record::Confirmed => (tag::CONFIRMED, 0, 0, 0),
            Record::Refused(reason) => {
                let (code, detail) = reason.code();
                (tag::REFUSED, 0, code as u32, detail)
            }
        };
        let b = (b as u16).to_le_bytes();
        let v = v.to_le_bytes();
        [tag, a, b[0], b[1], v[0], v[1], v[2], v[3]]
    }

    fn decode(payload: &[u8; PAYLOAD]) -> Option<Record> {
        let a = payload[1];
        let b = u16::from_le_bytes([payload[2], payload[3]]);
        let v = u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]);
        let record = match payload[0] {
            tag::HEADER if a == FORMAT && b == MAGIC => Record::Header { seq: v },
            tag::COUNTER => Record::Counter(v),
            tag::BACKUP => Record::Backup(b as u32),
            tag::LAST => Record::Last(decode_last(a, b, v)?),
            tag::PENDING => Record::Pending(decode_kind(a)?),
            tag::SWAP => Record::Swap(decode_swap(a, b, v)?),
            tag::TRIAL if a <= 1 => Record::Trial { units: b as u32, security_counter: v, started: a == 1 },
            tag::STARTED => Record::Started,
            tag::CONFIRMED => Record::Confirmed,
            tag::REFUSED => Record::Refused(Rejection::from_code(b, v)),
            _ => return None,
        };
        Some(record)
    }
}

const fn encode_kind(kind: InstallKind) -> u8 {
    match kind {
        InstallKind::Test => 1,
        InstallKind::Permanent => 2,
    }
}

const fn decode_kind(value: u8) -> Option<InstallKind> {
    match value {
        1 => Some(InstallKind::Test),
        2 => Some(InstallKind::Permanent),
        _ => None,
    }
}

const fn encode_swap(swap: &Swap) -> u8 {
    let direction = match swap.direction {
        Direction::Install => 1,
        Direction::Revert => 2,
        Direction::Restore => 3,
    };
    direction | encode_kind(swap.kind) << 4
}

fn decode_swap(a: u8, units: u16, security_counter: u32) -> Option<Swap> {
    let direction = match a & 0xF {
        1 => Direction::Install,
        2 => Direction::Revert,
        3 => Direction::Restore,
        _ => return None,
    };
    let kind = decode_kind(a >> 4)?;
    Some(Swap { direction, kind, units: units as u32, security_counter })
}

fn encode_last(last: LastUpdate) -> (u8, u16, u32) {
    match last {
        LastUpdate::None => (0, 0, 0),
        LastUpdate::Installed => (1, 0, 0),
        LastUpdate::Confirmed => (2, 0, 0),
        LastUpdate::Reverted => (3, 0, 0),
        LastUpdate::Restored => (4, 0, 0),
        LastUpdate::Refused(reason) => {
            let (code, detail) = reason.code();
            (5, code, detail)
        }
    }
}

fn decode_last(kind: u8, code: u16, detail: u32) -> Option<LastUpdate> {
    Some(match kind {
        0 => LastUpdate::None,
        1 => LastUpdate::Installed,
        2 => LastUpdate::Confirmed,
        3 => LastUpdate::Reverted,
        4 => LastUpdate::Restored,
        5 => LastUpdate::Refused(Rejection::from_code(code, detail)),
        _ => return None,
    })
}

/// What a record slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Every byte erased: the end of the records.
    Erased,
    /// A complete record.
    Valid(Record),
    /// Anything else (a write cut short, or a record from a newer format): skipped.
    Torn,
}

/// Classifies the bytes of one record slot (at least 16 bytes).
fn classify(bytes: &[u8], erased: Erased) -> Slot {
    if erased.is_erased(bytes) {
        return Slot::Erased;
    }
    let Some((payload, rest)) = bytes.split_first_chunk::<PAYLOAD>() else { return Slot::Torn };
    let Some(complement) = rest.first_chunk::<PAYLOAD>() else { return Slot::Torn };
    if payload.iter().zip(complement).any(|(p, c)| *p != !*c) {
        return Slot::Torn;
    }
    match Record::decode(payload) {
        Some(record) => Slot::Valid(record),
        None => Slot::Torn,
    }
}

/// Writes the record's bytes (payload, complement, erased padding) into `out` (at least
/// 16 bytes).
fn encode_slot(record: Record, erased: Erased, out: &mut [u8]) {
    let payload = record.encode();
    let complement = payload.map(|byte| !byte);
    out.fill(erased.byte());
    for (byte, value) in out.iter_mut().zip(payload.iter().chain(&complement)) {
        *byte = *value;
    }
}

/// The record size for the flash driver `F`: a constant once `F` is known.
const fn record_of<F: NorFlash>() -> u32 {
    record_size(F::WRITE_SIZE as u32)
}

/// A buffer aligned for any flash driver that reads words from the source.
#[repr(C, align(32))]
struct Aligned<const N: usize>([u8; N]);

/// Why a state operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError<E> {
    /// A flash operation failed.
    Flash(E),
    /// The running image is on trial: confirm it (`mark_booted`) before installing
    /// another one, since the secondary slot holds the image a revert needs.
    Unconfirmed,
    /// A swap is under way (only the bootloader runs then).
    Busy,
    /// The state page has no room for the swap's progress: the layout was not checked
    /// with [`crate::SlotLayout::new`].
    Full,
}

impl<E> From<E> for StateError<E> {
    fn from(error: E) -> Self {
        StateError::Flash(error)
    }
}

impl<E: fmt::Debug> fmt::Display for StateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Flash(error) => write!(f, "the boot state's flash failed: {error:?}"),
            StateError::Unconfirmed => f.write_str(
                "the running image is on trial: confirm it (mark_booted) before installing another image, because \
                 the secondary slot still holds the image a revert would restore",
            ),
            StateError::Busy => f.write_str("a swap is under way; only the bootloader may change the state now"),
            StateError::Full => f.write_str(
                "the state page has no room for the swap's progress records: check the layout with \
                 SlotLayout::new, which sizes the state area",
            ),
        }
    }
}

#[cfg(feature = "std")]
impl<E: fmt::Debug> std::error::Error for StateError<E> {}

/// The result of [`StateStore::confirm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The trial image is now confirmed; its security counter is installed.
    Confirmed {
        /// The image's security counter.
        security_counter: u32,
    },
    /// The running image was not on trial: nothing was written.
    AlreadyConfirmed,
}

/// The current page: where the next record and the next progress word go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    /// 0 or 1.
    index: u32,
    /// The header's sequence number.
    seq: u32,
    /// The first erased record slot.
    gap: u32,
    /// The number of programmed progress words.
    steps: u32,
}

/// The state as read from flash, with the position of its current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// The state.
    pub state: BootState,
    /// The current page, if any page is valid.
    pub(crate) page: Option<Page>,
}

/// Reads and changes the boot state in a [`StateArea`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateStore {
    area: StateArea,
}

impl StateStore {
    /// The store for `area`.
    pub const fn new(area: StateArea) -> Self {
        Self { area }
    }

    /// Checks at compile time that the driver's sizes work with the state format.
    const fn check_flash<F: ReadNorFlash>() {
        assert!(F::READ_SIZE.is_power_of_two() && F::READ_SIZE <= PAYLOAD, "READ_SIZE must be 1, 2, 4 or 8");
    }

    const fn check_writes<F: NorFlash>() {
        assert!(F::WRITE_SIZE.is_power_of_two() && F::WRITE_SIZE <= MAX_RECORD, "WRITE_SIZE must be 1 to 32");
        assert!(F::WRITE_SIZE >= F::READ_SIZE, "WRITE_SIZE must be at least READ_SIZE");
    }

    fn page_offset(&self, index: u32) -> u32 {
        self.area.offset + index * self.area.page_size
    }

    /// Reads the state. A blank or unreadable state area reads as the default state
    /// (no update under way, security counter 0).
    pub fn load<F: NorFlash>(&self, flash: &mut F) -> Result<Snapshot, F::Error> {
        const { Self::check_flash::<F>() };
        const { Self::check_writes::<F>() };
        let Some((index, seq)) = self.current_page(flash)? else {
            return Ok(Snapshot { state: BootState::default(), page: None });
        };
        let gap = self.find_gap(flash, index)?;
        let steps = self.count_steps(flash, index, gap)?;
        let state = self.fold(flash, index, gap, steps)?;
        Ok(Snapshot { state, page: Some(Page { index, seq, gap, steps }) })
    }

    /// The valid page with the highest sequence number, if any.
    fn current_page<F: NorFlash>(&self, flash: &mut F) -> Result<Option<(u32, u32)>, F::Error> {
        let mut best: Option<(u32, u32)> = None;
        for index in 0..2 {
            if let Slot::Valid(Record::Header { seq }) = self.read_slot(flash, index, 0)? {
                if best.is_none_or(|(_, best_seq)| seq > best_seq) {
                    best = Some((index, seq));
                }
            }
        }
        Ok(best)
    }

    fn read_slot<F: NorFlash>(&self, flash: &mut F, page: u32, slot: u32) -> Result<Slot, F::Error> {
        let record = record_of::<F>();
        let mut bytes = [0; MAX_RECORD];
        let bytes = &mut bytes[..record as usize];
        flash.read(self.page_offset(page) + slot * record, bytes)?;
        Ok(classify(bytes, self.area.erased))
    }

    /// The first erased record slot after the header.
    fn find_gap<F: NorFlash>(&self, flash: &mut F, page: u32) -> Result<u32, F::Error> {
        let slots = self.area.page_size / record_of::<F>();
        for slot in 1..slots {
            if self.read_slot(flash, page, slot)? == Slot::Erased {
                return Ok(slot);
            }
        }
        Ok(slots)
    }

    /// The number of programmed progress words, stopping at the gap.
    fn count_steps<F: NorFlash>(&self, flash: &mut F, page: u32, gap: u32) -> Result<u32, F::Error> {
        let word = F::WRITE_SIZE as u32;
        let limit = (gap + 1) * record_of::<F>();
        let mut steps = 0;
        let mut bytes = [0; MAX_RECORD];
        let bytes = &mut bytes[..word as usize];
        while let Some(position) = self.area.page_size.checked_sub((steps + 1) * word).filter(|&p| p >= limit) {
            flash.read(self.page_offset(page) + position, bytes)?;
            if self.area.erased.is_erased(bytes) {
                break;
            }
            steps += 1;
        }
        Ok(steps)
    }

    /// Replays the records of a page.
    fn fold<F: NorFlash>(&self, flash: &mut F, page: u32, gap: u32, steps: u32) -> Result<BootState, F::Error> {
        let mut state = BootState::default();
        for slot in 1..gap {
            if let Slot::Valid(found) = self.read_slot(flash, page, slot)? {
                state.apply(found, steps);
            }
        }
        state.settle();
        Ok(state)
    }

    /// Records `record`: appended to the current page if it fits, otherwise the new
    /// state is rewritten into the other page. Never called while a swap is unfinished
    /// (callers check the phase): a rewrite would drop the swap's progress words.
    fn append<F: NorFlash>(&self, flash: &mut F, snapshot: &Snapshot, record: Record) -> Result<(), F::Error> {
        let size = record_of::<F>();
        if let Some(page) = snapshot.page {
            let progress_start = self.area.page_size - page.steps * F::WRITE_SIZE as u32;
            if (page.gap + 2) * size <= progress_start {
                let mut bytes = Aligned([0; MAX_RECORD]);
                let bytes = &mut bytes.0[..size as usize];
                encode_slot(record, self.area.erased, bytes);
                return flash.write(self.page_offset(page.index) + page.gap * size, bytes);
            }
        }
        let mut state = snapshot.state;
        state.apply(record, 0);
        self.rewrite(flash, snapshot, &state)
    }

    /// Writes `state` into the other page: erase it, write the records, then the header.
    pub(crate) fn rewrite<F: NorFlash>(
        &self,
        flash: &mut F,
        snapshot: &Snapshot,
        state: &BootState,
    ) -> Result<(), F::Error> {
        let size = record_of::<F>() as usize;
        let (index, seq) = match snapshot.page {
            Some(page) => (1 - page.index, page.seq.wrapping_add(1)),
            None => (0, 1),
        };
        let offset = self.page_offset(index);
        flash.erase(offset, offset + self.area.page_size)?;
        let mut bytes = Aligned([0; MAX_RECORD * SNAPSHOT_RECORDS as usize]);
        let mut len = 0;
        for (record, out) in state.snapshot().into_iter().flatten().zip(bytes.0.chunks_exact_mut(size)) {
            encode_slot(record, self.area.erased, out);
            len += size;
        }
        if let Some(records @ [_, ..]) = bytes.0.get(..len) {
            flash.write(offset + size as u32, records)?;
        }
        let mut header = Aligned([0; MAX_RECORD]);
        encode_slot(Record::Header { seq }, self.area.erased, &mut header.0[..size]);
        flash.write(offset, &header.0[..size])
    }

    /// Programs progress word `step` of the current page.
    pub(crate) fn mark_step<F: NorFlash>(
        &self,
        flash: &mut F,
        page: &Page,
        step: u32,
    ) -> Result<(), StateError<F::Error>> {
        let word = F::WRITE_SIZE as u32;
        let limit = (page.gap + 1) * record_of::<F>();
        let position = self.area.page_size.checked_sub((step + 1) * word).filter(|&p| p >= limit);
        let Some(position) = position else { return Err(StateError::Full) };
        let bytes = Aligned([self.area.erased.programmed(); MAX_RECORD]);
        flash.write(self.page_offset(page.index) + position, &bytes.0[..word as usize])?;
        Ok(())
    }

    /// Records that the app wants the candidate in the secondary slot installed.
    /// Nothing is written if the same request is already pending.
    pub fn request_install<F: NorFlash>(&self, flash: &mut F, kind: InstallKind) -> Result<(), StateError<F::Error>> {
        let snapshot = self.load(flash)?;
        match snapshot.state.phase {
            Phase::Trial { .. } | Phase::ReadyForTrial { .. } => Err(StateError::Unconfirmed),
            Phase::Swapping { .. } => Err(StateError::Busy),
            Phase::Pending(pending) if pending == kind => Ok(()),
            Phase::Idle | Phase::Pending(_) => Ok(self.append(flash, &snapshot, Record::Pending(kind))?),
        }
    }

    /// Confirms the running image if it is on trial; otherwise writes nothing.
    pub fn confirm<F: NorFlash>(&self, flash: &mut F) -> Result<Confirmation, StateError<F::Error>> {
        let snapshot = self.load(flash)?;
        match snapshot.state.phase {
            Phase::Trial { security_counter, .. } | Phase::ReadyForTrial { security_counter, .. } => {
                self.append(flash, &snapshot, Record::Confirmed)?;
                Ok(Confirmation::Confirmed { security_counter })
            }
            Phase::Swapping { .. } => Err(StateError::Busy),
            Phase::Idle | Phase::Pending(_) => Ok(Confirmation::AlreadyConfirmed),
        }
    }

    /// Records that the trial image is being started: the next reset reverts it unless
    /// it confirms itself.
    pub(crate) fn start_trial<F: NorFlash>(&self, flash: &mut F, snapshot: &Snapshot) -> Result<(), F::Error> {
        self.append(flash, snapshot, Record::Started)
    }

    /// Records the refusal of the pending candidate.
    pub(crate) fn refuse<F: NorFlash>(
        &self,
        flash: &mut F,
        snapshot: &Snapshot,
        reason: Rejection,
    ) -> Result<(), F::Error> {
        self.append(flash, snapshot, Record::Refused(reason))
    }

    /// Records that the installed security counter is at least `counter`.
    pub(crate) fn raise_counter<F: NorFlash>(
        &self,
        flash: &mut F,
        snapshot: &Snapshot,
        counter: u32,
    ) -> Result<(), F::Error> {
        self.append(flash, snapshot, Record::Counter(counter))
    }

    /// Starts `swap` in a fresh page, keeping the security counter and the last outcome.
    pub(crate) fn start_swap<F: NorFlash>(
        &self,
        flash: &mut F,
        snapshot: &Snapshot,
        swap: Swap,
    ) -> Result<(), F::Error> {
        let state = BootState {
            installed_counter: snapshot.state.installed_counter,
            backup_units: None,
            last: snapshot.state.last,
            phase: Phase::Swapping { swap, steps_done: 0 },
        };
        self.rewrite(flash, snapshot, &state)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Access to the record format for the tests.
    use super::*;

    /// Every record kind with sample values, as (payload, record) pairs.
    pub fn encode_decode_roundtrips() -> usize {
        let records = [
            Record::Header { seq: 7 },
            Record::Counter(0xDEAD_BEEF),
            Record::Backup(12),
            Record::Last(LastUpdate::Refused(Rejection::Downgrade { candidate: 3 })),
            Record::Last(LastUpdate::Reverted),
            Record::Pending(InstallKind::Permanent),
            Record::Swap(Swap {
                direction: Direction::Restore,
                kind: InstallKind::Test,
                units: 300,
                security_counter: 9,
            }),
            Record::Trial { units: 5, security_counter: 6, started: false },
            Record::Trial { units: 5, security_counter: 6, started: true },
            Record::Started,
            Record::Confirmed,
            Record::Refused(Rejection::HashMismatch),
        ];
        for record in records {
            assert_eq!(Record::decode(&record.encode()), Some(record));
            for erased in [Erased::Ones, Erased::Zeros] {
                let mut bytes = [0; 16];
                encode_slot(record, erased, &mut bytes);
                assert_eq!(classify(&bytes, erased), Slot::Valid(record));
                assert_torn_writes_never_valid(&bytes, erased);
            }
        }
        records.len()
    }

    /// Every write cut short (each proper subset of the programmed bits of each byte
    /// prefix, sampled) reads as torn or erased, never as a valid record.
    fn assert_torn_writes_never_valid(bytes: &[u8; 16], erased: Erased) {
        let e = erased.byte();
        for cut in 0..16 {
            let programmed = bytes[cut] ^ e;
            // Every proper subset of the programmed bits of byte `cut`.
            let mut subset = programmed;
            loop {
                subset = subset.wrapping_sub(1) & programmed;
                let mut torn = [e; 16];
                torn[..cut].copy_from_slice(&bytes[..cut]);
                torn[cut] = e ^ subset;
                if torn == *bytes {
                    // Nothing was left to program: this is the complete record.
                    break;
                }
                assert!(!matches!(classify(&torn, erased), Slot::Valid(_)), "torn at {cut}: {torn:02x?}");
                if subset == 0 {
                    break;
                }
            }
        }
    }
}

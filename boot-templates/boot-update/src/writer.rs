//! [`UpdateWriter`]: an image, streamed into the secondary slot.

use boot_app::{BootControl, InstallKind, Layout, RunningImage};
use boot_image::{flags, tlv, FlashSource, ImageHeader, ImageVersion, HEADER_SIZE, PUBLIC_KEY_LEN};
use embedded_storage::nor_flash::NorFlash;
use sha2::{Digest, Sha256};

use crate::Error;

/// Bytes collected in RAM before a flash write: a multiple of every write size the
/// update core supports (1 to 32 bytes).
const BUFFER: usize = 256;

/// A verified image in the secondary slot, marked pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    /// The image's version (from its header).
    pub version: ImageVersion,
    /// Its size: header, app and TLVs.
    pub size: u32,
    /// Its SHA-256, as in its hash TLV.
    pub hash: [u8; 32],
    /// Which trusted key signed it; `None` when no keys were given (only the hash was checked).
    pub key_index: Option<usize>,
}

/// Streams an MCUboot image into the secondary slot; see the [crate documentation](crate).
pub struct UpdateWriter<'a, F: NorFlash> {
    flash: &'a mut F,
    layout: Layout,
    keys: &'a [[u8; PUBLIC_KEY_LEN]],
    erase_unit: u32,
    stream: Stream,
    failed: bool,
}

/// What has arrived so far.
struct Stream {
    /// Bytes accepted: in flash, or waiting in `buffer`.
    received: u32,
    /// Bytes written to flash.
    committed: u32,
    /// The slot is erased from `committed` up to here.
    erased_to: u32,
    buffer: [u8; BUFFER],
    buffered: usize,
    /// The first 32 bytes, until the header is parsed.
    head: [u8; HEADER_SIZE],
    header: Option<Parsed>,
    /// The unprotected TLV area's info header, as it arrives.
    info: [u8; tlv::HEADER_LEN as usize],
    /// The image's size, once `info` arrived.
    total: Option<u32>,
    sha: Sha256,
}

/// What the verification of the slot found: the image's SHA-256, and which trusted key
/// signed it (`None`: no keys were given).
type SlotCheck = ([u8; 32], Option<usize>);

/// The header, and where the hashed part ends.
#[derive(Clone, Copy)]
struct Parsed {
    header: ImageHeader,
    /// Header, app and protected TLVs: what the SHA-256 covers. The unprotected TLV
    /// area's info header follows.
    hashed_len: u32,
}

impl<'a, F: NorFlash> UpdateWriter<'a, F>
where
    F::Error: core::fmt::Debug,
{
    /// A writer into the secondary slot of `layout` on `flash`. Nothing is erased until
    /// data arrives. Refused while the running image is on trial, because the secondary
    /// slot then holds the image a revert needs: call `mark_booted` first.
    pub fn new(flash: &'a mut F, layout: Layout) -> Result<Self, Error<F::Error>> {
        const { assert!(F::WRITE_SIZE > 0 && BUFFER % F::WRITE_SIZE == 0, "flash write sizes up to 256 bytes") };
        let status = BootControl::new(&mut *flash, layout)?.status()?;
        if status.image == RunningImage::Trial {
            return Err(Error::Boot(boot_app::Error::Unconfirmed));
        }
        let writer = Self { flash, layout, keys: &[], erase_unit: 0, stream: Stream::new(), failed: false };
        // The secondary slot is one swap unit larger than the primary slot, and a swap
        // unit is whole sectors of both slots: erasing unit by unit is always aligned.
        let swap_unit = layout.secondary.size.saturating_sub(layout.primary.size);
        writer.with_erase_unit(swap_unit)
    }

    /// Erases `unit` bytes at a time. The default is the layout's swap unit (the
    /// secondary slot's size minus the primary slot's: the largest sector of either
    /// slot), which is always whole sectors; a smaller unit of whole sectors erases less
    /// ahead of the data. It must be a multiple of `NorFlash::ERASE_SIZE` and divide the
    /// primary slot's size (the most an image occupies), so erasing stays in the slot.
    pub fn with_erase_unit(mut self, unit: u32) -> Result<Self, Error<F::Error>> {
        let (erase_size, slot_size) = (F::ERASE_SIZE as u32, self.max_size());
        if unit == 0 || unit % erase_size != 0 || slot_size % unit != 0 {
            return Err(Error::EraseUnit { unit, erase_size, slot_size });
        }
        self.erase_unit = unit;
        Ok(self)
    }

    /// Also checks the Ed25519 signature in [`Self::finish`], against these public keys
    /// (the bootloader checks it again with its own key).
    pub fn with_trusted_keys(mut self, keys: &'a [[u8; PUBLIC_KEY_LEN]]) -> Self {
        self.keys = keys;
        self
    }

    /// How many bytes the writer holds: ask the server for the image from this offset on
    /// after a dropped connection (`Range: bytes=N-`). They are in flash, except the last
    /// few (less than 256), which wait in RAM for a whole flash write and live as long as
    /// the writer.
    pub fn resume_offset(&self) -> u32 {
        self.stream.received
    }

    /// The image's size, once its TLV area's header arrived.
    pub fn total_size(&self) -> Option<u32> {
        self.stream.total
    }

    /// The image's header, once its first 32 bytes arrived and passed the checks.
    pub fn header(&self) -> Option<&ImageHeader> {
        self.stream.header.as_ref().map(|parsed| &parsed.header)
    }

    /// True once every byte of the image arrived.
    pub fn is_complete(&self) -> bool {
        self.stream.total == Some(self.stream.received)
    }

    /// Appends `bytes` to the image.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Error<F::Error>> {
        self.write_at(self.stream.received, bytes)
    }

    /// Writes `bytes`, which start at `offset` of the image. Bytes the writer already
    /// holds are skipped (a server that ignored a `Range` request resends the image from
    /// 0); a chunk that starts past [`Self::resume_offset`] is an [`Error::Gap`].
    pub fn write_at(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error<F::Error>> {
        let result = self.accept_at(offset, bytes);
        self.fail_on_error(result)
    }

    /// Checks the whole image, then marks it pending for a trial boot: the next reset
    /// installs it, and reverts it unless the new image calls `mark_booted`.
    ///
    /// Checks, in order: every byte arrived; `boot-image`'s verification over the slot
    /// (layout, hash TLV, and the signature if [`Self::with_trusted_keys`] gave keys);
    /// the hash of the slot equals the hash of the bytes that arrived.
    pub fn finish(mut self) -> Result<Downloaded, Error<F::Error>> {
        if self.failed {
            return Err(Error::Aborted);
        }
        let (received, total) = (self.stream.received, self.stream.total);
        let (Some(total), Some(parsed)) = (total.filter(|&t| t == received), self.stream.header) else {
            return Err(Error::Incomplete { received, total });
        };
        self.pad_and_commit()?;
        let (hash, key_index) = self.verify_slot()?;
        if hash != <[u8; 32]>::from(self.stream.sha.clone().finalize()) {
            return Err(Error::ReadBack);
        }
        BootControl::new(&mut *self.flash, self.layout)?.mark_pending(InstallKind::Test)?;
        Ok(Downloaded { version: parsed.header.version, size: total, hash, key_index })
    }

    fn fail_on_error(&mut self, result: Result<(), Error<F::Error>>) -> Result<(), Error<F::Error>> {
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn accept_at(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error<F::Error>> {
        if self.failed {
            return Err(Error::Aborted);
        }
        let received = self.stream.received;
        let Some(skip) = received.checked_sub(offset) else {
            return Err(Error::Gap { offset, received });
        };
        let mut rest = bytes.get(skip as usize..).unwrap_or_default();
        while !rest.is_empty() {
            let (piece, after) = rest.split_at(self.next_piece_len(rest.len()));
            self.accept_piece(piece)?;
            rest = after;
        }
        Ok(())
    }

    /// How much of `available` bytes to take next: pieces end where the header and the
    /// TLV info are complete, so both are checked before the bytes after them, and where
    /// the buffer is full.
    fn next_piece_len(&self, available: usize) -> usize {
        let stream = &self.stream;
        let boundary = match (&stream.header, stream.total) {
            (None, _) => HEADER_SIZE as u32,
            (Some(parsed), None) => parsed.hashed_len.saturating_add(tlv::HEADER_LEN),
            (Some(_), Some(total)) => total,
        };
        let mut len = available.min(BUFFER - stream.buffered);
        if let Some(gap) = boundary.checked_sub(stream.received).filter(|&gap| gap > 0) {
            len = len.min(gap as usize);
        }
        len
    }

    fn accept_piece(&mut self, piece: &[u8]) -> Result<(), Error<F::Error>> {
        self.check_room(piece.len())?;
        self.stream.take(piece);
        self.inspect()?;
        if self.stream.buffered == BUFFER {
            self.commit()?;
        }
        Ok(())
    }

    /// Refuses bytes past the image's end (once known), or past the slot.
    fn check_room(&self, len: usize) -> Result<(), Error<F::Error>> {
        let end = u64::from(self.stream.received) + len as u64;
        match self.stream.total {
            Some(total) if end > u64::from(total) => Err(Error::TooLong { total }),
            None if end > u64::from(self.max_size()) => Err(Error::TooLarge { size: end, max: self.max_size() }),
            _ => Ok(()),
        }
    }

    /// Parses the header and the TLV info as soon as they are complete.
    fn inspect(&mut self) -> Result<(), Error<F::Error>> {
        let received = self.stream.received;
        if self.stream.header.is_none() && received >= HEADER_SIZE as u32 {
            self.stream.header = Some(self.check_header()?);
        }
        if let (Some(parsed), None) = (self.stream.header, self.stream.total) {
            if received >= parsed.hashed_len + tlv::HEADER_LEN {
                self.stream.total = Some(self.check_tlv_info(parsed.hashed_len)?);
            }
        }
        Ok(())
    }

    fn check_header(&self) -> Result<Parsed, Error<F::Error>> {
        let header = ImageHeader::parse(&self.stream.head)?;
        if usize::from(header.hdr_size) < HEADER_SIZE {
            return Err(boot_image::Error::HeaderTooSmall { hdr_size: header.hdr_size }.into());
        }
        self.check_flags(&header)?;
        let hashed = u64::from(header.hdr_size) + u64::from(header.img_size) + u64::from(header.protect_tlv_size);
        let smallest = hashed + u64::from(tlv::HEADER_LEN);
        if smallest > u64::from(self.max_size()) {
            return Err(Error::TooLarge { size: smallest, max: self.max_size() });
        }
        // Below the slot size, so below 4 GiB.
        Ok(Parsed { header, hashed_len: hashed as u32 })
    }

    fn check_flags(&self, header: &ImageHeader) -> Result<(), Error<F::Error>> {
        let (bits, load_addr) = (header.flags, header.load_addr);
        if header.has_flag(flags::ENCRYPTED) {
            return Err(boot_image::Error::Encrypted { flags: bits }.into());
        }
        if header.has_flag(flags::COMPRESSED) {
            return Err(boot_image::Error::Compressed { flags: bits }.into());
        }
        if header.has_flag(flags::RAM_LOAD) {
            return Err(Error::RamLoad { load_addr });
        }
        let expected = self.layout.primary.start;
        if header.has_flag(flags::ROM_FIXED) && load_addr != expected {
            return Err(Error::WrongLoadAddress { load_addr, expected });
        }
        Ok(())
    }

    /// The image's size, from the unprotected TLV area's info header at `offset`.
    fn check_tlv_info(&self, offset: u32) -> Result<u32, Error<F::Error>> {
        let info = self.stream.info;
        let magic = u16::from_le_bytes([info[0], info[1]]);
        let area = u16::from_le_bytes([info[2], info[3]]);
        if magic != tlv::INFO_MAGIC {
            return Err(boot_image::Error::BadTlvMagic { offset, found: magic }.into());
        }
        if u32::from(area) < tlv::HEADER_LEN {
            return Err(boot_image::Error::TlvAreaTooSmall { offset, total: area }.into());
        }
        let total = u64::from(offset) + u64::from(area);
        if total > u64::from(self.max_size()) {
            return Err(Error::TooLarge { size: total, max: self.max_size() });
        }
        Ok(total as u32)
    }

    /// Writes the buffer to flash, erasing ahead of it as needed.
    fn commit(&mut self) -> Result<(), Error<F::Error>> {
        let (start, len) = (self.stream.committed, self.stream.buffered as u32);
        if len == 0 {
            return Ok(());
        }
        self.erase_through(start + len)?;
        let slot = self.slot_offset();
        self.flash.write(slot + start, &self.stream.buffer[..len as usize]).map_err(Error::Flash)?;
        self.stream.committed += len;
        self.stream.buffered = 0;
        Ok(())
    }

    /// Erases whole units of the slot until `end` (a slot offset) is erased.
    fn erase_through(&mut self, end: u32) -> Result<(), Error<F::Error>> {
        let slot = self.slot_offset();
        while self.stream.erased_to < end {
            let from = self.stream.erased_to;
            self.flash.erase(slot + from, slot + from + self.erase_unit).map_err(Error::Flash)?;
            self.stream.erased_to = from + self.erase_unit;
        }
        Ok(())
    }

    /// Fills the last flash word with the erased value and writes it.
    fn pad_and_commit(&mut self) -> Result<(), Error<F::Error>> {
        let stream = &mut self.stream;
        let padded = stream.buffered.next_multiple_of(F::WRITE_SIZE);
        stream.buffer[stream.buffered..padded].fill(self.layout.erased.byte());
        stream.buffered = padded;
        let result = self.commit();
        self.fail_on_error(result)
    }

    /// `boot-image`'s verification over the slot: the hash, and the signature when keys
    /// were given. Returns the hash and which key signed.
    fn verify_slot(&mut self) -> Result<SlotCheck, Error<F::Error>> {
        let (slot, max) = (self.slot_offset(), self.max_size());
        let mut source = FlashSource::new(&mut *self.flash, slot, max);
        if self.keys.is_empty() {
            return Ok((boot_image::check_hash(&mut source)?, None));
        }
        let verified = boot_image::verify(&mut source, self.keys)?;
        Ok((verified.hash, Some(verified.key_index)))
    }

    /// The secondary slot's flash offset.
    fn slot_offset(&self) -> u32 {
        self.layout.secondary.start - self.layout.flash_start
    }

    /// The most an image may occupy: the primary slot, where it will run.
    fn max_size(&self) -> u32 {
        self.layout.max_image_size()
    }
}

impl Stream {
    fn new() -> Self {
        Self {
            received: 0,
            committed: 0,
            erased_to: 0,
            buffer: [0; BUFFER],
            buffered: 0,
            head: [0; HEADER_SIZE],
            header: None,
            info: [0; tlv::HEADER_LEN as usize],
            total: None,
            sha: Sha256::new(),
        }
    }

    /// Takes `piece` (which fits the buffer): hashes the part the hash covers, keeps
    /// the header and TLV info bytes, and buffers it.
    fn take(&mut self, piece: &[u8]) {
        let at = self.received;
        copy_overlap(&mut self.head, 0, at, piece);
        // Pieces end at byte 32 until the header is parsed, so the hashed length is known
        // for every byte past it.
        let hashed_len = self.header.map_or(HEADER_SIZE as u32, |parsed| parsed.hashed_len);
        if let Some(parsed) = self.header {
            copy_overlap(&mut self.info, parsed.hashed_len, at, piece);
        }
        let hashed = (hashed_len.saturating_sub(at) as usize).min(piece.len());
        self.sha.update(&piece[..hashed]);
        self.buffer[self.buffered..self.buffered + piece.len()].copy_from_slice(piece);
        self.buffered += piece.len();
        self.received += piece.len() as u32;
    }
}

/// Copies the bytes of `piece` (which starts at stream offset `at`) that fall in
/// `target`, which covers stream offsets `start..start + target.len()`.
fn copy_overlap(target: &mut [u8], start: u32, at: u32, piece: &[u8]) {
    let (start, at) = (u64::from(start), u64::from(at));
    let from = start.max(at);
    let to = (start + target.len() as u64).min(at + piece.len() as u64);
    if from < to {
        let (t, p, n) = ((from - start) as usize, (from - at) as usize, (to - from) as usize);
        target[t..t + n].copy_from_slice(&piece[p..p + n]);
    }
}

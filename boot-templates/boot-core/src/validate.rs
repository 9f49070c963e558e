//! Image validation: the trait the bootloader implements with its image format.

use core::fmt;

use embedded_storage::nor_flash::{ErrorType, NorFlashError, NorFlashErrorKind, ReadNorFlash};

/// What the boot core needs to know about a valid image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageInfo {
    /// The image's total size in bytes from its first header byte to the end of its
    /// TLVs: the swap copies the units that hold it.
    pub size: u32,
    /// The image's security counter (0 if it has none): a candidate below the installed
    /// counter is refused, and a confirmed image raises the installed counter.
    pub security_counter: u32,
}

impl ImageInfo {
    /// A valid image of `size` bytes with `security_counter`.
    pub const fn new(size: u32, security_counter: u32) -> Self {
        Self { size, security_counter }
    }
}

/// Why an image was refused. Kept in the boot state (as a code and a detail) so the app
/// can report why its update did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// There is no image: the slot is erased or holds no image header.
    NoImage,
    /// The header or the TLV area is malformed.
    Malformed,
    /// The image (header, app and TLVs) is larger than the slot allows.
    TooLarge {
        /// The image's size.
        size: u32,
    },
    /// The image's hash does not match its contents.
    HashMismatch,
    /// The signature does not verify.
    BadSignature,
    /// The image is signed with a key the bootloader does not trust.
    UnknownKey,
    /// The image is for another device (its vendor or class ID differs).
    WrongDevice,
    /// The image's security counter is below the installed one.
    Downgrade {
        /// The image's security counter.
        candidate: u32,
    },
    /// A validator-specific reason.
    Other(u32),
}

impl Rejection {
    /// The reason as a code and a detail, the form kept in the boot state.
    pub const fn code(&self) -> (u16, u32) {
        match *self {
            Rejection::NoImage => (1, 0),
            Rejection::Malformed => (2, 0),
            Rejection::TooLarge { size } => (3, size),
            Rejection::HashMismatch => (4, 0),
            Rejection::BadSignature => (5, 0),
            Rejection::UnknownKey => (6, 0),
            Rejection::WrongDevice => (7, 0),
            Rejection::Downgrade { candidate } => (8, candidate),
            Rejection::Other(code) => (9, code),
        }
    }

    /// The reason for a code and detail from [`Rejection::code`]; unknown codes become
    /// [`Rejection::Other`] with the detail.
    pub const fn from_code(code: u16, detail: u32) -> Self {
        match code {
            1 => Rejection::NoImage,
            2 => Rejection::Malformed,
            3 => Rejection::TooLarge { size: detail },
            4 => Rejection::HashMismatch,
            5 => Rejection::BadSignature,
            6 => Rejection::UnknownKey,
            7 => Rejection::WrongDevice,
            8 => Rejection::Downgrade { candidate: detail },
            _ => Rejection::Other(detail),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NoImage => f.write_str("no image: the slot is erased or holds no image header"),
            Rejection::Malformed => f.write_str("the image header or TLV area is malformed"),
            Rejection::TooLarge { size } => write!(f, "the image is {size} bytes, larger than its slot allows"),
            Rejection::HashMismatch => {
                f.write_str("the image's hash does not match its contents (corrupt or incompletely written)")
            }
            Rejection::BadSignature => f.write_str("the image's signature does not verify"),
            Rejection::UnknownKey => f.write_str("the image is signed with a key this bootloader does not trust"),
            Rejection::WrongDevice => f.write_str("the image is for another device (vendor or class ID mismatch)"),
            Rejection::Downgrade { candidate } => write!(
                f,
                "the image's security counter {candidate} is below the installed image's: downgrades are refused"
            ),
            Rejection::Other(code) => write!(f, "the image was refused by the validator (code {code})"),
        }
    }
}

/// Decides whether an image is valid: the bootloader implements it with its image
/// format (MCUboot header, hash, signature, security counter, device IDs).
///
/// `image` reads the slot from the image's first byte; its length is the most the image
/// may occupy. A validator must not cache results: the boot core calls it on the
/// candidate before installing it, on the primary slot at every boot (unless configured
/// otherwise), and on the previous image before restoring it.
///
/// If a read fails, return any rejection: the boot core sees the flash error through the
/// reader and reports it instead of refusing the image.
pub trait ImageValidator {
    /// Validates the image `image` reads.
    fn validate<F: ReadNorFlash>(&mut self, image: &mut SlotReader<'_, F>) -> Result<ImageInfo, Rejection>;
}

/// Reads one slot: offset 0 is the image's first byte.
///
/// Implements [`ReadNorFlash`], so an image parser that reads through `ReadNorFlash`
/// works with it directly.
pub struct SlotReader<'a, F: ReadNorFlash> {
    flash: &'a mut F,
    offset: u32,
    len: u32,
    error: Option<F::Error>,
}

impl<'a, F: ReadNorFlash> SlotReader<'a, F> {
    /// The `len` bytes at flash offset `offset`.
    pub fn new(flash: &'a mut F, offset: u32, len: u32) -> Self {
        Self { flash, offset, len, error: None }
    }

    /// The number of readable bytes: the most the image may occupy.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True if nothing can be read.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first flash error seen, if any, taken out of the reader.
    pub fn take_error(&mut self) -> Option<F::Error> {
        self.error.take()
    }
}

/// Why a [`SlotReader`] read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotReadError {
    /// The range is outside the slot.
    OutOfBounds,
    /// The flash driver failed (the boot core reports the driver's own error).
    Flash(NorFlashErrorKind),
}

impl NorFlashError for SlotReadError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SlotReadError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            SlotReadError::Flash(kind) => *kind,
        }
    }
}

impl fmt::Display for SlotReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotReadError::OutOfBounds => f.write_str("the read is outside the slot"),
            SlotReadError::Flash(kind) => write!(f, "the flash read failed: {kind}"),
        }
    }
}

impl<F: ReadNorFlash> ErrorType for SlotReader<'_, F> {
    type Error = SlotReadError;
}

impl<F: ReadNorFlash> ReadNorFlash for SlotReader<'_, F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SlotReadError> {
        let end = u32::try_from(bytes.len()).ok().and_then(|len| offset.checked_add(len));
        if end.is_none_or(|end| end > self.len) {
            return Err(SlotReadError::OutOfBounds);
        }
        self.flash.read(self.offset + offset, bytes).map_err(|error| {
            let kind = error.kind();
            self.error.get_or_insert(error);
            SlotReadError::Flash(kind)
        })
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}

//! Why a download was refused. Every message names the problem and what to do.

use core::fmt;

/// Why [`crate::UpdateWriter`] refused a download, on a flash whose driver fails with `E`.
///
/// After any error the writer refuses everything else ([`Error::Aborted`]) and marks
/// nothing pending: start again with a new writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The flash driver failed.
    Flash(E),
    /// The boot state refused: the running image is on trial, or a swap is under way.
    Boot(boot_app::Error<E>),
    /// The image is malformed, or failed the hash or signature check (`boot-image`'s
    /// verdict, with its own message).
    Image(boot_image::Error),
    /// The image is larger than the slot it must run from.
    TooLarge {
        /// The image's size (header, app and TLVs), or as much of it as is known.
        size: u64,
        /// The most an image may occupy: the primary slot's size.
        max: u32,
    },
    /// The image is a RAM-load image; this bootloader runs images in place.
    RamLoad {
        /// Its load address.
        load_addr: u32,
    },
    /// The image was signed for a fixed flash address other than the primary slot's.
    WrongLoadAddress {
        /// The address in its header.
        load_addr: u32,
        /// The primary slot's address.
        expected: u32,
    },
    /// More bytes arrived than the image holds.
    TooLong {
        /// The image's size.
        total: u32,
    },
    /// A chunk starts past the bytes received so far.
    Gap {
        /// Where the chunk starts.
        offset: u32,
        /// How many bytes the writer holds.
        received: u32,
    },
    /// [`crate::UpdateWriter::finish`] was called before the whole image arrived.
    Incomplete {
        /// Bytes received.
        received: u32,
        /// The image's size, once its TLV area was seen.
        total: Option<u32>,
    },
    /// The slot does not hold the bytes that arrived.
    ReadBack,
    /// The erase unit is not a multiple of the flash's erase size, or does not divide the
    /// primary slot's size.
    EraseUnit {
        /// The unit asked for.
        unit: u32,
        /// The flash's smallest sector (`NorFlash::ERASE_SIZE`).
        erase_size: u32,
        /// The primary slot's size.
        slot_size: u32,
    },
    /// An earlier error ended this download.
    Aborted,
}

impl<E> From<boot_image::Error> for Error<E> {
    fn from(error: boot_image::Error) -> Self {
        Error::Image(error)
    }
}

impl<E> From<boot_app::Error<E>> for Error<E> {
    fn from(error: boot_app::Error<E>) -> Self {
        match error {
            boot_app::Error::Flash(error) => Error::Flash(error),
            other => Error::Boot(other),
        }
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Flash(error) => write!(f, "flash operation failed: {error:?}"),
            Error::Boot(error) => write!(f, "{error}"),
            Error::Image(error) => write!(f, "update refused: {error}"),
            Error::TooLarge { size, max } => write!(
                f,
                "update refused: the image is {size} bytes but the slot holds at most {max} bytes: make the app \
                 smaller, or give the slots more room (restrict_size, slot_size)"
            ),
            Error::RamLoad { load_addr } => write!(
                f,
                "update refused: the image is a RAM-load image (load address {load_addr:#010x}), but the bootloader \
                 runs images in place: sign it without --load-addr"
            ),
            Error::WrongLoadAddress { load_addr, expected } => write!(
                f,
                "update refused: the image was signed for address {load_addr:#010x}, but the primary slot is at \
                 {expected:#010x}: build and sign it for this board's layout"
            ),
            Error::TooLong { total } => write!(
                f,
                "update refused: more bytes arrived than the image's {total}: the server sent something else \
                 after the image, or the file is not one image"
            ),
            Error::Gap { offset, received } => write!(
                f,
                "the data jumps to offset {offset} but only {received} bytes arrived: ask the server for the \
                 bytes from resume_offset() on"
            ),
            Error::Incomplete { received, total: Some(total) } => write!(
                f,
                "the download is incomplete: {received} of {total} bytes arrived; resume it from resume_offset()"
            ),
            Error::Incomplete { received, total: None } => write!(
                f,
                "the download is incomplete: {received} bytes arrived, too few to know the image's size; resume \
                 it from resume_offset()"
            ),
            Error::ReadBack => f.write_str(
                "the secondary slot does not hold the bytes that arrived: the flash is failing or something else \
                 wrote to the slot during the download",
            ),
            Error::EraseUnit { unit, erase_size, slot_size } => write!(
                f,
                "the erase unit {unit:#x} must be a multiple of the flash's {erase_size:#x}-byte erase size and \
                 divide the {slot_size:#x}-byte primary slot: use whole sectors of the slot (by default the \
                 layout's swap unit, the secondary slot's size minus the primary slot's)"
            ),
            Error::Aborted => f.write_str("an earlier error ended this download: start again with a new UpdateWriter"),
        }
    }
}

#[cfg(feature = "std")]
impl<E: fmt::Debug> std::error::Error for Error<E> {}

//! Reading an image in pieces, from memory or from flash.

use crate::error::{read_error, Error};
use crate::ReadError;

/// Random-access, read-only image data of a known length: a byte slice, or a slot in
/// flash. Parsing and verification read through this in small pieces, so a bootloader
/// never needs the whole image in RAM.
pub trait ImageSource {
    /// The number of readable bytes (for a flash slot: the slot's size). Every offset
    /// in the image is checked against this.
    fn len(&self) -> u32;

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), ReadError>;

    /// True if there are no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ImageSource for &[u8] {
    fn len(&self) -> u32 {
        u32::try_from(<[u8]>::len(self)).unwrap_or(u32::MAX)
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), ReadError> {
        let start = usize::try_from(offset).map_err(|_| ReadError::OutOfBounds)?;
        let end = start.checked_add(buf.len()).ok_or(ReadError::OutOfBounds)?;
        let bytes = self.get(start..end).ok_or(ReadError::OutOfBounds)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// Reads `buf.len()` bytes at `offset`, turning a failure into an [`Error`].
pub(crate) fn read_at<S: ImageSource + ?Sized>(src: &mut S, offset: u32, buf: &mut [u8]) -> Result<(), Error> {
    src.read(offset, buf).map_err(|kind| read_error(offset, buf.len(), kind))
}

/// The bounce buffer of [`FlashSource`] for flash that cannot read single bytes.
#[cfg(feature = "embedded-storage")]
const BOUNCE_LEN: usize = 64;

/// A slot in NOR flash as an [`ImageSource`]: `len` bytes starting at `base`.
///
/// Reads honour the flash's `READ_SIZE` (up to 64 bytes) by reading whole aligned
/// blocks through a small stack buffer.
#[cfg(feature = "embedded-storage")]
pub struct FlashSource<F> {
    flash: F,
    base: u32,
    len: u32,
}

#[cfg(feature = "embedded-storage")]
impl<F: embedded_storage::nor_flash::ReadNorFlash> FlashSource<F> {
    /// The largest `READ_SIZE` supported.
    pub const MAX_READ_SIZE: usize = BOUNCE_LEN;

    /// The slot of `len` bytes at flash offset `base`.
    pub fn new(flash: F, base: u32, len: u32) -> Self {
        Self { flash, base, len }
    }

    /// Gives the flash back.
    pub fn into_inner(self) -> F {
        self.flash
    }

    fn flash_read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), ReadError> {
        use embedded_storage::nor_flash::{NorFlashError, NorFlashErrorKind};
        self.flash.read(addr, buf).map_err(|e| match e.kind() {
            NorFlashErrorKind::NotAligned => ReadError::NotAligned,
            NorFlashErrorKind::OutOfBounds => ReadError::OutOfBounds,
            _ => ReadError::Other,
        })
    }

    /// Reads through whole `READ_SIZE` blocks when the flash cannot read single bytes.
    fn read_aligned(&mut self, mut addr: u32, mut buf: &mut [u8]) -> Result<(), ReadError> {
        let block = u32::try_from(F::READ_SIZE).map_err(|_| ReadError::NotAligned)?;
        if block == 0 || F::READ_SIZE > Self::MAX_READ_SIZE {
            return Err(ReadError::NotAligned);
        }
        let mut bounce = [0u8; BOUNCE_LEN];
        let capacity = Self::MAX_READ_SIZE / F::READ_SIZE * F::READ_SIZE;
        while !buf.is_empty() {
            let lead = (addr % block) as usize;
            let wanted = (lead + buf.len()).min(capacity);
            let len = wanted.div_ceil(F::READ_SIZE) * F::READ_SIZE;
            self.flash_read(addr - lead as u32, &mut bounce[..len])?;
            let take = wanted - lead;
            let (head, rest) = buf.split_at_mut(take);
            head.copy_from_slice(&bounce[lead..wanted]);
            buf = rest;
            addr = addr.checked_add(take as u32).ok_or(ReadError::OutOfBounds)?;
        }
        Ok(())
    }
}

#[cfg(feature = "embedded-storage")]
impl<F: embedded_storage::nor_flash::ReadNorFlash> ImageSource for FlashSource<F> {
    fn len(&self) -> u32 {
        self.len
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), ReadError> {
        let count = u32::try_from(buf.len()).map_err(|_| ReadError::OutOfBounds)?;
        let end = offset.checked_add(count).ok_or(ReadError::OutOfBounds)?;
        if end > self.len {
            return Err(ReadError::OutOfBounds);
        }
        let addr = self.base.checked_add(offset).ok_or(ReadError::OutOfBounds)?;
        if F::READ_SIZE == 1 {
            self.flash_read(addr, buf)
        } else {
            self.read_aligned(addr, buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_read_in_bounds_and_refuse_out_of_bounds() {
        let data = [1u8, 2, 3, 4];
        let mut src: &[u8] = &data;
        let mut buf = [0; 2];
        src.read(2, &mut buf).unwrap();
        assert_eq!(buf, [3, 4]);
        assert_eq!(src.read(3, &mut buf), Err(ReadError::OutOfBounds));
        assert_eq!(src.read(u32::MAX, &mut buf), Err(ReadError::OutOfBounds));
        assert_eq!(ImageSource::len(&src), 4);
    }

    #[test]
    fn read_errors_say_where() {
        let mut src: &[u8] = &[0; 4];
        let err = read_at(&mut src, 3, &mut [0; 2]).unwrap_err();
        assert_eq!(err, Error::Read { offset: 3, len: 2, kind: ReadError::OutOfBounds });
        assert!(err.to_string().contains("cannot read 2 bytes at offset 0x3"), "{err}");
    }
}

#[cfg(all(test, feature = "embedded-storage"))]
mod flash_tests {
    use super::*;
    use embedded_storage::nor_flash::{ErrorType, NorFlashError, NorFlashErrorKind, ReadNorFlash};

    /// A flash that only accepts reads aligned to `N` bytes.
    struct Flash<const N: usize>(Vec<u8>);

    #[derive(Debug)]
    struct FlashError(NorFlashErrorKind);

    impl NorFlashError for FlashError {
        fn kind(&self) -> NorFlashErrorKind {
            self.0
        }
    }

    impl<const N: usize> ErrorType for Flash<N> {
        type Error = FlashError;
    }

    impl<const N: usize> ReadNorFlash for Flash<N> {
        const READ_SIZE: usize = N;

        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
            let start = offset as usize;
            if start % N != 0 || bytes.len() % N != 0 {
                return Err(FlashError(NorFlashErrorKind::NotAligned));
            }
            let src = self.0.get(start..start + bytes.len()).ok_or(FlashError(NorFlashErrorKind::OutOfBounds))?;
            bytes.copy_from_slice(src);
            Ok(())
        }

        fn capacity(&self) -> usize {
            self.0.len()
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn unaligned_reads_work_on_flash_with_a_large_read_size() {
        let data = pattern(1024);
        let mut src = FlashSource::new(Flash::<16>(data.clone()), 256, 512);
        for (offset, len) in [(0, 1), (3, 5), (15, 2), (17, 100), (1, 200), (500, 12)] {
            let mut buf = vec![0; len];
            src.read(offset, &mut buf).unwrap();
            assert_eq!(buf, &data[256 + offset as usize..][..len], "{offset} {len}");
        }
        assert_eq!(src.read(510, &mut [0; 3]), Err(ReadError::OutOfBounds));
    }

    #[test]
    fn byte_readable_flash_is_read_directly_and_errors_keep_their_kind() {
        let mut src = FlashSource::new(Flash::<1>(pattern(64)), 32, 64);
        let mut buf = [0; 4];
        src.read(0, &mut buf).unwrap();
        assert_eq!(buf, pattern(64)[32..36]);
        // The slot claims more than the flash has: the driver's own error comes through.
        assert_eq!(src.read(40, &mut [0; 8]), Err(ReadError::OutOfBounds));
    }

    #[test]
    fn read_sizes_beyond_the_bounce_buffer_are_refused() {
        let mut src = FlashSource::new(Flash::<128>(pattern(256)), 0, 256);
        assert_eq!(src.read(1, &mut [0; 4]), Err(ReadError::NotAligned));
    }
}

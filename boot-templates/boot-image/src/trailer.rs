//! MCUboot's image trailer, as `imgtool sign --pad` and `--confirm` write it.
//!
//! A padded image fills its whole slot. The last bytes of the slot are MCUboot's
//! trailer for the swap upgrade modes; imgtool writes only its magic and, with
//! `--confirm`, `image_ok`:
//!
//! ```text
//! ... erased ... | swap status: max_sectors * 3 * align | 4 x max_align (swap_size,
//!   swap_info, copy_done, image_ok) | magic, padded to max_align | end of slot
//! ```
//!
//! `image_ok` is the first byte of the `max_align`-sized field right before the magic.
//! The cargo boot bootloader keeps its own state elsewhere; this module exists so that
//! images padded by imgtool are recognised and the builder writes the same bytes.

use crate::source::{read_at, ImageSource};
use crate::Error;

/// The magic of a trailer with `max_align` 8 (imgtool's default).
pub const BOOT_MAGIC: [u8; 16] =
    [0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80];

/// The last 14 bytes of the magic for `max_align` above 8; its first two bytes are
/// `max_align` as a little-endian u16.
pub const BOOT_MAGIC_ALIGNED_TAIL: [u8; 14] =
    [0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a];

/// `image_ok` once the image is confirmed.
pub const IMAGE_OK: u8 = 0x01;

/// The length of the magic.
pub const MAGIC_LEN: u32 = 16;

/// The sizes that decide the trailer's layout (imgtool's `--align`, `--max-align`,
/// `--max-sectors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrailerLayout {
    /// The flash's write size: 1, 2, 4, 8, 16 or 32 (`--align`, default 1).
    pub align: u32,
    /// The largest write size of any slot: 8, 16 or 32 (`--max-align`, default 8 or
    /// `align` if larger).
    pub max_align: u32,
    /// The most sectors a slot may have (`--max-sectors`, default 128).
    pub max_sectors: u32,
}

impl Default for TrailerLayout {
    fn default() -> Self {
        Self { align: 1, max_align: 8, max_sectors: 128 }
    }
}

impl TrailerLayout {
    /// True if `align` and `max_align` are values imgtool accepts.
    pub fn is_valid(&self) -> bool {
        matches!(self.align, 1 | 2 | 4 | 8 | 16 | 32) && matches!(self.max_align, 8 | 16 | 32)
    }

    /// The magic for this `max_align`.
    pub fn magic(&self) -> [u8; 16] {
        if self.max_align == 8 {
            return BOOT_MAGIC;
        }
        let mut magic = [0; 16];
        magic[..2].copy_from_slice(&(self.max_align as u16).to_le_bytes());
        magic[2..].copy_from_slice(&BOOT_MAGIC_ALIGNED_TAIL);
        magic
    }

    /// The trailer's size in the swap modes, or `None` if it overflows.
    pub fn size(&self) -> Option<u32> {
        let status = self.max_sectors.checked_mul(3)?.checked_mul(self.align)?;
        let fields = self.max_align.checked_mul(4)?;
        status.checked_add(fields)?.checked_add(self.magic_area())
    }

    /// Bytes from the end of the slot back to `image_ok`.
    pub fn image_ok_from_end(&self) -> u32 {
        self.magic_area().saturating_add(self.max_align)
    }

    /// The magic's length rounded up to `max_align`.
    fn magic_area(&self) -> u32 {
        MAGIC_LEN.max(self.max_align)
    }
}

/// What the end of a padded image says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailerState {
    /// No MCUboot magic at the end: the image is not padded (or its trailer is erased).
    None,
    /// The magic is there and `image_ok` is not set: MCUboot would test-boot it once.
    Pending {
        /// The `max_align` encoded by the magic.
        max_align: u32,
    },
    /// The magic is there and `image_ok` is 0x01: MCUboot would install it for good.
    Confirmed {
        /// The `max_align` encoded by the magic.
        max_align: u32,
    },
}

/// Reads the trailer at the end of `src` (a whole slot, or an image padded to one).
pub fn read_state<S: ImageSource + ?Sized>(src: &mut S) -> Result<TrailerState, Error> {
    let len = src.len();
    let Some(magic_at) = len.checked_sub(MAGIC_LEN) else { return Ok(TrailerState::None) };
    let mut magic = [0; MAGIC_LEN as usize];
    read_at(src, magic_at, &mut magic)?;
    let max_align = if magic == BOOT_MAGIC {
        8
    } else if magic[2..] == BOOT_MAGIC_ALIGNED_TAIL && matches!(u16::from_le_bytes([magic[0], magic[1]]), 16 | 32) {
        u32::from(u16::from_le_bytes([magic[0], magic[1]]))
    } else {
        return Ok(TrailerState::None);
    };
    let layout = TrailerLayout { max_align, ..TrailerLayout::default() };
    let Some(ok_at) = len.checked_sub(layout.image_ok_from_end()) else { return Ok(TrailerState::None) };
    let mut image_ok = [0];
    read_at(src, ok_at, &mut image_ok)?;
    Ok(match image_ok[0] {
        IMAGE_OK => TrailerState::Confirmed { max_align },
        _ => TrailerState::Pending { max_align },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_imgtool() {
        // imgtool 2.5 `_trailer_size`: 128 * 3 * 1 + 8 * 4 + 16 = 432 for the defaults.
        assert_eq!(TrailerLayout::default().size(), Some(432));
        let wide = TrailerLayout { align: 32, max_align: 32, max_sectors: 64 };
        assert_eq!(wide.size(), Some(64 * 3 * 32 + 32 * 4 + 32));
        assert_eq!(wide.image_ok_from_end(), 64);
        assert_eq!(TrailerLayout::default().image_ok_from_end(), 24);
        assert_eq!(TrailerLayout { max_sectors: u32::MAX, ..Default::default() }.size(), None);
    }

    #[test]
    fn magics_match_imgtool() {
        let magic = TrailerLayout { max_align: 16, ..Default::default() }.magic();
        assert_eq!(&magic[..4], &[0x10, 0x00, 0x2d, 0xe1]);
        assert_eq!(TrailerLayout::default().magic(), BOOT_MAGIC);
    }

    #[test]
    fn states_are_read_from_the_end() {
        let mut slot = [0xffu8; 64];
        assert_eq!(read_state(&mut &slot[..]), Ok(TrailerState::None));
        slot[48..].copy_from_slice(&BOOT_MAGIC);
        assert_eq!(read_state(&mut &slot[..]), Ok(TrailerState::Pending { max_align: 8 }));
        slot[64 - 24] = IMAGE_OK;
        assert_eq!(read_state(&mut &slot[..]), Ok(TrailerState::Confirmed { max_align: 8 }));
        assert_eq!(read_state(&mut &slot[..8]), Ok(TrailerState::None));
    }
}

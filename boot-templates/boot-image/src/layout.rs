//! Where every part of an image lies, checked against the data's length.

use crate::error::Error;
use crate::header::{le16, ImageHeader, HEADER_SIZE};
use crate::source::{read_at, ImageSource};
use crate::tlv::{self, TlvIter};

/// A parsed image: the header, and the offsets of the TLV areas. Every offset is
/// inside the data, and every size was added with overflow checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLayout {
    /// The header.
    pub header: ImageHeader,
    body_end: u32,
    tlv_offset: u32,
    tlv_size: u16,
}

impl ImageLayout {
    /// Parses the image at the start of `bytes` (trailing bytes, such as the padding
    /// and trailer of a padded image, are ignored).
    pub fn parse(mut bytes: &[u8]) -> Result<Self, Error> {
        Self::read(&mut bytes)
    }

    /// Parses the image at the start of `src`, reading only the header and the two
    /// TLV info headers.
    pub fn read<S: ImageSource + ?Sized>(src: &mut S) -> Result<Self, Error> {
        let len = src.len();
        if len < HEADER_SIZE as u32 {
            return Err(Error::TooShort { len });
        }
        let mut raw = [0; HEADER_SIZE];
        read_at(src, 0, &mut raw)?;
        let header = ImageHeader::parse(&raw)?;
        let body_end = body_end(&header, len)?;
        let tlv_offset = protected_area(src, &header, body_end)?;
        let (tlv_size, magic) = area_info(src, tlv_offset)?;
        if magic != tlv::INFO_MAGIC {
            return Err(Error::BadTlvMagic { offset: tlv_offset, found: magic });
        }
        Ok(Self { header, body_end, tlv_offset, tlv_size })
    }

    /// Offset of the protected TLV area (right after the body); equal to
    /// [`Self::tlv_offset`] when there are no protected TLVs.
    pub fn prot_tlv_offset(&self) -> u32 {
        self.body_end
    }

    /// Offset of the unprotected TLV area's info header: the end of what the hash covers.
    pub fn tlv_offset(&self) -> u32 {
        self.tlv_offset
    }

    /// The number of bytes the image hash covers: header, body and protected TLVs.
    pub fn hashed_len(&self) -> u32 {
        self.tlv_offset
    }

    /// The size of the unprotected TLV area, its info header included.
    pub fn tlv_size(&self) -> u16 {
        self.tlv_size
    }

    /// The image's size: header, body and both TLV areas (no padding or trailer).
    pub fn total_size(&self) -> u32 {
        // Checked in `area_info`: the area lies inside the data.
        self.tlv_offset + u32::from(self.tlv_size)
    }

    /// An iterator over the TLVs, protected ones first.
    pub fn tlvs(&self) -> TlvIter {
        TlvIter::new(self)
    }
}

/// Checks `hdr_size` and `img_size` and returns where the body ends.
fn body_end(header: &ImageHeader, len: u32) -> Result<u32, Error> {
    let (hdr_size, img_size) = (header.hdr_size, header.img_size);
    if usize::from(hdr_size) < HEADER_SIZE {
        return Err(Error::HeaderTooSmall { hdr_size });
    }
    let end = u32::from(hdr_size).checked_add(img_size).ok_or(Error::SizeOverflow { hdr_size, img_size })?;
    if end > len {
        return Err(Error::BodyPastEnd { end, len });
    }
    Ok(end)
}

/// Reads the optional protected area at `body_end`, checks it against the header's
/// `protect_tlv_size`, and returns where the unprotected area starts.
fn protected_area<S: ImageSource + ?Sized>(src: &mut S, header: &ImageHeader, body_end: u32) -> Result<u32, Error> {
    let (total, magic) = area_info(src, body_end)?;
    let area = if magic == tlv::PROT_INFO_MAGIC { total } else { 0 };
    if area != header.protect_tlv_size {
        return Err(Error::ProtectedSizeMismatch { header: header.protect_tlv_size, area });
    }
    // `area_info` checked that the area ends inside the data.
    Ok(body_end + u32::from(area))
}

/// Reads the TLV info header at `offset` as `(total, magic)`, checking that the magic
/// is a TLV magic, and that the area holds at least its own header and ends inside the data.
fn area_info<S: ImageSource + ?Sized>(src: &mut S, offset: u32) -> Result<(u16, u16), Error> {
    let len = src.len();
    if offset.checked_add(tlv::HEADER_LEN).is_none_or(|end| end > len) {
        return Err(Error::TlvInfoPastEnd { offset, len });
    }
    let mut info = [0; tlv::HEADER_LEN as usize];
    read_at(src, offset, &mut info)?;
    let (magic, total) = (le16(&info, 0), le16(&info, 2));
    if magic != tlv::INFO_MAGIC && magic != tlv::PROT_INFO_MAGIC {
        return Err(Error::BadTlvMagic { offset, found: magic });
    }
    if u32::from(total) < tlv::HEADER_LEN {
        return Err(Error::TlvAreaTooSmall { offset, total });
    }
    if offset.checked_add(u32::from(total)).is_none_or(|end| end > len) {
        return Err(Error::TlvAreaPastEnd { offset, end: offset.saturating_add(u32::from(total)), len });
    }
    Ok((total, magic))
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::testutil::{body, full_builder, put16, put32, signed_image, TestKey};
    use crate::tlv::TlvType;
    use crate::ImageBuilder;

    // The sample image: header 0x100, body 1000 bytes, protected TLVs 52 bytes at 1256,
    // unprotected TLVs 144 bytes at 1308, 1452 bytes in all.
    const BODY_END: usize = 1256;
    const TLV_AT: usize = 1308;
    const TOTAL: usize = 1452;

    fn image() -> Vec<u8> {
        signed_image(&TestKey::new(1))
    }

    fn parse_err(image: &[u8]) -> Error {
        ImageLayout::parse(image).unwrap_err()
    }

    fn assert_message(err: Error, expected: &str) {
        assert!(err.to_string().contains(expected), "{err:?}: {err}");
    }

    #[test]
    fn a_signed_image_parses_into_its_parts() {
        let image = image();
        assert_eq!(image.len(), TOTAL);
        let layout = ImageLayout::parse(&image).unwrap();
        assert_eq!(layout.header.hdr_size, 0x100);
        assert_eq!(layout.header.img_size, 1000);
        assert_eq!(layout.header.protect_tlv_size, 52);
        assert_eq!(layout.prot_tlv_offset(), BODY_END as u32);
        assert_eq!(layout.tlv_offset(), TLV_AT as u32);
        assert_eq!(layout.hashed_len(), TLV_AT as u32);
        assert_eq!(layout.tlv_size(), 144);
        assert_eq!(layout.total_size(), TOTAL as u32);
    }

    #[test]
    fn tlvs_are_listed_protected_first_with_their_offsets() {
        let image = image();
        let layout = ImageLayout::parse(&image).unwrap();
        let mut src: &[u8] = &image;
        let mut tlvs = layout.tlvs();
        let mut seen = Vec::new();
        while let Some(entry) = tlvs.next(&mut src).unwrap() {
            seen.push((entry.kind.0, entry.offset, entry.len, entry.protected));
        }
        let expected = [
            (tlv::SEC_CNT, 1264, 4, true),
            (tlv::UUID_VID, 1272, 16, true),
            (tlv::UUID_CID, 1292, 16, true),
            (tlv::SHA256, 1316, 32, false),
            (tlv::KEYHASH, 1352, 32, false),
            (tlv::ED25519, 1388, 64, false),
        ];
        assert_eq!(seen, expected);
        assert_eq!(tlvs.next(&mut src), Ok(None));
    }

    #[test]
    fn an_image_without_protected_tlvs_has_none() {
        let image = ImageBuilder::new(32).build(&body(10), None).unwrap();
        let layout = ImageLayout::parse(&image).unwrap();
        assert_eq!(layout.prot_tlv_offset(), layout.tlv_offset());
        assert_eq!(layout.total_size() as usize, image.len());
        assert_eq!(image.len(), 32 + 10 + 4 + 36);
    }

    #[test]
    fn padding_after_the_image_is_ignored() {
        let mut image = image();
        image.resize(4096, 0xff);
        assert_eq!(ImageLayout::parse(&image).unwrap().total_size(), TOTAL as u32);
    }

    #[test]
    fn short_data_is_not_an_image() {
        let err = parse_err(&image()[..31]);
        assert_eq!(err, Error::TooShort { len: 31 });
        assert_message(err, "shorter than the 32-byte MCUboot header: sign the binary first");
    }

    #[test]
    fn a_raw_binary_has_no_magic() {
        let err = parse_err(&body(4096));
        assert!(matches!(err, Error::BadMagic { .. }), "{err:?}");
        assert_message(err, "not an MCUboot image");
    }

    #[test]
    fn a_header_size_below_32_is_rejected() {
        let mut image = image();
        put16(&mut image, 8, 16);
        let err = parse_err(&image);
        assert_eq!(err, Error::HeaderTooSmall { hdr_size: 16 });
        assert_message(err, "header size field is 16 bytes, less than the 32-byte header itself");
    }

    #[test]
    fn sizes_that_overflow_are_rejected() {
        let mut image = image();
        put16(&mut image, 8, 0xffff);
        put32(&mut image, 12, u32::MAX);
        let err = parse_err(&image);
        assert_eq!(err, Error::SizeOverflow { hdr_size: 0xffff, img_size: u32::MAX });
        assert_message(err, "overflows 32 bits");
    }

    #[test]
    fn a_body_past_the_end_is_rejected() {
        let mut image = image();
        put32(&mut image, 12, 100_000);
        let err = parse_err(&image);
        assert_eq!(err, Error::BodyPastEnd { end: 0x100 + 100_000, len: TOTAL as u32 });
        assert_message(err, "the image is truncated or larger than the slot");
        // A header size larger than the data is the same problem.
        let mut image = signed_image(&TestKey::new(1));
        put16(&mut image, 8, 0xf000);
        put32(&mut image, 12, 0);
        assert!(matches!(parse_err(&image), Error::BodyPastEnd { .. }));
    }

    #[test]
    fn a_missing_tlv_area_is_rejected() {
        let image = image();
        let err = parse_err(&image[..BODY_END + 2]);
        assert_eq!(err, Error::TlvInfoPastEnd { offset: BODY_END as u32, len: BODY_END as u32 + 2 });
        assert_message(err, "the image is truncated or was never signed");
    }

    #[test]
    fn wrong_tlv_magics_are_rejected() {
        let mut image = image();
        put16(&mut image, BODY_END, 0x1234);
        let err = parse_err(&image);
        assert_eq!(err, Error::BadTlvMagic { offset: BODY_END as u32, found: 0x1234 });
        assert_message(err, "found magic 0x1234, expected 0x6907");
        // Two protected areas in a row: the second is not the unprotected one.
        let mut image = signed_image(&TestKey::new(1));
        put16(&mut image, TLV_AT, tlv::PROT_INFO_MAGIC);
        assert_eq!(parse_err(&image), Error::BadTlvMagic { offset: TLV_AT as u32, found: tlv::PROT_INFO_MAGIC });
    }

    #[test]
    fn the_protected_size_must_match_the_header() {
        let mut image = image();
        put16(&mut image, 10, 48);
        let err = parse_err(&image);
        assert_eq!(err, Error::ProtectedSizeMismatch { header: 48, area: 52 });
        assert_message(err, "declares 48 bytes of protected TLVs but the protected TLV area holds 52");
        // A header claiming protected TLVs that are not there.
        let mut image = ImageBuilder::new(32).build(&body(10), None).unwrap();
        put16(&mut image, 10, 52);
        assert_eq!(parse_err(&image), Error::ProtectedSizeMismatch { header: 52, area: 0 });
    }

    #[test]
    fn a_tlv_area_smaller_than_its_header_is_rejected() {
        let mut image = image();
        put16(&mut image, TLV_AT + 2, 2);
        let err = parse_err(&image);
        assert_eq!(err, Error::TlvAreaTooSmall { offset: TLV_AT as u32, total: 2 });
        assert_message(err, "declares 2 bytes, less than its own 4-byte header");
    }

    #[test]
    fn a_truncated_tlv_area_is_rejected() {
        let image = image();
        let err = parse_err(&image[..1400]);
        assert_eq!(err, Error::TlvAreaPastEnd { offset: TLV_AT as u32, end: TOTAL as u32, len: 1400 });
        assert_message(err, "runs past the end of the data");
    }

    fn walk(image: &[u8]) -> Result<usize, Error> {
        let layout = ImageLayout::parse(image)?;
        let mut src = image;
        let mut tlvs = layout.tlvs();
        let mut count = 0;
        while tlvs.next(&mut src)?.is_some() {
            count += 1;
        }
        Ok(count)
    }

    #[test]
    fn a_tlv_longer_than_its_area_is_rejected() {
        let mut image = image();
        put16(&mut image, TLV_AT + 6, 200);
        let err = walk(&image).unwrap_err();
        let kind = TlvType(tlv::SHA256);
        assert_eq!(err, Error::TlvPastEnd { offset: TLV_AT as u32 + 4, kind, len: 200, end: TOTAL as u32 });
        assert_message(err, "(SHA-256 hash (TLV 0x10), 200 bytes) runs past the end of its TLV area");
    }

    #[test]
    fn a_protected_tlv_may_not_spill_into_the_unprotected_area() {
        let mut image = image();
        put16(&mut image, BODY_END + 6, 60);
        let err = walk(&image).unwrap_err();
        let kind = TlvType(tlv::SEC_CNT);
        assert_eq!(err, Error::TlvPastEnd { offset: BODY_END as u32 + 4, kind, len: 60, end: TLV_AT as u32 });
    }

    #[test]
    fn a_tlv_header_cut_by_the_area_end_is_rejected() {
        let mut image = image();
        put16(&mut image, TLV_AT + 2, 146);
        image.extend_from_slice(&[0x10, 0x00]);
        let err = walk(&image).unwrap_err();
        let end = TOTAL as u32 + 2;
        assert_eq!(err, Error::TlvPastEnd { offset: TOTAL as u32, kind: TlvType(0), len: 0, end });
    }

    #[test]
    fn the_walk_stops_after_an_error() {
        let mut image = image();
        put16(&mut image, TLV_AT + 6, 200);
        let layout = ImageLayout::parse(&image).unwrap();
        let mut src: &[u8] = &image;
        let mut tlvs = layout.tlvs();
        while let Ok(Some(_)) = tlvs.next(&mut src) {}
        assert_eq!(tlvs.next(&mut src), Ok(None));
    }

    #[test]
    fn a_builder_image_with_the_full_options_parses() {
        let image = full_builder().build(&body(3), None).unwrap();
        assert_eq!(walk(&image), Ok(4));
    }
}

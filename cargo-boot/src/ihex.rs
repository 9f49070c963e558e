//! Intel HEX: writing images at their addresses, and reading prebuilt bootloaders.

use std::fmt::Write as _;

use crate::elf::FlatImage;

/// Errors reading an Intel HEX file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HexError {
    #[error("line {line}: {message}")]
    Bad { line: usize, message: String },
    #[error("the file has no data records")]
    Empty,
}

/// Writes `image` as Intel HEX (16 data bytes a record, extended linear addresses).
pub fn write(image: &FlatImage) -> String {
    let mut out = String::new();
    let mut upper = None;
    for (i, chunk) in image.bytes.chunks(16).enumerate() {
        let addr = image.base + (i as u32) * 16;
        if upper != Some(addr >> 16) {
            upper = Some(addr >> 16);
            record(&mut out, 0, 0x04, &((addr >> 16) as u16).to_be_bytes());
        }
        record(&mut out, (addr & 0xFFFF) as u16, 0x00, chunk);
    }
    record(&mut out, 0, 0x01, &[]);
    out
}

fn record(out: &mut String, addr: u16, kind: u8, data: &[u8]) {
    let mut sum = data.len() as u8;
    sum = sum.wrapping_add((addr >> 8) as u8).wrapping_add(addr as u8).wrapping_add(kind);
    write!(out, ":{:02X}{addr:04X}{kind:02X}", data.len()).unwrap();
    for byte in data {
        sum = sum.wrapping_add(*byte);
        write!(out, "{byte:02X}").unwrap();
    }
    writeln!(out, "{:02X}", sum.wrapping_neg()).unwrap();
}

/// Reads Intel HEX into a flat image; gaps are filled with `fill`.
pub fn read(text: &str, fill: u8) -> Result<FlatImage, HexError> {
    let mut upper: u32 = 0;
    let mut pieces: Vec<(u32, Vec<u8>)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |message: &str| HexError::Bad { line: index + 1, message: message.to_string() };
        let hex = line.strip_prefix(':').ok_or_else(|| bad("a record must start with ':'"))?;
        let bytes = decode(hex).ok_or_else(|| bad("not hexadecimal"))?;
        if bytes.len() < 5 || bytes.len() != bytes[0] as usize + 5 {
            return Err(bad("the record length does not match its byte count"));
        }
        if bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b)) != 0 {
            return Err(bad("bad checksum"));
        }
        let addr = u16::from_be_bytes([bytes[1], bytes[2]]) as u32;
        let data = &bytes[4..bytes.len() - 1];
        match bytes[3] {
            0x00 => pieces.push((upper + addr, data.to_vec())),
            0x01 => break,
            0x02 if data.len() == 2 => upper = (u16::from_be_bytes([data[0], data[1]]) as u32) << 4,
            0x04 if data.len() == 2 => upper = (u16::from_be_bytes([data[0], data[1]]) as u32) << 16,
            0x03 | 0x05 => {}
            _ => return Err(bad("unsupported record type")),
        }
    }
    let start = pieces.iter().map(|p| p.0).min().ok_or(HexError::Empty)?;
    let end = pieces.iter().map(|(a, d)| *a as u64 + d.len() as u64).max().unwrap_or(0);
    let mut bytes = vec![fill; (end - start as u64) as usize];
    for (addr, data) in pieces {
        let at = (addr - start) as usize;
        bytes[at..at + data.len()].copy_from_slice(&data);
    }
    Ok(FlatImage { base: start, bytes })
}

fn decode(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_a_64k_boundary() {
        let image = FlatImage { base: 0x0800_FFF8, bytes: (0..40).collect() };
        let text = write(&image);
        assert!(text.starts_with(":020000040800F2\n"), "{text}");
        assert!(text.contains(":020000040801F1\n"), "{text}");
        assert!(text.ends_with(":00000001FF\n"));
        assert_eq!(read(&text, 0xFF).unwrap(), image);
    }

    #[test]
    fn bad_records_name_the_line() {
        assert_eq!(read(":00000001FE\n", 0).unwrap_err().to_string(), "line 1: bad checksum");
        assert_eq!(read("hello", 0).unwrap_err().to_string(), "line 1: a record must start with ':'");
        assert_eq!(read(":00000001FF\n", 0).unwrap_err(), HexError::Empty);
    }
}

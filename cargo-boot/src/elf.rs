//! ELF files to flat binaries, the way `objcopy -O binary` makes them.
//!
//! Every allocated section with contents is placed at its load address (LMA: `.data`
//! is stored in flash after `.rodata` and copied to RAM at startup); gaps between
//! sections are filled with zeros, as objcopy fills them.

use object::elf::{PT_LOAD, SHF_ALLOC, SHT_NOBITS};
use object::read::elf::{ElfFile32, ProgramHeader, SectionHeader};
use object::{Endianness, Object, ObjectSection};

/// A flat image: bytes to be placed from `base` upwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatImage {
    /// Load address of the first byte.
    pub base: u32,
    /// The contents.
    pub bytes: Vec<u8>,
}

impl FlatImage {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.base as u64 + self.bytes.len() as u64
    }

    /// Size in bytes.
    pub fn len(&self) -> u32 {
        self.bytes.len() as u32
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Errors reading an ELF file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    #[error("{file} is not a 32-bit ELF file ({reason}): give a Cortex-M ELF, a .bin or a .hex")]
    NotElf { file: String, reason: String },
    #[error("{file} has no loadable sections: nothing would be programmed")]
    Empty { file: String },
    #[error("{file} has a section `{section}` whose contents lie outside the file")]
    Truncated { file: String, section: String },
}

/// Converts ELF bytes to a flat image of their loadable contents.
pub fn flatten(file: &str, data: &[u8]) -> Result<FlatImage, ElfError> {
    let elf = ElfFile32::<Endianness>::parse(data)
        .map_err(|e| ElfError::NotElf { file: file.to_string(), reason: e.to_string() })?;
    let endian = elf.endian();
    let segments: Vec<_> = elf.elf_program_headers().iter().filter(|p| p.p_type(endian) == PT_LOAD).collect();
    let mut pieces = Vec::new();
    for section in elf.sections() {
        let header = section.elf_section_header();
        let flags = header.sh_flags(endian);
        if flags & SHF_ALLOC == 0 || header.sh_type(endian) == SHT_NOBITS || header.sh_size(endian) == 0 {
            continue;
        }
        let offset = header.sh_offset(endian);
        let size = header.sh_size(endian);
        let lma = segments
            .iter()
            .find(|p| p.p_offset(endian) <= offset && offset + size <= p.p_offset(endian) + p.p_filesz(endian))
            .map(|p| p.p_paddr(endian) + (offset - p.p_offset(endian)))
            .unwrap_or(header.sh_addr(endian));
        let name = section.name().unwrap_or("?").to_string();
        let bytes = section.data().map_err(|_| ElfError::Truncated { file: file.to_string(), section: name })?;
        pieces.push((lma as u64, bytes));
    }
    join(file, pieces)
}

/// Places the pieces at their addresses, zero-filling the gaps.
fn join(file: &str, mut pieces: Vec<(u64, &[u8])>) -> Result<FlatImage, ElfError> {
    pieces.sort_by_key(|(addr, _)| *addr);
    let (Some(first), Some(end)) = (pieces.first().map(|p| p.0), pieces.iter().map(|(a, b)| a + b.len() as u64).max())
    else {
        return Err(ElfError::Empty { file: file.to_string() });
    };
    let mut bytes = vec![0u8; (end - first) as usize];
    for (addr, data) in pieces {
        let at = (addr - first) as usize;
        bytes[at..at + data.len()].copy_from_slice(data);
    }
    Ok(FlatImage { base: first as u32, bytes })
}

/// The address of the `.vector_table` section, if the ELF has one (cortex-m-rt apps do).
pub fn vector_table_address(data: &[u8]) -> Option<u32> {
    let elf = ElfFile32::<Endianness>::parse(data).ok()?;
    elf.section_by_name(".vector_table").map(|s| s.address() as u32)
}

/// True when the bytes start with the ELF magic.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_an_elf() {
        let err = flatten("x.elf", b"not an elf at all").unwrap_err();
        assert!(err.to_string().starts_with("x.elf is not a 32-bit ELF file"), "{err}");
        assert!(!is_elf(b"MZ"));
    }

    #[test]
    fn pieces_are_joined_at_their_addresses_with_zero_gaps() {
        let image = join("t", vec![(0x1008, &[3, 4][..]), (0x1000, &[1, 2][..])]).unwrap();
        assert_eq!(image.base, 0x1000);
        assert_eq!(image.bytes, [1, 2, 0, 0, 0, 0, 0, 0, 3, 4]);
        assert_eq!(join("t", vec![]).unwrap_err(), ElfError::Empty { file: "t".into() });
    }
}

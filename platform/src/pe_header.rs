//! Reading a PE image's headers: the few fields offline symbolization needs (preferred
//! image base, size of image, link time stamp, the CodeView record that names the PDB),
//! from the image the loader mapped or from the first page of its file. Bounds-checked
//! reads of a byte slice only: nothing here is `unsafe`.

/// What a PE image's headers say about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeHeader {
    /// `OptionalHeader.ImageBase`: where the linker placed the image.
    pub image_base: u64,
    /// `OptionalHeader.SizeOfImage`.
    pub size_of_image: u32,
    /// `FileHeader.TimeDateStamp`.
    pub time_date_stamp: u32,
    /// RVA and size of the debug directory (data directory 6), if any.
    pub debug_directory: Option<(u32, u32)>,
    /// RVA and size of the first section whose characteristics say "code".
    pub code: Option<(u32, u32)>,
}

/// A CodeView `RSDS` record: the PDB's GUID, age and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeView {
    pub guid: [u8; 16],
    pub age: u32,
    pub pdb_path: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

const IMAGE_SCN_CNT_CODE: u32 = 0x20;

/// Parses the headers of a PE32+ image (`MZ`, `PE\0\0`, optional header magic 0x20b).
pub fn parse(b: &[u8]) -> Option<PeHeader> {
    if b.get(0..2)? != b"MZ" {
        return None;
    }
    let nt = u32_at(b, 0x3c)? as usize;
    if b.get(nt..nt + 4)? != b"PE\0\0" {
        return None;
    }
    let file = nt + 4;
    let sections = u16_at(b, file + 2)? as usize;
    let time_date_stamp = u32_at(b, file + 4)?;
    let optional_size = u16_at(b, file + 16)? as usize;
    let opt = file + 20;
    if u16_at(b, opt)? != 0x20b {
        return None;
    }
    let image_base = u64_at(b, opt + 24)?;
    let size_of_image = u32_at(b, opt + 56)?;
    let directories = u32_at(b, opt + 108)?;
    let debug_directory = (directories > 6)
        .then(|| Some((u32_at(b, opt + 112 + 6 * 8)?, u32_at(b, opt + 116 + 6 * 8)?)))
        .flatten()
        .filter(|&(rva, size)| rva != 0 && size != 0);
    let first_section = opt + optional_size;
    let code = (0..sections).find_map(|i| {
        let s = first_section + i * 40;
        let characteristics = u32_at(b, s + 36)?;
        (characteristics & IMAGE_SCN_CNT_CODE != 0)
            .then(|| Some((u32_at(b, s + 12)?, u32_at(b, s + 8)?)))?
    });
    Some(PeHeader {
        image_base,
        size_of_image,
        time_date_stamp,
        debug_directory,
        code,
    })
}

/// The CodeView record named by a debug directory, given the directory's bytes and a
/// way to read `len` bytes at an RVA of the image.
pub fn codeview(
    directory: &[u8],
    read: impl Fn(u32, usize) -> Option<Vec<u8>>,
) -> Option<CodeView> {
    const IMAGE_DEBUG_TYPE_CODEVIEW: u32 = 2;
    directory.chunks_exact(28).find_map(|entry| {
        if u32_at(entry, 12)? != IMAGE_DEBUG_TYPE_CODEVIEW {
            return None;
        }
        let size = u32_at(entry, 16)? as usize;
        let rva = u32_at(entry, 20)?;
        if rva == 0 || !(24..=4096).contains(&size) {
            return None;
        }
        let record = read(rva, size)?;
        if record.get(0..4)? != b"RSDS" {
            return None;
        }
        let guid: [u8; 16] = record.get(4..20)?.try_into().ok()?;
        let age = u32_at(&record, 20)?;
        let path = &record[24..];
        let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
        Some(CodeView {
            guid,
            age,
            pdb_path: path[..end].to_vec(),
        })
    })
}

/// The identity memscope records as a PE module's "build-id" (the analyzer computes the
/// same bytes from the file it opens, `analyzer-cli/src/symbols/pe.rs`): the link time
/// stamp and the size of image (what symbol servers key images by), then the CodeView
/// GUID and age when the image has a CodeView record (what keys its PDB).
pub fn identity(header: &PeHeader, codeview: Option<&CodeView>) -> Vec<u8> {
    let mut id = Vec::with_capacity(28);
    id.extend_from_slice(&header.time_date_stamp.to_le_bytes());
    id.extend_from_slice(&header.size_of_image.to_le_bytes());
    if let Some(cv) = codeview {
        id.extend_from_slice(&cv.guid);
        id.extend_from_slice(&cv.age.to_le_bytes());
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE32+ header: e_lfanew 0x40, one code section at RVA 0x1000.
    fn image() -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[0..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        b[0x40..0x44].copy_from_slice(b"PE\0\0");
        let file = 0x44;
        b[file + 2..file + 4].copy_from_slice(&1u16.to_le_bytes());
        b[file + 4..file + 8].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        b[file + 16..file + 18].copy_from_slice(&240u16.to_le_bytes());
        let opt = file + 20;
        b[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        b[opt + 24..opt + 32].copy_from_slice(&0x1_4000_0000u64.to_le_bytes());
        b[opt + 56..opt + 60].copy_from_slice(&0x9000u32.to_le_bytes());
        b[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
        let s = opt + 240;
        b[s + 8..s + 12].copy_from_slice(&0x500u32.to_le_bytes());
        b[s + 12..s + 16].copy_from_slice(&0x1000u32.to_le_bytes());
        b[s + 36..s + 40].copy_from_slice(&0x6000_0020u32.to_le_bytes());
        b
    }

    #[test]
    fn reads_the_fields_of_a_pe32_plus_header() {
        let h = parse(&image()).unwrap();
        assert_eq!(h.image_base, 0x1_4000_0000);
        assert_eq!(h.size_of_image, 0x9000);
        assert_eq!(h.time_date_stamp, 0x1234_5678);
        assert_eq!(h.code, Some((0x1000, 0x500)));
        assert_eq!(h.debug_directory, None);
        assert_eq!(
            identity(&h, None),
            vec![0x78, 0x56, 0x34, 0x12, 0x00, 0x90, 0, 0]
        );
    }

    #[test]
    fn rejects_what_is_not_pe32_plus() {
        let mut b = image();
        b[0] = b'X';
        assert_eq!(parse(&b), None);
        assert_eq!(parse(&[]), None);
    }
}

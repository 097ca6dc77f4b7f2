//! Reading an ELF file's program headers, for what a test must know about a library
//! before running it (whether it has a TLS segment).

use std::fs;
use std::path::Path;

/// Whether the ELF file at `path` has a PT_TLS program header (64-bit
/// little-endian ELF only; anything else counts as "no").
pub fn elf_has_tls(path: &Path) -> bool {
    const PT_TLS: u32 = 7;
    let Ok(bytes) = fs::read(path) else {
        return false;
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let phentsize = u16_at(54);
    let phnum = u16_at(56);
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        bytes.len() >= at + 4 && u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) == PT_TLS
    })
}

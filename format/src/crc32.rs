//! CRC-32 (IEEE 802.3, the zlib polynomial) of chunks and the header, computed with
//! `crc32fast` (carry-less multiply where the CPU has it): the writer checksums every
//! byte of the trace, so this is on its critical path.

/// CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// CRC-32 of `a` followed by `b`.
pub(crate) fn crc32_parts(a: &[u8], b: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(a);
    h.update(b);
    h.finalize()
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vector() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(super::crc32_parts(b"1234", b"56789"), 0xCBF4_3926);
    }
}

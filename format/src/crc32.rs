//! CRC-32 (IEEE 802.3, the zlib polynomial), table driven. Written here rather than taken
//! from a crate because the format crate has no dependencies and the writer runs inside
//! traced processes; 30 lines are cheaper than a dependency there.

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    !update(!0u32, bytes)
}

/// CRC-32 of `a` followed by `b`.
pub(crate) fn crc32_parts(a: &[u8], b: &[u8]) -> u32 {
    !update(update(!0u32, a), b)
}

fn update(mut c: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vector() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }
}

//! Chunks: the unit of writing, checksumming and recovery.
//!
//! Layout: payload length (u32 LE), CRC-32 (u32 LE) of everything after it (the rest of
//! the chunk header and the payload), stream (u32 LE), codec (u8, 0 = plain), three
//! reserved bytes, payload. A payload starts with the chunk's base time (varint); record
//! times inside are deltas from it.

use crate::error::{FormatError, FormatErrorKind};

pub const CHUNK_HEADER_LEN: usize = 16;
/// Upper bound on a chunk payload; larger lengths are corruption, not data.
pub const MAX_CHUNK_PAYLOAD: usize = 64 << 20;
/// Codec of a plain (uncompressed) payload.
pub const CODEC_PLAIN: u8 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub payload_len: u32,
    pub crc: u32,
    pub stream: u32,
    pub codec: u8,
}

impl ChunkHeader {
    /// Writes the header for `payload` into `out` (checksum included).
    pub fn write(out: &mut [u8; CHUNK_HEADER_LEN], stream: u32, codec: u8, payload: &[u8]) {
        out[8..12].copy_from_slice(&stream.to_le_bytes());
        out[12] = codec;
        out[13..16].fill(0);
        let crc = crc_of(&out[8..16], payload);
        out[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        out[4..8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Parses a chunk header found at absolute file offset `at`.
    pub fn parse(bytes: &[u8; CHUNK_HEADER_LEN], at: u64) -> Result<Self, FormatError> {
        let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let h = ChunkHeader { payload_len: u32_at(0), crc: u32_at(4), stream: u32_at(8), codec: bytes[12] };
        if h.payload_len as usize > MAX_CHUNK_PAYLOAD {
            return Err(FormatError::new(at, FormatErrorKind::BadLength));
        }
        if h.codec != CODEC_PLAIN {
            return Err(FormatError::new(at + 12, FormatErrorKind::BadValue("chunk codec")));
        }
        Ok(h)
    }

    /// Whether `payload` matches the checksum, given the raw header bytes.
    pub fn verify(bytes: &[u8; CHUNK_HEADER_LEN], payload: &[u8]) -> bool {
        let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        crc_of(&bytes[8..16], payload) == crc
    }
}

fn crc_of(header_tail: &[u8], payload: &[u8]) -> u32 {
    crate::crc32::crc32_parts(header_tail, payload)
}

//! Chunks: the unit of writing, checksumming and recovery.
//!
//! Layout: stored length (u32 LE), CRC-32 (u32 LE) of everything after it (the rest of
//! the chunk header and the stored bytes), stream (u32 LE), codec (u8), record count
//! (u24 LE: how many records the payload holds, so that a reader can count a thread's
//! events without decompressing them), stored bytes. Codec 0 stores the payload as is; codec 1 stores the payload's
//! length (varint) and a zstd frame of it. A payload starts with the chunk's base time
//! (varint) and its stream directory (see `record`); record times inside are deltas from
//! the base time.
//!
//! The compressor ends a zstd block at every stream boundary the directory names, so that
//! each stream gets Huffman and sequence tables of its own (one table for all would cost
//! about 15 % more); the reader needs to know nothing of that, a frame is a frame. (A
//! frame per stream compresses as well, but every frame start clears zstd's tables,
//! which costs the writer more than the flushes.)

use crate::error::{FormatError, FormatErrorKind};
use crate::varint::Dec;

// The zstd codec: zstd's C library (crate `zstd`) everywhere but on Apple targets, where
// no C toolchain is assumed and the pure-Rust `ruzstd` serves (see `zstd_rust`).
#[cfg(not(target_vendor = "apple"))]
pub use crate::zstd_c::{compressed_bound, decompress_frame, ChunkCompressor};
#[cfg(target_vendor = "apple")]
pub use crate::zstd_rust::{compressed_bound, decompress_frame, ChunkCompressor};

pub const CHUNK_HEADER_LEN: usize = 16;
/// Upper bound on a chunk payload; larger lengths are corruption, not data.
pub const MAX_CHUNK_PAYLOAD: usize = 64 << 20;
/// Codec of a plain (uncompressed) payload.
pub const CODEC_PLAIN: u8 = 0;
/// Codec of a zstd-compressed payload.
pub const CODEC_ZSTD: u8 = 1;
/// Largest record count a chunk header can hold. The tracer's chunks (128 KiB of
/// payload, at least a byte per record) stay far below it; a writer of chunks above
/// 16 MiB must keep their records under it ([`ChunkHeader::write`] clamps the count, and
/// the analyzer reports a chunk whose count is wrong as corrupt).
pub const MAX_CHUNK_RECORDS: u32 = (1 << 24) - 1;
/// Where the record count (3 bytes) sits in a chunk header.
pub const RECORDS_FIELD_OFFSET: u64 = 13;
const RECORDS_AT: usize = RECORDS_FIELD_OFFSET as usize;

/// The payload of a verified chunk, decompressed if its codec says so. Errors carry the
/// offset of the chunk (`at`).
pub fn decode_stored(codec: u8, stored: Vec<u8>, at: u64) -> Result<Vec<u8>, FormatError> {
    match codec {
        CODEC_PLAIN => Ok(stored),
        CODEC_ZSTD => {
            let bad = || FormatError::new(at, FormatErrorKind::BadValue("compressed chunk"));
            let mut d = Dec::new(&stored);
            let len = d.var().map_err(|_| bad())?;
            if len as usize > MAX_CHUNK_PAYLOAD {
                return Err(bad());
            }
            let mut payload = vec![0u8; len as usize];
            let n = decompress_frame(&stored[d.pos()..], &mut payload).ok_or_else(bad)?;
            if n != payload.len() {
                return Err(bad());
            }
            Ok(payload)
        }
        _ => Err(FormatError::new(
            at + 12,
            FormatErrorKind::BadValue("chunk codec"),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub payload_len: u32,
    pub crc: u32,
    pub stream: u32,
    pub codec: u8,
    /// Records in the payload.
    pub records: u32,
}

impl ChunkHeader {
    /// Writes the header for `payload` (`records` records) into `out`, checksum included.
    pub fn write(
        out: &mut [u8; CHUNK_HEADER_LEN],
        stream: u32,
        codec: u8,
        records: u32,
        payload: &[u8],
    ) {
        out[8..12].copy_from_slice(&stream.to_le_bytes());
        out[12] = codec;
        out[RECORDS_AT..RECORDS_AT + 3]
            .copy_from_slice(&records.min(MAX_CHUNK_RECORDS).to_le_bytes()[..3]);
        let crc = crc_of(&out[8..16], payload);
        out[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        out[4..8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Parses a chunk header found at absolute file offset `at`.
    pub fn parse(bytes: &[u8; CHUNK_HEADER_LEN], at: u64) -> Result<Self, FormatError> {
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let records = u32::from_le_bytes([
            bytes[RECORDS_AT],
            bytes[RECORDS_AT + 1],
            bytes[RECORDS_AT + 2],
            0,
        ]);
        let h = ChunkHeader {
            payload_len: u32_at(0),
            crc: u32_at(4),
            stream: u32_at(8),
            codec: bytes[12],
            records,
        };
        if h.payload_len as usize > MAX_CHUNK_PAYLOAD {
            return Err(FormatError::new(at, FormatErrorKind::BadLength));
        }
        if h.codec != CODEC_PLAIN && h.codec != CODEC_ZSTD {
            return Err(FormatError::new(
                at + 12,
                FormatErrorKind::BadValue("chunk codec"),
            ));
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

//! The chunk codec on Apple targets, in pure Rust (crate `ruzstd`), so that building the
//! tracer and the analyzer for macOS needs no C toolchain or SDK for zstd's sources
//! (docs/macos.md). Its frames are standard zstd frames: the reader decodes them like
//! those of zstd's C library, and the other way round (tests below).
//!
//! What it costs against `zstd_c`: `ruzstd` has no streaming flush, so a payload is one
//! zstd frame without a block per stream (the streams share Huffman and sequence tables,
//! about 15 % larger chunks, see `chunk`), its `Fastest` level is slower than zstd's
//! level 1, and each chunk's output goes through a fresh vector (from the tracer's
//! private heap, like every allocation of the tracer).

use ruzstd::decoding::FrameDecoder;
use ruzstd::encoding::{compress_to_vec, CompressionLevel};

use crate::model::SIDE_STREAMS;
use crate::varint::Enc;

/// Room needed to compress a payload of `len` bytes with [`ChunkCompressor`]: zstd's own
/// bound (`ZSTD_COMPRESSBOUND`), plus the length prefix and room to spare.
pub fn compressed_bound(len: usize) -> usize {
    let small = if len < 128 << 10 {
        ((128 << 10) - len) >> 11
    } else {
        0
    };
    10 + len + (len >> 8) + small + 8 * (SIDE_STREAMS + 2)
}

/// Compresses chunk payloads (`ruzstd`, level `Fastest`, roughly zstd's level 1).
pub struct ChunkCompressor(());

impl ChunkCompressor {
    pub fn new() -> Option<Self> {
        Some(ChunkCompressor(()))
    }

    /// Writes `payload` in codec 1 form into `out` (at least [`compressed_bound`] long);
    /// returns the stored length, or `None` if compression would not make it smaller.
    pub fn compress(&mut self, payload: &[u8], out: &mut [u8]) -> Option<usize> {
        let mut e = Enc::new(out);
        e.var(payload.len() as u64).ok()?;
        let head = e.len();
        let frame = compress_to_vec(payload, CompressionLevel::Fastest);
        let stored = head + frame.len();
        if stored >= payload.len() || stored > out.len() {
            return None;
        }
        out[head..stored].copy_from_slice(&frame);
        Some(stored)
    }
}

/// Decodes the zstd frame `frame` into `out`: the bytes written, `None` if it is not a
/// valid frame or does not fit.
pub fn decompress_frame(frame: &[u8], out: &mut [u8]) -> Option<usize> {
    FrameDecoder::new().decode_all(frame, out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::varint::Dec;

    /// A payload that compresses: a directory-less run of repeating records.
    fn payload() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect()
    }

    fn frame_of(stored: &[u8]) -> (usize, &[u8]) {
        let mut d = Dec::new(stored);
        let len = d.var().unwrap() as usize;
        (len, &stored[d.pos()..])
    }

    #[test]
    fn rust_frames_decode_with_the_c_library_and_back() {
        let p = payload();
        let mut out = vec![0u8; compressed_bound(p.len())];
        let n = ChunkCompressor::new()
            .unwrap()
            .compress(&p, &mut out)
            .unwrap();
        assert!(n < p.len() / 4, "{n} of {}", p.len());
        let (len, frame) = frame_of(&out[..n]);
        assert_eq!(len, p.len());
        // zstd's C library reads what ruzstd wrote...
        let mut back = vec![0u8; len];
        assert_eq!(
            zstd::bulk::decompress_to_buffer(frame, &mut back).unwrap(),
            len
        );
        assert_eq!(back, p);
        // ...and ruzstd reads what the C library wrote (the tracer on Linux).
        let mut c_out = vec![0u8; crate::zstd_c::compressed_bound(p.len())];
        let m = crate::zstd_c::ChunkCompressor::new()
            .unwrap()
            .compress(&p, &mut c_out)
            .unwrap();
        let (len, frame) = frame_of(&c_out[..m]);
        let mut back = vec![0u8; len];
        assert_eq!(decompress_frame(frame, &mut back), Some(p.len()));
        assert_eq!(back, p);
    }

    #[test]
    fn incompressible_payload_is_left_plain_and_garbage_does_not_decode() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let p: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let mut out = vec![0u8; compressed_bound(p.len())];
        assert_eq!(ChunkCompressor::new().unwrap().compress(&p, &mut out), None);
        let mut back = [0u8; 64];
        assert_eq!(decompress_frame(b"not a zstd frame", &mut back), None);
    }
}

//! The chunk codec on top of zstd's C library (crate `zstd`), used everywhere but on
//! Apple targets (`zstd_rust` there): chunk payloads compressed at level 1 with a zstd
//! block ended at every stream boundary of the payload's directory, so that each stream
//! gets Huffman and sequence tables of its own (see `chunk`), and zstd frames decoded
//! into a caller's buffer.

use zstd::zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd::zstd_safe::{CCtx, CParameter, InBuffer, OutBuffer, ResetDirective};

use crate::model::{DIRECTORY_LEN, DIRECTORY_TAG, SIDE_STREAMS};
use crate::varint::{Dec, Enc};

/// Room needed to compress a payload of `len` bytes with [`ChunkCompressor`] (a block
/// header more per stream than zstd's own bound).
pub fn compressed_bound(len: usize) -> usize {
    10 + zstd::zstd_safe::compress_bound(len) + 8 * (SIDE_STREAMS + 2)
}

/// zstd level 1: the writer must keep up with the program.
const LEVEL: i32 = 1;

/// Compresses chunk payloads, reusing one compression context.
pub struct ChunkCompressor(CCtx<'static>);

impl ChunkCompressor {
    pub fn new() -> Option<Self> {
        let mut cctx = CCtx::try_create()?;
        cctx.set_parameter(CParameter::CompressionLevel(LEVEL))
            .ok()?;
        Some(ChunkCompressor(cctx))
    }

    /// Writes `payload` in codec 1 form into `out` (at least [`compressed_bound`] long);
    /// returns the stored length, or `None` if compression would not make it smaller.
    pub fn compress(&mut self, payload: &[u8], out: &mut [u8]) -> Option<usize> {
        let mut e = Enc::new(out);
        e.var(payload.len() as u64).ok()?;
        let head = e.len();
        let cctx = &mut self.0;
        cctx.reset(ResetDirective::SessionOnly).ok()?;
        cctx.set_pledged_src_size(Some(payload.len() as u64)).ok()?;
        let mut ob = OutBuffer::around(&mut out[head..]);
        let (ends, n) = stream_ends(payload);
        let mut start = 0;
        for (i, &end) in ends[..n].iter().enumerate() {
            let directive = if i + 1 == n {
                ZSTD_EndDirective::ZSTD_e_end
            } else {
                ZSTD_EndDirective::ZSTD_e_flush
            };
            let mut ib = InBuffer::around(&payload[start..end]);
            loop {
                let before = (ib.pos, ob.pos());
                let left = cctx.compress_stream2(&mut ob, &mut ib, directive).ok()?;
                if left == 0 && ib.pos == end - start {
                    break;
                }
                if (ib.pos, ob.pos()) == before {
                    return None; // no progress: `out` is full
                }
            }
            start = end;
        }
        let stored = head + ob.pos();
        (stored < payload.len()).then_some(stored)
    }
}

/// Where a payload's zstd blocks should end (`.1` of them): at the stream boundaries of
/// its directory, joining streams too short to be worth a block of their own to the
/// next. A payload without a valid directory is one block.
fn stream_ends(payload: &[u8]) -> ([usize; SIDE_STREAMS + 2], usize) {
    const MIN_BLOCK: usize = 256;
    let mut ends = [payload.len(); SIDE_STREAMS + 2];
    let mut d = Dec::new(payload);
    let Ok(_) = d.var() else { return (ends, 1) };
    let at = d.pos();
    let Ok(dir) = d.bytes(DIRECTORY_LEN) else {
        return (ends, 1);
    };
    if dir[0] != DIRECTORY_TAG {
        return (ends, 1);
    }
    let (mut n, mut block_start, mut end) = (0, 0, at + DIRECTORY_LEN);
    for i in 0..=SIDE_STREAMS {
        end += u32::from_le_bytes([
            dir[1 + 4 * i],
            dir[2 + 4 * i],
            dir[3 + 4 * i],
            dir[4 + 4 * i],
        ]) as usize;
        if end >= payload.len() {
            break;
        }
        if end - block_start >= MIN_BLOCK {
            ends[n] = end;
            n += 1;
            block_start = end;
        }
    }
    ends[n] = payload.len();
    (ends, n + 1)
}

/// Decodes the zstd frame `frame` into `out`: the bytes written, `None` if it is not a
/// valid frame or does not fit.
pub fn decompress_frame(frame: &[u8], out: &mut [u8]) -> Option<usize> {
    zstd::bulk::decompress_to_buffer(frame, out).ok()
}

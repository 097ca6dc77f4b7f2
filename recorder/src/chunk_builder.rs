//! Assembles one stream's records into checksummed chunks in a reusable buffer, and
//! stores each chunk zstd-compressed when that makes it smaller (it nearly always does).
//!
//! One [`ChunkEnc`] serves every chunk of the builder: its tables and side streams are
//! allocated here once and reset at each chunk start, so that building chunks never
//! allocates. A chunk stays open until it is full or the writer closes it
//! ([`ChunkBuilder::finish`]); the writer keeps a thread's chunk open across rounds for a
//! few milliseconds, because every chunk starts its prediction model from scratch and
//! small chunks code worse.

use memscope_format::chunk::{compressed_bound, ChunkCompressor, CODEC_PLAIN, CODEC_ZSTD};
use memscope_format::record::ChunkEnc;
use memscope_format::{ChunkHeader, Enc, Record, CHUNK_HEADER_LEN};

/// Payload bytes per chunk (main and side streams together) before it is closed. Larger
/// chunks code a little better (BENCHMARKS.md) but keep more uncompressed data in the
/// writer's caches.
const CHUNK_CAPACITY: usize = 128 << 10;

pub struct ChunkBuilder {
    stream: u32,
    buf: Vec<u8>,
    /// Header space, then the compressed form of `buf`'s payload.
    packed: Vec<u8>,
    compressor: Option<ChunkCompressor>,
    /// Bytes of payload written so far (after the header space).
    len: usize,
    enc: ChunkEnc,
    open: bool,
    /// Records in the open chunk.
    records: u32,
    /// Time of the open chunk's first record.
    base_time: u64,
}

impl ChunkBuilder {
    pub fn new(stream: u32) -> Self {
        ChunkBuilder {
            stream,
            buf: vec![0; CHUNK_HEADER_LEN + CHUNK_CAPACITY],
            packed: vec![0; CHUNK_HEADER_LEN + compressed_bound(CHUNK_CAPACITY)],
            compressor: ChunkCompressor::new(),
            len: 0,
            enc: ChunkEnc::new(CHUNK_CAPACITY),
            open: false,
            records: 0,
            base_time: 0,
        }
    }

    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// Whether a chunk is open whose first record is `max_age` ns or more older than `now`.
    pub fn is_older_than(&self, now: u64, max_age: u64) -> bool {
        self.open && now.saturating_sub(self.base_time) >= max_age
    }

    /// Closes the open chunk (if any) into `out` and directs later records to `stream`.
    pub fn switch_stream(&mut self, stream: u32, out: &mut Vec<u8>) {
        self.finish(out);
        self.stream = stream;
    }

    /// Adds one record; `time` is the record's time, used as the base of a new chunk.
    #[inline(always)]
    pub fn put(&mut self, out: &mut Vec<u8>, time: u64, record: &Record<'_>) {
        for _ in 0..2 {
            if !self.open {
                let mut e = Enc::new(&mut self.buf[CHUNK_HEADER_LEN..]);
                if self.enc.restart(&mut e, time).is_err() {
                    return;
                }
                self.len = e.len();
                self.open = true;
                self.records = 0;
                self.base_time = time;
            }
            let mut e = Enc::new(&mut self.buf[CHUNK_HEADER_LEN + self.len..]);
            // A record that does not fit leaves the encoder as it was (see ChunkEnc).
            if self.enc.put(&mut e, record).is_ok() {
                self.len += e.len();
                self.records += 1;
                return;
            }
            // Full: close this chunk and retry once in a fresh one.
            self.finish(out);
        }
    }

    /// Appends the open chunk, header and all, to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !std::mem::take(&mut self.open) {
            return;
        }
        let mut e = Enc::resume(&mut self.buf[CHUNK_HEADER_LEN..], self.len);
        // Cannot fail: every record left room for the side streams.
        if self.enc.finish(&mut e).is_err() {
            return;
        }
        self.len = e.len();
        let payload = &self.buf[CHUNK_HEADER_LEN..CHUNK_HEADER_LEN + self.len];
        let (phdr, pbody) = self.packed.split_at_mut(CHUNK_HEADER_LEN);
        let phdr: &mut [u8; CHUNK_HEADER_LEN] =
            phdr.try_into().expect("header slice has the header length");
        if let Some(n) = self
            .compressor
            .as_mut()
            .and_then(|c| c.compress(payload, pbody))
        {
            ChunkHeader::write(phdr, self.stream, CODEC_ZSTD, self.records, &pbody[..n]);
            out.extend_from_slice(&self.packed[..CHUNK_HEADER_LEN + n]);
        } else {
            let (hdr, body) = self.buf.split_at_mut(CHUNK_HEADER_LEN);
            let hdr: &mut [u8; CHUNK_HEADER_LEN] =
                hdr.try_into().expect("header slice has the header length");
            ChunkHeader::write(
                hdr,
                self.stream,
                CODEC_PLAIN,
                self.records,
                &body[..self.len],
            );
            out.extend_from_slice(&self.buf[..CHUNK_HEADER_LEN + self.len]);
        }
        self.len = 0;
    }
}

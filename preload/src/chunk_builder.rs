//! Assembles one stream's records into checksummed chunks in a reusable buffer, and
//! stores each chunk zstd-compressed when that makes it smaller (it nearly always does:
//! consecutive records share most of their bytes).

use memscope_format::chunk::{compressed_bound, ChunkCompressor, CODEC_PLAIN, CODEC_ZSTD};
use memscope_format::record::ChunkEnc;
use memscope_format::{ChunkHeader, Enc, Full, CHUNK_HEADER_LEN};

/// Payload bytes per chunk before it is closed.
const CHUNK_CAPACITY: usize = 256 << 10;

pub struct ChunkBuilder {
    stream: u32,
    buf: Vec<u8>,
    /// Header space, then the compressed form of `buf`'s payload.
    packed: Vec<u8>,
    compressor: Option<ChunkCompressor>,
    /// Bytes of payload written so far (after the header space).
    len: usize,
    enc: Option<ChunkEnc>,
}

impl ChunkBuilder {
    pub fn new(stream: u32) -> Self {
        ChunkBuilder {
            stream,
            buf: vec![0; CHUNK_HEADER_LEN + CHUNK_CAPACITY],
            packed: vec![0; CHUNK_HEADER_LEN + compressed_bound(CHUNK_CAPACITY)],
            compressor: ChunkCompressor::new(),
            len: 0,
            enc: None,
        }
    }

    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// Closes the open chunk (if any) into `out` and directs later records to `stream`.
    pub fn switch_stream(&mut self, stream: u32, out: &mut Vec<u8>) {
        self.finish(out);
        self.stream = stream;
    }

    /// Adds one record; `time` is the record's time, used as the base of a new chunk.
    pub fn put(&mut self, out: &mut Vec<u8>, time: u64, write: impl Fn(&mut ChunkEnc, &mut Enc<'_>) -> Result<(), Full>) {
        for _ in 0..2 {
            if self.enc.is_none() {
                let mut e = Enc::new(&mut self.buf[CHUNK_HEADER_LEN..]);
                self.enc = ChunkEnc::begin(&mut e, time).ok();
                self.len = e.len();
            }
            let Some(mut state) = self.enc else { return };
            let mut e = Enc::new(&mut self.buf[CHUNK_HEADER_LEN + self.len..]);
            if write(&mut state, &mut e).is_ok() {
                self.len += e.len();
                self.enc = Some(state);
                return;
            }
            // Full: close this chunk and retry once in a fresh one.
            self.finish(out);
        }
    }

    /// Appends the open chunk, header and all, to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.enc.take().is_none() {
            return;
        }
        let payload = &self.buf[CHUNK_HEADER_LEN..CHUNK_HEADER_LEN + self.len];
        let (phdr, pbody) = self.packed.split_at_mut(CHUNK_HEADER_LEN);
        let phdr: &mut [u8; CHUNK_HEADER_LEN] = phdr.try_into().expect("header slice has the header length");
        if let Some(n) = self.compressor.as_mut().and_then(|c| c.compress(payload, pbody)) {
            ChunkHeader::write(phdr, self.stream, CODEC_ZSTD, &pbody[..n]);
            out.extend_from_slice(&self.packed[..CHUNK_HEADER_LEN + n]);
        } else {
            let (hdr, body) = self.buf.split_at_mut(CHUNK_HEADER_LEN);
            let hdr: &mut [u8; CHUNK_HEADER_LEN] = hdr.try_into().expect("header slice has the header length");
            ChunkHeader::write(hdr, self.stream, CODEC_PLAIN, &body[..self.len]);
            out.extend_from_slice(&self.buf[..CHUNK_HEADER_LEN + self.len]);
        }
        self.len = 0;
    }
}

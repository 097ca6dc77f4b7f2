//! Synthetic traces for tests: a small builder over the format crate's own encoder
//! (`Header::encode_raw`, `ChunkEnc`, `ChunkHeader::write`), so that tests exercise the
//! exact bytes the tracer writes, without running the tracer.

use memscope_format::{
    ChunkEnc, ChunkHeader, Enc, Full, Header, Origin, RecordDecoder, CHUNK_HEADER_LEN,
};

/// A trace being built in memory, one chunk at a time.
pub struct TraceBuilder {
    bytes: Vec<u8>,
    /// Absolute offset of each chunk written, in order.
    pub chunk_offsets: Vec<u64>,
}

impl TraceBuilder {
    /// A header for pid 100 of `/bin/synth`, starting at clock 1000.
    pub fn new(origin: Origin) -> Self {
        let mut bytes = vec![0u8; 4096];
        let n = Header::encode_raw(
            &mut bytes,
            100,
            1,
            origin,
            7,
            1000,
            b"/bin/synth",
            &[b"synth", b"-x"],
            32,
            false,
        )
        .unwrap_or(0);
        bytes.truncate(n);
        Self {
            bytes,
            chunk_offsets: Vec::new(),
        }
    }

    /// Appends one chunk of `stream` whose records `f` writes.
    pub fn chunk(
        &mut self,
        stream: u32,
        base_time: u64,
        f: impl FnOnce(&mut Enc<'_>, &mut ChunkEnc) -> Result<(), Full>,
    ) -> &mut Self {
        let mut buf = vec![0u8; 1 << 16];
        let mut e = Enc::new(&mut buf);
        let written = ChunkEnc::begin(&mut e, base_time).and_then(|mut c| {
            f(&mut e, &mut c)?;
            c.finish(&mut e)
        });
        assert!(written.is_ok(), "synthetic chunk too large");
        let n = e.len();
        self.raw_chunk(stream, &buf[..n])
    }

    /// Appends a chunk with exactly this payload (valid checksum, any content); its
    /// header counts the records that decode before the first that does not.
    pub fn raw_chunk(&mut self, stream: u32, payload: &[u8]) -> &mut Self {
        let records =
            RecordDecoder::new(payload).map_or(0, |d| d.take_while(Result::is_ok).count());
        self.raw_chunk_counted(stream, payload, records as u32)
    }

    /// Appends a chunk with exactly this payload and record count (valid checksum).
    pub fn raw_chunk_counted(&mut self, stream: u32, payload: &[u8], records: u32) -> &mut Self {
        let mut hdr = [0u8; CHUNK_HEADER_LEN];
        ChunkHeader::write(&mut hdr, stream, 0, records, payload);
        self.chunk_offsets.push(self.bytes.len() as u64);
        self.bytes.extend_from_slice(&hdr);
        self.bytes.extend_from_slice(payload);
        self
    }

    /// Appends the stream-0 chunk with the `End` record.
    pub fn end(&mut self, time: u64) -> &mut Self {
        self.chunk(0, time, |e, c| c.end(e, time))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

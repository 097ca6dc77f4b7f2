//! Synthetic traces for tests: a small builder over the format crate's own encoder
//! (`Header::encode_raw`, `ChunkEnc`, `ChunkHeader::write`), so that tests exercise the
//! exact bytes the tracer writes, without running the tracer; and constructors of the
//! [`Record`]s tests write most ([`alloc`], [`free`], [`realloc`], [`module`], [`stack`],
//! and the leak check's [`root`], [`reach`], [`reach_end`]), which leave alignment,
//! slack and heuristics at 0. Other records are written as `Record` values.

use memscope_format::{
    AllocKind, ChunkEnc, ChunkHeader, Enc, FreeKind, Header, Heuristic, Holder, LeakKind, Origin,
    RawHeader, Record, RecordDecoder, RootKind, StackId, CHUNK_HEADER_LEN,
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
        let raw = RawHeader {
            pid: 100,
            ppid: 1,
            origin,
            start_realtime_ns: 7,
            start_clock_ns: 1000,
            exe: b"/bin/synth",
            args: &[b"synth", b"-x"],
            stack_depth: 32,
            free_stacks: false,
        };
        let n = Header::encode_raw(&mut bytes, &raw).unwrap_or(0);
        bytes.truncate(n);
        Self {
            bytes,
            chunk_offsets: Vec::new(),
        }
    }

    /// Appends one chunk of `stream` that holds `records`.
    pub fn chunk(&mut self, stream: u32, base_time: u64, records: &[Record<'_>]) -> &mut Self {
        let mut buf = vec![0u8; 1 << 16];
        let mut e = Enc::new(&mut buf);
        let written = ChunkEnc::begin(&mut e, base_time).and_then(|mut c| {
            for r in records {
                c.put(&mut e, r)?;
            }
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
        self.chunk(0, time, &[Record::End { time }])
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

// ---- records as tests write them ------------------------------------------------------

/// A module whose load bias is its start address (an object linked at address 0, mapped
/// over `start..end`).
pub fn module<'a>(id: u32, start: u64, end: u64, path: &'a [u8], build_id: &'a [u8]) -> Record<'a> {
    Record::Module {
        id,
        base: start,
        start,
        end,
        path,
        build_id,
    }
}

/// A `Stack` record of `frames`, innermost first.
pub fn stack(id: StackId, frames: &[u64]) -> Record<'static> {
    Record::Stack {
        id,
        frames: frames.to_vec(),
    }
}

/// An allocation of `size` bytes at `ptr` by `kind`, unaligned, its slack unknown (0).
pub fn alloc(time: u64, ptr: u64, size: u64, kind: AllocKind, stack: StackId) -> Record<'static> {
    Record::Alloc {
        time,
        ptr,
        size,
        align: 0,
        kind,
        stack,
        slack: 0,
    }
}

/// A `free` of `ptr`.
pub fn free(time: u64, ptr: u64, stack: StackId) -> Record<'static> {
    Record::Free {
        time,
        ptr,
        kind: FreeKind::Free,
        stack,
        size: 0,
        align: 0,
    }
}

/// A `realloc` of `old` to `size` bytes at `new` (see [`Record::Realloc`] for the null
/// cases), its slack unknown (0).
pub fn realloc(
    time_before: u64,
    time: u64,
    old: u64,
    new: u64,
    size: u64,
    stack: StackId,
) -> Record<'static> {
    Record::Realloc {
        time_before,
        time,
        old,
        new,
        size,
        kind: AllocKind::Realloc,
        stack,
        slack: 0,
    }
}

/// A `Root` record of the leak check.
pub fn root(id: u32, kind: RootKind, addr: u64, tid: u32, pc: u64) -> Record<'static> {
    Record::Root {
        id,
        kind,
        addr,
        tid,
        pc,
    }
}

/// A `Reach` record of the leak check, without a heuristic.
pub fn reach(ptr: u64, kind: LeakKind, holder: Holder) -> Record<'static> {
    Record::Reach {
        ptr,
        kind,
        heuristic: Heuristic::None,
        holder,
    }
}

/// The `ReachEnd` record closing a leak check of `blocks` blocks and `roots` roots.
pub fn reach_end(blocks: u64, roots: u64) -> Record<'static> {
    Record::ReachEnd {
        blocks,
        roots,
        scanned_bytes: 0,
        ns: 0,
        threads: 0,
        unresponsive: 0,
    }
}

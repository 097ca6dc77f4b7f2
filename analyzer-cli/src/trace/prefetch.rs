//! Pass 2's supply of decoded chunks: reading, decompressing and decoding a chunk costs
//! about as much as replaying it, so a second thread does it ahead of the merge.
//!
//! Chunks are numbered in file order (the order the tracer wrote them, roughly the order
//! the merge needs them). The helper thread decodes them in that order, at most
//! [`WINDOW`] ahead of what the merge has taken. When the merge asks for a chunk:
//! - decoded already: it takes it;
//! - being decoded: it waits for the helper;
//! - not started (the helper is behind, or out of window because file order strayed from
//!   merge order, or there is no helper on a one-CPU machine): it decodes the chunk itself.
//!
//! So the merge never waits on a chunk nobody is decoding, the order and content of
//! events never depend on timing, and memory stays bounded: [`WINDOW`] decoded chunks
//! plus the merge's current one per stream.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use memscope_format::reader::read_chunk_at;
use memscope_format::RecordDecoder;

use crate::error::CliError;
use crate::ids::StreamId;
use crate::trace::event::{split_record, Event};

/// Decoded chunks the helper may hold that the merge has not taken yet.
pub const WINDOW: usize = 4;

/// One chunk to supply: where it is and whose events it holds.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRef {
    pub offset: u64,
    pub stream: StreamId,
}

enum Slot {
    Waiting,
    Decoding,
    Ready(Result<Vec<Event>, CliError>),
    Taken,
}

struct State {
    /// One slot per chunk, in file order.
    slots: Vec<Slot>,
    /// Ready slots not taken yet.
    ready: usize,
    /// The helper's next candidate.
    next: usize,
    /// Set when the merge is dropped: the helper stops.
    stop: bool,
    /// Event buffers the merge is done with, to decode into again (fresh memory would
    /// be page-faulted in chunk after chunk).
    spare: Vec<Vec<Event>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a slot becomes ready, one is taken, or `stop` is set.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in this module; the state is
        // still consistent slot by slot, so carry on rather than propagate the poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Hands out the decoded events of chunks, by file-order number.
pub struct Prefetch {
    path: PathBuf,
    chunks: Arc<[ChunkRef]>,
    shared: Arc<Shared>,
    /// The merge's own reader, for chunks it decodes itself.
    file: BufReader<File>,
    helper: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Opens `path` for the chunks `chunks` (file order) and starts the helper thread
    /// when there is a second CPU.
    pub fn new(path: &Path, chunks: Vec<ChunkRef>) -> Result<Self, CliError> {
        let open = || {
            File::open(path)
                .map(|f| BufReader::with_capacity(1 << 16, f))
                .map_err(|e| CliError::io(path, e))
        };
        let file = open()?;
        let chunks: Arc<[ChunkRef]> = chunks.into();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                slots: chunks.iter().map(|_| Slot::Waiting).collect(),
                ready: 0,
                next: 0,
                stop: false,
                spare: Vec::new(),
            }),
            changed: Condvar::new(),
        });
        let parallel = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
        let helper = if parallel && chunks.len() > 1 {
            let (file, path, chunks, shared) =
                (open()?, path.to_path_buf(), chunks.clone(), shared.clone());
            std::thread::Builder::new()
                .name("memscope-prefetch".into())
                .spawn(move || helper(file, &path, &chunks, &shared))
                .ok()
        } else {
            None
        };
        Ok(Self {
            path: path.to_path_buf(),
            chunks,
            shared,
            file,
            helper,
        })
    }

    /// The events of chunk `i` (each chunk is taken once). `done` is the buffer of the
    /// chunk the caller has finished with, kept for reuse.
    pub fn take(&mut self, i: usize, done: Vec<Event>) -> Result<Vec<Event>, CliError> {
        let mut st = self.shared.lock();
        if done.capacity() > 0 && st.spare.len() < WINDOW + 1 {
            st.spare.push(done);
        }
        loop {
            match std::mem::replace(&mut st.slots[i], Slot::Taken) {
                Slot::Ready(events) => {
                    st.ready -= 1;
                    drop(st);
                    self.shared.changed.notify_all();
                    return events;
                }
                Slot::Waiting => {
                    let buf = st.spare.pop().unwrap_or_default();
                    drop(st);
                    return decode_chunk(&mut self.file, &self.path, self.chunks[i], buf);
                }
                Slot::Decoding => {
                    st.slots[i] = Slot::Decoding;
                    st = self
                        .shared
                        .changed
                        .wait(st)
                        .unwrap_or_else(|p| p.into_inner());
                }
                Slot::Taken => unreachable!("chunk {i} taken twice"),
            }
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(h) = self.helper.take() {
            let _ = h.join();
        }
    }
}

/// The helper thread: decodes waiting chunks in file order, at most [`WINDOW`] ahead.
fn helper(mut file: BufReader<File>, path: &Path, chunks: &[ChunkRef], shared: &Shared) {
    let mut st = shared.lock();
    loop {
        while st.ready >= WINDOW && !st.stop {
            st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.stop {
            return;
        }
        // Skip chunks the merge took itself.
        while st.next < chunks.len() && !matches!(st.slots[st.next], Slot::Waiting) {
            st.next += 1;
        }
        let i = st.next;
        if i == chunks.len() {
            return;
        }
        st.slots[i] = Slot::Decoding;
        let buf = st.spare.pop().unwrap_or_default();
        drop(st);
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            decode_chunk(&mut file, path, chunks[i], buf)
        }));
        st = shared.lock();
        let Ok(events) = decoded else {
            // A bug, not bad input (that is an error value). Hand the chunk back so that
            // the merge meets the same panic on its own thread instead of waiting.
            st.slots[i] = Slot::Waiting;
            shared.changed.notify_all();
            return;
        };
        st.slots[i] = Slot::Ready(events);
        st.ready += 1;
        shared.changed.notify_all();
    }
}

/// Reads, checks, decompresses and decodes the chunk at `c.offset` into events, in
/// `events` (cleared first).
fn decode_chunk(
    file: &mut BufReader<File>,
    path: &Path,
    c: ChunkRef,
    mut events: Vec<Event>,
) -> Result<Vec<Event>, CliError> {
    let chunk = read_chunk_at(file, c.offset).map_err(|e| CliError::format(path, e))?;
    let base = chunk.payload_offset();
    let shift = |e: memscope_format::FormatError| CliError::format(path, e.shifted(base));
    events.clear();
    // A record is one event, a moving realloc two.
    events.reserve(chunk.records as usize);
    // The record is split where the decoder left it: moving it out of the `Result`
    // first (`rec.map_err(..)?`) copied it over the decoder's fresh narrower stores, a
    // store-forwarding stall per record that slowed this loop (BENCHMARKS.md).
    let mut records = 0u32;
    for rec in RecordDecoder::new(&chunk.payload).map_err(shift)? {
        match rec {
            Ok(ref rec) => split_record(rec, c.stream, &mut events),
            Err(e) => return Err(shift(e)),
        }
        records = records.wrapping_add(1);
    }
    // Pass 1 counted the thread's events by this header field: it must be right.
    if records != chunk.records {
        let at = chunk.offset + memscope_format::chunk::RECORDS_FIELD_OFFSET;
        return Err(CliError::format(
            path,
            memscope_format::FormatError::new(
                at,
                memscope_format::FormatErrorKind::BadValue("chunk record count"),
            ),
        ));
    }
    Ok(events)
}

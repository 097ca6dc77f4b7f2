//! Pass 1 over a trace: reads and checks every chunk once, in file order (reading and
//! checking on one thread, decoding on another), and keeps what is small and process-wide
//! (header, modules, interned stacks, exit, forks, the leak check, end), plus the file offsets and record
//! counts of each thread stream's chunks for the merge in [`crate::trace::merge`].
//!
//! Only the process-wide stream (stream 0) is decompressed and decoded here. A thread
//! stream's chunk holds nothing but its thread's events, which pass 2 decodes anyway, so
//! this pass only checks its checksum and takes its record count from the chunk header:
//! decoding every event twice was the largest cost of an analysis. Corruption of the
//! bytes (checksums, lengths) is still reported before any analysis starts; a chunk that
//! is intact but does not decode (only a tracer bug writes one) is reported by pass 2
//! when the replay reaches it (an `--at` analysis that stops earlier does not), with the
//! same one-line error and byte offset. Memory stays proportional to modules,
//! stacks and chunks.
//!
//! Frames are bound to modules here, with the module set in effect when the `Stack`
//! record was read (a later `dlclose` + `dlopen` at the same address must not change
//! what an earlier stack meant).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use memscope_format::reader::Chunk;
use memscope_format::{
    path_text, ExitHow, FormatError, Header, Record, RecordDecoder, RootKind, TraceReader,
    GLOBAL_STREAM,
};

use crate::error::CliError;
use crate::ids::{ModuleIdx, StackId, StreamId};
use crate::trace::leak_check::{LeakCheck, LeakCheckReader, Reach, ReachStats, RootInfo};

/// One `Module` record: a mapped executable or shared object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The tracer's module id (may be reused after an unload).
    pub id: u32,
    /// Load bias: runtime address minus file (ELF virtual) address.
    pub base: u64,
    pub start: u64,
    pub end: u64,
    pub path: String,
    /// GNU build-id as recorded; empty when the tracer found none.
    pub build_id: Vec<u8>,
}

impl ModuleInfo {
    /// The file name without its folders.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// One frame of an interned stack, bound to the module that held its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackFrame {
    pub addr: u64,
    pub module: Option<ModuleIdx>,
}

/// How and when the process ended, from its `ProcessExit` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub time: u64,
    pub how: ExitHow,
    pub code: i32,
}

/// A `Fork` record of the traced process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForkInfo {
    pub time: u64,
    pub child_pid: u32,
}

/// Why a trace is incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncationReason {
    /// The file ends inside a chunk, or its last chunk fails its checksum.
    TornTail,
    /// Every chunk is whole but the tracer never wrote its `End` record.
    NoEndRecord,
}

/// Where readable data ended early, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    pub offset: u64,
    pub reason: TruncationReason,
}

/// The chunks of one thread stream, in file (= write) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamChunks {
    pub offsets: Vec<u64>,
    /// Allocation-side records (alloc, free, realloc, failures, thread start/exit), as
    /// the chunk headers count them.
    pub events: u64,
}

/// Everything pass 1 learned about a trace.
#[derive(Debug, Clone)]
pub struct TraceIndex {
    pub path: PathBuf,
    pub header: Header,
    /// Every `Module` record, in file order; [`ModuleIdx`] indexes this.
    pub modules: Vec<ModuleInfo>,
    pub stacks: HashMap<StackId, Vec<StackFrame>>,
    pub exit: Option<ExitInfo>,
    pub forks: Vec<ForkInfo>,
    pub end_time: Option<u64>,
    /// Streams that hold allocation-side records, by stream id.
    pub streams: BTreeMap<StreamId, StreamChunks>,
    pub truncation: Option<Truncation>,
    /// Events the tracer dropped (its `Lost` records): the replay misses them.
    pub lost_events: u64,
    /// The leak check the tracer ran at exit, when it finished (`ReachEnd` read).
    pub leak_check: Option<LeakCheck>,
    /// The allocator that served the program, as the tracer resolved it (its `Allocator`
    /// record).
    pub allocator: Option<AllocatorInfo>,
}

/// The allocator that served the program: the object defining the `malloc` in use and
/// the entry points whose calls bypassed the tracer (`memscope_format::entry_points`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatorInfo {
    pub path: String,
    pub bypassed: u32,
}

impl TraceIndex {
    pub fn module(&self, idx: ModuleIdx) -> Option<&ModuleInfo> {
        self.modules.get(idx.0)
    }

    pub fn stack(&self, id: StackId) -> &[StackFrame] {
        self.stacks.get(&id).map_or(&[], Vec::as_slice)
    }
}

/// The modules mapped at one point of the file, sorted by start address.
#[derive(Default)]
struct ModuleSet {
    active: Vec<(u64, u64, u32, ModuleIdx)>,
}

impl ModuleSet {
    fn load(&mut self, m: &ModuleInfo, idx: ModuleIdx) {
        // A second record with the same id replaces the first.
        self.unload(m.id);
        let at = self.active.partition_point(|&(s, ..)| s < m.start);
        self.active.insert(at, (m.start, m.end, m.id, idx));
    }

    fn unload(&mut self, id: u32) {
        self.active.retain(|&(_, _, mid, _)| mid != id);
    }

    fn find(&self, addr: u64) -> Option<ModuleIdx> {
        // Ranges may overlap if the tracer says so; take the last one starting at or
        // below `addr` that contains it.
        let upto = self.active.partition_point(|&(s, ..)| s <= addr);
        self.active[..upto]
            .iter()
            .rev()
            .find(|&&(s, e, ..)| s <= addr && addr < e)
            .map(|&(.., idx)| idx)
    }
}

/// Chunks read ahead of the decoding (each up to a few hundred KB decompressed).
const READ_AHEAD: usize = 8;

/// Reads the whole trace at `path` once. Corruption is an error; a torn tail is not.
///
/// Two stages on two threads: one reads and checks chunks in file order (decompressing
/// stream 0's), the other decodes stream 0's records and builds the index. The decoder takes the chunks in
/// order and stops at its first error, so the error reported is the first one in file
/// order, as with one thread.
/// Only the header of the trace at `path` (a few hundred bytes read): which process it
/// is, for finding the traces of a process tree without reading them whole.
pub fn read_header(path: &Path) -> Result<Header, CliError> {
    let file = File::open(path).map_err(|e| CliError::io(path, e))?;
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Err(CliError::EmptyTrace {
            path: path.to_path_buf(),
        });
    }
    let (header, _) = TraceReader::open(BufReader::with_capacity(4096, file))
        .map_err(|e| CliError::format(path, e))?;
    Ok(header)
}

pub fn read_index(path: &Path) -> Result<TraceIndex, CliError> {
    let file = File::open(path).map_err(|e| CliError::io(path, e))?;
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Err(CliError::EmptyTrace {
            path: path.to_path_buf(),
        });
    }
    let fmt_err = |e| CliError::format(path, e);
    let mut progress =
        crate::trace::progress::Progress::bytes(file.metadata().map_or(0, |m| m.len()));
    let (header, mut reader) =
        TraceReader::open(BufReader::with_capacity(1 << 16, file)).map_err(fmt_err)?;
    let mut index = TraceIndex {
        path: path.to_path_buf(),
        header,
        modules: Vec::new(),
        stacks: HashMap::new(),
        exit: None,
        forks: Vec::new(),
        end_time: None,
        streams: BTreeMap::new(),
        truncation: None,
        lost_events: 0,
        leak_check: None,
        allocator: None,
    };
    let mut set = ModuleSet::default();
    let mut check = LeakCheckReader::default();
    std::thread::scope(|scope| {
        // Each message: a chunk and the offset after it, or the end (`None`), or an error.
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
        let read_stage = scope.spawn(move || {
            loop {
                let next = reader.next_chunk_where(|s| s == GLOBAL_STREAM);
                let more = matches!(next, Ok(Some(_)));
                let offset = reader.offset();
                // A send fails once the decoder has stopped at an error.
                if tx.send(next.map(|c| c.map(|c| (c, offset)))).is_err() || !more {
                    return reader;
                }
            }
        });
        for msg in rx {
            let Some((chunk, offset)) = msg.map_err(fmt_err)? else {
                break;
            };
            progress.set(offset);
            index
                .add_chunk(&chunk, &mut set, &mut check)
                .map_err(fmt_err)?;
        }
        let reader = read_stage
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        index.truncation = match reader.truncated_at() {
            Some(offset) => Some(Truncation {
                offset,
                reason: TruncationReason::TornTail,
            }),
            None if index.end_time.is_none() => Some(Truncation {
                offset: reader.offset(),
                reason: TruncationReason::NoEndRecord,
            }),
            None => None,
        };
        Ok(())
    })?;
    Ok(index)
}

impl TraceIndex {
    /// A thread stream's chunk is indexed by its header; stream 0's records are applied.
    fn add_chunk(
        &mut self,
        chunk: &Chunk,
        set: &mut ModuleSet,
        check: &mut LeakCheckReader,
    ) -> Result<(), FormatError> {
        if chunk.stream != GLOBAL_STREAM {
            let s = self.streams.entry(StreamId(chunk.stream)).or_default();
            s.offsets.push(chunk.offset);
            s.events += u64::from(chunk.records);
            return Ok(());
        }
        let base = chunk.payload_offset();
        let decoder = RecordDecoder::new(&chunk.payload).map_err(|e| e.shifted(base))?;
        for rec in decoder {
            self.apply_global(rec.map_err(|e| e.shifted(base))?, set, check);
        }
        Ok(())
    }

    fn apply_global(&mut self, rec: Record<'_>, set: &mut ModuleSet, check: &mut LeakCheckReader) {
        match rec {
            Record::Module {
                id,
                base,
                start,
                end,
                path,
                build_id,
            } => {
                let m = ModuleInfo {
                    id,
                    base,
                    start,
                    end,
                    path: path_text(path),
                    build_id: build_id.to_vec(),
                };
                let idx = ModuleIdx(self.modules.len());
                set.load(&m, idx);
                self.modules.push(m);
            }
            Record::ModuleUnload { id } => set.unload(id),
            Record::Allocator { path, bypassed } => {
                self.allocator = Some(AllocatorInfo {
                    path: path_text(path),
                    bypassed,
                })
            }
            Record::Stack { id, frames } => {
                let frames = frames
                    .into_iter()
                    .map(|addr| StackFrame {
                        addr,
                        module: set.find(addr),
                    })
                    .collect();
                self.stacks.insert(id, frames);
            }
            // `exit(3)` may be followed by a `Shutdown` record from the library
            // destructors; the first specific record says more.
            Record::ProcessExit { time, how, code }
                if self.exit.is_none_or(|e| e.how == ExitHow::Shutdown) =>
            {
                self.exit = Some(ExitInfo { time, how, code });
            }
            Record::Fork { time, child_pid } => self.forks.push(ForkInfo { time, child_pid }),
            Record::End { time } => self.end_time = Some(time),
            Record::Lost { events, .. } => {
                self.lost_events = self.lost_events.saturating_add(events)
            }
            Record::Root {
                id,
                kind,
                addr,
                tid,
                pc,
            } => check.root(RootInfo {
                id,
                kind,
                addr,
                tid,
                pc,
                module: match kind {
                    RootKind::Global => set.find(addr),
                    // A return address: the call is before it.
                    RootKind::Stack if pc != 0 => set.find(pc - 1),
                    _ => None,
                },
            }),
            Record::Reach {
                ptr,
                kind,
                heuristic,
                holder,
            } => check.reach(
                ptr,
                Reach {
                    kind,
                    heuristic,
                    holder,
                },
            ),
            Record::ReachEnd {
                blocks,
                roots,
                scanned_bytes,
                ns,
                threads,
                unresponsive,
            } => {
                self.leak_check = Some(check.end(ReachStats {
                    blocks,
                    roots,
                    scanned_bytes,
                    ns,
                    threads,
                    unresponsive,
                }))
            }
            // Thread events belong in thread streams (the tracer writes none here).
            _ => {}
        }
    }
}

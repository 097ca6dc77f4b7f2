//! Pass 2: merges the per-thread streams into one global order (ARCHITECTURE invariant 2)
//! and turns raw records into typed [`Event`]s.
//!
//! A k-way merge: one cursor per stream, each loading one chunk at a time with
//! `read_chunk_at` from the offsets found in pass 1, and a binary heap over the cursors'
//! next events. Memory is bounded by (threads × one decoded chunk), not by trace length.
//!
//! Ordering rules:
//! - every event has a time; a `Realloc` splits into its "give up old" part at
//!   `time_before` and its "new block" part at `time`, so that another thread that gets
//!   the old address in between is seen after the release;
//! - at equal times, releases sort before allocations (then by stream id, for a
//!   deterministic order);
//! - within one stream, record order is kept whatever the times say (the heap only ever
//!   holds a stream's next event).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::BufReader;

use memscope_format::reader::read_chunk_at;
use memscope_format::{AllocKind, FreeKind, Record, RecordDecoder};

use crate::error::CliError;
use crate::ids::{StackId, StreamId};
use crate::reader::TraceIndex;

/// What happened, after realloc splitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Alloc {
        ptr: u64,
        size: u64,
        align: u64,
        kind: AllocKind,
        stack: StackId,
        /// Usable minus requested size.
        slack: u64,
    },
    Free {
        ptr: u64,
        kind: FreeKind,
        stack: StackId,
    },
    /// A realloc gave up `old` (moved, or freed by `realloc(p, 0)`).
    ReallocRelease {
        old: u64,
        kind: AllocKind,
        stack: StackId,
    },
    /// A realloc produced block `new` of `size` bytes (`old` is 0 for `realloc(NULL, n)`).
    ReallocAlloc {
        old: u64,
        new: u64,
        size: u64,
        kind: AllocKind,
        stack: StackId,
        slack: u64,
    },
    /// A realloc returned null for a non-zero size: `old` stays live.
    ReallocFailed {
        old: u64,
        size: u64,
        kind: AllocKind,
        stack: StackId,
    },
    AllocFailed {
        size: u64,
        kind: AllocKind,
        stack: StackId,
    },
    ThreadStart {
        tid: u32,
    },
    ThreadExit,
}

impl EventKind {
    /// Whether this event gives a block up (sorted first at equal times).
    pub fn is_release(&self) -> bool {
        matches!(self, Self::Free { .. } | Self::ReallocRelease { .. })
    }
}

/// One event in global order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub time: u64,
    pub stream: StreamId,
    pub kind: EventKind,
}

/// Appends the events one record stands for to `out` (none for process-wide records).
pub fn split_record(rec: &Record<'_>, stream: StreamId, out: &mut VecDeque<Event>) {
    let mut push = |time, kind| out.push_back(Event { time, stream, kind });
    match *rec {
        Record::Alloc {
            time,
            ptr,
            size,
            align,
            kind,
            stack,
            slack,
        } => push(
            time,
            EventKind::Alloc {
                ptr,
                size,
                align,
                kind,
                stack,
                slack,
            },
        ),
        Record::Free {
            time,
            ptr,
            kind,
            stack,
        } => push(time, EventKind::Free { ptr, kind, stack }),
        Record::Realloc {
            time_before,
            time,
            old,
            new,
            size,
            kind,
            stack,
            slack,
        } => {
            if new == 0 && size > 0 {
                push(
                    time,
                    EventKind::ReallocFailed {
                        old,
                        size,
                        kind,
                        stack,
                    },
                );
                return;
            }
            if old != 0 {
                push(time_before, EventKind::ReallocRelease { old, kind, stack });
            }
            if new != 0 {
                push(
                    time,
                    EventKind::ReallocAlloc {
                        old,
                        new,
                        size,
                        kind,
                        stack,
                        slack,
                    },
                );
            }
        }
        Record::AllocFailed {
            time,
            size,
            kind,
            stack,
        } => push(time, EventKind::AllocFailed { size, kind, stack }),
        Record::ThreadStart { time, tid } => push(time, EventKind::ThreadStart { tid }),
        Record::ThreadExit { time } => push(time, EventKind::ThreadExit),
        Record::Module { .. }
        | Record::ModuleUnload { .. }
        | Record::Stack { .. }
        | Record::ProcessExit { .. }
        | Record::Fork { .. }
        | Record::End { .. } => {}
    }
}

/// One stream's position: its remaining chunk offsets and the decoded current chunk.
struct Cursor {
    stream: StreamId,
    offsets: Vec<u64>,
    next_chunk: usize,
    pending: VecDeque<Event>,
}

impl Cursor {
    /// Makes sure `pending` holds the stream's next event, loading chunks as needed.
    /// `Ok(false)` when the stream is exhausted.
    fn fill(&mut self, file: &mut BufReader<File>, index: &TraceIndex) -> Result<bool, CliError> {
        while self.pending.is_empty() {
            let Some(&offset) = self.offsets.get(self.next_chunk) else {
                return Ok(false);
            };
            self.next_chunk += 1;
            let chunk =
                read_chunk_at(file, offset).map_err(|e| CliError::format(&index.path, e))?;
            let base = chunk.payload_offset();
            let shift =
                |e: memscope_format::FormatError| CliError::format(&index.path, e.shifted(base));
            for rec in RecordDecoder::new(&chunk.payload).map_err(shift)? {
                split_record(&rec.map_err(shift)?, self.stream, &mut self.pending);
            }
        }
        Ok(true)
    }
}

/// Heap key of a stream's next event: earliest time, releases first, lowest stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: u64,
    class: u8,
    stream: StreamId,
}

impl Key {
    fn of(ev: &Event) -> Self {
        Key {
            time: ev.time,
            class: if ev.kind.is_release() { 0 } else { 1 },
            stream: ev.stream,
        }
    }
}

#[derive(PartialEq, Eq)]
struct HeapEntry {
    key: Key,
    cursor: usize,
}

impl Ord for HeapEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .cmp(&other.key)
            .then(self.cursor.cmp(&other.cursor))
    }
}

impl PartialOrd for HeapEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Iterator over all thread events of a trace in global order.
pub struct Merger<'a> {
    index: &'a TraceIndex,
    file: BufReader<File>,
    cursors: Vec<Cursor>,
    heap: BinaryHeap<Reverse<HeapEntry>>,
    started: bool,
    failed: bool,
}

impl<'a> Merger<'a> {
    /// Opens the trace file again for random access over the chunks found in pass 1.
    pub fn new(index: &'a TraceIndex) -> Result<Self, CliError> {
        let file = File::open(&index.path).map_err(|e| CliError::io(&index.path, e))?;
        let cursors = index
            .streams
            .iter()
            .map(|(&stream, chunks)| Cursor {
                stream,
                offsets: chunks.offsets.clone(),
                next_chunk: 0,
                pending: VecDeque::new(),
            })
            .collect();
        Ok(Self {
            index,
            file: BufReader::with_capacity(1 << 16, file),
            cursors,
            heap: BinaryHeap::new(),
            started: false,
            failed: false,
        })
    }

    fn push_head(&mut self, i: usize) -> Result<(), CliError> {
        let cursor = &mut self.cursors[i];
        if cursor.fill(&mut self.file, self.index)? {
            if let Some(ev) = cursor.pending.front() {
                self.heap.push(Reverse(HeapEntry {
                    key: Key::of(ev),
                    cursor: i,
                }));
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<Event>, CliError> {
        if !self.started {
            self.started = true;
            for i in 0..self.cursors.len() {
                self.push_head(i)?;
            }
        }
        let Some(Reverse(top)) = self.heap.pop() else {
            return Ok(None);
        };
        let ev = self.cursors[top.cursor].pending.pop_front();
        self.push_head(top.cursor)?;
        Ok(ev)
    }
}

impl Iterator for Merger<'_> {
    type Item = Result<Event, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = self.step();
        self.failed = r.is_err();
        r.transpose()
    }
}

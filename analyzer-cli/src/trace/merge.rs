//! Pass 2: merges the per-thread streams into one global order (docs/architecture.md,
//! invariant 2) and hands out their typed [`Event`]s.
//!
//! A k-way merge: one cursor per stream, each holding one decoded chunk at a time (from
//! the offsets found in pass 1, decoded ahead by [`crate::trace::prefetch`]), and a binary heap
//! over the cursors' next events. The merge hands out *runs*: the longest slice of the
//! leading stream's chunk whose events all sort before every other stream's next event,
//! i.e. exactly the events one-at-a-time merging would take from that stream in a row.
//! With one busy thread a run is a whole chunk, so the heap costs nothing per event.
//! Memory is bounded by (threads + a few) decoded chunks, not by trace length.
//!
//! Ordering rules:
//! - every event has a time; a `Realloc` splits into its "give up old" part at
//!   `time_before` and its "new block" part at `time`, so that another thread that gets
//!   the old address in between is seen after the release;
//! - at equal times, releases sort before allocations (then by stream id, for a
//!   deterministic order);
//! - within one stream, record order is kept whatever the times say (the heap only ever
//!   holds a stream's next event).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::error::CliError;
use crate::ids::StreamId;
use crate::trace::event::Event;
use crate::trace::prefetch::{ChunkRef, Prefetch};
use crate::trace::reader::TraceIndex;

/// One stream's position: its remaining chunks and the decoded current chunk.
struct Cursor {
    /// The stream's chunks, as numbers in the file-order list of [`Prefetch`].
    chunks: Vec<usize>,
    next_chunk: usize,
    /// The current chunk's events; `events[pos..]` are still to come.
    events: Vec<Event>,
    pos: usize,
}

impl Cursor {
    /// The stream's next event without taking it, loading chunks as needed; `None` when
    /// the stream is exhausted.
    fn peek(&mut self, supply: &mut Prefetch) -> Result<Option<&Event>, CliError> {
        while self.pos == self.events.len() {
            let Some(&chunk) = self.chunks.get(self.next_chunk) else {
                return Ok(None);
            };
            self.next_chunk += 1;
            self.events = supply.take(chunk, std::mem::take(&mut self.events))?;
            self.pos = 0;
        }
        Ok(self.events.get(self.pos))
    }
}

/// Heap key of a stream's next event: earliest time, releases first, lowest stream.
/// Keys of different streams never compare equal.
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

/// A cursor in the heap, ordered by its next event's key.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct HeapEntry {
    key: Key,
    cursor: usize,
}

/// All thread events of a trace in global order, handed out run by run.
pub struct Merger {
    supply: Prefetch,
    cursors: Vec<Cursor>,
    /// Every cursor with events left, except the one of the last run (`last`).
    heap: BinaryHeap<Reverse<HeapEntry>>,
    started: bool,
    /// The cursor the last run came from: back into the heap once its next event is
    /// known (loading it may replace the chunk the run borrowed).
    last: Option<usize>,
}

impl Merger {
    /// Opens the trace file again for random access over the chunks found in pass 1.
    pub fn new(index: &TraceIndex) -> Result<Self, CliError> {
        let mut chunks: Vec<ChunkRef> = index
            .streams
            .iter()
            .flat_map(|(&stream, s)| {
                s.offsets
                    .iter()
                    .map(move |&offset| ChunkRef { offset, stream })
            })
            .collect();
        chunks.sort_unstable_by_key(|c| c.offset);
        let mut cursors: Vec<Cursor> = index
            .streams
            .values()
            .map(|_| Cursor {
                chunks: Vec::new(),
                next_chunk: 0,
                events: Vec::new(),
                pos: 0,
            })
            .collect();
        let slot: std::collections::HashMap<StreamId, usize> = index
            .streams
            .keys()
            .enumerate()
            .map(|(i, &s)| (s, i))
            .collect();
        for (i, c) in chunks.iter().enumerate() {
            cursors[slot[&c.stream]].chunks.push(i);
        }
        Ok(Self {
            supply: Prefetch::new(&index.path, chunks)?,
            cursors,
            heap: BinaryHeap::new(),
            started: false,
            last: None,
        })
    }

    /// Puts cursor `i` in the heap under its next event, if it has one.
    fn push(&mut self, i: usize) -> Result<(), CliError> {
        if let Some(ev) = self.cursors[i].peek(&mut self.supply)? {
            let key = Key::of(ev);
            self.heap.push(Reverse(HeapEntry { key, cursor: i }));
        }
        Ok(())
    }

    /// The next events in global order (never empty), `None` after the last one.
    pub fn next_run(&mut self) -> Result<Option<&[Event]>, CliError> {
        if !self.started {
            self.started = true;
            for i in 0..self.cursors.len() {
                self.push(i)?;
            }
        }
        if let Some(i) = self.last.take() {
            self.push(i)?;
        }
        let Some(Reverse(top)) = self.heap.pop() else {
            return Ok(None);
        };
        // The leading stream keeps the lead while its events sort before every other
        // stream's next one (within a stream, record order is kept whatever the times).
        let bound = self.heap.peek().map(|Reverse(e)| e.key);
        let c = &mut self.cursors[top.cursor];
        let start = c.pos;
        let mut end = start + 1;
        if let Some(bound) = bound {
            while end < c.events.len() && Key::of(&c.events[end]) < bound {
                end += 1;
            }
        } else {
            end = c.events.len();
        }
        c.pos = end;
        self.last = Some(top.cursor);
        Ok(Some(&c.events[start..end]))
    }
}

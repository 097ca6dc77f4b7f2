//! Replays merged events against a live map (address → block) and counts the way
//! valgrind's memcheck counts "total heap usage" and "in use at exit":
//!
//! | event | allocations | frees |
//! |---|---|---|
//! | `Alloc` | +1 (and `size` bytes) | |
//! | `Free` of a live block | | +1 |
//! | `realloc(NULL, n)` → p | +1 | |
//! | `realloc(q, n)` → p | +1 | +1 |
//! | `realloc(q, 0)` → NULL | | +1 |
//! | `realloc(q, n)` → NULL (failed) | | |
//! | `AllocFailed` | | | (counted in `failed_allocations`)
//!
//! An allocation of an address already live, or a release of an address not live, is an
//! inconsistency (a correct trace of a correct program has none): the new block replaces
//! the old entry, the unknown release is ignored. In the child side of a `fork`, releases
//! of unknown addresses are blocks inherited from the parent and counted apart.
//!
//! Later detectors will observe the same events; the replay only keeps state and counts.

use std::collections::HashMap;

use memscope_format::{AllocKind, Origin};

use crate::ids::{StackId, StreamId};
use crate::merge::{Event, EventKind};

/// A block live at some point of the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveBlock {
    pub size: u64,
    pub kind: AllocKind,
    pub stack: StackId,
    pub stream: StreamId,
    pub time: u64,
}

/// Totals of one replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub failed_allocations: u64,
    pub inconsistencies: u64,
    pub inherited_frees: u64,
    pub live_bytes: u64,
    pub peak_live_bytes: u64,
    /// Time at which `peak_live_bytes` was first reached.
    pub peak_time: u64,
    pub threads: u64,
    /// Time of the latest event seen (events may step back across threads).
    pub last_time: Option<u64>,
}

/// The live map and counters.
#[derive(Debug)]
pub struct Replay {
    origin: Origin,
    live: HashMap<u64, LiveBlock>,
    counters: Counters,
}

/// What remains after the last event.
#[derive(Debug)]
pub struct ReplayResult {
    pub counters: Counters,
    pub live: HashMap<u64, LiveBlock>,
}

impl Replay {
    pub fn new(origin: Origin) -> Self {
        Self {
            origin,
            live: HashMap::new(),
            counters: Counters::default(),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Applies one event in global order.
    pub fn apply(&mut self, ev: &Event) {
        let c = &mut self.counters;
        c.last_time = Some(c.last_time.map_or(ev.time, |t| t.max(ev.time)));
        match ev.kind {
            EventKind::Alloc {
                ptr,
                size,
                kind,
                stack,
                ..
            } => self.allocate(ptr, size, kind, stack, ev),
            EventKind::ReallocAlloc {
                new,
                size,
                kind,
                stack,
                ..
            } => self.allocate(new, size, kind, stack, ev),
            EventKind::Free { ptr, .. } => self.release(ptr),
            EventKind::ReallocRelease { old, .. } => self.release(old),
            EventKind::ReallocFailed { .. } | EventKind::AllocFailed { .. } => {
                c.failed_allocations += 1
            }
            EventKind::ThreadStart { .. } => c.threads += 1,
            EventKind::ThreadExit => {}
        }
    }

    fn allocate(&mut self, ptr: u64, size: u64, kind: AllocKind, stack: StackId, ev: &Event) {
        let c = &mut self.counters;
        c.allocations += 1;
        c.bytes_allocated = c.bytes_allocated.saturating_add(size);
        let block = LiveBlock {
            size,
            kind,
            stack,
            stream: ev.stream,
            time: ev.time,
        };
        if let Some(old) = self.live.insert(ptr, block) {
            c.inconsistencies += 1;
            c.live_bytes = c.live_bytes.saturating_sub(old.size);
        }
        c.live_bytes = c.live_bytes.saturating_add(size);
        if c.live_bytes > c.peak_live_bytes {
            c.peak_live_bytes = c.live_bytes;
            c.peak_time = ev.time;
        }
    }

    fn release(&mut self, ptr: u64) {
        let c = &mut self.counters;
        match self.live.remove(&ptr) {
            Some(block) => {
                c.frees += 1;
                c.live_bytes = c.live_bytes.saturating_sub(block.size);
            }
            None if self.origin == Origin::ForkChild => c.inherited_frees += 1,
            None => c.inconsistencies += 1,
        }
    }

    pub fn finish(self) -> ReplayResult {
        ReplayResult {
            counters: self.counters,
            live: self.live,
        }
    }
}

//! Replays merged events against a live map (address → block), turns each into a typed
//! [`Lifecycle`] event for the visitors, and counts the way valgrind's memcheck counts
//! "total heap usage" and "in use at exit":
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
//! The live map is ordered (a `BTreeMap`) so that a release that misses every block
//! start can be told to fall inside a block (an interior pointer). A bounded map of the
//! [`RECENTLY_FREED`] most recent frees tells a double free (or a realloc of a freed
//! block) from a free of an address never allocated; an address allocated again leaves
//! it.
//!
//! `inconsistencies` counts what the replay cannot explain: an allocation at an address
//! already live (the new block replaces the old entry), and a release of an address that
//! is neither live, nor recently freed, nor inside a live block (also reported as an
//! `invalid-free` finding: the program's bug, or a block allocated out of the tracer's
//! sight). Double frees, interior-pointer frees and reallocs of freed blocks are
//! explained by their findings and are not inconsistencies. In the child side of a
//! `fork`, releases of unknown addresses are blocks inherited from the parent and
//! counted apart.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;

use memscope_format::{AllocKind, Origin};

use crate::ids::{StackId, StreamId};
use crate::lifecycle::{Ctx, FreedBlock, Lifecycle, Miss, Release};
use crate::merge::{Event, EventKind};

pub use crate::lifecycle::LiveBlock;

/// How many of the most recent frees the replay remembers to recognise a double free
/// (about 50 MB at most; an address allocated again is forgotten at once).
pub const RECENTLY_FREED: usize = 1 << 20;

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
    /// Allocator slack (usable minus requested bytes), summed over all allocations.
    pub slack_bytes: u64,
    /// Time at which `peak_live_bytes` was first reached.
    pub peak_time: u64,
    /// Merged-event position at which `peak_live_bytes` was first reached.
    pub peak_seq: u64,
    pub threads: u64,
    /// Time of the latest event seen (events may step back across threads).
    pub last_time: Option<u64>,
    /// Events replayed.
    pub events: u64,
}

/// The most recent frees, oldest forgotten first.
#[derive(Debug, Default)]
struct RecentlyFreed {
    map: FxHashMap<u64, (u64, FreedBlock)>,
    order: VecDeque<(u64, u64)>,
    generation: u64,
    capacity: usize,
}

impl RecentlyFreed {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    fn insert(&mut self, ptr: u64, block: FreedBlock) {
        self.generation += 1;
        self.map.insert(ptr, (self.generation, block));
        self.order.push_back((ptr, self.generation));
        while self.map.len() > self.capacity {
            let Some((p, g)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&p).is_some_and(|&(cur, _)| cur == g) {
                self.map.remove(&p);
            }
        }
        // Entries of addresses allocated again are stale; drop them now and then.
        if self.order.len() > 2 * self.capacity.max(1024) {
            let map = &self.map;
            self.order
                .retain(|(p, g)| map.get(p).is_some_and(|&(cur, _)| cur == *g));
        }
    }

    fn forget(&mut self, ptr: u64) {
        self.map.remove(&ptr);
    }

    fn get(&self, ptr: u64) -> Option<FreedBlock> {
        self.map.get(&ptr).map(|&(_, b)| b)
    }
}

/// The live map and counters.
#[derive(Debug)]
pub struct Replay {
    origin: Origin,
    live: BTreeMap<u64, LiveBlock>,
    counters: Counters,
    freed: RecentlyFreed,
    /// Allocations so far, per stream.
    thread_allocs: FxHashMap<StreamId, u64>,
    /// The last block a realloc gave up, per stream: (address, its chain).
    realloc_from: FxHashMap<StreamId, (u64, u32)>,
}

/// What remains after the last event.
#[derive(Debug)]
pub struct ReplayResult {
    pub counters: Counters,
    pub live: BTreeMap<u64, LiveBlock>,
}

impl Replay {
    pub fn new(origin: Origin) -> Self {
        Self::with_memory(origin, RECENTLY_FREED)
    }

    /// A replay that remembers only the `recently_freed` most recent frees.
    pub fn with_memory(origin: Origin, recently_freed: usize) -> Self {
        Self {
            origin,
            live: BTreeMap::new(),
            counters: Counters::default(),
            freed: RecentlyFreed::new(recently_freed),
            thread_allocs: FxHashMap::default(),
            realloc_from: FxHashMap::default(),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn live(&self) -> &BTreeMap<u64, LiveBlock> {
        &self.live
    }

    /// Applies one event in global order; returns where it happened and what it did.
    pub fn apply(&mut self, ev: &Event) -> (Ctx, Lifecycle) {
        let c = &mut self.counters;
        let ctx = Ctx {
            time: ev.time,
            stream: ev.stream,
            seq: c.events,
        };
        c.events += 1;
        c.last_time = Some(c.last_time.map_or(ev.time, |t| t.max(ev.time)));
        let what = match ev.kind {
            EventKind::Alloc {
                ptr,
                size,
                kind,
                stack,
                slack,
                ..
            } => {
                c.slack_bytes = c.slack_bytes.saturating_add(slack);
                self.allocate(ptr, size, kind, stack, None, ctx)
            }
            EventKind::ReallocAlloc {
                old,
                new,
                size,
                kind,
                stack,
                slack,
            } => {
                c.slack_bytes = c.slack_bytes.saturating_add(slack);
                self.allocate(new, size, kind, stack, (old != 0).then_some(old), ctx)
            }
            EventKind::Free { ptr, kind, stack } => {
                self.release(ptr, Release::Free(kind), stack, ctx)
            }
            EventKind::ReallocRelease { old, kind, stack } => {
                self.release(old, Release::Realloc(kind), stack, ctx)
            }
            EventKind::ReallocFailed {
                old,
                size,
                kind,
                stack,
            } => {
                c.failed_allocations += 1;
                Lifecycle::ReallocFailed {
                    old,
                    size,
                    kind,
                    stack,
                }
            }
            EventKind::AllocFailed { size, kind, stack } => {
                c.failed_allocations += 1;
                Lifecycle::AllocFailed { size, kind, stack }
            }
            EventKind::ThreadStart { tid } => {
                c.threads += 1;
                Lifecycle::ThreadStart { tid }
            }
            EventKind::ThreadExit => Lifecycle::ThreadExit,
        };
        (ctx, what)
    }

    fn allocate(
        &mut self,
        ptr: u64,
        size: u64,
        kind: AllocKind,
        stack: StackId,
        from: Option<u64>,
        ctx: Ctx,
    ) -> Lifecycle {
        let c = &mut self.counters;
        c.allocations += 1;
        c.bytes_allocated = c.bytes_allocated.saturating_add(size);
        let seq = self.thread_allocs.entry(ctx.stream).or_insert(0);
        *seq += 1;
        let chain = match from {
            None => 0,
            Some(old) => match self.realloc_from.remove(&ctx.stream) {
                Some((p, n)) if p == old => n.saturating_add(1),
                _ => 1,
            },
        };
        let block = LiveBlock {
            size,
            kind,
            stack,
            stream: ctx.stream,
            time: ctx.time,
            thread_seq: *seq,
            chain,
        };
        self.freed.forget(ptr);
        let replaced = self.live.insert(ptr, block);
        if let Some(old) = replaced {
            c.inconsistencies += 1;
            c.live_bytes = c.live_bytes.saturating_sub(old.size);
        }
        c.live_bytes = c.live_bytes.saturating_add(size);
        if c.live_bytes > c.peak_live_bytes {
            c.peak_live_bytes = c.live_bytes;
            c.peak_time = ctx.time;
            c.peak_seq = ctx.seq;
        }
        Lifecycle::Alloc {
            ptr,
            block,
            from,
            replaced,
        }
    }

    fn release(&mut self, ptr: u64, how: Release, stack: StackId, ctx: Ctx) -> Lifecycle {
        let c = &mut self.counters;
        if let Some(block) = self.live.remove(&ptr) {
            c.frees += 1;
            c.live_bytes = c.live_bytes.saturating_sub(block.size);
            if let Release::Realloc(_) = how {
                self.realloc_from.insert(ctx.stream, (ptr, block.chain));
            }
            self.freed.insert(
                ptr,
                FreedBlock {
                    size: block.size,
                    kind: block.kind,
                    alloc_stack: block.stack,
                    free_stack: stack,
                    free_time: ctx.time,
                    free_how: how,
                },
            );
            let temporary = self.thread_allocs.get(&block.stream) == Some(&block.thread_seq);
            return Lifecycle::Free {
                ptr,
                block,
                how,
                stack,
                temporary,
            };
        }
        let miss = if let Some(f) = self.freed.get(ptr) {
            Miss::Freed(f)
        } else if let Some((&base, &block)) = self
            .live
            .range(..ptr)
            .next_back()
            .filter(|(&base, b)| ptr < base.saturating_add(b.size))
        {
            Miss::Interior { base, block }
        } else if self.origin == Origin::ForkChild {
            c.inherited_frees += 1;
            Miss::Inherited
        } else {
            c.inconsistencies += 1;
            Miss::Unknown
        };
        Lifecycle::BadRelease {
            ptr,
            how,
            stack,
            miss,
        }
    }

    pub fn finish(self) -> ReplayResult {
        ReplayResult {
            counters: self.counters,
            live: self.live,
        }
    }
}

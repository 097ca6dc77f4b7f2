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
//! The live map ([`LiveMap`], [`crate::replay::live_map`]) holds packed blocks by
//! address (32 bytes a block and 9 to 18 of index) and a queue of the recent frees:
//! every event looks one address up, whatever the number of live blocks. A release
//! that misses every block start must still be told to fall inside a block (an interior
//! pointer), which needs the blocks in address order; that question comes only with bugs
//! or blocks allocated out of the tracer's sight, so the ordered index is built only when
//! such misses become frequent (see [`LiveMap::containing`]). The same map remembers the
//! [`RECENTLY_FREED`] most recent frees, to tell a double free (or a realloc of a freed
//! block) from a free of an address never allocated; an address allocated again
//! forgets its free.
//!
//! The replay also keeps what the `peak` metric needs to name the stacks holding the peak
//! without a second replay: every block carries the merged-event position that made it,
//! and the blocks that were live at the latest peak and have been released since are
//! logged (the log is cleared at each new peak, so it never outgrows the live set at
//! the peak). Live at the peak = blocks live now that were made by then, plus the log.
//!
//! `inconsistencies` counts what the replay cannot explain: an allocation at an address
//! already live (the new block replaces the old entry), and a release of an address that
//! is neither live, nor recently freed, nor inside a live block (also reported as an
//! `invalid-free` finding: the program's bug, or a block allocated out of the tracer's
//! sight). Double frees, interior-pointer frees and reallocs of freed blocks are
//! explained by their findings and are not inconsistencies. In the child side of a
//! `fork`, the replay may be seeded ([`Replay::seed_inherited`]) with the parent's live
//! blocks at the fork and its counts then (valgrind's child summary counts both: the
//! tool's state is copied by `fork`); a release of such a block is a free of a known
//! block, counted in `inherited_frees` too. Releases of unknown addresses in a fork child
//! are taken for blocks inherited out of sight (no parent trace, or a block the parent's
//! trace did not show live) and counted in `inherited_frees`, never as inconsistencies.

use rustc_hash::FxHashMap;

use memscope_format::{AllocKind, Origin};

use crate::ids::{StackId, StreamId};
use crate::replay::block_events::{Ctx, FreedBlock, Lifecycle, Miss, Release};
use crate::replay::live_groups::{group_by_stack, LeakGroup};
pub use crate::replay::live_map::LiveMap;
use crate::trace::event::{Event, EventKind};

pub use crate::replay::block_events::LiveBlock;

/// How many of the most recent frees the replay remembers to recognise a double free
/// (32 bytes each and their index: about 50 MB at most; an address allocated again is
/// forgotten at once).
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

/// Streams below this id are counted in a vector (the tracer numbers them 1, 2, …).
const DENSE_STREAMS: usize = 1024;

/// A count per stream, 0 until counted: every allocation and release looks one up.
#[derive(Debug, Default)]
struct StreamCounts {
    dense: Vec<u64>,
    sparse: FxHashMap<StreamId, u64>,
}

impl StreamCounts {
    #[inline(always)]
    fn entry(&mut self, stream: StreamId) -> &mut u64 {
        let i = stream.0 as usize;
        if i < self.dense.len() {
            return &mut self.dense[i];
        }
        self.entry_slow(stream)
    }

    #[inline(never)]
    fn entry_slow(&mut self, stream: StreamId) -> &mut u64 {
        let i = stream.0 as usize;
        if i < DENSE_STREAMS {
            if i >= self.dense.len() {
                self.dense.resize(i + 1, 0);
            }
            &mut self.dense[i]
        } else {
            self.sparse.entry(stream).or_insert(0)
        }
    }

    #[inline]
    fn get(&self, stream: StreamId) -> u64 {
        let i = stream.0 as usize;
        if i < DENSE_STREAMS {
            self.dense.get(i).copied().unwrap_or(0)
        } else {
            self.sparse.get(&stream).copied().unwrap_or(0)
        }
    }
}

/// The live map (with the recent frees) and counters.
#[derive(Debug)]
pub struct Replay {
    origin: Origin,
    live: LiveMap,
    counters: Counters,
    /// Blocks live at the latest peak and released since: (stack, size).
    released_since_peak: Vec<(StackId, u64)>,
    /// Per stream, 1 + the merged position of its latest allocation (0: none yet): a
    /// block freed while it is its stream's latest allocation is "temporary".
    last_alloc: StreamCounts,
    /// The last block a realloc gave up, per stream: (address, its chain).
    realloc_from: FxHashMap<StreamId, (u64, u32)>,
}

/// What remains after the last event.
#[derive(Debug)]
pub struct ReplayResult {
    pub counters: Counters,
    pub live: LiveMap,
}

impl Replay {
    pub fn new(origin: Origin) -> Self {
        Self::with_memory(origin, RECENTLY_FREED)
    }

    /// A replay that remembers only the `recently_freed` most recent frees.
    pub fn with_memory(origin: Origin, recently_freed: usize) -> Self {
        Self {
            origin,
            live: LiveMap::new(recently_freed),
            counters: Counters::default(),
            released_since_peak: Vec::new(),
            last_alloc: StreamCounts::default(),
            realloc_from: FxHashMap::default(),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Seeds a fork child's replay, before its first event, with the blocks live in the
    /// parent at the fork (`(address, block)`; the blocks' stacks already in this
    /// trace's namespace) and the parent's counts then: allocations, frees and bytes
    /// allocated start from the parent's, live bytes and the peak from the inherited
    /// blocks, as in valgrind's summary of a forked child. The blocks get the
    /// [`StreamId::INHERITED`] stream.
    pub fn seed_inherited(&mut self, blocks: &[(u64, LiveBlock)], parent: &Counters, time: u64) {
        let c = &mut self.counters;
        c.allocations = parent.allocations;
        c.frees = parent.frees;
        c.bytes_allocated = parent.bytes_allocated;
        for &(ptr, block) in blocks {
            let block = LiveBlock {
                stream: StreamId::INHERITED,
                // Never "temporary": no allocation is made on the inherited stream.
                time,
                chain: 0,
                seq: 0,
                ..block
            };
            if self.live.insert(ptr, block).is_none() {
                let c = &mut self.counters;
                c.live_bytes = c.live_bytes.saturating_add(block.size);
            }
        }
        let c = &mut self.counters;
        c.peak_live_bytes = c.live_bytes;
        c.peak_time = time;
        c.peak_seq = 0;
    }

    pub fn live(&self) -> &LiveMap {
        &self.live
    }

    /// The blocks live when `peak_live_bytes` was first reached, by allocation stack,
    /// largest first (empty if nothing was ever live).
    pub fn peak_holders(&self) -> Vec<LeakGroup> {
        let c = &self.counters;
        if c.peak_live_bytes == 0 {
            return Vec::new();
        }
        let still_live = self
            .live
            .values()
            .filter(|b| b.seq <= c.peak_seq)
            .map(|b| (b.stack, b.size));
        group_by_stack(still_live.chain(self.released_since_peak.iter().copied()))
    }

    /// Logs a block leaving the live map at `seq` if it was live at the latest peak.
    fn left_live(&mut self, block: &LiveBlock, seq: u64) {
        let c = &self.counters;
        if c.peak_live_bytes > 0 && block.seq <= c.peak_seq && seq > c.peak_seq {
            self.released_since_peak.push((block.stack, block.size));
        }
    }

    /// Applies one event in global order; returns where it happened and what it did.
    // Inlined (with `allocate` and `release`) so that the returned `Lifecycle` is built
    // in the caller's frame: moving it through two returns made the replay measurably
    // slower (BENCHMARKS.md).
    #[inline(always)]
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
            EventKind::Free {
                ptr, kind, stack, ..
            } => self.release(ptr, Release::Free(kind), stack, ctx),
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

    #[inline(always)]
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
        *self.last_alloc.entry(ctx.stream) = ctx.seq + 1;
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
            chain,
            seq: ctx.seq,
        };
        let replaced = self.live.insert(ptr, block);
        if let Some(old) = replaced {
            c.inconsistencies += 1;
            c.live_bytes = c.live_bytes.saturating_sub(old.size);
            self.left_live(&old, ctx.seq);
        }
        let c = &mut self.counters;
        c.live_bytes = c.live_bytes.saturating_add(size);
        if c.live_bytes > c.peak_live_bytes {
            c.peak_live_bytes = c.live_bytes;
            c.peak_time = ctx.time;
            c.peak_seq = ctx.seq;
            self.released_since_peak.clear();
        }
        Lifecycle::Alloc {
            ptr,
            block,
            from,
            replaced,
        }
    }

    #[inline(always)]
    fn release(&mut self, ptr: u64, how: Release, stack: StackId, ctx: Ctx) -> Lifecycle {
        let freed = self.live.release(ptr, |block| FreedBlock {
            size: block.size,
            kind: block.kind,
            alloc_stack: block.stack,
            free_stack: stack,
            free_time: ctx.time,
            free_how: how,
        });
        let miss = match freed {
            Ok(block) => {
                self.left_live(&block, ctx.seq);
                let c = &mut self.counters;
                c.frees += 1;
                if block.stream == StreamId::INHERITED {
                    c.inherited_frees += 1;
                }
                c.live_bytes = c.live_bytes.saturating_sub(block.size);
                if let Release::Realloc(_) = how {
                    self.realloc_from.insert(ctx.stream, (ptr, block.chain));
                }
                // (Positions are stored plus 1: a stream without one never matches.)
                let temporary = self.last_alloc.get(block.stream) == block.seq + 1;
                return Lifecycle::Free {
                    ptr,
                    block,
                    how,
                    stack,
                    temporary,
                };
            }
            Err(Some(f)) => Miss::Freed(f),
            Err(None) => {
                let c = &mut self.counters;
                if let Some((base, block)) = self.live.containing(ptr, c.events) {
                    Miss::Interior { base, block }
                } else if self.origin == Origin::ForkChild {
                    c.inherited_frees += 1;
                    Miss::Inherited
                } else {
                    c.inconsistencies += 1;
                    Miss::Unknown
                }
            }
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

#[cfg(test)]
mod tests {
    use memscope_format::FreeKind;

    use super::*;

    /// A small deterministic generator (xorshift), so that the tests need no crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn alloc(time: u64, ptr: u64, size: u64, stack: u64) -> Event {
        Event {
            time,
            stream: StreamId(1),
            kind: EventKind::Alloc {
                ptr,
                size,
                align: 0,
                kind: AllocKind::Malloc,
                stack: StackId(stack),
                slack: 0,
            },
        }
    }

    fn free(time: u64, ptr: u64) -> Event {
        Event {
            time,
            stream: StreamId(1),
            kind: EventKind::Free {
                ptr,
                kind: FreeKind::Free,
                stack: StackId(99),
                size: 0,
                align: 0,
            },
        }
    }

    /// Random allocations (sometimes at live addresses), frees (sometimes of freed or
    /// unknown addresses, or inside blocks), with the live set rising and falling.
    fn random_events(seed: u64, n: u64) -> Vec<Event> {
        let mut rng = Rng(seed);
        (0..n)
            .map(|t| {
                let ptr = 0x1000 + 0x40 * rng.below(500) + if rng.below(10) == 0 { 8 } else { 0 };
                let phase = (t / 700) % 2 == 0;
                if rng.below(100) < if phase { 65 } else { 35 } {
                    alloc(t, ptr, 1 + rng.below(0x50), rng.below(7))
                } else {
                    free(t, ptr)
                }
            })
            .collect()
    }

    #[test]
    fn peak_holders_match_a_replay_stopped_at_the_peak() {
        for seed in 1..20 {
            let events = random_events(seed, 5000);
            let mut replay = Replay::new(Origin::Start);
            for ev in &events {
                replay.apply(ev);
            }
            let peak_seq = replay.counters().peak_seq;
            let mut again = Replay::new(Origin::Start);
            for ev in &events[..=peak_seq as usize] {
                again.apply(ev);
            }
            let expected = group_by_stack(again.live().values().map(|b| (b.stack, b.size)));
            assert!(!expected.is_empty());
            assert_eq!(replay.peak_holders(), expected, "seed {seed}");
        }
    }

    #[test]
    fn recent_frees_are_bounded_and_reallocation_forgets_them() {
        let mut replay = Replay::with_memory(Origin::Start, 2);
        let mut t = 0;
        let mut step = |r: &mut Replay, ev: Event| {
            t += 1;
            r.apply(&Event { time: t, ..ev }).1
        };
        for p in [0x10, 0x20, 0x30] {
            step(&mut replay, alloc(0, p, 8, 1));
        }
        for p in [0x10, 0x20, 0x30] {
            step(&mut replay, free(0, p));
        }
        // 0x10 is forgotten (only two frees are kept): an unknown address now.
        let miss = |l: Lifecycle| match l {
            Lifecycle::BadRelease { miss, .. } => Some(miss),
            _ => None,
        };
        assert_eq!(miss(step(&mut replay, free(0, 0x10))), Some(Miss::Unknown));
        assert!(matches!(
            miss(step(&mut replay, free(0, 0x20))),
            Some(Miss::Freed(_))
        ));
        // Allocated again, then freed twice: a double free of the new block.
        step(&mut replay, alloc(0, 0x30, 8, 2));
        assert!(miss(step(&mut replay, free(0, 0x30))).is_none());
        match miss(step(&mut replay, free(0, 0x30))) {
            Some(Miss::Freed(f)) => assert_eq!(f.alloc_stack, StackId(2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(replay.live().len(), 0);
        assert_eq!(replay.live.remembered_frees(), 2);
    }
}

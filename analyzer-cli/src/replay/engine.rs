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
//! The live map ([`LiveMap`]) is a hash map: every event looks one address up. A release
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

use std::collections::{BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

use memscope_format::{AllocKind, Origin};

use crate::ids::{StackId, StreamId};
use crate::replay::block_events::{Ctx, FreedBlock, Lifecycle, Miss, Release};
use crate::replay::live_groups::{group_by_stack, LeakGroup};
use crate::trace::event::{Event, EventKind};

pub use crate::replay::block_events::LiveBlock;

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

/// Address-order scans of the live blocks that misses may cost, per event replayed so
/// far (plus [`SCAN_ALLOWANCE`]), before the map keeps an ordered index instead.
const SCAN_PER_EVENT: u64 = 4;
/// Scan work always allowed before the ordered index is built.
const SCAN_ALLOWANCE: u64 = 1 << 22;

/// What the replay knows about one address.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Live(LiveBlock),
    /// Freed, and among the most recent frees: `generation` numbers the frees.
    Freed {
        generation: u64,
        block: FreedBlock,
    },
}

/// The blocks live now by start address, and the most recent frees.
///
/// One hash map holds both, so that an event costs one lookup: an allocation replaces
/// whatever the address held, a free turns a live entry into a freed one in place. At
/// most `capacity` freed entries are kept, the oldest forgotten first (`order`); an
/// address allocated again forgets its free at once. Frees are numbered (`generation`),
/// so the log of their order is only kept once it is needed: the first time the freed
/// entries outnumber `capacity`, it is built from the map, oldest first; until then
/// (most traces: freed addresses are soon allocated again) a free costs no log entry.
///
/// The rare question "which live block does this address fall inside" needs address
/// order. It is answered by a scan while scans stay cheap overall, and from an ordered
/// index of live block starts once they would not (a program with many bad frees): the
/// index is then kept up to date on every change. Either way the answer is the same.
#[derive(Debug, Default)]
pub struct LiveMap {
    slots: FxHashMap<u64, Slot>,
    live: usize,
    freed: usize,
    /// Frees in order: (address, generation); entries whose address was allocated or
    /// freed again since are stale and skipped. `None` until first needed.
    order: Option<VecDeque<(u64, u64)>>,
    generation: u64,
    capacity: usize,
    ordered: Option<BTreeSet<u64>>,
    /// Entries visited by scans so far.
    scanned: u64,
}

impl LiveMap {
    /// An empty map that remembers the `capacity` most recent frees.
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    /// Live blocks.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn get(&self, ptr: u64) -> Option<&LiveBlock> {
        match self.slots.get(&ptr) {
            Some(Slot::Live(b)) => Some(b),
            _ => None,
        }
    }

    /// The live blocks, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &LiveBlock> {
        self.iter().map(|(_, b)| b)
    }

    /// (start, block) pairs of the live blocks, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &LiveBlock)> {
        self.slots.iter().filter_map(|(&p, s)| match s {
            Slot::Live(b) => Some((p, b)),
            Slot::Freed { .. } => None,
        })
    }

    /// Makes `block` live at `ptr`; returns the live block it replaces, if any.
    // Inlined into the replay, so that the block goes from registers into the map's
    // slot (through a stack copy, the slot's wide loads stalled on the narrow stores).
    #[inline(always)]
    fn insert(&mut self, ptr: u64, block: LiveBlock) -> Option<LiveBlock> {
        let old = self.slots.insert(ptr, Slot::Live(block));
        match old {
            Some(Slot::Live(old)) => return Some(old),
            Some(Slot::Freed { .. }) => self.freed -= 1,
            None => {}
        }
        self.live += 1;
        if let Some(o) = &mut self.ordered {
            o.insert(ptr);
        }
        None
    }

    /// Releases the live block at `ptr`, remembering it as freed (`free` says how), or
    /// tells what the address held instead: `Err(Some(_))` for a recent free, `Err(None)`
    /// for nothing known.
    #[inline(always)]
    fn release(
        &mut self,
        ptr: u64,
        free: impl FnOnce(&LiveBlock) -> FreedBlock,
    ) -> Result<LiveBlock, Option<FreedBlock>> {
        let slot = match self.slots.get_mut(&ptr) {
            None => return Err(None),
            Some(Slot::Freed { block, .. }) => return Err(Some(*block)),
            Some(slot) => slot,
        };
        let Slot::Live(block) = *slot else {
            unreachable!("matched above")
        };
        self.generation += 1;
        *slot = Slot::Freed {
            generation: self.generation,
            block: free(&block),
        };
        self.live -= 1;
        self.freed += 1;
        if let Some(o) = &mut self.ordered {
            o.remove(&ptr);
        }
        if let Some(order) = &mut self.order {
            order.push_back((ptr, self.generation));
        }
        if self.freed > self.capacity || self.order.is_some() {
            self.forget_oldest();
        }
        Ok(block)
    }

    /// Keeps at most `capacity` freed entries.
    #[inline(never)]
    fn forget_oldest(&mut self) {
        let current = |slots: &FxHashMap<u64, Slot>, p: u64, g: u64| matches!(slots.get(&p), Some(Slot::Freed { generation, .. }) if *generation == g);
        let slots = &self.slots;
        let order = self.order.get_or_insert_with(|| {
            // The log as it would be: every remembered free, in the order they happened.
            let mut frees: Vec<(u64, u64)> = slots
                .iter()
                .filter_map(|(&p, s)| match s {
                    Slot::Freed { generation, .. } => Some((p, *generation)),
                    Slot::Live(_) => None,
                })
                .collect();
            frees.sort_unstable_by_key(|&(_, g)| g);
            frees.into()
        });
        while self.freed > self.capacity {
            let Some((p, g)) = order.pop_front() else {
                break;
            };
            if current(&self.slots, p, g) {
                self.slots.remove(&p);
                self.freed -= 1;
            }
        }
        // Entries of addresses allocated again are stale; drop them now and then.
        if order.len() > 2 * self.capacity.max(1024) {
            let slots = &self.slots;
            order.retain(|&(p, g)| current(slots, p, g));
        }
    }

    /// The live block with the highest start below `ptr`, if `ptr` falls inside it (an
    /// interior pointer). `events` (replayed so far) sizes the scan allowance.
    fn containing(&mut self, ptr: u64, events: u64) -> Option<(u64, LiveBlock)> {
        if self.ordered.is_none() {
            let allowed = SCAN_ALLOWANCE.saturating_add(events.saturating_mul(SCAN_PER_EVENT));
            self.scanned = self.scanned.saturating_add(self.slots.len() as u64);
            if self.scanned > allowed {
                self.ordered = Some(self.iter().map(|(p, _)| p).collect());
            }
        }
        let base = match &self.ordered {
            Some(o) => o.range(..ptr).next_back().copied(),
            None => self.iter().map(|(p, _)| p).filter(|&b| b < ptr).max(),
        }?;
        let block = *self.get(base)?;
        (ptr < base.saturating_add(block.size)).then_some((base, block))
    }
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
    /// Allocations so far, per stream.
    thread_allocs: StreamCounts,
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
            thread_allocs: StreamCounts::default(),
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
                // Never "temporary": no stream's count reaches it.
                thread_seq: u64::MAX,
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
        let seq = self.thread_allocs.entry(ctx.stream);
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
                // (Counts start at 1: a stream without one never matches.)
                let temporary = self.thread_allocs.get(block.stream) == block.thread_seq;
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
    fn interior_lookups_agree_with_and_without_the_ordered_index() {
        let mut scanning = LiveMap::new(16);
        let mut ordered = LiveMap::new(16);
        ordered.scanned = u64::MAX;
        let mut rng = Rng(7);
        for _ in 0..3000 {
            let ptr = 0x1000 + 0x10 * rng.below(400);
            if rng.below(3) == 0 {
                let a = scanning.release(ptr, |_| unreachable_freed());
                let b = ordered.release(ptr, |_| unreachable_freed());
                assert_eq!(a.is_ok(), b.is_ok());
            } else {
                let block = LiveBlock {
                    size: 1 + rng.below(0x30),
                    kind: AllocKind::Malloc,
                    stack: StackId(1),
                    stream: StreamId(1),
                    time: 0,
                    thread_seq: 0,
                    chain: 0,
                    seq: 0,
                };
                assert_eq!(scanning.insert(ptr, block), ordered.insert(ptr, block));
            }
            let probe = 0x1000 + rng.below(0x10 * 400);
            assert_eq!(scanning.containing(probe, 0), ordered.containing(probe, 0));
            assert!(ordered.ordered.is_some());
            assert_eq!(scanning.len(), ordered.len());
        }
        assert!(scanning.ordered.is_none());
    }

    fn unreachable_freed() -> FreedBlock {
        FreedBlock {
            size: 0,
            kind: AllocKind::Malloc,
            alloc_stack: StackId::NONE,
            free_stack: StackId::NONE,
            free_time: 0,
            free_how: Release::Free(FreeKind::Free),
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
        assert_eq!(replay.live.freed, 2);
    }
}

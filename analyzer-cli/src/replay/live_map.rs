//! The blocks live now by start address, and the most recent frees: what the replay
//! looks every event up in.
//!
//! One [`AddrIndex`] holds both, so that an event costs one probe whatever the number
//! of live blocks: its handle names a packed live record ([`LiveRecords`]) or, with the
//! top bit set, a packed record of the queue of recent frees ([`FreedQueue`]). An
//! allocation turns whatever its address held into a live entry in place (a free of
//! that address is forgotten at once), a free turns a live entry into a freed one in
//! place. At most `capacity` frees are remembered, the oldest forgotten first.
//!
//! The rare question "which live block does this address fall inside" needs address
//! order. It is answered by a scan while scans stay cheap overall, and from an ordered
//! index of live block starts once they would not (a program with many bad frees): the
//! index is then kept up to date on every change. Either way the answer is the same.

use std::collections::BTreeSet;

use crate::replay::addr_index::{AddrIndex, Probe};
use crate::replay::block_events::{FreedBlock, LiveBlock};
use crate::replay::live_table::LiveRecords;
use crate::replay::recent_frees::FreedQueue;

/// Address-order scans of the live blocks that misses may cost, per event replayed so
/// far (plus [`SCAN_ALLOWANCE`]), before the map keeps an ordered index instead.
const SCAN_PER_EVENT: u64 = 4;
/// Scan work always allowed before the ordered index is built.
const SCAN_ALLOWANCE: u64 = 1 << 22;

/// The handle bit of a free (the rest is its queue position).
const FREED: u32 = 1 << 31;

/// Live blocks and recent frees by address (see the module docs).
#[derive(Debug, Default)]
pub struct LiveMap {
    index: AddrIndex,
    live: LiveRecords,
    freed: FreedQueue,
    capacity: usize,
    ordered: Option<BTreeSet<u64>>,
    /// Entries visited by scans so far.
    scanned: u64,
}

/// The address of a handle's record.
#[inline(always)]
fn key(live: &LiveRecords, freed: &FreedQueue, h: u32) -> u64 {
    if h & FREED != 0 {
        freed.addr(h & !FREED)
    } else {
        live.addr(h)
    }
}

impl LiveMap {
    /// An empty map that remembers the `capacity` most recent frees.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    /// Live blocks.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Frees remembered.
    pub fn remembered_frees(&self) -> usize {
        self.freed.len()
    }

    /// Bytes held for the live blocks and the recent frees (records and index).
    pub fn bytes(&self) -> usize {
        self.live.bytes() + self.freed.bytes() + self.index.bytes()
    }

    #[inline(always)]
    fn probe(&self, ptr: u64) -> Probe {
        let (live, freed) = (&self.live, &self.freed);
        self.index.probe(ptr, |h| key(live, freed, h))
    }

    pub fn get(&self, ptr: u64) -> Option<LiveBlock> {
        match self.probe(ptr) {
            Probe::Found { handle, .. } if handle & FREED == 0 => Some(self.live.get(handle)),
            _ => None,
        }
    }

    /// The live blocks, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = LiveBlock> + '_ {
        self.iter().map(|(_, b)| b)
    }

    /// (start, block) pairs of the live blocks, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, LiveBlock)> + '_ {
        self.live.iter()
    }

    /// Makes `block` live at `ptr`; returns the live block it replaces, if any.
    #[inline(always)]
    pub fn insert(&mut self, ptr: u64, block: LiveBlock) -> Option<LiveBlock> {
        self.index.reserve_one();
        match self.probe(ptr) {
            Probe::Found { handle, .. } if handle & FREED == 0 => {
                let old = self.live.get(handle);
                self.live.replace(handle, ptr, block);
                return Some(old);
            }
            Probe::Found { slot, handle } => {
                let h = self.live.push(ptr, block);
                self.index.set(slot, h);
                self.freed.forget(handle & !FREED);
                if self.freed.wants_compaction() {
                    self.compact();
                }
            }
            Probe::Vacant { slot } => {
                let h = self.live.push(ptr, block);
                self.index.fill(slot, ptr, h);
            }
        }
        if let Some(o) = &mut self.ordered {
            o.insert(ptr);
        }
        None
    }

    /// Releases the live block at `ptr`, remembering it as freed (`free` says how), or
    /// tells what the address held instead: `Err(Some(_))` for a recent free, `Err(None)`
    /// for nothing known.
    #[inline(always)]
    pub fn release(
        &mut self,
        ptr: u64,
        free: impl FnOnce(&LiveBlock) -> FreedBlock,
    ) -> Result<LiveBlock, Option<FreedBlock>> {
        let (slot, h) = match self.probe(ptr) {
            Probe::Vacant { .. } => return Err(None),
            Probe::Found { handle, .. } if handle & FREED != 0 => {
                return Err(Some(self.freed.get(handle & !FREED)))
            }
            Probe::Found { slot, handle } => (slot, handle),
        };
        let block = self.live.remove(h);
        let f = self.freed.push(ptr, free(&block));
        self.index.set(slot, f | FREED);
        if let Some(o) = &mut self.ordered {
            o.remove(&ptr);
        }
        while self.freed.len() > self.capacity {
            self.forget_oldest();
        }
        Ok(block)
    }

    /// Forgets the oldest remembered free.
    #[inline(never)]
    fn forget_oldest(&mut self) {
        let Some((addr, h)) = self.freed.oldest() else {
            return;
        };
        if let Probe::Found { slot, .. } = self.probe(addr) {
            self.index.remove_at(slot);
        }
        self.freed.forget(h);
    }

    /// Drops forgotten frees from the queue and points the index at their new places.
    #[cold]
    #[inline(never)]
    fn compact(&mut self) {
        let mut moved = Vec::with_capacity(self.freed.len());
        self.freed
            .compact(|addr, old, new| moved.push((addr, old | FREED, new | FREED)));
        // Every slot is found (by its exact old handle) before any is changed: a new
        // handle may equal another record's old one.
        let slots: Vec<(usize, u32)> = moved
            .into_iter()
            .filter_map(|(addr, old, new)| {
                let only_old = |h: u32| if h == old { addr } else { !addr };
                match self.index.probe(addr, only_old) {
                    Probe::Found { slot, .. } => Some((slot, new)),
                    Probe::Vacant { .. } => None,
                }
            })
            .collect();
        for (slot, h) in slots {
            self.index.set(slot, h);
        }
    }

    /// The live block with the highest start below `ptr`, if `ptr` falls inside it (an
    /// interior pointer). `events` (replayed so far) sizes the scan allowance.
    pub fn containing(&mut self, ptr: u64, events: u64) -> Option<(u64, LiveBlock)> {
        if self.ordered.is_none() {
            let allowed = SCAN_ALLOWANCE.saturating_add(events.saturating_mul(SCAN_PER_EVENT));
            let entries = self.live.len() + self.freed.len();
            self.scanned = self.scanned.saturating_add(entries as u64);
            if self.scanned > allowed {
                self.ordered = Some(self.iter().map(|(p, _)| p).collect());
            }
        }
        let base = match &self.ordered {
            Some(o) => o.range(..ptr).next_back().copied(),
            None => self.iter().map(|(p, _)| p).filter(|&b| b < ptr).max(),
        }?;
        let block = self.get(base)?;
        (ptr < base.saturating_add(block.size)).then_some((base, block))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use memscope_format::{AllocKind, FreeKind};
    use proptest::prelude::*;

    use super::*;
    use crate::ids::{StackId, StreamId};
    use crate::replay::block_events::Release;

    fn block(size: u64, stack: u64) -> LiveBlock {
        LiveBlock {
            size,
            kind: AllocKind::Malloc,
            stack: StackId(stack),
            stream: StreamId(1),
            time: stack * 11,
            chain: 0,
            seq: stack,
        }
    }

    fn freed_of(b: &LiveBlock, t: u64) -> FreedBlock {
        FreedBlock {
            size: b.size,
            kind: b.kind,
            alloc_stack: b.stack,
            free_stack: StackId(t),
            free_time: t,
            free_how: Release::Free(FreeKind::Free),
        }
    }

    /// The model: what the replay kept before this map (one hash map of live and freed
    /// entries, and a log of the frees' order).
    struct Model {
        live: HashMap<u64, LiveBlock>,
        freed: HashMap<u64, (u64, FreedBlock)>,
        order: VecDeque<(u64, u64)>,
        generation: u64,
        capacity: usize,
    }

    impl Model {
        fn insert(&mut self, p: u64, b: LiveBlock) -> Option<LiveBlock> {
            self.freed.remove(&p);
            self.live.insert(p, b)
        }

        fn release(&mut self, p: u64, t: u64) -> Result<LiveBlock, Option<FreedBlock>> {
            let Some(b) = self.live.remove(&p) else {
                return Err(self.freed.get(&p).map(|&(_, f)| f));
            };
            self.generation += 1;
            self.freed.insert(p, (self.generation, freed_of(&b, t)));
            self.order.push_back((p, self.generation));
            while self.freed.len() > self.capacity {
                let (a, g) = self.order.pop_front().expect("a logged free");
                if self.freed.get(&a).is_some_and(|&(mg, _)| mg == g) {
                    self.freed.remove(&a);
                }
            }
            Ok(b)
        }
    }

    proptest! {
        /// Every answer equals the model's, through allocations (at free, freed and
        /// live addresses), releases (of live, freed and unknown addresses) and the
        /// queue's evictions and compactions.
        #[test]
        fn agrees_with_the_hash_map_model(
            capacity in 1usize..50,
            ops in prop::collection::vec((any::<bool>(), 0u64..400, 1u64..64), 0..4000),
        ) {
            let mut map = LiveMap::new(capacity);
            let mut model = Model {
                live: HashMap::new(),
                freed: HashMap::new(),
                order: VecDeque::new(),
                generation: 0,
                capacity,
            };
            for (t, (alloc, a, size)) in ops.into_iter().enumerate() {
                let p = 0x5555_0000 + a * 16;
                let t = t as u64;
                if alloc {
                    let b = block(size, t);
                    prop_assert_eq!(map.insert(p, b), model.insert(p, b));
                } else {
                    let got = map.release(p, |b| freed_of(b, t));
                    prop_assert_eq!(got, model.release(p, t));
                }
                prop_assert_eq!(map.len(), model.live.len());
                prop_assert_eq!(map.remembered_frees(), model.freed.len());
                prop_assert!(map.freed.queued() <= 2 * capacity.max(1024) + 1);
            }
            for a in 0..400 {
                let p = 0x5555_0000 + a * 16;
                prop_assert_eq!(map.get(p), model.live.get(&p).copied());
                if !model.live.contains_key(&p) {
                    let got = map.release(p, |b| freed_of(b, 0));
                    prop_assert_eq!(got, Err(model.freed.get(&p).map(|&(_, f)| f)));
                }
            }
        }
    }

    /// A small deterministic generator (xorshift), so that the test needs no crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
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
                let a = scanning.release(ptr, |b| freed_of(b, 0));
                let b = ordered.release(ptr, |b| freed_of(b, 0));
                assert_eq!(a.is_ok(), b.is_ok());
            } else {
                let b = block(1 + rng.below(0x30), 1);
                assert_eq!(scanning.insert(ptr, b), ordered.insert(ptr, b));
            }
            let probe = 0x1000 + rng.below(0x10 * 400);
            assert_eq!(scanning.containing(probe, 0), ordered.containing(probe, 0));
            assert!(ordered.ordered.is_some());
            assert_eq!(scanning.len(), ordered.len());
        }
        assert!(scanning.ordered.is_none());
    }

    #[test]
    fn a_large_live_set_stays_within_its_bytes_per_block() {
        let mut map = LiveMap::new(1 << 10);
        let n = 1u64 << 20;
        for i in 0..n {
            map.insert(0x7f00_0000_0000 + i * 48, block(32, i));
        }
        // Records 32 bytes, index slots 8 bytes at least 7/16 full: under 32 + 19.
        let per_block = map.bytes() as f64 / n as f64;
        assert!(per_block < 51.0, "{per_block} bytes per live block");
        assert_eq!(map.len(), n as usize);
    }
}

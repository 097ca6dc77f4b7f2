//! The most recent frees as packed 32-byte records in the order of the frees, by
//! position; [`crate::replay::live_map`] indexes them by address, forgets the oldest
//! beyond its capacity and forgets a free whose address is allocated again.
//!
//! A forgotten free stays in the queue, marked, until it reaches the front or the queue
//! is compacted (when marked records are over half of it), so the queue holds at most
//! twice the remembered frees. Why packed: with a million frees remembered (the
//! default), a `HashMap` of [`FreedBlock`]s and a log of their order took over 130 MB,
//! more than the rest of a large replay.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use memscope_format::{AllocKind, FreeKind};

use crate::ids::StackId;
use crate::replay::block_events::{FreedBlock, Release};

/// `flags`: the block is kept whole in [`FreedQueue::wide`].
const WIDE: u8 = 1;
/// `flags`: forgotten (its address was allocated again, or it was evicted).
const GONE: u8 = 2;

/// One remembered free, packed.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Packed {
    addr: u64,
    free_time: u64,
    size: u32,
    alloc_stack: u32,
    free_stack: u32,
    kind: u8,
    /// [`Release`]: `0x00 | FreeKind` or `0x80 | AllocKind`.
    how: u8,
    flags: u8,
}

const _: () = assert!(std::mem::size_of::<Packed>() == 32);

fn encode_how(how: Release) -> u8 {
    match how {
        Release::Free(k) => k as u8,
        Release::Realloc(k) => 0x80 | k as u8,
    }
}

fn decode_how(v: u8) -> Release {
    if v & 0x80 != 0 {
        Release::Realloc(AllocKind::from_u8(v & 0x7f).unwrap_or(AllocKind::Realloc))
    } else {
        Release::Free(FreeKind::from_u8(v).unwrap_or(FreeKind::Free))
    }
}

/// Positions are handed out modulo this (31 bits: the index's handles for frees).
pub const MODULUS: u64 = (1 << 31) - 1;

/// Remembered frees in the order they happened (see the module docs).
#[derive(Debug, Default)]
pub struct FreedQueue {
    queue: VecDeque<Packed>,
    /// Position of `queue[0]` among every free ever queued.
    head: u64,
    /// Frees that do not fit a record, by position.
    wide: FxHashMap<u64, FreedBlock>,
    /// Records not marked gone.
    remembered: usize,
}

impl FreedQueue {
    /// Frees remembered.
    pub fn len(&self) -> usize {
        self.remembered
    }

    pub fn is_empty(&self) -> bool {
        self.remembered == 0
    }

    /// Records, gone ones included.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Bytes held, for the benchmarks.
    pub fn bytes(&self) -> usize {
        self.queue.capacity() * std::mem::size_of::<Packed>()
    }

    /// The queue slot of a position handle.
    #[inline(always)]
    fn slot(&self, h: u32) -> usize {
        ((h as u64 + MODULUS - self.head % MODULUS) % MODULUS) as usize
    }

    /// The position handle of a queue slot.
    #[inline(always)]
    fn handle(&self, slot: usize) -> u32 {
        ((self.head + slot as u64) % MODULUS) as u32
    }

    /// The address of the free `h`.
    #[inline(always)]
    pub fn addr(&self, h: u32) -> u64 {
        self.queue[self.slot(h)].addr
    }

    /// The free `h`.
    pub fn get(&self, h: u32) -> FreedBlock {
        let slot = self.slot(h);
        let r = &self.queue[slot];
        if r.flags & WIDE != 0 {
            return self.wide[&(self.head + slot as u64)];
        }
        FreedBlock {
            size: r.size as u64,
            kind: AllocKind::from_u8(r.kind).unwrap_or(AllocKind::Malloc),
            alloc_stack: StackId(r.alloc_stack as u64),
            free_stack: StackId(r.free_stack as u64),
            free_time: r.free_time,
            free_how: decode_how(r.how),
        }
    }

    /// Queues the free of `addr`; its handle.
    #[inline(always)]
    pub fn push(&mut self, addr: u64, block: FreedBlock) -> u32 {
        let slot = self.queue.len();
        assert!((slot as u64) < MODULUS, "fewer than 2^31 queued frees");
        let packed = Packed {
            addr,
            free_time: block.free_time,
            size: u32::try_from(block.size).unwrap_or(u32::MAX),
            alloc_stack: u32::try_from(block.alloc_stack.0).unwrap_or(u32::MAX),
            free_stack: u32::try_from(block.free_stack.0).unwrap_or(u32::MAX),
            kind: block.kind as u8,
            how: encode_how(block.free_how),
            flags: 0,
        };
        let narrow = packed.size as u64 == block.size
            && packed.alloc_stack as u64 == block.alloc_stack.0
            && packed.free_stack as u64 == block.free_stack.0;
        let flags = if narrow {
            0
        } else {
            self.wide.insert(self.head + slot as u64, block);
            WIDE
        };
        self.queue.push_back(Packed { flags, ..packed });
        self.remembered += 1;
        self.handle(slot)
    }

    /// Marks the free `h` forgotten.
    #[inline(always)]
    pub fn forget(&mut self, h: u32) {
        let slot = self.slot(h);
        let r = &mut self.queue[slot];
        debug_assert_eq!(r.flags & GONE, 0);
        r.flags |= GONE;
        if r.flags & WIDE != 0 {
            self.wide.remove(&(self.head + slot as u64));
        }
        self.remembered -= 1;
        self.drop_gone_front();
    }

    /// The oldest remembered free: (address, handle).
    pub fn oldest(&self) -> Option<(u64, u32)> {
        // Gone records never stay at the front.
        self.queue.front().map(|r| (r.addr, self.handle(0)))
    }

    fn drop_gone_front(&mut self) {
        while self.queue.front().is_some_and(|r| r.flags & GONE != 0) {
            self.queue.pop_front();
            self.head += 1;
        }
    }

    /// Whether gone records are over half the queue (and it is not small).
    pub fn wants_compaction(&self) -> bool {
        self.queue.len() > 2 * self.remembered.max(1024)
    }

    /// Drops the gone records; calls `moved(address, old handle, new handle)` for every
    /// kept one.
    #[cold]
    #[inline(never)]
    pub fn compact(&mut self, mut moved: impl FnMut(u64, u32, u32)) {
        let mut kept = VecDeque::with_capacity(self.remembered);
        let mut wide = FxHashMap::default();
        for (slot, r) in self.queue.iter().enumerate() {
            if r.flags & GONE == 0 {
                if r.flags & WIDE != 0 {
                    let b = self.wide[&(self.head + slot as u64)];
                    wide.insert(self.head + kept.len() as u64, b);
                }
                moved(r.addr, self.handle(slot), self.handle(kept.len()));
                kept.push_back(*r);
            }
        }
        self.queue = kept;
        self.wide = wide;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frees_read_back_as_stored_and_gone_ones_leave() {
        let mut q = FreedQueue::default();
        let narrow = FreedBlock {
            size: 24,
            kind: AllocKind::NewArray,
            alloc_stack: StackId(3),
            free_stack: StackId(4),
            free_time: 99,
            free_how: Release::Realloc(AllocKind::ReallocArray),
        };
        let wide = FreedBlock {
            size: 1 << 40,
            free_how: Release::Free(FreeKind::DeleteArray),
            ..narrow
        };
        let a = q.push(0x10, narrow);
        let b = q.push(0x20, wide);
        assert_eq!((q.get(a), q.get(b)), (narrow, wide));
        assert_eq!(q.oldest(), Some((0x10, a)));
        q.forget(a);
        assert_eq!(q.oldest(), Some((0x20, b)));
        assert_eq!(q.get(b), wide);
        let c = q.push(0x30, narrow);
        q.forget(c);
        let mut seen = Vec::new();
        q.compact(|addr, old, new| seen.push((addr, old, new)));
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].0, seen[0].1), (0x20, b));
        assert_eq!(q.get(seen[0].2), wide);
        assert_eq!(q.len(), 1);
    }
}

//! The blocks live now, kept by the writer thread as it drains the rings: address →
//! requested size. The leak check at the end of the process reads it (which blocks
//! exist, where each starts and ends).
//!
//! An open-addressing table with linear probing and backward-shift deletion, in memory
//! mapped straight from the kernel: the writer must not grow the program's heap by
//! the size of the program's heap, and the leak check must recognise (and skip) the
//! tracer's own memory. 16 bytes per slot, at most 7/8 full before it doubles.
//!
//! The writer drains one ring after another, so events of different threads can reach
//! it out of order: thread A frees `p` (recorded just before the real `free`), thread B
//! gets `p` back from `malloc`, and B's ring may be drained before A's. Every event
//! carries its time, so such pairs are put right: a free that finds no block waits in a
//! short list for an allocation of the same address stamped before it, and an
//! allocation over a block still listed remembers the stale block's free (stamped
//! before it) to be ignored when it comes. Both lists are short and bounded; a real
//! free of a block allocated before tracing began passes through them harmlessly.

use std::ptr::NonNull;

use memscope_platform::memory::{map_zeroed, unmap};

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    /// 0: empty.
    ptr: u64,
    size: u64,
}

/// How many out-of-order frees and allocations are remembered.
const PENDING: usize = 64;

/// The live blocks: see the module comment.
pub struct LiveMap {
    slots: NonNull<Slot>,
    /// Slots, a power of two; 0 when the map could not be made (then it stays empty).
    cap: usize,
    len: usize,
    /// Frees that found no block: (pointer, time); oldest overwritten first.
    early_frees: [(u64, u64); PENDING],
    next_early: usize,
    /// Entries of `early_frees` in use (the list is only searched when some are).
    early_count: usize,
    /// Allocations over a block still listed: (pointer, time of the allocation); a free
    /// of that pointer stamped before it belongs to the old block.
    stale: [(u64, u64); PENDING],
    next_stale: usize,
    /// Entries of `stale` in use.
    stale_count: usize,
}

// SAFETY: the map owns its slots; it is used by one thread at a time (the writer).
unsafe impl Send for LiveMap {}

const INITIAL_SLOTS: usize = 1 << 14;

impl LiveMap {
    pub fn new() -> LiveMap {
        let (slots, cap) = match map_zeroed(INITIAL_SLOTS * 16) {
            Some(p) => (p.cast(), INITIAL_SLOTS),
            None => (NonNull::dangling(), 0),
        };
        LiveMap {
            slots,
            cap,
            len: 0,
            early_frees: [(0, 0); PENDING],
            next_early: 0,
            early_count: 0,
            stale: [(0, 0); PENDING],
            next_stale: 0,
            stale_count: 0,
        }
    }

    /// Live blocks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// A block of `size` bytes at `ptr`, allocated at `time`.
    pub fn alloc(&mut self, ptr: u64, size: u64, time: u64) {
        if ptr == 0 || self.cap == 0 {
            return;
        }
        if self.early_count > 0 {
            let early = self
                .early_frees
                .iter()
                .position(|&(p, t)| p == ptr && t >= time);
            if let Some(i) = early {
                // Its free was drained first.
                self.early_frees[i] = (0, 0);
                self.early_count -= 1;
                return;
            }
        }
        if (self.len + 1) * 8 > self.cap * 7 && !self.grow() {
            return;
        }
        let mut i = self.home(ptr);
        loop {
            let s = self.slot(i);
            if s.ptr == 0 {
                *s = Slot { ptr, size };
                self.len += 1;
                return;
            }
            if s.ptr == ptr {
                // The old block's free is still in another ring.
                s.size = size;
                let slot = &mut self.stale[self.next_stale];
                self.stale_count += (slot.0 == 0) as usize;
                *slot = (ptr, time);
                self.next_stale = (self.next_stale + 1) % PENDING;
                return;
            }
            i = (i + 1) & (self.cap - 1);
        }
    }

    /// The block at `ptr` was freed at `time`.
    pub fn free(&mut self, ptr: u64, time: u64) {
        if ptr == 0 || self.cap == 0 {
            return;
        }
        if self.stale_count > 0 {
            if let Some(i) = self.stale.iter().position(|&(p, t)| p == ptr && t > time) {
                // The free of the block this address held before.
                self.stale[i] = (0, 0);
                self.stale_count -= 1;
                return;
            }
        }
        let mask = self.cap - 1;
        let mut i = self.home(ptr);
        loop {
            let s = *self.slot(i);
            if s.ptr == 0 {
                let slot = &mut self.early_frees[self.next_early];
                self.early_count += (slot.0 == 0) as usize;
                *slot = (ptr, time);
                self.next_early = (self.next_early + 1) % PENDING;
                return;
            }
            if s.ptr == ptr {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: pull later entries of the probe run into the hole.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let s = *self.slot(j);
            if s.ptr == 0 {
                break;
            }
            let home = self.home(s.ptr);
            // Whether `home` lies cyclically in (hole, j]: then the entry must stay.
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                *self.slot(hole) = s;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        *self.slot(hole) = Slot { ptr: 0, size: 0 };
        self.len -= 1;
    }

    /// Calls `f(ptr, size)` for every live block, in no order.
    pub fn for_each(&self, mut f: impl FnMut(u64, u64)) {
        for i in 0..self.cap {
            // SAFETY: i < cap slots of our mapping.
            let s = unsafe { *self.slots.as_ptr().add(i) };
            if s.ptr != 0 {
                f(s.ptr, s.size);
            }
        }
    }

    /// A block's first slot: the blocks of one 4 KiB page take neighbouring slots in
    /// address order (a program allocating in sequence touches the table a cache line
    /// at a time instead of missing the cache on every block), and each page starts at
    /// a slot of its own hash (pages do not pile up).
    #[inline]
    fn home(&self, ptr: u64) -> usize {
        let page = (ptr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        (page.wrapping_add((ptr >> 4) & 0xff) as usize) & (self.cap - 1)
    }

    #[inline]
    fn slot(&mut self, i: usize) -> &mut Slot {
        // SAFETY: callers pass i < cap (masked); the slots are ours.
        unsafe { &mut *self.slots.as_ptr().add(i) }
    }

    /// Doubles the table. False if the kernel gives no memory (the block is then not
    /// listed: the leak check sees less, the program runs on).
    fn grow(&mut self) -> bool {
        let cap = self.cap * 2;
        let Some(new) = map_zeroed(cap * 16) else {
            return false;
        };
        let old = std::mem::replace(
            self,
            LiveMap {
                slots: new.cast(),
                cap,
                len: 0,
                early_frees: self.early_frees,
                next_early: self.next_early,
                early_count: self.early_count,
                stale: self.stale,
                next_stale: self.next_stale,
                stale_count: self.stale_count,
            },
        );
        old.for_each(|ptr, size| {
            let mut i = self.home(ptr);
            while self.slot(i).ptr != 0 {
                i = (i + 1) & (cap - 1);
            }
            *self.slot(i) = Slot { ptr, size };
            self.len += 1;
        });
        true
    }
}

impl Drop for LiveMap {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: our own mapping of `cap` slots, used no more.
            unsafe { unmap(self.slots.cast(), self.cap * 16) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn contents(m: &LiveMap) -> HashMap<u64, u64> {
        let mut h = HashMap::new();
        m.for_each(|p, s| {
            h.insert(p, s);
        });
        h
    }

    #[test]
    fn follows_allocations_and_frees_through_growth() {
        let mut m = LiveMap::new();
        let mut model = HashMap::new();
        let mut x = 12345u64;
        for t in 0..200_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let ptr = 0x1000 + (x >> 40) * 16;
            if model.remove(&ptr).is_some() {
                m.free(ptr, t);
            } else {
                m.alloc(ptr, t % 100, t);
                model.insert(ptr, t % 100);
            }
        }
        assert_eq!(m.len(), model.len());
        assert_eq!(contents(&m), model);
    }

    #[test]
    fn puts_right_events_drained_out_of_order() {
        let mut m = LiveMap::new();
        // A free drained before its allocation.
        m.free(0x100, 20);
        m.alloc(0x100, 8, 10);
        assert_eq!(m.len(), 0);
        // An address reused by another thread before the old block's free was drained.
        m.alloc(0x200, 8, 30);
        m.alloc(0x200, 16, 50);
        m.free(0x200, 40);
        assert_eq!(contents(&m), HashMap::from([(0x200, 16)]));
        m.free(0x200, 60);
        assert_eq!(m.len(), 0);
    }
}

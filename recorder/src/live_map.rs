//! The blocks live now, kept by the writer thread as it drains the rings: address →
//! requested size. The leak check at the end of the process reads it (which blocks
//! exist, where each starts and ends).
//!
//! Open-addressing tables ([`Table`]) with linear probing and backward-shift deletion,
//! in memory mapped straight from the kernel: the writer must not grow the program's
//! heap by the size of the program's heap, and the leak check must recognise (and
//! skip) the tracer's own memory. 16 bytes per slot, at most 7/8 full before doubling.
//!
//! The writer drains one ring after another, so events of different threads can reach
//! it out of order: thread A frees `p` (recorded just before the real `free`), thread B
//! gets `p` back from `malloc`, and B's ring may be drained before A's; or A allocates
//! `p` and hands it to B, which frees it, and B's ring is drained first. Every event
//! carries its time, so such pairs are put right: a free that finds no block waits for
//! an allocation of the same address stamped before it, and an allocation over a block
//! still listed remembers the old block's free (stamped before it) to be ignored. The
//! partner of such an event was pushed before it, so it is drained in the same round or
//! the next: what waits is kept for two rounds ([`LiveMap::end_round`]), then dropped (a
//! free of a block allocated before tracing began waits for nothing).

use std::ptr::NonNull;

use memscope_platform::memory::{map_zeroed, unmap};

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot<V: Copy> {
    /// 0: empty.
    key: u64,
    value: V,
}

const INITIAL_SLOTS: usize = 1 << 12;

/// An address-keyed open-addressing table (see the module comment); all-zero bytes must
/// be a valid `V`.
pub struct Table<V: Copy> {
    slots: NonNull<Slot<V>>,
    /// Slots, a power of two; 0 when the table could not be made (then it stays empty).
    cap: usize,
    len: usize,
}

// SAFETY: the table owns its slots; it is used by one thread at a time (the writer).
unsafe impl<V: Copy> Send for Table<V> {}

impl<V: Copy> Table<V> {
    const SLOT: usize = std::mem::size_of::<Slot<V>>();

    fn new(slots: usize) -> Table<V> {
        match map_zeroed(slots * Self::SLOT) {
            Some(p) => Table {
                slots: p.cast(),
                cap: slots,
                len: 0,
            },
            None => Table {
                slots: NonNull::dangling(),
                cap: 0,
                len: 0,
            },
        }
    }

    /// A key's first slot: the keys of one 4 KiB page take neighbouring slots in address
    /// order (a program allocating in sequence touches the table a cache line at a time
    /// instead of missing the cache on every block), and each page starts at a slot of
    /// its own hash (pages do not pile up).
    #[inline]
    fn home(&self, key: u64) -> usize {
        let page = (key >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        (page.wrapping_add((key >> 4) & 0xff) as usize) & (self.cap - 1)
    }

    #[inline]
    fn slot(&mut self, i: usize) -> &mut Slot<V> {
        // SAFETY: callers pass i < cap (masked); the slots are ours.
        unsafe { &mut *self.slots.as_ptr().add(i) }
    }

    /// Sets `key` to `value`; the old value if the key was there. If memory ran out,
    /// nothing is stored.
    fn insert(&mut self, key: u64, value: V) -> Option<V> {
        if self.cap == 0 || ((self.len + 1) * 8 > self.cap * 7 && !self.grow()) {
            return None;
        }
        let mut i = self.home(key);
        loop {
            let s = self.slot(i);
            if s.key == 0 {
                *s = Slot { key, value };
                self.len += 1;
                return None;
            }
            if s.key == key {
                return Some(std::mem::replace(&mut s.value, value));
            }
            i = (i + 1) & (self.cap - 1);
        }
    }

    /// Removes `key`; its value if it was there.
    /// The value of `key`, to change in place.
    fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        if self.len == 0 {
            return None;
        }
        let mut i = self.home(key);
        loop {
            let k = self.slot(i).key;
            if k == 0 {
                return None;
            }
            if k == key {
                return Some(&mut self.slot(i).value);
            }
            i = (i + 1) & (self.cap - 1);
        }
    }

    fn remove(&mut self, key: u64) -> Option<V> {
        if self.len == 0 {
            return None;
        }
        let mask = self.cap - 1;
        let mut i = self.home(key);
        let value = loop {
            let s = *self.slot(i);
            if s.key == 0 {
                return None;
            }
            if s.key == key {
                break s.value;
            }
            i = (i + 1) & mask;
        };
        // Backward-shift deletion: pull later entries of the probe run into the hole.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let s = *self.slot(j);
            if s.key == 0 {
                break;
            }
            let home = self.home(s.key);
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
        // SAFETY: all-zero bytes are an empty slot (see the type's comment).
        *self.slot(hole) = unsafe { std::mem::zeroed() };
        self.len -= 1;
        Some(value)
    }

    /// Calls `f(key, value)` for every entry, in no order.
    fn for_each(&self, mut f: impl FnMut(u64, V)) {
        for i in 0..self.cap {
            // SAFETY: i < cap slots of our mapping.
            let s = unsafe { *self.slots.as_ptr().add(i) };
            if s.key != 0 {
                f(s.key, s.value);
            }
        }
    }

    /// Empties the table, keeping its memory.
    fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: our own `cap` slots; all-zero is an empty slot.
            unsafe { std::ptr::write_bytes(self.slots.as_ptr(), 0, self.cap) };
            self.len = 0;
        }
    }

    /// Doubles the table. False if the kernel gives no memory.
    fn grow(&mut self) -> bool {
        let mut bigger = Table::new(self.cap * 2);
        if bigger.cap == 0 {
            return false;
        }
        self.for_each(|key, value| {
            let mut i = bigger.home(key);
            while bigger.slot(i).key != 0 {
                i = (i + 1) & (bigger.cap - 1);
            }
            *bigger.slot(i) = Slot { key, value };
            bigger.len += 1;
        });
        *self = bigger;
        true
    }
}

impl<V: Copy> Drop for Table<V> {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: our own mapping of `cap` slots, used no more.
            unsafe { unmap(self.slots.cast(), self.cap * Self::SLOT) };
        }
    }
}

/// Times of events of one address waiting for their partners (oldest first; at most
/// sixteen, the oldest dropped beyond: an address `malloc` hands out again and again
/// between threads comes back many times a round).
#[derive(Clone, Copy, Default)]
struct Waiting {
    times: [u64; 16],
    n: usize,
}

impl Waiting {
    fn push(&mut self, t: u64) {
        if self.n == self.times.len() {
            self.times.copy_within(1.., 0);
            self.n -= 1;
        }
        self.times[self.n] = t;
        self.n += 1;
        self.times[..self.n].sort_unstable();
    }

    /// Takes the first time that `accept`s, if any.
    fn take(&mut self, accept: impl Fn(u64) -> bool) -> bool {
        let Some(i) = self.times[..self.n].iter().position(|&t| accept(t)) else {
            return false;
        };
        self.times.copy_within(i + 1..self.n, i);
        self.n -= 1;
        true
    }
}

/// The live blocks, and the out-of-order events waiting for their partners.
pub struct LiveMap {
    /// Address → requested size.
    blocks: Table<u64>,
    /// Frees that found no block, by address; this round's and the last round's.
    early_frees: [Table<Waiting>; 2],
    /// Allocations over a block still listed, by address: a free of that address stamped
    /// before one of them belongs to an older block; by round as above.
    stale: [Table<Waiting>; 2],
}

/// Takes from the waiting times of `ptr` (in either round's table) the first that
/// `accept`s.
fn take_waiting(tables: &mut [Table<Waiting>; 2], ptr: u64, accept: impl Fn(u64) -> bool) -> bool {
    tables.iter_mut().rev().any(|t| {
        let Some(w) = t.get_mut(ptr) else {
            return false;
        };
        let taken = w.take(&accept);
        if w.n == 0 {
            t.remove(ptr);
        }
        taken
    })
}

fn add_waiting(table: &mut Table<Waiting>, ptr: u64, time: u64) {
    match table.get_mut(ptr) {
        Some(w) => w.push(time),
        None => {
            let mut w = Waiting::default();
            w.push(time);
            table.insert(ptr, w);
        }
    }
}

impl LiveMap {
    pub fn new() -> LiveMap {
        LiveMap {
            blocks: Table::new(INITIAL_SLOTS * 4),
            early_frees: [Table::new(INITIAL_SLOTS), Table::new(INITIAL_SLOTS)],
            stale: [Table::new(INITIAL_SLOTS), Table::new(INITIAL_SLOTS)],
        }
    }

    /// Live blocks.
    #[cfg_attr(not(stack_capture), allow(dead_code))]
    pub fn len(&self) -> usize {
        self.blocks.len
    }

    /// A block of `size` bytes at `ptr`, allocated at `time`.
    pub fn alloc(&mut self, ptr: u64, size: u64, time: u64) {
        if ptr == 0 {
            return;
        }
        // Its free was drained first: the earliest waiting free stamped after it.
        if take_waiting(&mut self.early_frees, ptr, |t| t >= time) {
            return;
        }
        if self.blocks.insert(ptr, size).is_some() {
            // The old block's free is still in another ring.
            add_waiting(&mut self.stale[0], ptr, time);
        }
    }

    /// The block at `ptr` was freed at `time`.
    pub fn free(&mut self, ptr: u64, time: u64) {
        if ptr == 0 {
            return;
        }
        // The free of a block this address held before a later allocation over it.
        if take_waiting(&mut self.stale, ptr, |t| t > time) {
            return;
        }
        if self.blocks.remove(ptr).is_none() {
            add_waiting(&mut self.early_frees[0], ptr, time);
        }
    }

    /// The writer finished a round: what waited since the round before last is dropped.
    pub fn end_round(&mut self) {
        for pair in [&mut self.early_frees, &mut self.stale] {
            if pair[0].len > 0 || pair[1].len > 0 {
                pair.swap(0, 1);
                pair[0].clear();
            }
        }
    }

    /// Calls `f(ptr, size)` for every live block, in no order.
    #[cfg_attr(not(stack_capture), allow(dead_code))]
    pub fn for_each(&self, f: impl FnMut(u64, u64)) {
        self.blocks.for_each(f);
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
    fn puts_right_many_handoffs_in_one_round() {
        // Thousands of blocks allocated by one thread and freed by another whose ring is
        // drained first.
        let mut m = LiveMap::new();
        for i in 0..10_000u64 {
            m.free(0x10_0000 + i * 32, 2 * i + 1);
        }
        for i in 0..10_000u64 {
            m.alloc(0x10_0000 + i * 32, 24, 2 * i);
        }
        m.end_round();
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn puts_right_one_address_handed_over_again_and_again() {
        // A allocates p at 1, 3, 5; B frees it at 2, 4, 6; B's ring drained first, and
        // then the other way round.
        let mut m = LiveMap::new();
        for t in [2, 4, 6] {
            m.free(0x500, t);
        }
        for t in [1, 3, 5] {
            m.alloc(0x500, 8, t);
        }
        assert_eq!(m.len(), 0);
        m.alloc(0x600, 8, 0); // live before
        for t in [1, 3, 5] {
            m.alloc(0x600, 8, t);
        }
        for t in [0, 2, 4] {
            m.free(0x600, t);
        }
        assert_eq!(contents(&m), HashMap::from([(0x600, 8)]));
        m.free(0x600, 6);
        assert_eq!(m.len(), 0);
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
        m.end_round();
        m.alloc(0x100, 8, 10);
        assert_eq!(m.len(), 0);
        // A free of a block from before tracing waits two rounds, then is forgotten.
        m.free(0x300, 5);
        m.end_round();
        m.end_round();
        m.alloc(0x300, 8, 1);
        assert_eq!(contents(&m), HashMap::from([(0x300, 8)]));
        m.free(0x300, 9);
        // An address reused by another thread before the old block's free was drained.
        m.alloc(0x200, 8, 30);
        m.alloc(0x200, 16, 50);
        m.free(0x200, 40);
        assert_eq!(contents(&m), HashMap::from([(0x200, 16)]));
        m.free(0x200, 60);
        assert_eq!(m.len(), 0);
    }
}

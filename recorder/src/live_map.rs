//! The blocks live now, kept by the writer thread as it drains the rings: address →
//! requested size. The leak check at the end of the process reads it (which blocks
//! exist, where each starts and ends).
//!
//! An open-addressing table ([`Table`]) with linear probing (entries are replaced in
//! place, and forgotten by rebuilding the table once per generation), in memory mapped straight from the kernel: the writer must not grow the
//! program's heap by the size of the program's heap, and the leak check must recognise
//! (and skip) the tracer's own memory. 24 bytes per address (address, size, time), at
//! most 7/8 full before doubling.
//!
//! The writer drains one ring after another, so events of different threads reach it
//! out of order: thread A frees `p` (recorded just before the real `free`), thread B
//! gets `p` back from `malloc`, and B's ring may be drained before A's; or A allocates
//! `p` and hands it to B, which frees it, and B's ring is drained first; or B's whole
//! run of allocations and frees of `p` is drained before A's older run of them. Every
//! event carries its time, and the events of one address alternate (allocation, free,
//! allocation, ...) in time order, so whether `p` is live is decided by its latest
//! event alone: the table keeps, per address, the latest event drained so far (a block
//! with its size, or a free), and an event older than it changes nothing. That is exact
//! whatever the order of draining, and needs no pairing of events.
//!
//! A free stays in the table (as a tombstone) until a later allocation of its address
//! replaces it or it is older than one generation ([`GENERATION_NS`],
//! [`LiveMap::end_round`]): an event stamped before it may still come from a thread
//! descheduled between stamping and pushing that event (a linker's worker threads on
//! two cores stay off a core for many rounds of a busy writer), but not for a second.

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

/// How long one generation lasts: a free is remembered at least this long, at most
/// twice this long. A thread stays descheduled between taking an event's time and
/// pushing the event for a few time slices at worst (milliseconds).
pub const GENERATION_NS: u64 = 1_000_000_000;

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

    /// Keeps the entries whose value `keep`s, in a table made afresh (of the same size);
    /// how many were dropped (none if the kernel gives no memory).
    fn retain(&mut self, keep: impl Fn(&V) -> bool) -> usize {
        let mut kept = Table::new(self.cap);
        if kept.cap == 0 {
            return 0;
        }
        self.for_each(|key, value| {
            if keep(&value) {
                kept.insert(key, value);
            }
        });
        let dropped = self.len - kept.len;
        *self = kept;
        dropped
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

/// The latest event of an address; all-zero bytes are a valid value (see [`Table`]).
#[derive(Clone, Copy)]
struct Latest {
    /// Requested size of the block allocated then, or [`FREED`].
    size: u64,
    /// When (event clock).
    time: u64,
}

/// The size of an address whose latest event is a free (no request gets this size: it
/// fails, and failed requests are not followed).
const FREED: u64 = u64::MAX;

/// The live blocks, as the latest event of each address (see the module comment).
pub struct LiveMap {
    latest: Table<Latest>,
    /// Addresses whose latest event is an allocation.
    live: usize,
    /// Addresses whose latest event is a free.
    tombstones: usize,
    /// When the current generation began: writer's clock (ns; 0 before the first round)
    /// and the event clock.
    generation_start_ns: u64,
    generation_start_time: u64,
}

impl LiveMap {
    pub fn new() -> LiveMap {
        LiveMap {
            latest: Table::new(INITIAL_SLOTS * 4),
            live: 0,
            tombstones: 0,
            generation_start_ns: 0,
            generation_start_time: 0,
        }
    }

    /// Live blocks.
    #[cfg_attr(not(leak_check), allow(dead_code))]
    pub fn len(&self) -> usize {
        self.live
    }

    /// A block of `size` bytes at `ptr`, allocated at `time`.
    pub fn alloc(&mut self, ptr: u64, size: u64, time: u64) {
        if ptr != 0 {
            self.event(ptr, Latest { size, time });
        }
    }

    /// The block at `ptr` was freed at `time`.
    pub fn free(&mut self, ptr: u64, time: u64) {
        if ptr != 0 {
            self.event(ptr, Latest { size: FREED, time });
        }
    }

    /// Keeps `event` as the latest of `ptr` unless a later one was drained already (of
    /// two events with the same time, the one drained last: a thread's own events are
    /// drained in order).
    #[inline]
    fn event(&mut self, ptr: u64, event: Latest) {
        let is_live = |e: &Latest| e.size != FREED;
        let before = match self.latest.get_mut(ptr) {
            Some(latest) if latest.time > event.time => return,
            Some(latest) => Some(std::mem::replace(latest, event)),
            None => {
                self.latest.insert(ptr, event);
                None
            }
        };
        match before {
            Some(b) if is_live(&b) => self.live -= 1,
            Some(_) => self.tombstones -= 1,
            None => {}
        }
        if is_live(&event) {
            self.live += 1;
        } else {
            self.tombstones += 1;
        }
    }

    /// The writer finished a round at `now_ns` (its clock) and `now` (the event clock):
    /// once per generation, frees older than the last generation's start are forgotten.
    pub fn end_round(&mut self, now_ns: u64, now: u64) {
        if self.generation_start_ns == 0 {
            (self.generation_start_ns, self.generation_start_time) = (now_ns, now);
        }
        if now_ns.saturating_sub(self.generation_start_ns) < GENERATION_NS {
            return;
        }
        let cutoff = self.generation_start_time;
        (self.generation_start_ns, self.generation_start_time) = (now_ns, now);
        if self.tombstones > 0 {
            self.tombstones -= self.latest.retain(|e| e.size != FREED || e.time >= cutoff);
        }
    }

    /// Calls `f(ptr, size)` for every live block, in no order.
    #[cfg_attr(not(leak_check), allow(dead_code))]
    pub fn for_each(&self, mut f: impl FnMut(u64, u64)) {
        self.latest.for_each(|ptr, e| {
            if e.size != FREED {
                f(ptr, e.size)
            }
        });
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
        m.end_round(1, 1);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn orders_events_drained_many_rounds_late() {
        // Thread A frees p at 10 and is descheduled before pushing the free; thread B
        // gets p back from malloc at 20, and the writer drains B's allocation and then a
        // thousand rounds before A's free arrives.
        let mut m = LiveMap::new();
        m.alloc(0x700, 8, 1);
        m.alloc(0x700, 8, 20);
        for round in 0..1000 {
            m.end_round(1 + round * 1_000_000, 1 + round * 1_000_000);
        }
        m.free(0x700, 10);
        assert_eq!(contents(&m), HashMap::from([(0x700, 8)]));
        // And a free drained a thousand rounds before its allocation.
        m.free(0x800, 30);
        for round in 1000..2000 {
            m.end_round(1 + round * 1_000_000, 1 + round * 1_000_000);
        }
        m.alloc(0x800, 8, 25);
        assert_eq!(contents(&m), HashMap::from([(0x700, 8)]));
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
    fn threads_drained_in_any_order_give_the_blocks_of_time_order() {
        // Four threads allocate and free a handful of addresses (a block allocated by
        // one thread may be freed by another); each thread's events are drained in
        // order, but the threads' runs of events interleave at random, as rounds do.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..300 {
            let mut live: HashMap<u64, u64> = HashMap::new();
            let mut rings: Vec<Vec<(bool, u64, u64, u64)>> = vec![Vec::new(); 4];
            for time in 1..400u64 {
                let ptr = 0x1000 + next(3) * 16;
                let thread = next(4) as usize;
                let event = match live.remove(&ptr) {
                    Some(_) => (false, ptr, 0, time),
                    None => {
                        live.insert(ptr, time);
                        (true, ptr, time, time)
                    }
                };
                rings[thread].push(event);
            }
            let mut m = LiveMap::new();
            let mut read = [0usize; 4];
            while read.iter().zip(&rings).any(|(&r, ring)| r < ring.len()) {
                let t = next(4) as usize;
                let upto = (read[t] + next(40) as usize).min(rings[t].len());
                for &(is_alloc, ptr, size, time) in &rings[t][read[t]..upto] {
                    if is_alloc {
                        m.alloc(ptr, size, time);
                    } else {
                        m.free(ptr, time);
                    }
                }
                read[t] = upto;
            }
            assert_eq!(contents(&m), live);
        }
    }

    #[test]
    fn forgets_frees_after_two_generations() {
        let mut m = LiveMap::new();
        m.end_round(1, 1);
        for i in 0..100_000u64 {
            m.alloc(0x10_0000 + i * 32, 24, 2 + 2 * i);
            m.free(0x10_0000 + i * 32, 3 + 2 * i);
        }
        m.alloc(0x8, 8, 2);
        assert_eq!((m.len(), m.tombstones, m.latest.len), (1, 100_000, 100_001));
        m.end_round(1 + GENERATION_NS, 1 + GENERATION_NS);
        assert_eq!(
            m.tombstones, 100_000,
            "a free is remembered a whole generation"
        );
        m.end_round(1 + 2 * GENERATION_NS, 1 + 2 * GENERATION_NS);
        assert_eq!((m.len(), m.tombstones, m.latest.len), (1, 0, 1));
        assert_eq!(contents(&m), HashMap::from([(0x8, 8)]));
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
        m.end_round(1, 1);
        m.alloc(0x100, 8, 10);
        assert_eq!(m.len(), 0);
        // A free of a block from before tracing waits two generations, then is forgotten.
        m.free(0x300, 5);
        m.end_round(1 + GENERATION_NS, 1 + GENERATION_NS);
        m.end_round(1 + 2 * GENERATION_NS, 1 + 2 * GENERATION_NS);
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

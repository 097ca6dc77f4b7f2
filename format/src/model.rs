//! The predictions both sides of a chunk make: what the encoder leaves out of a record
//! because the decoder, having seen the same records before it, can tell it anyway.
//!
//! One [`Model`] per chunk, fresh (all tables zero) at the chunk's start, updated by the
//! encoder after it wrote a record and by the decoder after it read one, with the same
//! functions: that is what keeps the two in step. What it predicts:
//!
//! - **pointers**: the block a free names was usually allocated a few allocations ago,
//!   and glibc's tcache hands out the block freed last of a size: two rings remember the
//!   last [`RING`] allocated and freed pointers, and a pointer found in the ring the
//!   record looks in is coded as its distance back from the newest entry. Others are
//!   coded as a zigzag delta: a free's from the previous pointer, an allocation's from
//!   the end of the previous allocation (where glibc carves the next block from the top).
//! - **stacks**: most events repeat a short cycle of call sites. A stack is coded as one
//!   of four modes: the stack that followed the previous event's stack the last time
//!   that one was seen (a successor table), the previous stack of the same class
//!   (allocations, frees), one more than the largest id seen (a stack the writer just
//!   interned), or an explicit delta from that largest id.
//! - **sizes**: the size the same stack allocated last time (a table keyed by stack).
//! - **slack**: glibc's rounding of the size (see [`predicted_slack`]).
//!
//! Tables are direct-mapped (a collision only costs a missed prediction) and small, so
//! that a decoder set up per chunk costs a few microseconds.

/// Entries of each pointer ring; a ring index needs at most two bytes.
pub const RING: usize = 1024;
/// Entries of the successor and size tables.
const TABLE: usize = 1024;
/// Deepest stack a `Stack` record can share frames with (see `record`).
pub const SHARED_FRAMES_MAX: usize = 256;

/// Stack modes (two bits of an opcode or mode byte).
pub const STACK_SUCCESSOR: u8 = 0;
pub const STACK_SAME: u8 = 1;
pub const STACK_NEXT: u8 = 2;
pub const STACK_EXPLICIT: u8 = 3;

/// The two stack classes: allocation-like records (alloc, realloc, failed) and frees.
pub const CLASS_ALLOC: usize = 0;
pub const CLASS_FREE: usize = 1;

/// The side streams of a chunk: each field is a split varint with a head stream
/// (`2 * field`) and a tail stream (`2 * field + 1`), see `varint::put_split`.
pub const F_TIME: usize = 0;
pub const F_INDEX: usize = 1;
pub const F_DELTA: usize = 2;
pub const F_SIZE: usize = 3;
pub const F_STACK: usize = 4;
pub const FIELDS: usize = 5;
pub const SIDE_STREAMS: usize = 2 * FIELDS;

/// The optional stream directory right after a payload's base time: this tag, the main
/// stream's length, then each side stream's length (u32 LE each).
pub const DIRECTORY_TAG: u8 = 7;
pub const DIRECTORY_LEN: usize = 1 + 4 * (1 + SIDE_STREAMS);

/// Multiplicative hash into a table of `1 << bits` entries.
#[inline]
pub fn hash(v: u64, bits: u32) -> usize {
    (v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
}

/// The slack glibc's malloc gives a request of `size` bytes on a 64-bit target: chunks
/// are multiples of 16 bytes, at least 32, with 8 bytes of header. Only a prediction: a
/// record whose slack differs stores it.
#[inline]
pub fn predicted_slack(size: u64) -> u64 {
    let chunk = (size.wrapping_add(8 + 15) & !15).max(32);
    chunk.wrapping_sub(8).wrapping_sub(size)
}

/// Entries of the encoder's pointer lookup tables.
const LOOKUP_BITS: u32 = 12;

/// Recent pointers of one kind (allocated or freed) in this chunk.
pub struct Ring {
    slots: Box<[u64; RING]>,
    /// Pointers pushed since the chunk started.
    count: u64,
    /// Encoder only: a hash of a pointer -> the number (mod 2^32) of the push that last
    /// stored a pointer with that hash. A candidate is checked against the ring itself,
    /// so stale, colliding or zeroed entries only cost a missed prediction, and the table
    /// is never cleared.
    lookup: Option<Box<[u32; 1 << LOOKUP_BITS]>>,
    /// Pushes before this chunk (numbers the pushes for `lookup`).
    base: u64,
}

impl Ring {
    fn new(lookup: bool) -> Self {
        Ring {
            slots: boxed_array(),
            count: 0,
            lookup: lookup.then(boxed_array),
            base: 0,
        }
    }

    fn reset(&mut self) {
        self.base = self.base.wrapping_add(self.count);
        self.count = 0;
    }

    #[inline]
    pub fn push(&mut self, ptr: u64) {
        self.slots[self.count as usize % RING] = ptr;
        if let Some(lookup) = &mut self.lookup {
            lookup[hash(ptr, LOOKUP_BITS)] = self.base.wrapping_add(self.count) as u32;
        }
        self.count += 1;
    }

    /// Encoder only: how many pushes ago `ptr` was pushed last, if this chunk's part of
    /// the ring holds it.
    #[inline]
    pub fn find(&self, ptr: u64) -> Option<u64> {
        let seq = self.lookup.as_ref()?[hash(ptr, LOOKUP_BITS)];
        let newest = self.base.wrapping_add(self.count) as u32;
        let back = newest.wrapping_sub(1).wrapping_sub(seq) as u64;
        let held = back < self.count.min(RING as u64);
        (held && self.slots[(self.count - 1 - back) as usize % RING] == ptr).then_some(back)
    }

    /// The pointer pushed `back` pushes ago (0: the newest), if the ring still holds it.
    #[inline]
    pub fn get(&self, back: u64) -> Option<u64> {
        if back >= self.count.min(RING as u64) {
            return None;
        }
        Some(self.slots[(self.count - 1 - back) as usize % RING])
    }
}

/// A direct-mapped map from u64 to u64 (a miss is `None`).
struct Table {
    slots: Box<[[u64; 2]; TABLE]>,
}

impl Table {
    fn new() -> Self {
        Table {
            slots: boxed_array(),
        }
    }

    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        let [k, v] = self.slots[hash(key, TABLE.trailing_zeros())];
        (k == key).then_some(v)
    }

    #[inline]
    fn set(&mut self, key: u64, value: u64) {
        self.slots[hash(key, TABLE.trailing_zeros())] = [key, value];
    }

    fn clear(&mut self) {
        self.slots.fill([0, 0]);
    }
}

/// A zeroed boxed array, built on the heap (these are too big for some stacks).
fn boxed_array<T: Copy + Default, const N: usize>() -> Box<[T; N]> {
    vec![T::default(); N]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("the vector has N elements"))
}

/// The state both sides keep while walking a chunk's records.
pub struct Model {
    /// The last record time (deltas are from it).
    pub time: u64,
    pub allocated: Ring,
    pub freed: Ring,
    /// The previous pointer coded (a free's delta base).
    pub last_ptr: u64,
    /// End of the previous allocation (an allocation's delta base).
    pub alloc_end: u64,
    /// The block of the previous `Reach` record (the next one's delta base).
    pub reach_ptr: u64,
    successor: Table,
    sizes: Table,
    prev_stack: u64,
    last_stack: [u64; 2],
    max_stack: u64,
}

impl Model {
    /// A decoder's model.
    pub fn new(base_time: u64) -> Self {
        Self::build(base_time, false)
    }

    /// An encoder's model: its rings can also look pointers up.
    pub fn for_encoder(base_time: u64) -> Self {
        Self::build(base_time, true)
    }

    fn build(base_time: u64, lookup: bool) -> Self {
        Model {
            time: base_time,
            allocated: Ring::new(lookup),
            freed: Ring::new(lookup),
            last_ptr: 0,
            alloc_end: 0,
            reach_ptr: 0,
            successor: Table::new(),
            sizes: Table::new(),
            prev_stack: 0,
            last_stack: [0; 2],
            max_stack: 0,
        }
    }

    /// Back to the state of a chunk start, keeping the memory.
    pub fn reset(&mut self, base_time: u64) {
        self.time = base_time;
        self.allocated.reset();
        self.freed.reset();
        self.last_ptr = 0;
        self.alloc_end = 0;
        self.reach_ptr = 0;
        self.successor.clear();
        self.sizes.clear();
        self.prev_stack = 0;
        self.last_stack = [0; 2];
        self.max_stack = 0;
    }

    /// The time delta a record at `t` is coded with; a clock that steps back codes 0 (and
    /// the record decodes at the previous time).
    #[inline]
    pub fn time_delta(&mut self, t: u64) -> u64 {
        let dt = t.saturating_sub(self.time);
        self.time = self.time.max(t);
        dt
    }

    /// A time from its coded delta.
    #[inline]
    pub fn time_from_delta(&mut self, dt: u64) -> u64 {
        self.time = self.time.saturating_add(dt);
        self.time
    }

    /// The mode that codes `stack` for a record of `class`, and whether it needs an
    /// explicit value ([`Model::stack_delta`]).
    #[inline]
    pub fn stack_mode(&self, stack: u64, class: usize) -> u8 {
        if self.successor.get(self.prev_stack) == Some(stack) {
            STACK_SUCCESSOR
        } else if self.last_stack[class] == stack {
            STACK_SAME
        } else if self.max_stack.wrapping_add(1) == stack {
            STACK_NEXT
        } else {
            STACK_EXPLICIT
        }
    }

    /// The explicit value of a stack in mode [`STACK_EXPLICIT`].
    #[inline]
    pub fn stack_delta(&self, stack: u64) -> u64 {
        crate::varint::zigzag(stack.wrapping_sub(self.max_stack) as i64)
    }

    /// The stack a mode names (`explicit`: the value read for [`STACK_EXPLICIT`]);
    /// `None` for a successor the table does not hold (corrupt input).
    #[inline]
    pub fn stack_from(&self, mode: u8, class: usize, explicit: u64) -> Option<u64> {
        Some(match mode & 3 {
            STACK_SUCCESSOR => self.successor.get(self.prev_stack)?,
            STACK_SAME => self.last_stack[class],
            STACK_NEXT => self.max_stack.wrapping_add(1),
            _ => self
                .max_stack
                .wrapping_add(crate::varint::unzigzag(explicit) as u64),
        })
    }

    /// Records that a record of `class` had `stack`.
    #[inline]
    pub fn saw_stack(&mut self, stack: u64, class: usize) {
        self.successor.set(self.prev_stack, stack);
        self.prev_stack = stack;
        self.last_stack[class] = stack;
        self.max_stack = self.max_stack.max(stack);
    }

    /// The size `stack` allocated last time in this chunk.
    #[inline]
    pub fn predicted_size(&self, stack: u64) -> Option<u64> {
        self.sizes.get(stack)
    }

    /// Records an allocation of `size` at `ptr` (slack included in its end).
    #[inline]
    pub fn saw_alloc(&mut self, ptr: u64, size: u64, slack: u64, stack: u64) {
        self.allocated.push(ptr);
        self.last_ptr = ptr;
        self.alloc_end = ptr.wrapping_add(size).wrapping_add(slack);
        self.sizes.set(stack, size);
    }

    /// Records a free of `ptr`.
    #[inline]
    pub fn saw_free(&mut self, ptr: u64) {
        self.freed.push(ptr);
        self.last_ptr = ptr;
    }

    /// Records a realloc of `old` (0: none) to `new` (0: failed, or freed by size 0).
    #[inline]
    pub fn saw_realloc(&mut self, old: u64, new: u64, size: u64, slack: u64, stack: u64) {
        if old != 0 && old != new {
            self.freed.push(old);
        }
        if new != 0 {
            if new != old {
                self.allocated.push(new);
            }
            self.alloc_end = new.wrapping_add(size).wrapping_add(slack);
            self.sizes.set(stack, size);
            self.last_ptr = new;
        } else if old != 0 {
            self.last_ptr = old;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_slack() {
        for (size, slack) in [
            (0, 24),
            (1, 23),
            (12, 12),
            (16, 8),
            (24, 0),
            (25, 15),
            (100, 4),
            (1000, 0),
            (4000, 8),
        ] {
            assert_eq!(predicted_slack(size), slack, "size {size}");
        }
        // No overflow panics at the top of the range.
        predicted_slack(u64::MAX);
    }

    #[test]
    fn lookup_finds_what_the_ring_holds() {
        let mut r = Ring::new(true);
        r.push(0x10);
        r.push(0x20);
        r.push(0x10);
        assert_eq!(r.find(0x10), Some(0));
        assert_eq!(r.find(0x20), Some(1));
        assert_eq!(r.find(0x30), None);
        r.reset();
        assert_eq!(r.find(0x10), None, "a new chunk starts empty");
        for p in 0..RING as u64 {
            r.push(0x1000 + p);
        }
        assert_eq!(r.find(0x1000), Some(RING as u64 - 1));
        r.push(7);
        assert_eq!(r.find(0x1000), None, "pushed out of the ring");
    }

    #[test]
    fn ring_holds_the_last_entries() {
        let mut r = Ring::new(false);
        assert_eq!(r.get(0), None);
        for p in 0..(RING as u64 + 10) {
            r.push(p);
        }
        assert_eq!(r.get(0), Some(RING as u64 + 9));
        assert_eq!(r.get(RING as u64 - 1), Some(10));
        assert_eq!(r.get(RING as u64), None);
    }
}

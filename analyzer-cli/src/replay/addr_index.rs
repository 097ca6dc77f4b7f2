//! An index from addresses to `u32` handles (positions in a caller's store of records
//! that hold the address): open addressing with linear probing, a multiplicative hash
//! and deletion by backward shift (no tombstones).
//!
//! Why our own and not a `HashMap<u64, u32>`: a slot here is 8 bytes, the handle and the
//! address's hash; the address itself is read from the caller's record (`key_of`) when
//! a probe's hash matches. A `HashMap<u64, u32>` spends 16 bytes and a control byte per
//! bucket, and `HashMap<u64, Block>` (what the replay used before) spent over 100 bytes
//! per live block at its usual load: the replay's memory per live block is what this
//! index and [`crate::replay::live_table`] exist to bound (docs/architecture.md, "The
//! analyzer pipeline"). The table is at most 7/8 full and doubles, so it costs 9 to 18
//! bytes per entry.

/// A handle that is never given (the empty slot's).
pub const EMPTY: u32 = u32::MAX;

/// An empty slot.
const VACANT: u64 = u64::MAX;

/// What [`AddrIndex::probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Found { slot: usize, handle: u32 },
    Vacant { slot: usize },
}

/// Address → handle; the caller keeps the addresses (see the module docs).
///
/// A slot is the address's 32-bit hash (its top half, which also gives the home slot)
/// and the handle: a probe compares hashes in the slot array and reads the caller's
/// record only on a match, so a lookup of an absent address costs one or two cache
/// lines of slots, not a record read per occupied slot; growing needs no records.
#[derive(Debug, Default, Clone)]
pub struct AddrIndex {
    slots: Vec<u64>,
    len: usize,
    /// `32 - log2(slots.len())`: the home slot is the hash's top bits.
    shift: u32,
}

#[inline(always)]
fn hash(addr: u64) -> u32 {
    // Fibonacci hashing: heap addresses differ in their middle bits, which the multiply
    // spreads into the top bits kept here.
    (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

#[inline(always)]
fn slot_hash(slot: u64) -> u32 {
    (slot >> 32) as u32
}

#[inline(always)]
fn slot_handle(slot: u64) -> u32 {
    slot as u32
}

impl AddrIndex {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the slots.
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * 8
    }

    #[inline(always)]
    fn home(&self, hash: u32) -> usize {
        (hash >> self.shift) as usize
    }

    /// The handle of `addr`, if indexed.
    #[inline(always)]
    pub fn get(&self, addr: u64, key_of: impl Fn(u32) -> u64) -> Option<u32> {
        self.find(addr, &key_of).map(|(_, h)| h)
    }

    /// (slot, handle) of `addr`.
    #[inline(always)]
    fn find(&self, addr: u64, key_of: &impl Fn(u32) -> u64) -> Option<(usize, u32)> {
        if self.len == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let hash = hash(addr);
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s == VACANT {
                return None;
            }
            if slot_hash(s) == hash && key_of(slot_handle(s)) == addr {
                return Some((i, slot_handle(s)));
            }
            i = (i + 1) & mask;
        }
    }

    /// Makes room for one more entry (before a [`AddrIndex::probe`] whose vacant slot
    /// may be filled).
    #[inline(always)]
    pub fn reserve_one(&mut self) {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
    }

    /// Where `addr` is, or the vacant slot where it would go. The index must have
    /// slots ([`AddrIndex::reserve_one`]).
    #[inline(always)]
    pub fn probe(&self, addr: u64, key_of: impl Fn(u32) -> u64) -> Probe {
        if self.slots.is_empty() {
            return Probe::Vacant { slot: usize::MAX };
        }
        let mask = self.slots.len() - 1;
        let hash = hash(addr);
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s == VACANT {
                return Probe::Vacant { slot: i };
            }
            if slot_hash(s) == hash && key_of(slot_handle(s)) == addr {
                return Probe::Found {
                    slot: i,
                    handle: slot_handle(s),
                };
            }
            i = (i + 1) & mask;
        }
    }

    /// Points the entry in `slot` (from [`AddrIndex::probe`]) at `handle`.
    #[inline(always)]
    pub fn set(&mut self, slot: usize, handle: u32) {
        let s = &mut self.slots[slot];
        *s = (*s & !(u32::MAX as u64)) | handle as u64;
    }

    /// Fills the vacant `slot` (from a [`AddrIndex::probe`] of `addr` after
    /// [`AddrIndex::reserve_one`]) with `handle`.
    #[inline(always)]
    pub fn fill(&mut self, slot: usize, addr: u64, handle: u32) {
        debug_assert_eq!(self.slots[slot], VACANT);
        self.slots[slot] = (hash(addr) as u64) << 32 | handle as u64;
        self.len += 1;
    }

    /// Indexes `addr` (which must not be indexed yet) as `handle`.
    #[inline(always)]
    pub fn insert(&mut self, addr: u64, handle: u32) {
        debug_assert_ne!(handle, EMPTY);
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let hash = hash(addr);
        let mut i = self.home(hash);
        while self.slots[i] != VACANT {
            i = (i + 1) & mask;
        }
        self.slots[i] = (hash as u64) << 32 | handle as u64;
        self.len += 1;
    }

    /// Removes `addr`; returns its handle. `key_of` must still answer for it.
    #[inline(always)]
    pub fn remove(&mut self, addr: u64, key_of: impl Fn(u32) -> u64) -> Option<u32> {
        let (slot, handle) = self.find(addr, &key_of)?;
        self.remove_at(slot);
        Some(handle)
    }

    /// Removes the entry in `slot` (from [`AddrIndex::probe`]).
    #[inline(always)]
    pub fn remove_at(&mut self, slot: usize) {
        let mut hole = slot;
        let mask = self.slots.len() - 1;
        // Backward shift: move later entries of the run into the hole when their home
        // slot does not lie (cyclically) between the hole and them.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s == VACANT {
                break;
            }
            let home = self.home(slot_hash(s));
            let between = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !between {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = VACANT;
        self.len -= 1;
    }

    /// Forgets every entry (keeps the slots).
    pub fn clear(&mut self) {
        self.slots.fill(VACANT);
        self.len = 0;
    }

    #[inline(never)]
    #[cold]
    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(16);
        assert!(n <= 1 << 32, "an address index of over 2^32 slots");
        let old = std::mem::replace(&mut self.slots, vec![VACANT; n]);
        self.shift = 32 - n.trailing_zeros();
        let mask = n - 1;
        for s in old.into_iter().filter(|&s| s != VACANT) {
            let mut i = self.home(slot_hash(s));
            while self.slots[i] != VACANT {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct addresses, clustered like heap addresses, so that runs collide.
        let addr = (0u64..300).prop_map(|a| 0x5555_0000 + a * 16);
        prop_oneof![addr.clone().prop_map(Op::Insert), addr.prop_map(Op::Remove)]
    }

    proptest! {
        /// The index agrees with a `HashMap` model through inserts and removals.
        #[test]
        fn agrees_with_a_hash_map(ops in prop::collection::vec(op(), 0..2000)) {
            // Handles are positions in `keys`, which holds the address of each.
            let mut keys: Vec<u64> = Vec::new();
            let mut index = AddrIndex::default();
            let mut model: HashMap<u64, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(a) if !model.contains_key(&a) => {
                        keys.push(a);
                        let h = (keys.len() - 1) as u32;
                        index.insert(a, h);
                        model.insert(a, h);
                    }
                    Op::Insert(_) => {}
                    Op::Remove(a) => {
                        let got = index.remove(a, |h| keys[h as usize]);
                        prop_assert_eq!(got, model.remove(&a));
                    }
                }
                prop_assert_eq!(index.len(), model.len());
            }
            for a in (0u64..300).map(|a| 0x5555_0000 + a * 16) {
                prop_assert_eq!(index.get(a, |h| keys[h as usize]), model.get(&a).copied());
            }
        }
    }
}

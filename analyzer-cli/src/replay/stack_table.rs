//! Per-stack state for the visitors that update it on nearly every event (`sites`,
//! `growth`): a vector indexed by stack id where ids are compact, a hash map above.
//!
//! The tracer numbers stacks 1, 2, 3, … as it interns them, so a trace's ids are
//! compact and a lookup is an index, not a hash and a probe. Ids are the trace's word,
//! though: the dense part only covers ids below a limit set from the number of stacks
//! pass 1 found (see [`dense_limit`]), so memory stays proportional to the stacks
//! however the ids are spread, and any other id goes to the map. Which part holds an
//! entry never shows: iteration gives every entry once, in no particular order.

use rustc_hash::FxHashMap;

use crate::ids::StackId;

/// Dense slots for a trace with `stacks` interned stacks whose largest id is `max_id`:
/// every id if they are compact enough, else the first few thousand.
pub fn dense_limit(stacks: usize, max_id: u64) -> usize {
    let cap = stacks.saturating_mul(4).saturating_add(1024);
    usize::try_from(max_id.saturating_add(1)).map_or(cap, |n| n.min(cap))
}

/// Values by stack id; an entry exists once [`StackTable::entry`] made it.
#[derive(Debug, Clone)]
pub struct StackTable<T> {
    dense: Vec<Option<T>>,
    limit: usize,
    sparse: FxHashMap<StackId, T>,
}

impl<T> Default for StackTable<T> {
    fn default() -> Self {
        Self::new(0)
    }
}

impl<T> StackTable<T> {
    /// A table that indexes ids below `limit` directly (its vector grows as they come).
    pub fn new(limit: usize) -> Self {
        Self {
            dense: Vec::new(),
            limit,
            sparse: FxHashMap::default(),
        }
    }

    /// The entry of `id`, made with `T::default()` if there is none.
    #[inline(always)]
    pub fn entry(&mut self, id: StackId) -> &mut T
    where
        T: Default,
    {
        let i = id.0 as usize;
        if id.0 < self.limit as u64 && self.dense.get(i).is_some_and(Option::is_some) {
            return self.dense[i].get_or_insert_with(T::default);
        }
        self.entry_slow(id)
    }

    #[inline(never)]
    fn entry_slow(&mut self, id: StackId) -> &mut T
    where
        T: Default,
    {
        match usize::try_from(id.0) {
            Ok(i) if i < self.limit => {
                if i >= self.dense.len() {
                    self.dense.resize_with(i + 1, || None);
                }
                self.dense[i].get_or_insert_with(T::default)
            }
            _ => self.sparse.entry(id).or_default(),
        }
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (StackId, &T)> {
        let dense = self.dense.iter().enumerate();
        dense
            .filter_map(|(i, v)| v.as_ref().map(|v| (StackId(i as u64), v)))
            .chain(self.sparse.iter().map(|(&k, v)| (k, v)))
    }

    /// Keeps the entries for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(StackId, &mut T) -> bool) {
        for (i, slot) in self.dense.iter_mut().enumerate() {
            if slot.as_mut().is_some_and(|v| !keep(StackId(i as u64), v)) {
                *slot = None;
            }
        }
        self.sparse.retain(|&k, v| keep(k, v));
    }

    /// Every entry, by value, in no particular order.
    pub fn into_entries(self) -> impl Iterator<Item = (StackId, T)> {
        let dense = self.dense.into_iter().enumerate();
        dense
            .filter_map(|(i, v)| v.map(|v| (StackId(i as u64), v)))
            .chain(self.sparse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_ids_behave_alike() {
        let ids = [0u64, 1, 2, 7, 100, 5000, u64::MAX];
        let mut small = StackTable::<u64>::new(16);
        let mut none = StackTable::<u64>::new(0);
        for (n, &id) in ids.iter().cycle().take(40).enumerate() {
            *small.entry(StackId(id)) += n as u64;
            *none.entry(StackId(id)) += n as u64;
        }
        small.retain(|id, v| id.0 != 7 && *v > 0);
        none.retain(|id, v| id.0 != 7 && *v > 0);
        let sorted = |t: StackTable<u64>| {
            let mut v: Vec<_> = t.into_entries().collect();
            v.sort();
            v
        };
        assert_eq!(small.iter().count(), 6);
        assert_eq!(sorted(small), sorted(none));
    }

    #[test]
    fn the_dense_part_is_bounded_by_the_stack_count() {
        assert_eq!(dense_limit(10, 9), 10);
        assert_eq!(dense_limit(10, u64::MAX), 1064);
        assert_eq!(dense_limit(0, 0), 1);
    }
}

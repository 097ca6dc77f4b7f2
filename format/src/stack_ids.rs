//! Stack interning: the writer gives each distinct stack (its return addresses, innermost
//! first) a [`StackId`], numbered from 1 in the order stacks are first seen, so that a
//! trace holds each stack once (one `Stack` record) and events name it by id.
//!
//! A hash map from frames to id with rustc-hash's Fx hasher (a multiply and a rotate per
//! frame: the frames are addresses, not attacker-chosen keys). It runs on the tracer's
//! writer thread, and only when a thread's walk changed (see the ring entries in the
//! preload crate), so a standard map is fast enough there.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use crate::StackId;

pub struct StackIds {
    ids: HashMap<Box<[u64]>, u64, FxBuildHasher>,
    next: u64,
}

impl Default for StackIds {
    fn default() -> Self {
        Self::new()
    }
}

impl StackIds {
    pub fn new() -> Self {
        StackIds {
            ids: HashMap::with_capacity_and_hasher(1 << 12, FxBuildHasher),
            next: 1,
        }
    }

    /// The id of `frames` (none for an empty stack), and whether this is its first sight
    /// (then its `Stack` record is due).
    pub fn intern(&mut self, frames: &[u64]) -> (StackId, bool) {
        if frames.is_empty() {
            return (StackId::NONE, false);
        }
        if let Some(&id) = self.ids.get(frames) {
            return (StackId(id), false);
        }
        let id = self.next;
        self.next += 1;
        self.ids.insert(frames.into(), id);
        (StackId(id), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_from_one_in_order_of_first_sight() {
        let mut s = StackIds::new();
        assert_eq!(s.intern(&[]), (StackId::NONE, false));
        assert_eq!(s.intern(&[1, 2, 3]), (StackId(1), true));
        assert_eq!(s.intern(&[1, 2]), (StackId(2), true));
        assert_eq!(s.intern(&[1, 2, 3]), (StackId(1), false));
        assert_eq!(s.intern(&[2, 1]), (StackId(3), true));
    }
}

//! What keeps each group's blocks, from the leak check's holder links (each `Reach`
//! record names the root or block its marking came from, so the links form a forest
//! whose trees start at roots, or at definitely lost blocks for indirectly lost ones).
//!
//! Every live block is walked up to the end of its links once: the end (a root, or the
//! lost block leading an indirectly lost clique) and the number of block hops to it are
//! remembered for each block on the way, so a long list costs one walk, not one per
//! node. Links that lead nowhere (a holder the check did not report, a cycle, which the
//! tracer never writes) give no holder.
//!
//! A still-reachable group's chain starts from its block nearest a root (fewest hops;
//! the lowest address among equals) and lists the allocation stacks of the blocks in
//! between; consecutive blocks of one allocation stack (the nodes of a list) are one
//! step.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use memscope_format::{Holder, LeakKind};

use crate::analysis::reach::{Chain, GroupHolders, HeldBy};
use crate::ids::StackId;
use crate::replay::LiveMap;
use crate::trace::leak_check::LeakCheck;

/// Distinct holders kept per group; the report merges those that name the same thing
/// (words of one global) and shows the first few.
pub const MAX_HOLDERS: usize = 64;

/// Where a block's holder links end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Root(u32),
    /// The definitely lost block at this address.
    Leader(u64),
    Unknown,
}

/// Follows holder links with memory.
struct Walker<'a> {
    check: &'a LeakCheck,
    /// Block → (end of its links, block hops to it).
    memo: FxHashMap<u64, (End, u32)>,
}

impl Walker<'_> {
    fn end_of(&mut self, start: u64) -> (End, u32) {
        let mut path = Vec::new();
        let mut cur = start;
        // The end, and the hops from the last block of `path` to it.
        let (end, mut hops) = loop {
            if let Some(&(end, d)) = self.memo.get(&cur) {
                break (end, d.saturating_add(1));
            }
            let Some(r) = self.check.reach.get(&cur) else {
                break (End::Unknown, 0);
            };
            path.push(cur);
            if r.kind == LeakKind::DefinitelyLost {
                break (End::Leader(cur), 0);
            }
            match r.holder {
                Holder::Root(id) => break (End::Root(id), 0),
                Holder::None => break (End::Unknown, 0),
                Holder::Block(p) => {
                    // Marks the block as being walked: meeting it again is a cycle.
                    self.memo.insert(cur, (End::Unknown, 0));
                    cur = p;
                }
            }
        };
        for &p in path.iter().rev() {
            self.memo.insert(p, (end, hops));
            hops = hops.saturating_add(1);
        }
        self.memo.get(&start).copied().unwrap_or((End::Unknown, 0))
    }

    /// The path from the root down to `ptr` (not included), consecutive blocks of one
    /// stack merged.
    fn chain(&self, ptr: u64, live: &LiveMap) -> Option<Chain> {
        let mut steps: Vec<StackId> = Vec::new();
        let mut cur = ptr;
        // A block's hops to its root bound the walk.
        for _ in 0..=self.memo.get(&ptr)?.1 {
            match self.check.reach.get(&cur)?.holder {
                Holder::Root(root) => {
                    steps.reverse();
                    return Some(Chain { root, steps });
                }
                Holder::Block(p) => {
                    let stack = live.get(p)?.stack;
                    if steps.last() != Some(&stack) {
                        steps.push(stack);
                    }
                    cur = p;
                }
                Holder::None => return None,
            }
        }
        None
    }
}

/// The holders of every group of possibly lost, indirectly lost and still reachable
/// blocks, by (allocation stack, kind); still-reachable groups also get a chain.
pub fn resolve(live: &LiveMap, check: &LeakCheck) -> HashMap<(StackId, LeakKind), GroupHolders> {
    let mut walker = Walker {
        check,
        memo: FxHashMap::default(),
    };
    let mut counts: HashMap<(StackId, LeakKind), HashMap<HeldBy, u64>> = HashMap::new();
    // Still-reachable groups: (hops, address) of the block nearest a root.
    let mut nearest: HashMap<(StackId, LeakKind), (u32, u64)> = HashMap::new();
    for (ptr, block) in live.iter() {
        let Some(r) = check.reach.get(&ptr) else {
            continue;
        };
        if r.kind == LeakKind::DefinitelyLost {
            continue;
        }
        let key = (block.stack, r.kind);
        let (end, hops) = walker.end_of(ptr);
        let held = match end {
            End::Root(id) => HeldBy::Root(id),
            End::Leader(p) => match live.get(p) {
                Some(leader) => HeldBy::LostBlock(leader.stack),
                None => continue,
            },
            End::Unknown => continue,
        };
        *counts.entry(key).or_default().entry(held).or_default() += 1;
        if r.kind == LeakKind::StillReachable && matches!(end, End::Root(_)) {
            let n = nearest.entry(key).or_insert((hops, ptr));
            *n = (*n).min((hops, ptr));
        }
    }
    counts
        .into_iter()
        .map(|(key, by)| {
            let mut held_by: Vec<(HeldBy, u64)> = by.into_iter().collect();
            held_by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            held_by.truncate(MAX_HOLDERS);
            let chain = nearest
                .get(&key)
                .and_then(|&(_, ptr)| walker.chain(ptr, live));
            (key, GroupHolders { held_by, chain })
        })
        .collect()
}

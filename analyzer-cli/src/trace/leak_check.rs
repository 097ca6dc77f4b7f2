//! The tracer's leak check as pass 1 reads it: the `Root`, `Reach` and `ReachEnd`
//! records of stream 0 (docs/format.md, "Root, Reach, ReachEnd"), gathered while they
//! come and kept only once `ReachEnd` says the check finished. A trace cut short before
//! `ReachEnd` (`SIGKILL`, a crash during the check) has no leak check at all: a partial
//! one would call every block it did not reach "definitely lost".
//!
//! A root's address (a global) or return address (a stack word) is bound to the module
//! mapped there when the record is read, as stack frames are: at the end of the process,
//! where the check ran.

use rustc_hash::FxHashMap;

use memscope_format::{Heuristic, Holder, LeakKind, RootKind};

use crate::ids::ModuleIdx;

/// One `Root` record: a root word that keeps a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootInfo {
    pub id: u32,
    pub kind: RootKind,
    /// The word's address (a global, a stack or TLS word); the register number of a
    /// register root.
    pub addr: u64,
    /// The thread of a stack, TLS or register root (0 otherwise).
    pub tid: u32,
    /// For a stack word, the return address of the frame holding it (0: unknown).
    pub pc: u64,
    /// The module holding `addr` (global roots) or `pc` (stack roots).
    pub module: Option<ModuleIdx>,
}

/// The check's verdict on one live block (one `Reach` record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub kind: LeakKind,
    pub heuristic: Heuristic,
    pub holder: Holder,
}

/// What the `ReachEnd` record says the check cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReachStats {
    /// `Reach` records the tracer wrote.
    pub blocks: u64,
    /// `Root` records the tracer wrote.
    pub roots: u64,
    pub scanned_bytes: u64,
    pub ns: u64,
    /// Other threads stopped for the check.
    pub threads: u32,
    /// Of those, the ones that did not answer (registers missing).
    pub unresponsive: u32,
}

/// A completed leak check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeakCheck {
    pub roots: FxHashMap<u32, RootInfo>,
    /// By block start address.
    pub reach: FxHashMap<u64, Reach>,
    pub stats: ReachStats,
}

impl LeakCheck {
    pub fn root(&self, id: u32) -> Option<&RootInfo> {
        self.roots.get(&id)
    }
}

/// Gathers the records of a leak check until its `ReachEnd`.
#[derive(Debug, Default)]
pub struct LeakCheckReader {
    pending: LeakCheck,
}

impl LeakCheckReader {
    pub fn root(&mut self, root: RootInfo) {
        self.pending.roots.insert(root.id, root);
    }

    pub fn reach(&mut self, ptr: u64, reach: Reach) {
        self.pending.reach.insert(ptr, reach);
    }

    /// The check is complete: returns it (the reader starts over).
    pub fn end(&mut self, stats: ReachStats) -> LeakCheck {
        let mut check = std::mem::take(&mut self.pending);
        check.stats = stats;
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_ended_check_counts() {
        let mut r = LeakCheckReader::default();
        r.root(RootInfo {
            id: 1,
            kind: RootKind::Global,
            addr: 0x4000,
            tid: 0,
            pc: 0,
            module: None,
        });
        r.reach(
            0x10,
            Reach {
                kind: LeakKind::StillReachable,
                heuristic: Heuristic::None,
                holder: Holder::Root(1),
            },
        );
        let c = r.end(ReachStats {
            blocks: 1,
            roots: 1,
            ..ReachStats::default()
        });
        assert_eq!(c.reach.len(), 1);
        assert_eq!(c.root(1).map(|r| r.addr), Some(0x4000));
        assert_eq!(c.stats.blocks, 1);
        assert_eq!(r.end(ReachStats::default()).reach.len(), 0);
    }
}

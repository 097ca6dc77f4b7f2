//! Leak kinds: the tracer's leak check (its `Root` and `Reach` records, read by
//! [`crate::trace::leak_check`]) joined with the replay's blocks live at the end.
//! [`join`] gives each live block its kind, sums the kinds and groups the blocks by
//! allocation stack and kind; [`holders`] follows the checker's holder links to say
//! what keeps each group: the roots of reachable and possibly lost blocks, the lost
//! block (clique leader) of indirectly lost ones, and for still-reachable groups one
//! path from a root down to a block of the group.
//!
//! Nothing here is symbolized: roots are root ids, holding blocks allocation stacks.

pub mod holders;
pub mod join;

use std::collections::HashMap;

use memscope_format::LeakKind;

use crate::ids::StackId;

/// Blocks and (requested) bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindTotals {
    pub blocks: u64,
    pub bytes: u64,
}

/// What keeps some blocks of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HeldBy {
    /// The root word with this id (a `Root` record).
    Root(u32),
    /// A definitely lost block allocated at this stack (the clique leader of
    /// indirectly lost blocks).
    LostBlock(StackId),
}

/// A path from a root down to one block of a group: the root, then the allocation
/// stacks of the blocks in between, from the root's side (the group's own block is not
/// in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub root: u32,
    pub steps: Vec<StackId>,
}

/// What keeps one group's blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupHolders {
    /// Distinct holders with the blocks each keeps, most blocks first (at most
    /// [`holders::MAX_HOLDERS`]).
    pub held_by: Vec<(HeldBy, u64)>,
    /// Still-reachable groups: one path from a root.
    pub chain: Option<Chain>,
}

/// The leak check joined with the replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeakKinds {
    /// Indexed by `LeakKind as usize`.
    pub totals: [KindTotals; 4],
    /// `Reach` records for an address the replay has no live block at: blocks freed
    /// after the check (by threads still running, or by exit handlers of a signal exit)
    /// are not wrong, so these are not inconsistencies.
    pub unknown_blocks: u64,
    /// Live blocks the check said nothing about (their groups have no kind).
    pub unjudged_blocks: u64,
    /// Blocks a fork child inherited that the check did not judge (no kind, and no
    /// inconsistency: the check may cover only the child's own blocks).
    pub inherited_unjudged: u64,
    /// Blocks allocated after the process began to exit (threads still running then)
    /// that the check did not judge: it may have run before they existed, so no
    /// inconsistency either.
    pub late_unjudged: u64,
    /// By allocation stack and kind.
    pub holders: HashMap<(StackId, LeakKind), GroupHolders>,
}

impl LeakKinds {
    pub fn totals(&self, kind: LeakKind) -> KindTotals {
        self.totals[kind as usize]
    }

    /// What the replay and the check disagree on (counted as inconsistencies): live
    /// blocks the check did not judge.
    pub fn inconsistencies(&self) -> u64 {
        self.unjudged_blocks
    }
}

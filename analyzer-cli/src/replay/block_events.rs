//! The typed lifecycle events the replay hands to detectors, classifiers and metrics.
//!
//! The merge yields raw events in global order; the replay looks each one up in its live
//! map and turns it into one [`Lifecycle`] event that says what happened to which block:
//! a block was born (with its allocation stack, kind, size, thread and time), a live block
//! was released (with the release's own stack), a release missed every live block (and
//! why: already freed, inside another block, never seen), an allocation failed, a thread
//! started or ended. Visitors never see raw records and never keep the live map
//! themselves.

use memscope_format::{AllocKind, FreeKind};

use crate::ids::{StackId, StreamId};

/// A block live at some point of the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveBlock {
    pub size: u64,
    pub kind: AllocKind,
    pub stack: StackId,
    pub stream: StreamId,
    pub time: u64,
    /// Reallocs that led to this block: 0 for a fresh allocation, n + 1 for a block
    /// produced by a realloc of a block with chain n.
    pub chain: u32,
    /// Position in the merged stream of the event that made this block (see
    /// [`Ctx::seq`]); tells whether it was live at the peak.
    pub seq: u64,
}

/// A block the replay saw freed recently (see [`crate::replay::RECENTLY_FREED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreedBlock {
    pub size: u64,
    pub kind: AllocKind,
    pub alloc_stack: StackId,
    pub free_stack: StackId,
    pub free_time: u64,
    pub free_how: Release,
}

/// The call that gave a block up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Release {
    Free(FreeKind),
    /// `realloc` (or `reallocarray`) moving or freeing its old block.
    Realloc(AllocKind),
}

impl Release {
    /// Whether a block allocated by `kind` may be given up this way.
    pub fn matches(self, kind: AllocKind) -> bool {
        match self {
            Release::Free(f) => kind.matching_free() == f,
            Release::Realloc(_) => kind.matching_free() == FreeKind::Free,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Release::Free(f) => f.name(),
            Release::Realloc(k) => k.name(),
        }
    }
}

/// Why a release found no live block at its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The address was freed before (and not allocated again since).
    Freed(FreedBlock),
    /// The address lies inside a live block that starts at `base`.
    Interior { base: u64, block: LiveBlock },
    /// Nothing known: never allocated in this trace (or forgotten, see
    /// [`crate::replay::RECENTLY_FREED`]).
    Unknown,
    /// A fork child releasing a block its parent allocated before the fork.
    Inherited,
}

/// Where and when an event happened, in global order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    pub time: u64,
    pub stream: StreamId,
    /// Position of the event in the merged stream (0-based).
    pub seq: u64,
}

/// What one merged event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// A block was born at `ptr` (by an allocation, or by a realloc from `from`).
    Alloc {
        ptr: u64,
        block: LiveBlock,
        from: Option<u64>,
        /// A live block already at `ptr` that this one replaced (an inconsistency).
        replaced: Option<LiveBlock>,
    },
    /// A live block was released.
    Free {
        ptr: u64,
        block: LiveBlock,
        how: Release,
        stack: StackId,
        /// No other allocation happened on the allocating thread since this block's.
        temporary: bool,
    },
    /// A release that found no live block at `ptr`.
    BadRelease {
        ptr: u64,
        how: Release,
        stack: StackId,
        miss: Miss,
    },
    /// A realloc returned null for a non-zero size; `old` stays live.
    ReallocFailed {
        old: u64,
        size: u64,
        kind: AllocKind,
        stack: StackId,
    },
    AllocFailed {
        size: u64,
        kind: AllocKind,
        stack: StackId,
    },
    ThreadStart {
        tid: u32,
    },
    ThreadExit,
}

impl Lifecycle {
    /// The event's kind as a bit, for [`Kinds`].
    pub fn kind(&self) -> Kinds {
        Kinds(match self {
            Lifecycle::Alloc { .. } => 1,
            Lifecycle::Free { .. } => 1 << 1,
            Lifecycle::BadRelease { .. } => 1 << 2,
            Lifecycle::ReallocFailed { .. } => 1 << 3,
            Lifecycle::AllocFailed { .. } => 1 << 4,
            Lifecycle::ThreadStart { .. } => 1 << 5,
            Lifecycle::ThreadExit => 1 << 6,
        })
    }
}

/// A set of [`Lifecycle`] kinds: what a visitor wants to be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds(u8);

impl Kinds {
    pub const ALL: Kinds = Kinds(0x7f);
    pub const NONE: Kinds = Kinds(0);
    pub const ALLOC: Kinds = Kinds(1);
    pub const FREE: Kinds = Kinds(1 << 1);
    pub const BAD_RELEASE: Kinds = Kinds(1 << 2);
    pub const REALLOC_FAILED: Kinds = Kinds(1 << 3);
    pub const ALLOC_FAILED: Kinds = Kinds(1 << 4);

    pub const fn or(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    pub fn contains(self, other: Kinds) -> bool {
        self.0 & other.0 == other.0
    }

    /// The `n`-th kind of this set's bits (0..7), as a set of its own.
    pub fn nth(self, n: usize) -> Kinds {
        Kinds(self.0 & (1 << n))
    }

    /// Position of a single kind (0..7), to index tables by kind.
    pub fn index(self) -> usize {
        self.0.trailing_zeros() as usize
    }
}

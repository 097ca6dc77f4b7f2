//! The memscope report document, schema `memscope-report/1`, as plain data with serde:
//! the analyzer builds and serializes it (`memscope analyze --format json`), its CI gate
//! reads it typed, and tests can read a report file back with any serde
//! deserializer. Nothing here computes: every number is decided by the analyzer.
//!
//! ```json
//! { "schema": "memscope-report/1",
//!   "trace":   { "pid": 1234, "ppid": 1, "exe": "/usr/bin/sort", "args": ["sort", "x"],
//!                "origin": "start", "duration_ns": 0, "truncated": false,
//!                "inconsistencies": 0, "inherited_frees": 0,
//!                "exit": { "how": "exit", "code": 0 } },
//!   "summary": { "allocations": 0, "frees": 0, "bytes_allocated": 0, "peak_live_bytes": 0,
//!                "live_at_exit": { "blocks": 0, "bytes": 0 }, "threads": 1,
//!                "failed_allocations": 0 },
//!   "leaks": [ { "bytes": 0, "blocks": 0, "stack_id": 3,
//!                "stack": [ { "address": "0x401136", "function": "leak_one",
//!                             "file": "/src/exits.c", "line": 12, "module": "/path/to/exits" } ] } ] }
//! ```
//!
//! Added compatibly (fields only added, never renamed): each `leaks[]` entry has `type`
//! (the type classifier's name, or null) and `runtime_internal`; `summary` has
//! `program_leaks` and `runtime_internal` (live-at-exit split); `trace.at_ns` is present
//! for `--at`; `trace.lost_events`; top-level `findings` and `metrics`; with the tracer's
//! leak check, `summary.leak_kinds` and each `leaks[]` entry's `kind`, `held_by` and
//! `chain` (null, empty, absent without one); each `leaks[]` entry and each finding has
//! `site`, the program's own frame it is named by ([`LocationDoc`]). The full schema is
//! `docs/report-schema.md` and `docs/memscope-report-1.schema.json`.
//!
//! `exit` is present only when the trace has a `ProcessExit` record; `truncated_at` only
//! when `truncated` is true. Frames carry `"inlined": true` (a call inlined into the next
//! frame) and `"binary_changed": true` (module file differs from the one that ran) only
//! when set. Unknown `function`/`file`/`line`/`module` are `null`.

#![forbid(unsafe_code)]

mod findings;
mod metrics;
mod schema;
mod site;

use serde::{Deserialize, Serialize};

pub use findings::{Detector, FindingDoc, FindingStacksDoc, Severity};
pub use metrics::{
    ClassDoc, HistBucketDoc, LifetimesDoc, MetricsDoc, PatternDoc, PatternsDoc, PeakDoc, SiteDoc,
    SlackDoc, ThreadDoc, TimeBucketDoc, TimelineDoc,
};
pub use schema::{Schema, SCHEMA};
pub use site::{clean_function, LocationDoc};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportDoc {
    pub schema: Schema,
    pub trace: TraceDoc,
    pub summary: SummaryDoc,
    pub leaks: Vec<LeakDoc>,
    pub findings: Vec<FindingDoc>,
    pub metrics: MetricsDoc,
    /// What the trace cannot see (an allocator of the program's own): read the numbers
    /// above with these in mind.
    pub warnings: Vec<Warning>,
    /// Leak groups in the analysis (`leaks` may hold fewer when limited); not part of
    /// the document (0 when read back).
    #[serde(skip)]
    pub leak_groups_total: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceDoc {
    pub pid: u32,
    pub ppid: u32,
    pub exe: String,
    pub args: Vec<String>,
    pub origin: OriginDoc,
    pub duration_ns: u64,
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_at: Option<u64>,
    pub inconsistencies: u64,
    pub inherited_frees: u64,
    /// A fork child's parent's trace, replayed up to the fork for the blocks the child
    /// inherited (see `summary.inherited`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_trace: Option<String>,
    /// Events the tracer dropped (a thread's ring stayed full too long).
    pub lost_events: u64,
    /// The allocator that served the program (absent in traces of older tracers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocator: Option<AllocatorDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitDoc>,
    /// `--at`: the moment analyzed, in nanoseconds after the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ns: Option<u64>,
}

/// The allocator that served the program: the object that defines the `malloc` in use,
/// and the entry points whose calls went to another definition ahead of libmemscope's
/// (not seen by memscope; empty when everything passed through it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatorDoc {
    pub path: String,
    pub bypassed: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginDoc {
    Start,
    ForkChild,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitDoc {
    pub how: ExitHowDoc,
    pub code: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitHowDoc {
    #[serde(rename = "exit")]
    Exit,
    #[serde(rename = "_exit")]
    QuickExit,
    #[serde(rename = "signal")]
    Signal,
    #[serde(rename = "exec")]
    Exec,
    #[serde(rename = "shutdown")]
    Shutdown,
}

impl ExitHowDoc {
    pub fn name(self) -> &'static str {
        match self {
            Self::Exit => "exit",
            Self::QuickExit => "_exit",
            Self::Signal => "signal",
            Self::Exec => "exec",
            Self::Shutdown => "shutdown",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SummaryDoc {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub peak_live_bytes: u64,
    pub live_at_exit: LiveDoc,
    pub threads: u64,
    pub failed_allocations: u64,
    /// Live at exit, not runtime-internal.
    pub program_leaks: LiveDoc,
    /// Live at exit, kept on purpose by libc, ld.so or a runtime.
    pub runtime_internal: LiveDoc,
    /// Live at exit split by the leak check's kinds; `null` when the trace has no leak
    /// check (e.g. the process was killed by `SIGKILL`).
    #[serde(default)]
    pub leak_kinds: Option<LeakKindsDoc>,
    /// A forked child's blocks inherited from its parent; absent for a process that is
    /// not a fork child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherited: Option<InheritedDoc>,
}

/// What a forked child inherited from its parent (the parent's live blocks at the fork,
/// from the parent's trace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InheritedDoc {
    /// Whether the parent's trace was found (`trace.parent_trace`); when not, the
    /// inherited blocks are unknown (not in the counts, their frees counted in
    /// `trace.inherited_frees`).
    pub known: bool,
    #[serde(default)]
    pub parent_pid: Option<u32>,
    /// The parent's live blocks at the fork.
    #[serde(default)]
    pub at_fork: Option<LiveDoc>,
    /// The parent's counts at the fork, where the child's `allocations`, `frees` and
    /// `bytes_allocated` start (what the child did itself is the difference).
    #[serde(default)]
    pub counts_at_fork: Option<CountsAtForkDoc>,
    /// Of those, live in the child at exit (included in `live_at_exit`).
    #[serde(default)]
    pub live_at_exit: Option<LiveDoc>,
    /// Inherited blocks live at exit that the child's leak check did not judge: their
    /// leak groups have no kind (and do not fail the gate).
    #[serde(default)]
    pub unjudged_blocks: u64,
}

/// The parent's allocation counts at a fork ([`InheritedDoc::counts_at_fork`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CountsAtForkDoc {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
}

/// Blocks and bytes of each leak kind (valgrind memcheck's LEAK SUMMARY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeakKindsDoc {
    pub definitely_lost: LiveDoc,
    pub indirectly_lost: LiveDoc,
    pub possibly_lost: LiveDoc,
    pub still_reachable: LiveDoc,
}

impl LeakKindsDoc {
    /// The counts of `kind`.
    pub fn get(&self, kind: LeakKindDoc) -> LiveDoc {
        match kind {
            LeakKindDoc::DefinitelyLost => self.definitely_lost,
            LeakKindDoc::IndirectlyLost => self.indirectly_lost,
            LeakKindDoc::PossiblyLost => self.possibly_lost,
            LeakKindDoc::StillReachable => self.still_reachable,
        }
    }
}

/// A leak kind as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakKindDoc {
    DefinitelyLost,
    IndirectlyLost,
    PossiblyLost,
    StillReachable,
}

impl LeakKindDoc {
    /// Every kind, worst first (the order of the report's groups).
    pub const ALL: [LeakKindDoc; 4] = [
        Self::DefinitelyLost,
        Self::IndirectlyLost,
        Self::PossiblyLost,
        Self::StillReachable,
    ];

    /// In words, as valgrind prints it (`definitely lost`, ...).
    pub fn words(self) -> &'static str {
        match self {
            Self::DefinitelyLost => "definitely lost",
            Self::IndirectlyLost => "indirectly lost",
            Self::PossiblyLost => "possibly lost",
            Self::StillReachable => "still reachable",
        }
    }

    /// The JSON name (`definitely_lost`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::DefinitelyLost => "definitely_lost",
            Self::IndirectlyLost => "indirectly_lost",
            Self::PossiblyLost => "possibly_lost",
            Self::StillReachable => "still_reachable",
        }
    }
}

/// What keeps a leak group's blocks: a root, or (for indirectly lost blocks) the lost
/// group that points at them. Unknown fields are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderDoc {
    pub kind: HolderKindDoc,
    /// A global's name; the function of a stack frame; the allocation site's function of
    /// a holding block.
    pub symbol: Option<String>,
    pub module: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// The thread of a stack, register or TLS root.
    pub thread: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderKindDoc {
    Global,
    Stack,
    Tls,
    Register,
    /// Other writable memory that is neither heap nor a module's (e.g. `mmap`ed).
    Anonymous,
    Heap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LiveDoc {
    pub blocks: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeakDoc {
    pub bytes: u64,
    pub blocks: u64,
    pub stack_id: u64,
    pub stack: Vec<FrameDoc>,
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    pub runtime_internal: bool,
    /// The group's leak kind (groups are per allocation stack and kind); `null` when the
    /// trace has no leak check.
    #[serde(default)]
    pub kind: Option<LeakKindDoc>,
    /// What keeps the group's blocks (empty for definitely lost groups).
    #[serde(default)]
    pub held_by: Vec<HolderDoc>,
    /// For the largest still-reachable groups: the path from a root to one of the
    /// group's blocks, root first, one step per holding block.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<HolderDoc>,
    /// The group's blocks were inherited from the parent at a fork (allocation stack
    /// from the parent's trace).
    #[serde(default)]
    pub inherited: bool,
    /// The frame the group is named by: the program's own, past the allocator and the
    /// containers (absent in reports of older versions, and for an empty stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<LocationDoc>,
}

/// One symbolized frame, innermost first in a stack; unknown parts are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameDoc {
    /// The return address, `0x...`.
    pub address: String,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub module: Option<String>,
    /// A call inlined into the next frame.
    #[serde(default, skip_serializing_if = "is_false")]
    pub inlined: bool,
    /// The module file differs from the one that ran.
    #[serde(default, skip_serializing_if = "is_false")]
    pub binary_changed: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Something the report's reader must know to trust its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

/// What a [`Warning`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// The program links an allocator of its own that the tracer does not see.
    PrivateAllocator,
    /// The tracer dropped events.
    LostEvents,
}

//! The report document, schema `memscope-report/1`, as serde structs, and how it is built
//! from an [`Analysis`] (the only place that symbolizes).
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
//! for `--at`; `trace.lost_events`; top-level `findings` and `metrics`. The full schema is
//! `docs/report-schema.md` and `docs/memscope-report-1.schema.json`.
//!
//! `exit` is present only when the trace has a `ProcessExit` record; `truncated_at` only
//! when `truncated` is true. Frames carry `"inlined": true` (a call inlined into the next
//! frame) and `"binary_changed": true` (module file differs from the one that ran) only
//! when set. Unknown `function`/`file`/`line`/`module` are `null`.

use std::collections::HashMap;

use serde::Serialize;

use memscope_format::{ExitHow, Origin};

use crate::analysis::classify::{runtime, types};
use crate::analysis::Analysis;
use crate::ids::StackId;
use crate::symbols::symbolize::{SymFrame, Symbolizer};

pub use super::metrics::{build_metrics, MetricsDoc};

pub const SCHEMA: &str = "memscope-report/1";

#[derive(Debug, Clone, Serialize)]
pub struct ReportDoc {
    pub schema: &'static str,
    pub trace: TraceDoc,
    pub summary: SummaryDoc,
    pub leaks: Vec<LeakDoc>,
    pub findings: Vec<FindingDoc>,
    pub metrics: MetricsDoc,
    /// What the trace cannot see (an allocator of the program's own): read the numbers
    /// above with these in mind.
    pub warnings: Vec<crate::analysis::coverage::Warning>,
    /// Leak groups in the analysis (`leaks` may hold fewer when limited).
    #[serde(skip)]
    pub leak_groups_total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceDoc {
    pub pid: u32,
    pub ppid: u32,
    pub exe: String,
    pub args: Vec<String>,
    pub origin: OriginDoc,
    pub duration_ns: u64,
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_at: Option<u64>,
    pub inconsistencies: u64,
    pub inherited_frees: u64,
    /// Events the tracer dropped (a thread's ring stayed full too long).
    pub lost_events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitDoc>,
    /// `--at`: the moment analyzed, in nanoseconds after the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_ns: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginDoc {
    Start,
    ForkChild,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExitDoc {
    pub how: ExitHowDoc,
    pub code: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Copy, Serialize)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LiveDoc {
    pub blocks: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeakDoc {
    pub bytes: u64,
    pub blocks: u64,
    pub stack_id: u64,
    pub stack: Vec<FrameDoc>,
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    pub runtime_internal: bool,
}

/// One finding of a detector.
#[derive(Debug, Clone, Serialize)]
pub struct FindingDoc {
    pub detector: &'static str,
    pub severity: &'static str,
    pub message: String,
    /// How many times it happened (with the same stacks).
    pub count: u64,
    pub stacks: FindingStacksDoc,
}

/// The stacks of a finding that apply to its detector.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FindingStacksDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation: Option<Vec<FrameDoc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_free: Option<Vec<FrameDoc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offending: Option<Vec<FrameDoc>>,
}

/// Symbolizes stacks once each and classifies them.
pub struct Stacks<'a> {
    analysis: &'a Analysis,
    symbolizer: &'a mut Symbolizer,
    cache: HashMap<StackId, Vec<SymFrame>>,
}

impl<'a> Stacks<'a> {
    pub fn new(analysis: &'a Analysis, symbolizer: &'a mut Symbolizer) -> Self {
        Self {
            analysis,
            symbolizer,
            cache: HashMap::new(),
        }
    }

    pub fn sym(&mut self, id: StackId) -> &[SymFrame] {
        let (a, s) = (self.analysis, &mut *self.symbolizer);
        self.cache
            .entry(id)
            .or_insert_with(|| s.symbolize_stack(&a.index, a.index.stack(id)))
    }

    pub fn frames(&mut self, id: StackId) -> Vec<FrameDoc> {
        self.sym(id).iter().cloned().map(FrameDoc::from).collect()
    }

    pub fn type_name(&mut self, id: StackId) -> Option<String> {
        types::classify(self.sym(id)).map(str::to_owned)
    }

    pub fn runtime_internal(&mut self, id: StackId) -> bool {
        runtime::is_runtime_internal(self.sym(id))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FrameDoc {
    pub address: String,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub module: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub inlined: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub binary_changed: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl From<ExitHow> for ExitHowDoc {
    fn from(how: ExitHow) -> Self {
        match how {
            ExitHow::Exit => Self::Exit,
            ExitHow::QuickExit => Self::QuickExit,
            ExitHow::Signal => Self::Signal,
            ExitHow::Exec => Self::Exec,
            ExitHow::Shutdown => Self::Shutdown,
        }
    }
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

impl From<SymFrame> for FrameDoc {
    fn from(f: SymFrame) -> Self {
        FrameDoc {
            address: format!("{:#x}", f.address),
            function: f.function,
            file: f.file,
            line: f.line,
            module: f.module,
            inlined: f.inlined,
            binary_changed: f.binary_changed,
        }
    }
}

/// Builds the report, symbolizing the stacks of at most `max_leaks` leak groups (all when
/// `None`).
///
/// Leak groups stay largest first (program and runtime-internal mixed, each marked).
pub fn build(a: &Analysis, symbolizer: &mut Symbolizer, max_leaks: Option<usize>) -> ReportDoc {
    let h = &a.index.header;
    let c = &a.counters;
    let mut stacks = Stacks::new(a, symbolizer);
    let mut program = LiveDoc {
        blocks: 0,
        bytes: 0,
    };
    let mut internal = LiveDoc {
        blocks: 0,
        bytes: 0,
    };
    let classified: Vec<(bool, &crate::analysis::LeakGroup)> = a
        .leaks
        .iter()
        .map(|g| {
            let rt = stacks.runtime_internal(g.stack);
            let sum = if rt { &mut internal } else { &mut program };
            sum.blocks += g.blocks;
            sum.bytes = sum.bytes.saturating_add(g.bytes);
            (rt, g)
        })
        .collect();
    let shown = max_leaks.unwrap_or(usize::MAX).min(classified.len());
    let leaks = classified[..shown]
        .iter()
        .map(|&(rt, g)| LeakDoc {
            bytes: g.bytes,
            blocks: g.blocks,
            stack_id: g.stack.0,
            stack: stacks.frames(g.stack),
            type_name: stacks.type_name(g.stack),
            runtime_internal: rt,
        })
        .collect();
    let findings = a
        .results
        .findings
        .items
        .iter()
        .map(|&(f, count)| {
            let st = f.stacks();
            FindingDoc {
                detector: f.detector(),
                severity: f.severity().name(),
                message: f.message(),
                count,
                stacks: FindingStacksDoc {
                    allocation: st.allocation.map(|s| stacks.frames(s)),
                    first_free: st.first_free.map(|s| stacks.frames(s)),
                    offending: st.offending.map(|s| stacks.frames(s)),
                },
            }
        })
        .collect();
    let metrics = build_metrics(a, &mut stacks);
    ReportDoc {
        schema: SCHEMA,
        trace: TraceDoc {
            pid: h.pid,
            ppid: h.ppid,
            exe: h.exe.clone(),
            args: h.args.clone(),
            origin: match h.origin {
                Origin::Start => OriginDoc::Start,
                Origin::ForkChild => OriginDoc::ForkChild,
            },
            duration_ns: a.duration_ns,
            truncated: a.index.truncation.is_some(),
            truncated_at: a.index.truncation.map(|t| t.offset),
            inconsistencies: c.inconsistencies,
            inherited_frees: c.inherited_frees,
            lost_events: a.index.lost_events,
            exit: a.index.exit.map(|e| ExitDoc {
                how: e.how.into(),
                code: e.code,
            }),
            at_ns: a.at.map(|at| at.time_ns),
        },
        summary: SummaryDoc {
            allocations: c.allocations,
            frees: c.frees,
            bytes_allocated: c.bytes_allocated,
            peak_live_bytes: c.peak_live_bytes,
            live_at_exit: LiveDoc {
                blocks: a.live_blocks,
                bytes: a.live_bytes,
            },
            threads: c.threads,
            failed_allocations: c.failed_allocations,
            program_leaks: program,
            runtime_internal: internal,
        },
        leaks,
        findings,
        metrics,
        warnings: crate::analysis::coverage::warnings(&a.index),
        leak_groups_total: a.leaks.len(),
    }
}

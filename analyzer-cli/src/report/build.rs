//! Builds the typed report document ([`memscope_report::ReportDoc`]) from an
//! [`Analysis`]: the only place that symbolizes, once per shown stack ([`Stacks`]), and
//! that classifies leak groups (type, runtime-internal) and drops the `mismatched-free`
//! findings a library's own `operator new`/`delete` explains. With the tracer's leak check,
//! leak groups are per allocation stack and kind, worst kind first, each with what keeps
//! it ([`super::holders`]), and the summary has the kinds' totals.

use std::collections::HashMap;

use memscope_format::{ExitHow, LeakKind, Origin};

use crate::analysis::classify::{cxx_operators, runtime, site, types};
use crate::analysis::findings::Finding;
use crate::analysis::inherit::Inheritance;
use crate::analysis::Analysis;
use crate::ids::{ModuleIdx, StackId};
use crate::symbols::symbolize::{SymFrame, Symbolizer};
use crate::trace::reader::StackFrame;

use memscope_report::{
    AllocatorDoc, CountsAtForkDoc, Detector, ExitDoc, ExitHowDoc, FindingDoc, FindingStacksDoc,
    FrameDoc, InheritedDoc, LeakDoc, LeakKindDoc, LeakKindsDoc, LiveDoc, LocationDoc, OriginDoc,
    ReportDoc, Schema, SummaryDoc, TraceDoc,
};

use super::holders::{HolderNamer, CHAINS};
use super::metrics::build_metrics;

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
        self.sym(id).iter().cloned().map(frame_doc).collect()
    }

    pub fn type_name(&mut self, id: StackId) -> Option<String> {
        types::classify(self.sym(id)).map(str::to_owned)
    }

    /// The frame the stack is named by ([`site`]).
    pub fn site(&mut self, id: StackId) -> Option<LocationDoc> {
        site::site(self.sym(id))
    }

    pub fn runtime_internal(&mut self, id: StackId) -> bool {
        runtime::is_runtime_internal(self.sym(id))
    }

    /// The innermost named frame at the return address `pc` (the call before it),
    /// bound to `module`.
    pub fn at_pc(&mut self, pc: u64, module: Option<ModuleIdx>) -> Option<SymFrame> {
        let frame = StackFrame { addr: pc, module };
        self.symbolizer
            .symbolize_stack(&self.analysis.index, &[frame])
            .into_iter()
            .find(|f| f.function.is_some())
    }

    /// Whether `f` is a `mismatched-free` that a library's own `operator new`/`delete`
    /// over `malloc`/`free` explains (see [`cxx_operators`]): not a bug, not reported.
    pub fn library_internal_mismatch(&mut self, f: &Finding) -> bool {
        let Finding::MismatchedFree {
            alloc_stack,
            free_stack,
            ..
        } = *f
        else {
            return false;
        };
        let alloc = cxx_operators::innermost_operator(self.sym(alloc_stack));
        let release = cxx_operators::innermost_operator(self.sym(free_stack));
        cxx_operators::explained_mismatch(f, alloc, release)
    }

    /// The trace being reported on.
    pub fn analysis(&self) -> &'a Analysis {
        self.analysis
    }
}

/// A symbolized frame as the report shows it.
fn frame_doc(f: SymFrame) -> FrameDoc {
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

/// A leak kind as the report names it.
/// What a fork child inherited, for the summary (`None` for other processes).
fn inherited_doc(a: &Analysis) -> Option<InheritedDoc> {
    match &a.inheritance {
        Inheritance::None => None,
        Inheritance::Unknown => Some(InheritedDoc {
            known: false,
            parent_pid: None,
            at_fork: None,
            counts_at_fork: None,
            live_at_exit: None,
            unjudged_blocks: 0,
        }),
        Inheritance::Known(seed) => {
            let mut live = LiveDoc {
                blocks: 0,
                bytes: 0,
            };
            for g in a.leaks.iter().filter(|g| seed.stacks.contains(&g.stack)) {
                live.blocks += g.blocks;
                live.bytes = live.bytes.saturating_add(g.bytes);
            }
            Some(InheritedDoc {
                known: true,
                parent_pid: Some(seed.parent_pid),
                at_fork: Some(LiveDoc {
                    blocks: seed.blocks.len() as u64,
                    bytes: seed.blocks.iter().map(|(_, b)| b.size).sum(),
                }),
                counts_at_fork: Some(CountsAtForkDoc {
                    allocations: seed.counters.allocations,
                    frees: seed.counters.frees,
                    bytes_allocated: seed.counters.bytes_allocated,
                }),
                live_at_exit: Some(live),
                unjudged_blocks: a
                    .results
                    .leak_kinds
                    .as_ref()
                    .map_or(0, |k| k.inherited_unjudged),
            })
        }
    }
}

pub fn kind_doc(kind: LeakKind) -> LeakKindDoc {
    match kind {
        LeakKind::DefinitelyLost => LeakKindDoc::DefinitelyLost,
        LeakKind::IndirectlyLost => LeakKindDoc::IndirectlyLost,
        LeakKind::PossiblyLost => LeakKindDoc::PossiblyLost,
        LeakKind::StillReachable => LeakKindDoc::StillReachable,
    }
}

/// The allocation stacks of the [`CHAINS`] largest still-reachable groups (by bytes),
/// which get a chain from their root.
fn chained_groups(a: &Analysis) -> Vec<StackId> {
    let mut reachable: Vec<&crate::analysis::LeakGroup> = a
        .leaks
        .iter()
        .filter(|g| g.kind == Some(LeakKind::StillReachable))
        .collect();
    reachable.sort_by(|x, y| y.bytes.cmp(&x.bytes).then(x.stack.cmp(&y.stack)));
    reachable.iter().take(CHAINS).map(|g| g.stack).collect()
}

/// How a process ended, as the report names it.
fn exit_how(how: ExitHow) -> ExitHowDoc {
    match how {
        ExitHow::Exit => ExitHowDoc::Exit,
        ExitHow::QuickExit => ExitHowDoc::QuickExit,
        ExitHow::Signal => ExitHowDoc::Signal,
        ExitHow::Exec => ExitHowDoc::Exec,
        ExitHow::Shutdown => ExitHowDoc::Shutdown,
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
    let kinds = a.results.leak_kinds.as_ref();
    let chained = chained_groups(a);
    let mut namer = HolderNamer::new();
    let leaks = classified[..shown]
        .iter()
        .map(|&(rt, g)| {
            let holders = g.kind.and_then(|k| kinds?.holders.get(&(g.stack, k)));
            let held_by = holders
                .map(|h| namer.held_by(&mut stacks, h))
                .unwrap_or_default();
            let chain = holders
                .filter(|_| chained.contains(&g.stack))
                .and_then(|h| h.chain.as_ref())
                .map(|c| namer.chain(&mut stacks, c))
                .unwrap_or_default();
            LeakDoc {
                bytes: g.bytes,
                blocks: g.blocks,
                stack_id: g.stack.0,
                stack: stacks.frames(g.stack),
                type_name: stacks.type_name(g.stack),
                runtime_internal: rt,
                kind: g.kind.map(kind_doc),
                held_by,
                chain,
                inherited: a.inheritance.is_inherited_stack(g.stack),
                site: stacks.site(g.stack),
            }
        })
        .collect();
    let shown_findings: Vec<(Finding, u64)> = a
        .results
        .findings
        .items
        .iter()
        .copied()
        .filter(|(f, _)| !stacks.library_internal_mismatch(f))
        .collect();
    let findings = shown_findings
        .into_iter()
        .map(|(f, count)| {
            let st = f.stacks();
            let primary = st.offending.or(st.allocation).or(st.first_free);
            FindingDoc {
                detector: Detector::parse(f.detector()),
                severity: f.severity(),
                message: f.message(),
                count,
                stacks: FindingStacksDoc {
                    allocation: st.allocation.map(|s| stacks.frames(s)),
                    first_free: st.first_free.map(|s| stacks.frames(s)),
                    offending: st.offending.map(|s| stacks.frames(s)),
                },
                site: primary.and_then(|s| stacks.site(s)),
            }
        })
        .collect();
    let metrics = build_metrics(a, &mut stacks);
    ReportDoc {
        schema: Schema,
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
            parent_trace: match &a.inheritance {
                Inheritance::Known(seed) => Some(seed.parent.display().to_string()),
                _ => None,
            },
            lost_events: a.index.lost_events,
            allocator: a.index.allocator.as_ref().map(|al| AllocatorDoc {
                path: crate::analysis::coverage::allocator_path(al, &a.index),
                bypassed: memscope_format::entry_points::names(al.bypassed)
                    .map(str::to_string)
                    .collect(),
            }),
            exit: a.index.exit.map(|e| ExitDoc {
                how: exit_how(e.how),
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
            leak_kinds: kinds.map(|k| {
                let t = |kind| {
                    let t = k.totals(kind);
                    LiveDoc {
                        blocks: t.blocks,
                        bytes: t.bytes,
                    }
                };
                LeakKindsDoc {
                    definitely_lost: t(LeakKind::DefinitelyLost),
                    indirectly_lost: t(LeakKind::IndirectlyLost),
                    possibly_lost: t(LeakKind::PossiblyLost),
                    still_reachable: t(LeakKind::StillReachable),
                }
            }),
            inherited: inherited_doc(a),
        },
        leaks,
        findings,
        metrics,
        warnings: crate::analysis::coverage::warnings(&a.index),
        leak_groups_total: a.leaks.len(),
    }
}

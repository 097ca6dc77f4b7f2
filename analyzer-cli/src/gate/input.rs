//! The gate's input: the leaks and findings of a typed report document
//! ([`memscope_report::ReportDoc`]) as one list of items to judge, and the traced
//! program's status.

use std::fmt;

use memscope_report::{ExitHowDoc, FrameDoc, LeakKindDoc, LocationDoc, ReportDoc};

pub use memscope_report::Detector;

/// One frame of a stack, innermost first; unknown parts are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub module: Option<String>,
}

/// What a stack of a finding shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackRole {
    Allocation,
    FirstFree,
    Offending,
}

impl StackRole {
    pub fn name(self) -> &'static str {
        match self {
            StackRole::Allocation => "allocation",
            StackRole::FirstFree => "first_free",
            StackRole::Offending => "offending",
        }
    }
}

/// A leak group or a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub detector: Detector,
    /// The finding's message; for a leak, built from its size.
    pub message: String,
    pub bytes: u64,
    pub blocks: u64,
    /// How often a finding happened (1 for a leak group).
    pub count: u64,
    /// A leak the runtime keeps on purpose (libc, ld.so, ...).
    pub runtime_internal: bool,
    /// The type classifier's answer for a leak.
    pub type_name: Option<String>,
    /// A leak group's kind, when the trace has the tracer's leak check.
    pub leak_kind: Option<LeakKindDoc>,
    /// A leak group of blocks a fork child inherited from its parent.
    pub inherited: bool,
    /// The stacks, by role; a leak has its allocation stack only.
    pub stacks: Vec<(StackRole, Vec<Frame>)>,
    /// The program's own frame the report names the item by (its primary stack's).
    pub site: Option<LocationDoc>,
}

impl Item {
    /// The stack that says where the problem is: the offending call of a finding, else
    /// the allocation, else the first free.
    pub fn primary_stack(&self) -> &[Frame] {
        for role in [
            StackRole::Offending,
            StackRole::Allocation,
            StackRole::FirstFree,
        ] {
            if let Some((_, s)) = self.stacks.iter().find(|(r, _)| *r == role) {
                return s;
            }
        }
        &[]
    }

    pub fn is_leak(&self) -> bool {
        self.detector == Detector::Leak
    }
}

/// How the traced program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramStatus {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Not known: the trace has no exit record (killed by SIGKILL, or an old tracer).
    Unknown,
}

impl ProgramStatus {
    /// A non-zero status or a signal.
    pub fn is_error(self) -> bool {
        matches!(self, ProgramStatus::Exited(c) if c != 0)
            || matches!(self, ProgramStatus::Signaled(_))
    }
}

impl fmt::Display for ProgramStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramStatus::Exited(c) => write!(f, "exited with status {c}"),
            ProgramStatus::Signaled(s) => write!(f, "killed by signal {s}"),
            ProgramStatus::Unknown => {
                f.write_str("exit status unknown (no exit record in the trace)")
            }
        }
    }
}

/// The report as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateReport {
    /// The traced executable.
    pub exe: String,
    /// The traced process.
    pub pid: u32,
    /// Its command line (arguments joined by spaces; the executable when none).
    pub command: String,
    pub truncated: bool,
    /// Events the tracer dropped.
    pub lost_events: u64,
    /// Leaks first (report order), then findings.
    pub items: Vec<Item>,
    /// The trace has the tracer's leak check (leak kinds); without it every block live
    /// at exit counts as leaked.
    pub leak_check: bool,
    /// From the trace's exit record.
    pub status: ProgramStatus,
}

impl GateReport {
    /// The gate's view of a report: its leak groups (report order), then its findings.
    pub fn from_report(doc: &ReportDoc) -> GateReport {
        let mut items = Vec::new();
        for leak in &doc.leaks {
            let (bytes, blocks) = (leak.bytes, leak.blocks);
            items.push(Item {
                detector: Detector::Leak,
                message: leak_message(bytes, blocks),
                bytes,
                blocks,
                count: 1,
                runtime_internal: leak.runtime_internal,
                type_name: leak.type_name.clone(),
                leak_kind: leak.kind,
                inherited: leak.inherited,
                stacks: vec![(StackRole::Allocation, stack(&leak.stack))],
                site: leak.site.clone(),
            });
        }
        let mut items = merge_same_sites(items);
        for finding in &doc.findings {
            let s = &finding.stacks;
            let stacks = [
                (StackRole::Allocation, &s.allocation),
                (StackRole::FirstFree, &s.first_free),
                (StackRole::Offending, &s.offending),
            ]
            .into_iter()
            .filter_map(|(role, frames)| frames.as_deref().map(|f| (role, stack(f))))
            .collect();
            items.push(Item {
                detector: finding.detector.clone(),
                message: finding.message.clone(),
                bytes: 0,
                blocks: 0,
                count: finding.count,
                runtime_internal: false,
                type_name: None,
                leak_kind: None,
                inherited: false,
                stacks,
                site: finding.site.clone(),
            });
        }
        let trace = &doc.trace;
        GateReport {
            exe: trace.exe.clone(),
            pid: trace.pid,
            command: if trace.args.is_empty() {
                trace.exe.clone()
            } else {
                trace.args.join(" ")
            },
            truncated: trace.truncated,
            lost_events: trace.lost_events,
            items,
            leak_check: doc.summary.leak_kinds.is_some(),
            status: match trace.exit {
                Some(e) if e.how == ExitHowDoc::Signal => ProgramStatus::Signaled(e.code),
                Some(e) if e.how == ExitHowDoc::Exec => ProgramStatus::Unknown,
                Some(e) => ProgramStatus::Exited(e.code),
                None => ProgramStatus::Unknown,
            },
        }
    }
}

/// Leak groups with the same site, kind and classification summed into the first (the
/// largest: report order): an unrolled loop's stacks differ only in return addresses
/// the report does not name, and make one item, one FAIL line.
fn merge_same_sites(items: Vec<Item>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::with_capacity(items.len());
    for item in items {
        let same = item.site.as_ref().and_then(|site| {
            out.iter().position(|o| {
                o.site.as_ref().is_some_and(|s| same_site(s, site))
                    && o.leak_kind == item.leak_kind
                    && o.runtime_internal == item.runtime_internal
                    && o.inherited == item.inherited
                    && o.type_name == item.type_name
            })
        });
        match same {
            Some(k) => {
                let o = &mut out[k];
                o.bytes = o.bytes.saturating_add(item.bytes);
                o.blocks = o.blocks.saturating_add(item.blocks);
                o.message = leak_message(o.bytes, o.blocks);
            }
            None => out.push(item),
        }
    }
    out
}

/// Two sites name the same place: function, file and line, or (without symbols) module
/// and offset.
fn same_site(a: &LocationDoc, b: &LocationDoc) -> bool {
    (&a.function, &a.file, a.line, &a.module) == (&b.function, &b.file, b.line, &b.module)
        && (a.function.is_some() || a.module_offset == b.module_offset)
}

fn leak_message(bytes: u64, blocks: u64) -> String {
    format!(
        "{bytes} bytes in {blocks} block{} leaked",
        if blocks == 1 { "" } else { "s" }
    )
}

fn stack(frames: &[FrameDoc]) -> Vec<Frame> {
    frames
        .iter()
        .map(|f| Frame {
            function: f.function.clone(),
            file: f.file.clone(),
            line: f.line,
            module: f.module.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::sample::{frame, leak, report};
    use memscope_report::{ExitDoc, FindingDoc, FindingStacksDoc, Severity};

    #[test]
    fn reads_leaks_findings_and_exit() {
        let mut l = leak(
            10,
            2,
            vec![frame(Some("f"), Some("a.c"), Some(3), Some("/t/app"))],
        );
        l.runtime_internal = true;
        l.type_name = Some("Vec".into());
        let finding = FindingDoc {
            detector: Detector::DoubleFree,
            severity: Severity::Error,
            message: "m".into(),
            count: 2,
            stacks: FindingStacksDoc {
                allocation: Some(Vec::new()),
                first_free: None,
                offending: Some(vec![frame(Some("g"), None, None, None)]),
            },
            site: None,
        };
        let exit = ExitDoc {
            how: ExitHowDoc::Signal,
            code: 11,
        };
        let r = GateReport::from_report(&report("/t/app", Some(exit), vec![l], vec![finding]));
        assert_eq!(r.status, ProgramStatus::Signaled(11));
        assert_eq!(r.items.len(), 2);
        assert_eq!(
            (
                r.items[0].bytes,
                r.items[0].blocks,
                r.items[0].runtime_internal
            ),
            (10, 2, true)
        );
        assert_eq!(r.items[0].type_name.as_deref(), Some("Vec"));
        assert_eq!(r.items[0].message, "10 bytes in 2 blocks leaked");
        assert_eq!(r.items[0].primary_stack()[0].line, Some(3));
        assert_eq!(r.items[1].detector, Detector::DoubleFree);
        assert_eq!(r.items[1].count, 2);
        assert_eq!(r.items[1].stacks.len(), 2);
        assert_eq!(r.items[1].primary_stack()[0].function.as_deref(), Some("g"));
    }

    #[test]
    fn exit_record_gives_the_status() {
        let status = |how, code| {
            GateReport::from_report(&report(
                "/t/app",
                Some(ExitDoc { how, code }),
                vec![],
                vec![],
            ))
            .status
        };
        assert_eq!(status(ExitHowDoc::Exit, 3), ProgramStatus::Exited(3));
        assert_eq!(status(ExitHowDoc::QuickExit, 0), ProgramStatus::Exited(0));
        assert_eq!(status(ExitHowDoc::Shutdown, 0), ProgramStatus::Exited(0));
        assert_eq!(status(ExitHowDoc::Exec, 0), ProgramStatus::Unknown);
        let r = GateReport::from_report(&report("/t/app", None, vec![], vec![]));
        assert_eq!(r.status, ProgramStatus::Unknown);
        assert!(r.items.is_empty());
    }
}

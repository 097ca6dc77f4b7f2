//! The gate's text summary: the verdict, what failed and why, each failing leak or
//! finding with its site (the program's own function and its `file:line`, past the
//! allocator and the containers), a leak with its leak kind; which leak kinds were left out, or the one line
//! saying the trace has none; with `--print-suppressions`, what each suppression
//! matched. Also the short descriptions of an item that the other renderers share.

use std::fmt::Write as _;

use super::baseline::Entry;
use super::evaluate::{Disposition, Outcome, Pass, Reason, Verdict};
use super::frames;
use super::input::{GateReport, Item};
use super::policy::{leak_kind_word, Policy};
use super::suppress::Suppression;

/// The one line a gate on a trace without leak kinds prints.
pub const NO_LEAK_CHECK: &str = "note: the trace has no leak check (killed by SIGKILL, or an older tracer): every block live at exit counts as leaked";

/// The note of a gate whose baseline predates fingerprint recipe 2.
pub const LEGACY_BASELINE: &str = "note: the baseline was written by an older memscope (fingerprint recipe 1, which changes with the compiler's standard library); it was matched by that recipe; write it again with --write-baseline to move it to recipe 2";

/// Why a finding that would fail does not, in a trace with lost events.
pub const LOST_EVENTS_EXCUSE: &str = "not failing: the tracer lost events, which could explain it (a lost allocation or free makes a correct free look invalid, double or mismatched)";

/// The item's site, the program's own frame: `function (file:line)`, or what of it is
/// known (`prog+0x1149` for a stripped program).
pub fn site(item: &Item) -> String {
    frames::site_words(item)
}

/// One line on an item: `leak: 100 bytes in 1 block leaked at f (a.c:3)`, and a leak's
/// kind when the trace has a leak check (`..., definitely lost`).
pub fn describe(item: &Item) -> String {
    let mut s = format!("{}: {}", item.detector, item.message);
    if !item.is_leak() && item.count > 1 {
        let _ = write!(s, " ({} times)", item.count);
    }
    let _ = write!(s, " at {}", site(item));
    if let Some(t) = &item.type_name {
        let _ = write!(s, " [{t}]");
    }
    if let Some(k) = item.leak_kind {
        let _ = write!(s, ", {}", k.words());
    }
    s
}

/// Why a verdict fails, in words.
pub fn reasons(v: &Verdict, policy: &Policy) -> String {
    let Disposition::Fail(rs) = &v.disposition else {
        if v.disposition == Disposition::Pass(Pass::LostEvents) {
            return LOST_EVENTS_EXCUSE.to_string();
        }
        return String::new();
    };
    let words: Vec<String> = rs
        .iter()
        .map(|r| match r {
            Reason::LeakBudget => {
                format!("over the leak budget ({})", policy.budget().words())
            }
            Reason::SiteBytes(l) => format!("over the per-site limit of {l} bytes"),
            Reason::SiteBlocks(l) => format!("over the per-site limit of {l} blocks"),
            Reason::Detector => "detector in --fail-on".to_string(),
        })
        .collect();
    let mut s = words.join("; ");
    if let Some(state) = v.baseline {
        let _ = write!(s, "; {} since the baseline", state.name());
    }
    s
}

fn plural(n: u64, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// A baseline entry in one line.
pub fn entry_line(e: &Entry) -> String {
    let size = if e.kind == "leak" {
        format!("{}, {}", plural(e.bytes, "byte"), plural(e.blocks, "block"))
    } else {
        plural(e.count, "time")
    };
    format!(
        "{} in {} ({size}) {}",
        e.kind,
        e.frames.join(" < "),
        e.fingerprint
    )
}

/// The summary.
pub fn summary(report: &GateReport, outcome: &Outcome, policy: &Policy) -> String {
    let mut s = String::new();
    let failures = outcome.failures().count();
    let _ = writeln!(
        s,
        "memscope check: {}",
        if outcome.failed() {
            format!(
                "FAILED ({} failing)",
                plural(failures as u64 + u64::from(outcome.program_fails), "item")
            )
        } else {
            "passed".to_string()
        }
    );
    let _ = writeln!(
        s,
        "program: {} {}{}",
        if report.exe.is_empty() {
            "<unknown>"
        } else {
            &report.exe
        },
        outcome.program,
        if outcome.program_fails {
            " (fails the gate: --fail-on-program-error)"
        } else if outcome.program.is_error() {
            " (the program's own failure; does not fail the gate without --fail-on-program-error)"
        } else {
            ""
        }
    );
    if report.truncated {
        let _ = writeln!(
            s,
            "note: the trace is truncated; what was complete was checked"
        );
    }
    if report.lost_events > 0 {
        let _ = writeln!(
            s,
            "note: the tracer dropped {} events; leaks and findings may be wrong: error findings \
             they could explain are warnings, not failures; leaks are still gated (a lost free \
             makes a block look leaked, a lost allocation hides one)",
            report.lost_events
        );
    }
    let l = outcome.leaks;
    let _ =
        writeln!(
        s,
        "leaks: {} of the program's, {}, {}; counted against the budget: {}, {} (allowed: {}){}",
        plural(l.groups, "group"),
        plural(l.blocks, "block"),
        plural(l.bytes, "byte"),
        plural(outcome.counted.bytes, "byte"),
        plural(outcome.counted.blocks, "block"),
        policy.budget().words(),
        if outcome.budget_exceeded { ": EXCEEDED" } else { "" }
    );
    if !outcome.leak_check {
        let _ = writeln!(s, "{NO_LEAK_CHECK}");
    } else if outcome.kind_left_out.groups > 0 {
        let k = outcome.kind_left_out;
        let gated: Vec<&str> = policy
            .fail_on_leak_kinds
            .iter()
            .map(|&k| leak_kind_word(k))
            .collect();
        let _ = writeln!(
            s,
            "leak kinds not gated (left out; --fail-on-leak-kinds {}): {}, {}, {}",
            if gated.is_empty() {
                "none".to_string()
            } else {
                gated.join(",")
            },
            plural(k.groups, "group"),
            plural(k.blocks, "block"),
            plural(k.bytes, "byte")
        );
    }
    let inh = outcome.inherited_unjudged;
    if inh.groups > 0 {
        let _ = writeln!(
            s,
            "inherited from the parent, not judged by this process's leak check (left out): {}, {}, {}",
            plural(inh.groups, "group"),
            plural(inh.blocks, "block"),
            plural(inh.bytes, "byte")
        );
    }
    let rt = outcome.runtime_internal;
    if rt.groups > 0 {
        let _ = writeln!(
            s,
            "runtime-internal (left out; --include-runtime counts them): {}, {}, {}",
            plural(rt.groups, "group"),
            plural(rt.blocks, "block"),
            plural(rt.bytes, "byte")
        );
    }
    let supp: u64 = outcome.suppressed.iter().map(|m| m.items).sum();
    if supp > 0 {
        let _ = writeln!(s, "suppressed: {}", plural(supp, "item"));
    }
    for v in outcome.failures() {
        let item = &report.items[v.item];
        let _ = writeln!(s, "FAIL {}", describe(item));
        let _ = writeln!(
            s,
            "     {}; fingerprint {}",
            reasons(v, policy),
            v.fingerprint
        );
    }
    for v in outcome.excused() {
        let item = &report.items[v.item];
        let _ = writeln!(s, "WARN {}", describe(item));
        let _ = writeln!(
            s,
            "     {}; fingerprint {}",
            reasons(v, policy),
            v.fingerprint
        );
    }
    if outcome.legacy_baseline {
        let _ = writeln!(s, "{LEGACY_BASELINE}");
    }
    if outcome.baseline_used && !outcome.absent.is_empty() {
        let _ = writeln!(
            s,
            "baseline: {} no longer seen (remove from the baseline file):",
            if outcome.absent.len() == 1 {
                "1 entry".to_string()
            } else {
                format!("{} entries", outcome.absent.len())
            }
        );
        for e in &outcome.absent {
            let _ = writeln!(s, "  {}", entry_line(e));
        }
    }
    s
}

/// The summary of a gate of several processes: the verdict with each failing process
/// by pid and command line, then every process's own [`summary`] under a
/// `== process PID: COMMAND ==` line.
pub fn processes_summary(judged: &[(GateReport, Outcome)], policy: &Policy) -> String {
    let failing: Vec<&GateReport> = judged
        .iter()
        .filter(|(_, o)| o.failed())
        .map(|(r, _)| r)
        .collect();
    let mut s = String::new();
    if failing.is_empty() {
        let _ = writeln!(s, "memscope check: passed ({} processes)", judged.len());
    } else {
        let _ = writeln!(
            s,
            "memscope check: FAILED ({} of {} processes failing)",
            failing.len(),
            judged.len()
        );
        for r in &failing {
            let _ = writeln!(s, "failing process: pid {}: {}", r.pid, r.command);
        }
    }
    for (r, o) in judged {
        let _ = writeln!(s, "== process {}: {} ==", r.pid, r.command);
        s.push_str(&summary(r, o, policy));
    }
    s
}

/// `--print-suppressions`: every suppression, with what it matched.
pub fn suppressions(list: &[Suppression], outcome: &Outcome) -> String {
    let mut s =
        String::from("Suppressions used:\n  items  blocks       bytes  suppression (where)\n");
    if list.is_empty() {
        s.push_str("  (none)\n");
    }
    for (sup, m) in list.iter().zip(&outcome.suppressed) {
        let items = if m.blocks == 0 && m.occurrences > 0 {
            m.occurrences
        } else {
            m.items
        };
        let _ = writeln!(
            s,
            "{:>7} {:>7} {:>11}  {} ({})",
            items, m.blocks, m.bytes, sup, sup.origin
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::evaluate::tests::{leak, report};
    use crate::gate::evaluate::{evaluate, Inputs};
    use crate::gate::input::ProgramStatus;
    use crate::gate::suppress::parse;

    #[test]
    fn names_failing_function_and_location() {
        let r = report(vec![leak("leak_one", 100, 1)]);
        let p = Policy::default();
        let o = evaluate(&Inputs {
            report: &r,
            policy: &p,
            suppressions: &[],
            baseline: None,
            frames: 5,
            status: ProgramStatus::Exited(3),
        });
        let text = summary(&r, &o, &p);
        assert!(
            text.starts_with("memscope check: FAILED (1 item failing)\n"),
            "{text}"
        );
        assert!(
            text.contains("FAIL leak: 100 bytes in 1 blocks leaked at leak_one (/src/app.c:10)\n"),
            "{text}"
        );
        assert!(
            text.contains("exited with status 3 (the program's own failure"),
            "{text}"
        );
        assert!(text.contains(": EXCEEDED"), "{text}");
    }

    #[test]
    fn lists_suppressions_with_matches() {
        let r = report(vec![leak("leak_one", 100, 2)]);
        let p = Policy::default();
        let list = parse("leak:leak_one\nleak:other\n", "x.supp").unwrap();
        let o = evaluate(&Inputs {
            report: &r,
            policy: &p,
            suppressions: &list,
            baseline: None,
            frames: 5,
            status: ProgramStatus::Exited(0),
        });
        assert!(!o.failed());
        let text = suppressions(&list, &o);
        assert!(
            text.contains("      1       2         100  leak:leak_one (x.supp:1)\n"),
            "{text}"
        );
        assert!(
            text.contains("      0       0           0  leak:other (x.supp:2)\n"),
            "{text}"
        );
    }
}

//! JUnit XML output (`--junit FILE`), for CI test-report views: one test suite per
//! traced process (named by pid and command line when several were gated), one
//! test case per leak group and finding (and one for the program's status when it failed
//! or is not known), a `<failure>` for each that fails the gate, `<skipped>` for
//! suppressed and runtime-internal items, leaks of kinds not gated and error findings that
//! the trace's lost events could explain. A leak's leak
//! kind is in its name and message. The counts on `<testsuites>` and `<testsuite>`
//! are those of the cases.
//!
//! Written by hand rather than with an XML crate: the document is a fixed, flat shape
//! and needs only escaping (which also drops characters XML 1.0 cannot hold).

use std::fmt::Write as _;

use super::evaluate::{Disposition, Outcome, Pass};
use super::input::{GateReport, ProgramStatus};
use super::policy::Policy;
use super::text;

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push_str(&format!("&#{};", c as u32)),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

enum Case {
    Passed,
    Failed(String),
    Skipped(String),
}

/// One test suite: its XML and its (tests, failures, skipped).
pub struct Suite {
    xml: String,
    tests: usize,
    failures: usize,
    skipped: usize,
}

/// The JUnit document of one process.
pub fn render(report: &GateReport, outcome: &Outcome, policy: &Policy) -> String {
    let name = format!("memscope check {}", report.exe);
    document(&[suite(report, outcome, policy, &name)])
}

/// The JUnit document of these suites (one per process).
pub fn document(suites: &[Suite]) -> String {
    let tests: usize = suites.iter().map(|s| s.tests).sum();
    let failures: usize = suites.iter().map(|s| s.failures).sum();
    let skipped: usize = suites.iter().map(|s| s.skipped).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(s, "<testsuites name=\"memscope check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">");
    for suite in suites {
        s.push_str(&suite.xml);
    }
    s.push_str("</testsuites>\n");
    s
}

/// The test suite of one process, named `name`.
pub fn suite(report: &GateReport, outcome: &Outcome, policy: &Policy, name: &str) -> Suite {
    let mut cases: Vec<(String, String, Case, String)> = Vec::new();
    for v in &outcome.verdicts {
        let item = &report.items[v.item];
        let name = format!(
            "{} at {}{} [{}]",
            item.detector,
            text::site(item),
            item.leak_kind
                .map(|k| format!(", {}", k.words()))
                .unwrap_or_default(),
            &v.fingerprint.0[..v.fingerprint.0.len().min(12)]
        );
        let case = match &v.disposition {
            Disposition::Fail(_) => Case::Failed(text::reasons(v, policy)),
            Disposition::Pass(Pass::WithinBudget) | Disposition::Pass(Pass::NotGated) => {
                Case::Passed
            }
            Disposition::Pass(Pass::Baseline) => Case::Passed,
            Disposition::Pass(Pass::LostEvents) => Case::Skipped(text::LOST_EVENTS_EXCUSE.into()),
            Disposition::Suppressed(_) => Case::Skipped("suppressed".into()),
            Disposition::RuntimeInternal => {
                Case::Skipped("runtime-internal (left out without --include-runtime)".into())
            }
            Disposition::LeakKindNotGated => {
                Case::Skipped("leak kind not in --fail-on-leak-kinds".into())
            }
            Disposition::InheritedUnjudged => Case::Skipped(
                "inherited from the parent; not judged by the child's leak check".into(),
            ),
        };
        let mut body = text::describe(item);
        for (role, stack) in &item.stacks {
            let _ = write!(body, "\n{}:", role.name());
            for f in stack {
                let _ = write!(
                    body,
                    "\n  {} {}{}",
                    f.function.as_deref().unwrap_or("??"),
                    f.file.as_deref().unwrap_or(""),
                    f.line.map(|l| format!(":{l}")).unwrap_or_default()
                );
            }
        }
        cases.push((format!("memscope.{}", item.detector), name, case, body));
    }
    if outcome.program_fails
        || outcome.program == ProgramStatus::Unknown
        || outcome.program.is_error()
    {
        let case = if outcome.program_fails {
            Case::Failed("--fail-on-program-error".into())
        } else {
            Case::Passed
        };
        cases.push((
            "memscope.program".into(),
            format!("program {}", outcome.program),
            case,
            format!("{} {}", report.exe, outcome.program),
        ));
    }
    let failures = cases
        .iter()
        .filter(|c| matches!(c.2, Case::Failed(_)))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.2, Case::Skipped(_)))
        .count();
    let tests = cases.len();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
        escape(name)
    );
    for (class, name, case, body) in &cases {
        let _ = write!(
            s,
            "    <testcase classname=\"{}\" name=\"{}\"",
            escape(class),
            escape(name)
        );
        match case {
            Case::Passed => {
                let _ = writeln!(s, "/>");
            }
            Case::Failed(why) => {
                let _ = writeln!(
                    s,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    escape(why),
                    escape(class),
                    escape(body)
                );
            }
            Case::Skipped(why) => {
                let _ = writeln!(
                    s,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(why)
                );
            }
        }
    }
    s.push_str("  </testsuite>\n");
    Suite {
        xml: s,
        tests,
        failures,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::evaluate::tests::{finding, leak, report};
    use crate::gate::evaluate::{evaluate, Inputs};
    use crate::gate::input::Detector;
    use crate::gate::suppress::parse;

    #[test]
    fn parses_with_matching_counts() {
        let mut rt = leak("_IO_file_doallocate", 1024, 1);
        rt.runtime_internal = true;
        let mut odd = leak("weird<&>\"'\u{1}", 3, 1);
        odd.message = "a\nb".into();
        let r = report(vec![
            leak("leak_one", 100, 1),
            odd,
            leak("quiet", 1, 1),
            rt,
            finding(Detector::DoubleFree, "twice"),
            finding(Detector::Growth, "g"),
        ]);
        let p = Policy::default();
        let supp = parse("leak:quiet", "s").unwrap();
        let o = evaluate(&Inputs {
            report: &r,
            policy: &p,
            suppressions: &supp,
            baseline: None,
            frames: 5,
            status: ProgramStatus::Exited(0),
        });
        let xml = render(&r, &o, &p);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let suite = root
            .children()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let count = |tag: &str| {
            cases
                .iter()
                .filter(|c| c.children().any(|n| n.has_tag_name(tag)))
                .count()
        };
        assert_eq!(cases.len(), 6);
        assert_eq!(count("failure"), 3, "{xml}");
        assert_eq!(count("skipped"), 2);
        for n in [root, suite] {
            assert_eq!(n.attribute("tests"), Some("6"));
            assert_eq!(n.attribute("failures"), Some("3"));
            assert_eq!(n.attribute("skipped"), Some("2"));
            assert_eq!(n.attribute("errors"), Some("0"));
        }
        assert!(cases[1]
            .attribute("name")
            .unwrap()
            .starts_with("leak at weird<&>\"'? (/src/app.c:10)"));
        assert_eq!(cases[0].attribute("classname"), Some("memscope.leak"));
    }
}

//! GitHub Actions workflow commands: one `::error file=F,line=L,title=T::MESSAGE` line
//! on stdout per failing item (and one for a failing program status), printed when
//! `GITHUB_ACTIONS=true`. Files under `GITHUB_WORKSPACE` are given relative to it, so
//! that the annotation lands on the pull request's diff.

use std::fmt::Write as _;
use std::path::Path;

use super::evaluate::Outcome;
use super::frames;
use super::input::GateReport;
use super::policy::Policy;
use super::text;

/// Escapes a command's message (`%`, CR, LF).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command's property value (also `:` and `,`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Whether annotations are wanted: `GITHUB_ACTIONS` is `true`.
pub fn wanted(github_actions: Option<&str>) -> bool {
    github_actions == Some("true")
}

/// The annotation lines.
pub fn render(
    report: &GateReport,
    outcome: &Outcome,
    policy: &Policy,
    workspace: Option<&Path>,
) -> String {
    let mut s = String::new();
    for v in outcome.failures() {
        let item = &report.items[v.item];
        let mut props = Vec::new();
        if let Some(f) = frames::site(item) {
            if let Some(file) = &f.file {
                let file = workspace
                    .and_then(|w| Path::new(file).strip_prefix(w).ok())
                    .and_then(|p| p.to_str())
                    .unwrap_or(file);
                props.push(format!("file={}", escape_property(file)));
                if let Some(line) = f.line {
                    props.push(format!("line={line}"));
                }
            }
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("memscope {}", item.detector))
        ));
        let _ = writeln!(
            s,
            "::error {}::{}",
            props.join(","),
            escape_data(&format!(
                "{} ({})",
                text::describe(item),
                text::reasons(v, policy)
            ))
        );
    }
    if outcome.program_fails {
        let _ = writeln!(
            s,
            "::error title=memscope program-error::{}",
            escape_data(&format!(
                "the traced program {} {}",
                report.exe, outcome.program
            ))
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

    #[test]
    fn one_error_line_per_failure_relative_to_workspace() {
        let r = report(vec![leak("leak_one", 100, 1)]);
        let p = Policy::default();
        let o = evaluate(&Inputs {
            report: &r,
            policy: &p,
            suppressions: &[],
            baseline: None,
            frames: 5,
            status: ProgramStatus::Exited(0),
        });
        let out = render(&r, &o, &p, Some(Path::new("/src")));
        assert!(
            out.starts_with("::error file=app.c,line=10,title=memscope leak::leak: 100 bytes in 1 blocks leaked at leak_one (/src/app.c:10)"),
            "{out}"
        );
        assert_eq!(out.lines().count(), 1);
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert!(wanted(Some("true")) && !wanted(Some("1")) && !wanted(None));
    }
}

//! `memscope check TRACE... | DIR` ([`check`]) and the gate step of `memscope run --check`
//! ([`check_run`]): resolve the gate's settings, build the report of every trace (all
//! leak groups; a forked child's with the blocks it inherited, its parent's trace found
//! among the others) and hand them to [`crate::gate::gate_all`], which judges each
//! process on its own and fails if any fails. The gate's output files (`--sarif`,
//! `--junit`, `--write-baseline`) are checked to be writable before any trace is read
//! ([`check_outputs`]).

use std::path::Path;

use memscope_report::ReportDoc;

use crate::cmd::outputs::check_writable;
use crate::error::CliError;
use crate::gate::args::Settings;
use crate::gate::input::ProgramStatus;
use crate::gate::{gate_all, CheckArgs, Env, GateArgs, Process};
use crate::trace::family::{expand, Family};

/// `memscope check TRACE... [options]`: summary and annotations on stdout.
pub fn check(args: &CheckArgs) -> Result<i32, CliError> {
    let env = Env::from_process()?;
    let settings = args.gate.resolve(&env.cwd).map_err(CliError::Usage)?;
    check_outputs(&settings)?;
    let paths = expand(&args.traces)?;
    // One trace alone: its parent is looked for beside it. Several: among them.
    let family = match paths.as_slice() {
        [one] => Family::of_directory(one.parent().unwrap_or(Path::new("."))),
        _ => Family::read(&paths),
    };
    let ordered: Vec<&Path> = if paths.len() == 1 {
        vec![paths[0].as_path()]
    } else {
        family.members.iter().map(|m| m.path.as_path()).collect()
    };
    let docs = reports_of(&ordered, &family)?;
    let processes: Vec<Process<'_>> = docs
        .iter()
        .map(|doc| Process { doc, status: None })
        .collect();
    let run = gate_all(&processes, &settings, &env)?;
    print!("{}{}", run.summary, run.annotations);
    Ok(run.code)
}

/// The gate step of `memscope run --check`, on every trace of the run (`root`, the
/// trace of the process memscope started, gets the program's real status): summary on
/// stderr (the program's stdout stays its own), annotations on stdout.
pub fn check_run(
    root: &Path,
    status: ProgramStatus,
    family: &Family,
    args: &GateArgs,
) -> Result<i32, CliError> {
    let env = Env::from_process()?;
    let settings = args.resolve(&env.cwd).map_err(CliError::Usage)?;
    let mut paths: Vec<&Path> = vec![root];
    paths.extend(
        family
            .members
            .iter()
            .map(|m| m.path.as_path())
            .filter(|p| *p != root),
    );
    let docs = reports_of(&paths, family)?;
    let processes: Vec<Process<'_>> = docs
        .iter()
        .enumerate()
        .map(|(i, doc)| Process {
            doc,
            status: (i == 0).then_some(status),
        })
        .collect();
    let run = gate_all(&processes, &settings, &env)?;
    eprint!("{}", run.summary);
    print!("{}", run.annotations);
    Ok(run.code)
}

/// Fails (exit 2, one line) unless every file the gate will write can be written.
pub fn check_outputs(settings: &Settings) -> Result<(), CliError> {
    let outputs = [
        ("--sarif", &settings.sarif),
        ("--junit", &settings.junit),
        ("--write-baseline", &settings.write_baseline),
    ];
    for (what, path) in outputs {
        if let Some(path) = path {
            check_writable(what, path)?;
        }
    }
    Ok(())
}

/// The report (all leak groups) of a trace; a fork child's parent is looked for in
/// `family`.
pub fn report_of(trace: &Path, family: &Family) -> Result<ReportDoc, CliError> {
    let (notes, doc) = noted_report_of(trace, family)?;
    for note in notes {
        eprintln!("{note}");
    }
    Ok(doc)
}

/// The reports of `traces`, analyzed side by side ([`crate::cmd::parallel`]); their
/// notes printed in the traces' order, up to the first that fails.
fn reports_of(traces: &[&Path], family: &Family) -> Result<Vec<ReportDoc>, CliError> {
    let results = crate::cmd::parallel::in_order(traces, |p| noted_report_of(p, family));
    let mut docs = Vec::with_capacity(results.len());
    for result in results {
        let (notes, doc) = result?;
        for note in notes {
            eprintln!("{note}");
        }
        docs.push(doc);
    }
    Ok(docs)
}

/// A trace's report and the notes on what its trace misses, not printed yet.
fn noted_report_of(trace: &Path, family: &Family) -> Result<(Vec<String>, ReportDoc), CliError> {
    let analysis = crate::analysis::analyze_in_family(trace, family)?;
    let notes = crate::cmd::commands::incompleteness(&analysis);
    let mut symbolizer = crate::symbols::symbolize::Symbolizer::new();
    Ok((
        notes,
        crate::report::build(&analysis, &mut symbolizer, None),
    ))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use memscope_format::{AllocKind, Origin, Record, StackId};
    use serde_json::Value;

    use super::report_of;
    use crate::gate::text::LOST_EVENTS_EXCUSE;
    use crate::gate::{gate, Env, GateArgs};
    use crate::trace::family::Family;
    use crate::trace::synth::{alloc, free, TraceBuilder};

    /// A trace whose program frees a 16-byte block twice (a double free: error class),
    /// with `lost` events dropped by the tracer and, with `leak`, 100 bytes never freed.
    fn trace(dir: &std::path::Path, lost: u64, leak: bool) -> PathBuf {
        let mut t = TraceBuilder::new(Origin::Start);
        let mut records = vec![
            alloc(1001, 0x1000, 16, AllocKind::Malloc, StackId::NONE),
            free(1002, 0x1000, StackId::NONE),
            free(1003, 0x1000, StackId::NONE),
        ];
        if leak {
            records.push(alloc(1004, 0x2000, 100, AllocKind::Malloc, StackId::NONE));
        }
        t.chunk(1, 1000, &records);
        if lost > 0 {
            t.chunk(
                0,
                1005,
                &[Record::Lost {
                    time: 1005,
                    events: lost,
                }],
            );
        }
        t.end(1010);
        let path = dir.join(format!("t-{lost}-{leak}.msl"));
        fs::write(&path, t.bytes()).unwrap();
        path
    }

    fn env(dir: &std::path::Path) -> Env {
        Env {
            cwd: dir.to_path_buf(),
            github_actions: false,
            github_workspace: None,
        }
    }

    #[test]
    fn lost_events_excuse_error_findings_but_not_leaks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let args = GateArgs {
            sarif: Some("out.sarif".into()),
            junit: Some("out.xml".into()),
            no_config: true,
            ..Default::default()
        };
        let settings = args.resolve(d).unwrap();
        let family = Family::default();
        let gated = |lost, leak| {
            let doc = report_of(&trace(d, lost, leak), &family).unwrap();
            assert_eq!(doc.trace.lost_events, lost);
            gate(&doc, None, &settings, &env(d)).unwrap()
        };

        // The control: without lost events the double free fails the gate.
        let run = gated(0, false);
        assert_eq!(run.code, 1, "{}", run.summary);
        let fails: Vec<&str> = run
            .summary
            .lines()
            .filter(|l| l.starts_with("FAIL "))
            .collect();
        assert_eq!(fails.len(), 1, "{}", run.summary);
        assert!(fails[0].starts_with("FAIL double-free"), "{}", run.summary);
        assert!(!run.summary.contains("WARN "), "{}", run.summary);

        // 3 lost events: the same double free is a warning naming the lost events.
        let run = gated(3, false);
        assert_eq!(run.code, 0, "{}", run.summary);
        assert!(!run.summary.contains("FAIL "), "{}", run.summary);
        let warns: Vec<&str> = run
            .summary
            .lines()
            .filter(|l| l.starts_with("WARN "))
            .collect();
        assert_eq!(warns.len(), 1, "{}", run.summary);
        assert!(warns[0].starts_with("WARN double-free"), "{}", run.summary);
        assert!(run.summary.contains(LOST_EVENTS_EXCUSE), "{}", run.summary);
        assert!(
            run.summary.contains("note: the tracer dropped 3 events"),
            "{}",
            run.summary
        );
        let log: Value =
            serde_json::from_str(&fs::read_to_string(d.join("out.sarif")).unwrap()).unwrap();
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{log:#}");
        assert_eq!(results[0]["ruleId"], "double-free");
        assert_eq!(results[0]["level"], "warning");
        assert!(
            results[0]["message"]["text"]
                .as_str()
                .unwrap()
                .contains("lost events"),
            "{log:#}"
        );
        let xml = fs::read_to_string(d.join("out.xml")).unwrap();
        assert!(xml.contains("failures=\"0\""), "{xml}");
        assert!(xml.contains("skipped=\"1\""), "{xml}");
        assert!(xml.contains("<skipped message="), "{xml}");

        // A leak over the budget still fails; the double free stays a warning.
        let run = gated(3, true);
        assert_eq!(run.code, 1, "{}", run.summary);
        let fails: Vec<&str> = run
            .summary
            .lines()
            .filter(|l| l.starts_with("FAIL "))
            .collect();
        assert_eq!(fails.len(), 1, "{}", run.summary);
        assert!(
            fails[0].starts_with("FAIL leak: 100 bytes in 1 block"),
            "{}",
            run.summary
        );
        assert_eq!(
            run.summary
                .lines()
                .filter(|l| l.starts_with("WARN double-free"))
                .count(),
            1,
            "{}",
            run.summary
        );
        let xml = fs::read_to_string(d.join("out.xml")).unwrap();
        assert!(xml.contains("failures=\"1\""), "{xml}");
    }
}

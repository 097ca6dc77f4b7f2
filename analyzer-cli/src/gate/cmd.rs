//! Runs the gate on a report ([`gate`]): reads the suppression files and baseline the
//! settings name, evaluates, writes the requested files and the summary, and returns
//! the exit code: 0 pass, the failure code (1 or `--exit-code`) when the gate fails.
//! Usage and I/O errors are `Err` (exit code 2). Building the report of a trace is the
//! command line's job (`cmd/check.rs`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use memscope_report::ReportDoc;

use super::annotations;
use super::args::Settings;
use super::baseline::{Baseline, Entry};
use super::evaluate::{evaluate, Inputs, Outcome};
use super::input::{GateReport, ProgramStatus};
use super::sarif::{self, SrcRoot};
use super::suppress::{self, Suppression};
use super::{junit, text};
use crate::error::CliError;

/// What the gate's environment provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// Relative paths start here; `memscope.toml` is looked for from here.
    pub cwd: PathBuf,
    /// `GITHUB_ACTIONS=true`: print annotations.
    pub github_actions: bool,
    /// `GITHUB_WORKSPACE`, to shorten annotation paths.
    pub github_workspace: Option<PathBuf>,
}

impl Env {
    /// From the process's current directory and environment.
    pub fn from_process() -> Result<Env, CliError> {
        let cwd = std::env::current_dir().map_err(|e| CliError::io(Path::new("."), e))?;
        Ok(Env {
            cwd,
            github_actions: annotations::wanted(std::env::var("GITHUB_ACTIONS").ok().as_deref()),
            github_workspace: std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from),
        })
    }
}

/// What a gate run produced, for the caller to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRun {
    /// The process exit code the gate asks for.
    pub code: i32,
    /// The text summary (and the suppression list when asked).
    pub summary: String,
    /// GitHub annotations (empty unless wanted): for stdout.
    pub annotations: String,
    /// One per process gated, in the order given.
    pub outcomes: Vec<Outcome>,
}

/// Reads every suppression file.
pub fn load_suppressions(paths: &[PathBuf]) -> Result<Vec<Suppression>, CliError> {
    let mut all = Vec::new();
    for p in paths {
        let text = fs::read_to_string(p).map_err(|e| CliError::io(p, e))?;
        all.extend(suppress::parse(&text, &p.display().to_string()).map_err(CliError::Usage)?);
    }
    Ok(all)
}

/// Reads a baseline file.
pub fn load_baseline(path: &Path) -> Result<Baseline, CliError> {
    let text = fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
    Baseline::parse(&text)
        .map_err(|e| CliError::Usage(format!("{}: not a memscope baseline: {e}", path.display())))
}

/// One process to gate: its report, and the status `run` saw for the process it started
/// (which overrides the trace's exit record).
#[derive(Debug, Clone, Copy)]
pub struct Process<'a> {
    pub doc: &'a ReportDoc,
    pub status: Option<ProgramStatus>,
}

/// The baseline of the current state: every process's entries, the larger one where two
/// processes share a fingerprint (so that each process passes against it).
fn baseline_of(outcomes: &[Outcome], frames: usize) -> Baseline {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for o in outcomes {
        for e in o.current.values() {
            let slot = entries
                .entry(e.fingerprint.clone())
                .or_insert_with(|| e.clone());
            slot.bytes = slot.bytes.max(e.bytes);
            slot.blocks = slot.blocks.max(e.blocks);
            slot.count = slot.count.max(e.count);
        }
    }
    Baseline::new(frames, entries.into_values().collect())
}

/// What `--write-baseline` says after the summary: the file, its entries, and that the
/// run passes against it (`failed`: it still fails, for the program's own failure).
fn written_note(b: &Baseline, path: &Path, failed: bool) -> String {
    let n = b.entries.len();
    let mut s = format!(
        "memscope check: wrote {n} baseline {} to {}; {}{}\n",
        if n == 1 { "entry" } else { "entries" },
        path.display(),
        if failed {
            "this run's leaks and findings pass against it (the program's failure still fails the gate)"
        } else {
            "this run passes against it"
        },
        if n == 0 { "" } else { ":" }
    );
    for e in &b.entries {
        s.push_str("  ");
        s.push_str(&text::entry_line(e));
        s.push('\n');
    }
    s
}

/// Gates a report document. `status` overrides the trace's exit record.
pub fn gate(
    doc: &ReportDoc,
    status: Option<ProgramStatus>,
    settings: &Settings,
    env: &Env,
) -> Result<GateRun, CliError> {
    gate_all(&[Process { doc, status }], settings, env)
}

/// Gates every process of a run (or every trace given): each is judged on its own with
/// the same policy, suppressions and baseline, as if it were gated alone; the gate fails
/// if any process fails. One process gives exactly the output of a gate of one trace;
/// several give a first line naming each failing process by pid and command line, then
/// each process's own summary under a `== process PID: COMMAND ==` line; SARIF gets one
/// run per process, JUnit one test suite per process, and `--write-baseline` writes
/// every process's entries (the larger one where two processes share a fingerprint, so
/// that each process passes against it).
pub fn gate_all(
    processes: &[Process<'_>],
    settings: &Settings,
    env: &Env,
) -> Result<GateRun, CliError> {
    let suppressions = load_suppressions(&settings.suppressions)?;
    let reports: Vec<GateReport> = processes
        .iter()
        .map(|p| GateReport::from_report(p.doc))
        .collect();
    let judge = |baseline: Option<&Baseline>| -> Vec<Outcome> {
        processes
            .iter()
            .zip(&reports)
            .map(|(p, report)| {
                evaluate(&Inputs {
                    report,
                    policy: &settings.policy,
                    suppressions: &suppressions,
                    baseline,
                    frames: settings.frames,
                    status: p.status.unwrap_or(report.status),
                })
            })
            .collect()
    };
    // Writing a baseline takes the current state as it is, whatever an old one says; the
    // run is then judged against what was written, so that what it prints is what
    // `--baseline FILE` will say of this run.
    let (outcomes, written) = match &settings.write_baseline {
        Some(path) => {
            let written = baseline_of(&judge(None), settings.frames);
            fs::write(path, written.to_json()).map_err(|e| CliError::io(path, e))?;
            (judge(Some(&written)), Some((path, written)))
        }
        None => {
            let baseline = match &settings.baseline {
                Some(p) => Some(load_baseline(p)?),
                None => None,
            };
            (judge(baseline.as_ref()), None)
        }
    };
    let judged: Vec<(GateReport, Outcome)> = reports.into_iter().zip(outcomes).collect();
    let several = judged.len() > 1;
    let policy = &settings.policy;
    let mut summary = if several {
        text::processes_summary(&judged, policy)
    } else {
        judged
            .iter()
            .map(|(r, o)| text::summary(r, o, policy))
            .collect()
    };
    if let Some(p) = &settings.config {
        summary.insert_str(
            0,
            &format!("memscope check: settings from {}\n", p.display()),
        );
    }
    if settings.print_suppressions {
        for (_, o) in &judged {
            summary.push_str(&text::suppressions(&suppressions, o));
        }
    }
    if let Some(path) = &settings.sarif {
        let root = SrcRoot::find(&env.cwd);
        let runs = judged
            .iter()
            .map(|(r, o)| sarif::run(r, o, policy, &root, several))
            .collect();
        let mut s = serde_json::to_string_pretty(&sarif::log(runs)).unwrap_or_default();
        s.push('\n');
        fs::write(path, s).map_err(|e| CliError::io(path, e))?;
    }
    if let Some(path) = &settings.junit {
        let suites: Vec<junit::Suite> = judged
            .iter()
            .map(|(r, o)| {
                let name = if several {
                    format!("memscope check pid {}: {}", r.pid, r.command)
                } else {
                    format!("memscope check {}", r.exe)
                };
                junit::suite(r, o, policy, &name)
            })
            .collect();
        fs::write(path, junit::document(&suites)).map_err(|e| CliError::io(path, e))?;
    }
    let failed = judged.iter().any(|(_, o)| o.failed());
    let code = if failed { settings.exit_code } else { 0 };
    if let Some((path, b)) = &written {
        summary.push_str(&written_note(b, path, failed));
    }
    let annotations = if env.github_actions {
        judged
            .iter()
            .map(|(r, o)| annotations::render(r, o, policy, env.github_workspace.as_deref()))
            .collect()
    } else {
        String::new()
    };
    Ok(GateRun {
        code,
        summary,
        annotations,
        outcomes: judged.into_iter().map(|(_, o)| o).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::args::GateArgs;
    use crate::gate::sample::{frame, leak, report};
    use memscope_report::{ExitDoc, ExitHowDoc};
    use serde_json::Value;

    fn doc(functions: &[&str]) -> ReportDoc {
        let leaks = functions
            .iter()
            .map(|f| {
                let at = |function, line| {
                    frame(
                        Some(function),
                        Some("/src/app.c"),
                        Some(line),
                        Some("/b/app"),
                    )
                };
                leak(10, 1, vec![at(f, 4), at("main", 9)])
            })
            .collect();
        let exit = ExitDoc {
            how: ExitHowDoc::Exit,
            code: 0,
        };
        report("/b/app", Some(exit), leaks, Vec::new())
    }

    fn env(dir: &Path) -> Env {
        Env {
            cwd: dir.to_path_buf(),
            github_actions: true,
            github_workspace: Some(PathBuf::from("/src")),
        }
    }

    #[test]
    fn write_baseline_then_gate_on_new_only_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = env(dir.path());
        let write = GateArgs {
            write_baseline: Some("base.json".into()),
            no_config: true,
            ..Default::default()
        };
        let run = gate(
            &doc(&["leak_one"]),
            None,
            &write.resolve(dir.path()).unwrap(),
            &e,
        )
        .unwrap();
        assert_eq!(run.code, 0, "{}", run.summary);
        // No verdict of a gate without the baseline: the run passes against it.
        assert!(
            run.summary.starts_with("memscope check: passed\n"),
            "{}",
            run.summary
        );
        assert!(!run.summary.contains("FAIL"), "{}", run.summary);
        let fp = &run.outcomes[0].current.values().next().unwrap().fingerprint;
        assert!(
            run.summary.ends_with(&format!(
                "memscope check: wrote 1 baseline entry to {}; this run passes against it:\n  leak in leak_one < main (10 bytes, 1 block) {fp}\n",
                dir.path().join("base.json").display()
            )),
            "{}",
            run.summary
        );
        let use_it = GateArgs {
            baseline: Some("base.json".into()),
            sarif: Some("out.sarif".into()),
            junit: Some("out.xml".into()),
            exit_code: Some(9),
            no_config: true,
            ..Default::default()
        };
        let s = use_it.resolve(dir.path()).unwrap();
        assert_eq!(gate(&doc(&["leak_one"]), None, &s, &e).unwrap().code, 0);
        let run = gate(&doc(&["leak_one", "leak_two"]), None, &s, &e).unwrap();
        assert_eq!(run.code, 9);
        assert!(
            run.summary
                .contains("FAIL leak: 10 bytes in 1 block leaked at leak_two (/src/app.c:4)"),
            "{}",
            run.summary
        );
        assert!(!run.summary.contains("at leak_one"), "{}", run.summary);
        assert_eq!(run.annotations.lines().count(), 1);
        assert!(
            run.annotations.starts_with("::error file=app.c,line=4,"),
            "{}",
            run.annotations
        );
        let log: Value =
            serde_json::from_str(&fs::read_to_string(dir.path().join("out.sarif")).unwrap())
                .unwrap();
        assert_eq!(log["runs"][0]["results"][0]["baselineState"], "new");
        assert!(fs::read_to_string(dir.path().join("out.xml"))
            .unwrap()
            .contains("failures=\"1\""));
    }

    #[test]
    fn missing_files_and_bad_suppressions_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = env(dir.path());
        let missing = GateArgs {
            baseline: Some("nope.json".into()),
            no_config: true,
            ..Default::default()
        };
        assert!(matches!(
            gate(&doc(&[]), None, &missing.resolve(dir.path()).unwrap(), &e),
            Err(CliError::Io { .. })
        ));
        fs::write(dir.path().join("bad.supp"), "frob:x\n").unwrap();
        let bad = GateArgs {
            suppressions: vec!["bad.supp".into()],
            no_config: true,
            ..Default::default()
        };
        assert!(matches!(
            gate(&doc(&[]), None, &bad.resolve(dir.path()).unwrap(), &e),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn write_baseline_of_a_failing_program_says_what_still_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut failing = doc(&["leak_one", "leak_two"]);
        failing.trace.exit = Some(ExitDoc {
            how: ExitHowDoc::Exit,
            code: 3,
        });
        let write = GateArgs {
            write_baseline: Some("base.json".into()),
            fail_on_program_error: true,
            no_config: true,
            ..Default::default()
        };
        let run = gate(
            &failing,
            None,
            &write.resolve(dir.path()).unwrap(),
            &env(dir.path()),
        )
        .unwrap();
        assert_eq!(run.code, 1, "{}", run.summary);
        assert!(
            run.summary
                .starts_with("memscope check: FAILED (1 item failing)\n"),
            "{}",
            run.summary
        );
        assert!(!run.summary.contains("FAIL leak"), "{}", run.summary);
        assert!(
            run.summary.contains(&format!(
                "memscope check: wrote 2 baseline entries to {}; this run's leaks and findings pass against it (the program's failure still fails the gate):\n",
                dir.path().join("base.json").display()
            )),
            "{}",
            run.summary
        );
    }

    #[test]
    fn config_file_is_found_and_used() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        fs::write(
            dir.path().join("memscope.toml"),
            "[check]\nmax-leaked-bytes = 20\nmax-leaked-blocks = 2\n",
        )
        .unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let s = GateArgs::default().resolve(&sub).unwrap();
        assert_eq!(s.config, Some(dir.path().join("memscope.toml")));
        let run = gate(&doc(&["a", "b"]), None, &s, &env(&sub)).unwrap();
        assert_eq!(run.code, 0, "{}", run.summary);
        let run = gate(&doc(&["a", "b", "c"]), None, &s, &env(&sub)).unwrap();
        assert_eq!(run.code, 1, "{}", run.summary);
    }
}

//! The gate judges every process (issue 14): `tests/fixtures/fork_child_leaks.c` forks a
//! child that leaks 48 bytes at `child_leaks` and exits 0, while the parent frees
//! everything and exits with the child's status (0 natively). LeakSanitizer's build of
//! the same program exits 23 (the child's leak check fails); `memscope run --check` must
//! fail too and name the child by pid and command line. With the argument `clean` the
//! child leaks nothing: both pass. `memscope check` over the run's traces, given as a
//! directory or one by one, gives the same verdict, and its SARIF and JUnit outputs have
//! one run / one test suite per process.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::gate_support::{fail_lines, memscope_in};

use memscope_tests::{all_trace_files, build_test_program, report_json, run_with_timeout, Run};
use serde_json::Value;

/// `tests/fixtures/fork_child_leaks.c`.
fn fork_child_leaks() -> PathBuf {
    build_test_program(
        "fork_child_leaks",
        "fork_child_leaks.c",
        "gcc",
        &["-O0", "-g", "-Wall", "-Wextra"],
    )
}

/// Whether gcc has LeakSanitizer's runtime (`-fsanitize=leak` links `liblsan`).
fn lsan_available() -> bool {
    let out = Command::new("gcc")
        .arg("-print-file-name=liblsan.so")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
            Path::new(&path).is_absolute() && Path::new(&path).exists()
        }
        _ => false,
    }
}

/// The root and the child of a traced run of the fixture: `(pid, command line)` each,
/// from the traces' headers (`memscope analyze --format json`, `trace.pid`, `trace.args`).
struct Tree {
    root: (u64, String),
    child: (u64, String),
}

fn tree(traces: &[PathBuf]) -> Tree {
    assert_eq!(traces.len(), 2, "one trace per process: {traces:?}");
    let mut root = None;
    let mut child = None;
    let reports: Vec<Value> = traces.iter().map(|t| report_json(t, &[])).collect();
    for r in &reports {
        let pid = r["trace"]["pid"].as_u64().expect("trace.pid");
        let args: Vec<&str> = r["trace"]["args"]
            .as_array()
            .expect("trace.args")
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let entry = (pid, args.join(" "));
        match r["trace"]["origin"].as_str() {
            Some("start") => root = Some(entry),
            Some("fork_child") => child = Some(entry),
            o => panic!("unexpected origin {o:?}"),
        }
    }
    let (root, child) = (root.expect("the root's trace"), child.expect("the child's"));
    let child_ppid = reports
        .iter()
        .find(|r| r["trace"]["pid"] == child.0)
        .map(|r| r["trace"]["ppid"].as_u64().unwrap())
        .unwrap();
    assert_eq!(child_ppid, root.0, "the child's parent is the root");
    Tree { root, child }
}

/// `memscope run --check --no-config [EXTRA...] --output DIR/t.%p.msl -- PROGRAM ARGS...`
/// in `dir`; returns the output and the run's traces.
fn run_check(
    dir: &Path,
    extra: &[&str],
    program_args: &[&str],
) -> (memscope_tests::Output, Vec<PathBuf>) {
    let traces = dir.join("traces");
    fs::create_dir_all(&traces).unwrap();
    let pattern = traces.join("t.%p.msl");
    let program = fork_child_leaks();
    let mut args: Vec<&OsStr> = vec!["run".as_ref(), "--check".as_ref(), "--no-config".as_ref()];
    args.extend(extra.iter().map(OsStr::new));
    args.push("--output".as_ref());
    args.push(pattern.as_os_str());
    args.push("--".as_ref());
    args.push(program.as_os_str());
    args.extend(program_args.iter().map(OsStr::new));
    let out = memscope_in(dir, &args, &[]);
    (out, all_trace_files(&traces))
}

/// The `== process PID: COMMAND ==` headings of a gate summary.
fn process_headings(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("== process "))
        .map(str::to_string)
        .collect()
}

#[test]
fn run_check_fails_on_the_leaking_child_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let program = fork_child_leaks();
    let native = Run::new(&program).native();
    assert_eq!(native.status.code(), Some(0), "{}", native.describe());

    let (out, traces) = run_check(dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let t = tree(&traces);
    let cmd = program.to_str().unwrap();
    assert_eq!(t.root.1, cmd);
    assert_eq!(
        t.child.1, cmd,
        "a fork child keeps its parent's command line"
    );
    let err = out.stderr_str();
    let naming = format!("failing process: pid {}: {cmd}", t.child.0);
    assert!(
        err.lines().any(|l| l == naming),
        "no line `{naming}`:\n{err}"
    );
    assert!(
        !err.contains(&format!("failing process: pid {}:", t.root.0)),
        "the root does not fail:\n{err}"
    );
    assert!(
        err.contains("memscope check: FAILED (1 of 2 processes failing)"),
        "{err}"
    );
    assert_eq!(
        process_headings(&err),
        vec![
            format!("== process {}: {cmd} ==", t.root.0),
            format!("== process {}: {cmd} ==", t.child.0),
        ],
        "{err}"
    );
    // The one failing item: the child's 48 bytes from child_leaks (fork_child_leaks.c:13).
    let fails = fail_lines(&err);
    assert_eq!(fails.len(), 1, "{err}");
    assert!(
        fails[0].starts_with("FAIL leak: 48 bytes in 1 block leaked at child_leaks (")
            && fails[0].contains("fork_child_leaks.c:13)"),
        "{err}"
    );

    let clean = tempfile::tempdir().unwrap();
    let (out, traces) = run_check(clean.path(), &[], &["clean"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert_eq!(traces.len(), 2, "{traces:?}");
    assert!(
        fail_lines(&out.stderr_str()).is_empty(),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr_str()
            .contains("memscope check: passed (2 processes)"),
        "{}",
        out.describe()
    );
}

#[test]
fn leak_sanitizer_agrees() {
    if !lsan_available() {
        eprintln!("skipped: gcc has no LeakSanitizer runtime (liblsan)");
        return;
    }
    let program = build_test_program(
        "fork_child_leaks_lsan",
        "fork_child_leaks.c",
        "gcc",
        &["-O0", "-g", "-fsanitize=leak"],
    );
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&program);
        cmd.args(args);
        memscope_tests::untraced(&mut cmd);
        run_with_timeout(
            cmd,
            memscope_tests::DEFAULT_TIMEOUT,
            "fork_child_leaks (LSan)",
        )
    };
    let leaky = run(&[]);
    if leaky
        .stderr_str()
        .contains("LeakSanitizer has encountered a fatal error")
    {
        eprintln!(
            "skipped: LeakSanitizer cannot run here: {}",
            leaky.describe()
        );
        return;
    }
    assert_eq!(leaky.status.code(), Some(23), "{}", leaky.describe());
    assert!(
        leaky
            .stderr_str()
            .contains("Direct leak of 48 byte(s) in 1 object(s)"),
        "{}",
        leaky.describe()
    );
    let clean = run(&["clean"]);
    assert_eq!(clean.status.code(), Some(0), "{}", clean.describe());
}

/// `memscope check --no-config ARGS...` in `dir`.
fn check(dir: &Path, args: &[&OsStr]) -> memscope_tests::Output {
    let mut all: Vec<&OsStr> = vec!["check".as_ref(), "--no-config".as_ref()];
    all.extend_from_slice(args);
    memscope_in(dir, &all, &[])
}

#[test]
fn check_of_a_directory_and_of_each_trace_agree() {
    let traced = Run::new(fork_child_leaks()).traced();
    assert_eq!(
        traced.output.status.code(),
        Some(0),
        "{}",
        traced.output.describe()
    );
    let traces = traced.all_traces();
    let t = tree(&traces);
    let cmd = fork_child_leaks().to_str().unwrap().to_string();
    let out_dir = tempfile::tempdir().unwrap();
    let d = out_dir.path();

    let by_dir = check(
        d,
        &[
            traced.dir.path().as_os_str(),
            "--sarif".as_ref(),
            "dir.sarif".as_ref(),
            "--junit".as_ref(),
            "dir.xml".as_ref(),
        ],
    );
    let mut args: Vec<&OsStr> = traces.iter().map(|p| p.as_os_str()).collect();
    args.extend(["--sarif", "each.sarif", "--junit", "each.xml"].map(OsStr::new));
    let by_trace = check(d, &args);

    for (what, out) in [("directory", &by_dir), ("traces", &by_trace)] {
        assert_eq!(out.status.code(), Some(1), "{what}: {}", out.describe());
        let text = out.stdout_str();
        assert!(
            text.lines()
                .any(|l| l == format!("failing process: pid {}: {cmd}", t.child.0)),
            "{what}: the child is not named:\n{text}"
        );
        assert_eq!(
            process_headings(&text),
            vec![
                format!("== process {}: {cmd} ==", t.root.0),
                format!("== process {}: {cmd} ==", t.child.0),
            ],
            "{what}:\n{text}"
        );
        assert_eq!(fail_lines(&text).len(), 1, "{what}:\n{text}");
    }
    assert_eq!(
        by_dir.stdout_str(),
        by_trace.stdout_str(),
        "check DIR and check TRACE... differ"
    );

    for name in ["dir.sarif", "each.sarif"] {
        let log: Value = serde_json::from_str(&fs::read_to_string(d.join(name)).unwrap()).unwrap();
        let runs = log["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 2, "{name}: one run per process: {log:#}");
        let by_pid = |pid: u64| {
            runs.iter()
                .find(|r| r["invocations"][0]["processId"] == pid)
                .unwrap_or_else(|| panic!("{name}: no run of pid {pid}: {log:#}"))
        };
        let (root, child) = (by_pid(t.root.0), by_pid(t.child.0));
        for run in [root, child] {
            assert_eq!(run["invocations"][0]["commandLine"], cmd.as_str(), "{name}");
        }
        assert_eq!(
            root["results"].as_array().unwrap().len(),
            0,
            "{name}: {root:#}"
        );
        let results = child["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{name}: {child:#}");
        assert_eq!(results[0]["ruleId"], "leak", "{name}");
        assert_eq!(results[0]["level"], "error", "{name}");
    }

    for name in ["dir.xml", "each.xml"] {
        let xml = fs::read_to_string(d.join(name)).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{name}: {e}\n{xml}"));
        let suites: Vec<_> = doc
            .root_element()
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        assert_eq!(
            suites.len(),
            2,
            "{name}: one test suite per process:\n{xml}"
        );
        let failures: Vec<&str> = suites
            .iter()
            .map(|s| s.attribute("failures").unwrap())
            .collect();
        assert_eq!(
            failures,
            ["0", "1"],
            "{name}: the root passes, the child fails:\n{xml}"
        );
        let names: Vec<&str> = suites
            .iter()
            .map(|s| s.attribute("name").unwrap())
            .collect();
        assert!(
            names[0].contains(&t.root.0.to_string()) && names[1].contains(&t.child.0.to_string()),
            "{name}: the suites are not named by pid: {names:?}"
        );
        assert_eq!(
            doc.root_element().attribute("failures"),
            Some("1"),
            "{name}"
        );
    }
}

#[test]
fn check_with_all_reports_every_process() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("all.json");
    let (out, traces) = run_check(
        dir.path(),
        &[
            "--all",
            "--format",
            "json",
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let t = tree(&traces);
    let cmd = fork_child_leaks().to_str().unwrap().to_string();
    assert!(
        out.stderr_str()
            .lines()
            .any(|l| l == format!("failing process: pid {}: {cmd}", t.child.0)),
        "{}",
        out.describe()
    );
    let reports: Value = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    let reports = reports.as_array().expect("a JSON array of reports");
    assert_eq!(reports.len(), 2, "{reports:#?}");
    assert_eq!(reports[0]["trace"]["pid"], t.root.0);
    assert_eq!(reports[1]["trace"]["pid"], t.child.0);
    assert_eq!(reports[1]["summary"]["program_leaks"]["bytes"], 48);
    assert_eq!(reports[0]["summary"]["program_leaks"]["bytes"], 0);

    // Clean: passes with --all as well.
    let clean = tempfile::tempdir().unwrap();
    let (out, _) = run_check(clean.path(), &["--all"], &["clean"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
}

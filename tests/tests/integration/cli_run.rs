//! `memscope run [--output FILE] [--preload PATH] [--format text|json]
//! [--report FILE] -- ./app args`: runs the app under the preload, exits with
//! the app's status, keeps the app's stdout untouched and prints the report to
//! stderr or to --report FILE.

use std::path::Path;

use memscope_tests::{
    analyze, assert_no_panic, fixture, memscope_bin, preload_lib, run_with_timeout, Counts, Output,
    Report, DEFAULT_TIMEOUT,
};
use memscope_tests::{LeakExt as _, ReportExt as _};

/// `memscope ARGS` with the working directory `cwd` (default trace files land there).
fn memscope_in(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(memscope_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("LD_PRELOAD")
        .env_remove("MEMSCOPE_OUTPUT");
    let out = run_with_timeout(
        cmd,
        DEFAULT_TIMEOUT,
        &format!("memscope {}", args.join(" ")),
    );
    assert_no_panic(&out, &format!("memscope {}", args.join(" ")));
    out
}

fn read_report(path: &Path) -> Report {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("no report at {}: {e}", path.display()));
    Report::parse(&bytes).unwrap_or_else(|e| {
        panic!(
            "{} is not a memscope-report/1 JSON report: {e}",
            path.display()
        )
    })
}

fn has_exit_leak(report: &Report) -> bool {
    report
        .leaks_of_size(4242)
        .into_iter()
        .any(|l| l.frame_index("leak_before_exit").is_some())
}

/// Runs `memscope run --format json --report R -- exits PATH`; checks the
/// status and the report.
fn run_exits(path: &str, expected_shell_status: i32) {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let exe = fixture("exits");
    let out = memscope_in(
        dir.path(),
        &[
            "run",
            "--format",
            "json",
            "--report",
            report_path.to_str().unwrap(),
            "--",
            exe.to_str().unwrap(),
            path,
        ],
    );
    assert_eq!(
        out.shell_status(),
        expected_shell_status,
        "memscope run -- exits {path}: {}",
        out.describe()
    );
    assert_eq!(
        out.stdout_str(),
        format!("exits: {path} 0x1\n"),
        "memscope run must leave the app's stdout alone"
    );
    let report = read_report(&report_path);
    assert!(
        has_exit_leak(&report),
        "memscope run -- exits {path}: no 4242-byte leak in the report:\n{}",
        report.describe_leaks()
    );
}

#[test]
fn run_returns_zero_status() {
    run_exits("return", 0);
}

#[test]
fn run_returns_exit_status() {
    run_exits("exit", 3);
}

#[test]
fn run_returns_underscore_exit_status() {
    run_exits("_exit", 4);
}

/// An app killed by SIGABRT: memscope run reports it as a shell would (134).
#[test]
fn run_returns_abort_status() {
    run_exits("abort", 134);
}

#[test]
fn run_output_and_preload_options() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("explicit.msl");
    let report_path = dir.path().join("r.json");
    let preload = preload_lib();
    let exe = fixture("every_entry");
    let out = memscope_in(
        dir.path(),
        &[
            "run",
            "--output",
            trace.to_str().unwrap(),
            "--preload",
            preload.to_str().unwrap(),
            "--format",
            "json",
            "--report",
            report_path.to_str().unwrap(),
            "--",
            exe.to_str().unwrap(),
        ],
    );
    assert_eq!(out.shell_status(), 0, "{}", out.describe());
    assert!(
        trace.is_file(),
        "memscope run --output {} wrote no trace there",
        trace.display()
    );
    let from_run = read_report(&report_path);
    let from_analyze = analyze(&trace);
    assert_eq!(
        Counts::from(&from_run),
        Counts::from(&from_analyze),
        "the report of `memscope run` and `memscope analyze` of its trace disagree"
    );
    assert_eq!(from_run.leaks.len(), from_analyze.leaks.len());
}

/// The default: a text report on stderr, the app's stdout untouched.
#[test]
fn run_text_report_goes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let exe = fixture("every_entry");
    let out = memscope_in(dir.path(), &["run", "--", exe.to_str().unwrap()]);
    assert_eq!(out.shell_status(), 0, "{}", out.describe());
    assert_eq!(
        out.stdout_str(),
        "every_entry ok usable>=1913\n",
        "the report must not go to stdout"
    );
    let err = out.stderr_str();
    assert!(
        err.contains("2001") || err.contains("2,001"),
        "the text report on stderr should list the 2001-byte leak:\n{err}"
    );
}

/// `--format json` without --report: the JSON report is on stderr.
#[test]
fn run_json_report_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let exe = fixture("exits");
    let out = memscope_in(
        dir.path(),
        &[
            "run",
            "--format",
            "json",
            "--",
            exe.to_str().unwrap(),
            "exit",
        ],
    );
    assert_eq!(out.shell_status(), 3, "{}", out.describe());
    let report = Report::parse(&out.stderr).unwrap_or_else(|e| {
        panic!(
            "stderr of `memscope run --format json` is not the JSON report ({e}): {}",
            out.describe()
        )
    });
    assert!(
        has_exit_leak(&report),
        "no 4242-byte leak:\n{}",
        report.describe_leaks()
    );
}

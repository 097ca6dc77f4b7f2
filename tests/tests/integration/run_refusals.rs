//! What `memscope run` and `memscope check` refuse before doing any work (issue 15,
//! items 7, 12 and 13): a mistyped option is a clap error, not a program to run; an
//! output that cannot be written fails with exit 2 and one line before the program runs
//! (or before `check` reads a trace), instead of losing the result with exit 0;
//! `run --check --format json` without `--report` says that the format needs a file. And
//! the one line that says where the trace went is always printed.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use memscope_tests::{
    assert_no_panic, fixture, memscope_bin, run_with_timeout, untraced, Output, DEFAULT_TIMEOUT,
};

/// `memscope ARGS` in `cwd`, untraced.
fn memscope_in(cwd: &Path, args: &[&OsStr]) -> Output {
    let mut cmd = Command::new(memscope_bin());
    cmd.args(args).current_dir(cwd);
    untraced(&mut cmd);
    let out = run_with_timeout(cmd, DEFAULT_TIMEOUT, &format!("memscope {args:?}"));
    assert_no_panic(&out, &format!("{args:?}"));
    out
}

fn os<'a>(args: &[&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(|a| OsStr::new(*a)).collect()
}

/// A program that would leave a mark if it ran: creates `ran` in the working directory.
const MARKER: [&str; 3] = ["sh", "-c", "touch ran"];

/// Asserts exit 2 with exactly `line` on stderr, nothing on stdout, and that the
/// program never ran (no `ran` file in `cwd`, no trace or run directory either).
fn assert_refused(out: &Output, cwd: &Path, line: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
    assert_eq!(out.stderr_str(), format!("{line}\n"), "{}", out.describe());
    assert_eq!(out.stdout_str(), "");
    let left: Vec<String> = std::fs::read_dir(cwd)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "the program ran or left files: {left:?}");
}

#[test]
fn mistyped_run_option_is_a_usage_error_not_a_program() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = os(&["run", "--check-x", "--"]);
    args.extend(os(&MARKER));
    let out = memscope_in(dir.path(), &args);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
    let err = out.stderr_str();
    assert!(
        err.starts_with("error: unexpected argument '--check-x' found"),
        "{err}"
    );
    assert!(!err.contains("cannot run"), "{err}");
    assert!(!dir.path().join("ran").exists(), "the program ran");
}

#[test]
fn unwritable_report_fails_before_the_program_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = os(&["run", "--report", "/nonexistent/r.txt", "--"]);
    args.extend(os(&MARKER));
    let out = memscope_in(dir.path(), &args);
    assert_refused(
        &out,
        dir.path(),
        "memscope: --report /nonexistent/r.txt: cannot be written: no such directory",
    );
}

#[test]
fn unwritable_trace_directory_fails_before_the_program_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = os(&["run", "-o", "/nonexistent/x.msl", "--"]);
    args.extend(os(&MARKER));
    let out = memscope_in(dir.path(), &args);
    assert_refused(
        &out,
        dir.path(),
        "memscope: run: --output /nonexistent/x.msl: cannot write in /nonexistent: no such directory",
    );
}

#[test]
fn unwritable_gate_outputs_fail_before_the_program_runs_or_the_trace_is_read() {
    let dir = tempfile::tempdir().unwrap();
    for (option, file) in [
        ("--sarif", "/nonexistent/out.sarif"),
        ("--junit", "/nonexistent/out.xml"),
        ("--write-baseline", "/nonexistent/base.json"),
    ] {
        let mut args = os(&["run", "--check", "--no-config", option, file, "--"]);
        args.extend(os(&MARKER));
        let out = memscope_in(dir.path(), &args);
        assert_refused(
            &out,
            dir.path(),
            &format!("memscope: {option} {file}: cannot be written: no such directory"),
        );
        // `check` refuses before reading the trace (which does not exist either).
        let out = memscope_in(
            dir.path(),
            &os(&["check", "--no-config", option, file, "missing.msl"]),
        );
        assert_refused(
            &out,
            dir.path(),
            &format!("memscope: {option} {file}: cannot be written: no such directory"),
        );
    }
}

#[test]
fn check_with_a_report_format_but_no_report_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = os(&["run", "--check", "--no-config", "--format", "json", "--"]);
    args.extend(os(&MARKER));
    let out = memscope_in(dir.path(), &args);
    assert_refused(
        &out,
        dir.path(),
        "memscope: run --check: --format json needs --report FILE (without it no report is \
         written: the gate's summary goes to stderr)",
    );
}

#[test]
fn the_trace_path_is_printed_for_a_single_trace() {
    let dir = tempfile::tempdir().unwrap();
    let exe = fixture("every_entry");
    let out = memscope_in(
        dir.path(),
        &[OsStr::new("run"), OsStr::new("--"), exe.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let traces: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(traces.len(), 1, "{traces:?}");
    let line = format!("memscope: trace: {}", traces[0].display());
    assert_eq!(
        out.stderr_str().lines().next(),
        Some(line.as_str()),
        "{}",
        out.describe()
    );
}

//! A fixed trace name (`MEMSCOPE_OUTPUT` without `%p`) is replaced by the next run (issue
//! 15, item 6): the two-step recipe `MEMSCOPE_OUTPUT=app.msl ./app; memscope check
//! app.msl` used to check the first run forever, the second going silently to
//! `app.1.msl`. A trace there whose process still runs, or a file that is not a trace,
//! is never replaced: the new trace then takes the next free name as before.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use memscope_tests::{analyze, fixture, preload_lib, run_with_timeout, Output, DEFAULT_TIMEOUT};

/// `every_entry` traced with `MEMSCOPE_OUTPUT=output`.
fn traced_every_entry(output: &Path) -> Output {
    let mut cmd = Command::new(fixture("every_entry"));
    cmd.env("LD_PRELOAD", preload_lib())
        .env("MEMSCOPE_OUTPUT", output);
    let out = run_with_timeout(cmd, DEFAULT_TIMEOUT, "every_entry (fixed trace name)");
    assert!(out.status.success(), "{}", out.describe());
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn second_run_replaces_a_finished_trace_at_a_fixed_name() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.msl");
    let first = traced_every_entry(&app);
    assert_eq!(analyze(&app).trace.pid, first.pid);
    let second = traced_every_entry(&app);
    assert_eq!(names(dir.path()), vec!["app.msl"], "no app.1.msl");
    assert_eq!(
        analyze(&app).trace.pid,
        second.pid,
        "app.msl must be the second run's trace"
    );
}

#[test]
fn a_fixed_name_held_by_a_running_process_or_not_a_trace_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.msl");
    // A traced shell that waits on its stdin: its trace at app.msl is being written.
    let mut shell = Command::new("sh")
        .args(["-c", "echo ready; read line"])
        .env("LD_PRELOAD", preload_lib())
        .env("MEMSCOPE_OUTPUT", &app)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(shell.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let other = traced_every_entry(&app);
    shell.stdin.take().unwrap().write_all(b"done\n").unwrap();
    assert!(shell.wait().unwrap().success());
    assert_eq!(names(dir.path()), vec!["app.1.msl", "app.msl"]);
    assert_eq!(
        analyze(&app).trace.pid,
        shell.id(),
        "the shell's trace kept"
    );
    assert_eq!(analyze(&dir.path().join("app.1.msl")).trace.pid, other.pid);

    // Not a trace: never replaced.
    let notes = dir.path().join("notes.msl");
    std::fs::write(&notes, b"my notes").unwrap();
    traced_every_entry(&notes);
    assert_eq!(std::fs::read(&notes).unwrap(), b"my notes");
    assert!(dir.path().join("notes.1.msl").is_file());
}

#[test]
fn memscope_run_with_a_fixed_output_replaces_the_earlier_run() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.msl");
    let run = || {
        let out = memscope_tests::memscope([
            "run".as_ref(),
            "--output".as_ref(),
            app.as_os_str(),
            "--".as_ref(),
            fixture("every_entry").as_os_str(),
        ]);
        assert!(out.status.success(), "{}", out.describe());
        let line = format!("memscope: trace: {}", app.display());
        assert!(
            out.stderr_str().lines().any(|l| l == line),
            "{}",
            out.describe()
        );
        analyze(&app).trace.pid
    };
    let first = run();
    let second = run();
    assert_ne!(first, second);
    assert_eq!(names(dir.path()), vec!["app.msl"], "no app.1.msl");
}

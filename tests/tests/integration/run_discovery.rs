//! Exact trace discovery of `memscope run` (issue 14): the traces of a run are the files
//! of its own per-run directory, never "files newer than the start". A fast forking
//! program under `run --all` 200 times: every run reports both processes with the
//! fixture's known counts, and no per-run directory is left behind.

use std::path::Path;

use memscope_tests::{build_test_program, memscope};
use serde_json::Value;

const RUNS: usize = 200;

/// (allocations, frees, bytes allocated, live blocks at exit, live bytes at exit).
fn counts(r: &Value) -> (u64, u64, u64, u64, u64) {
    let s = &r["summary"];
    let n = |v: &Value| v.as_u64().unwrap_or(u64::MAX);
    (
        n(&s["allocations"]),
        n(&s["frees"]),
        n(&s["bytes_allocated"]),
        n(&s["live_at_exit"]["blocks"]),
        n(&s["live_at_exit"]["bytes"]),
    )
}

fn one_run(program: &Path, dir: &Path, i: usize) -> Result<(), String> {
    let report = dir.join(format!("r{i}.json"));
    let out = memscope([
        "run".as_ref(),
        "--all".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
        "--output".as_ref(),
        dir.join("t.%p.msl").as_os_str(),
        "--".as_ref(),
        program.as_os_str(),
    ]);
    if out.status.code() != Some(0) {
        return Err(format!("run {i}: {}", out.describe()));
    }
    let text = std::fs::read_to_string(&report).map_err(|e| format!("run {i}: {e}"))?;
    let reports: Value = serde_json::from_str(&text).map_err(|e| format!("run {i}: {e}"))?;
    let reports = reports.as_array().cloned().unwrap_or_default();
    if reports.len() != 2 {
        return Err(format!("run {i}: {} reports, want 2", reports.len()));
    }
    let (root, child) = (&reports[0], &reports[1]);
    let checks = [
        (root["trace"]["origin"] == "start", "root origin"),
        (child["trace"]["origin"] == "fork_child", "child origin"),
        (
            child["trace"]["ppid"] == root["trace"]["pid"],
            "child's ppid",
        ),
        // Valgrind's figures for fork_fast.c (see the fixture).
        (counts(root) == (1, 1, 100, 0, 0), "root counts"),
        (counts(child) == (3, 2, 164, 1, 100), "child counts"),
        (child["trace"]["inconsistencies"] == 0, "child consistent"),
    ];
    for (ok, what) in checks {
        if !ok {
            return Err(format!(
                "run {i}: {what} wrong: root {:?} child {:?}",
                counts(root),
                counts(child)
            ));
        }
    }
    Ok(())
}

#[test]
fn fast_fork_is_reported_every_time() {
    let program = build_test_program("fork_fast", "fork_fast.c", "gcc", &["-O2", "-g"]);
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let failures: Vec<String> = (0..RUNS)
        .filter_map(|i| one_run(&program, dir.path(), i).err())
        .collect();
    let took = started.elapsed();
    assert!(
        failures.is_empty(),
        "{} of {RUNS} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Two traces per run, and nothing else but the reports: no per-run directory left.
    let mut traces = 0;
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".memscope-run-"), "left behind: {name}");
        traces += usize::from(name.ends_with(".msl"));
    }
    assert_eq!(traces, 2 * RUNS);
    eprintln!("{RUNS} runs of fork_fast under run --all: {took:?}");
}

#[test]
fn killed_memscope_leaves_no_run_directory() {
    // memscope gets SIGTERM while the program sleeps: it passes it on to the program
    // (issue 15), the program's trace is moved out and the per-run directory removed, and
    // memscope exits with the program's status.
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(memscope_tests::memscope_bin())
        .args(["run", "--output"])
        .arg(dir.path().join("s.%p.msl"))
        .args(["--", "sleep", "2"])
        .spawn()
        .unwrap();
    let run_dir = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".memscope-run-")
            })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !run_dir() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(run_dir(), "no per-run directory while the program runs");
    std::thread::sleep(std::time::Duration::from_millis(200));
    // The child is not reaped yet, so its pid is still its own.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "the program's status (SIGTERM)"
    );
    assert!(!run_dir(), "per-run directory left behind");
    let msl: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".msl"))
        .collect();
    assert_eq!(msl.len(), 1, "the sleeping program's trace, moved out");
}

//! `memscope run` over a process tree: it names every trace the run wrote, and `--all`
//! reports on each process (the root first), here as one JSON array.

use memscope_tests::{fixture, memscope};
use serde_json::Value;

#[test]
fn run_all_reports_every_process_of_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("all.json");
    let out = memscope([
        "run".as_ref(),
        "--all".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
        "--output".as_ref(),
        dir.path().join("t.%p.msl").as_os_str(),
        "--".as_ref(),
        fixture("forks").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let reports: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let reports = reports.as_array().expect("a JSON array of reports");
    // forks.c forks three children: four processes, four traces, the root first.
    assert_eq!(reports.len(), 4, "{reports:#?}");
    assert_eq!(reports[0]["trace"]["origin"], "start");
    let root_pid = reports[0]["trace"]["pid"].clone();
    for child in &reports[1..] {
        assert_eq!(child["trace"]["origin"], "fork_child");
        assert_eq!(child["trace"]["ppid"], root_pid);
        assert_eq!(child["trace"]["inconsistencies"], 0);
    }
    assert!(
        out.stderr_str().contains("this run wrote 4 traces"),
        "{}",
        out.stderr_str()
    );
}

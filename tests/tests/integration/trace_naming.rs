//! Where the preload writes its trace (`MEMSCOPE_OUTPUT` with `%p` and `%e`,
//! default `./memscope.<exe>.<pid>.msl`) and what the header tells about the
//! process.

use std::process::Command;

use memscope_tests::{analyze, fixture, preload_lib, run_with_timeout, Run, DEFAULT_TIMEOUT};

#[test]
fn default_name_in_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(fixture("every_entry"));
    cmd.current_dir(dir.path())
        .env("LD_PRELOAD", preload_lib())
        .env_remove("MEMSCOPE_OUTPUT");
    let out = run_with_timeout(cmd, DEFAULT_TIMEOUT, "every_entry (default trace name)");
    assert!(out.status.success(), "{}", out.describe());
    let expected = dir
        .path()
        .join(format!("memscope.every_entry.{}.msl", out.pid));
    let found: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(
        expected.is_file(),
        "expected the trace at {}, found {found:?}",
        expected.display()
    );
    let report = analyze(&expected);
    assert_eq!(report.trace.pid, out.pid);
}

#[test]
fn percent_e_and_percent_p() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(fixture("every_entry"));
    cmd.env("LD_PRELOAD", preload_lib())
        .env("MEMSCOPE_OUTPUT", dir.path().join("t-%e-%p.msl"));
    let out = run_with_timeout(cmd, DEFAULT_TIMEOUT, "every_entry (%e-%p)");
    assert!(out.status.success(), "{}", out.describe());
    let expected = dir.path().join(format!("t-every_entry-{}.msl", out.pid));
    let found: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(
        expected.is_file(),
        "expected the trace at {}, found {found:?}",
        expected.display()
    );
}

#[test]
fn header_names_the_process() {
    let exe = fixture("every_entry");
    let traced = Run::new(&exe).arg("pvalloc").traced();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    let report = traced.report();
    assert_eq!(report.trace.pid, traced.output.pid, "pid in the trace");
    assert_eq!(
        std::path::Path::new(&report.trace.exe).canonicalize().ok(),
        exe.canonicalize().ok(),
        "exe in the trace: {:?}",
        report.trace.exe
    );
    assert_eq!(
        report.trace.args,
        vec![exe.display().to_string(), "pvalloc".to_string()],
        "args in the trace"
    );
    assert!(
        report.trace.duration_ns > 0,
        "a real run lasts more than 0 ns"
    );
}

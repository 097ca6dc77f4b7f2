//! `memscope run --check -- PROGRAM`: trace and gate in one step. The gate decides the
//! exit code and the program's own status is reported apart; the project's own fixtures
//! pass the gate (clean ones as they are, the leaking ones with their known leaks
//! suppressed), so the tool gates itself in CI.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use crate::gate_support::{fail_lines, leaky, memscope_in};

use memscope_tests::{build_test_program, fixture, Output};

/// tests/fixtures/clean.c, built as the detector tests build it.
fn clean() -> PathBuf {
    build_test_program(
        "clean",
        "clean.c",
        "gcc",
        &["-O0", "-g", "-Wall", "-Wextra"],
    )
}

fn run_check(dir: &Path, program: &Path, gate: &[&str], program_args: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec!["run".as_ref(), "--check".as_ref(), "--no-config".as_ref()];
    args.extend(gate.iter().map(OsStr::new));
    args.push("--".as_ref());
    args.push(program.as_os_str());
    args.extend(program_args.iter().map(OsStr::new));
    memscope_in(dir, &args, &[])
}

#[test]
fn gate_decides_and_program_status_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_check(d, &leaky(), &[], &["leak"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let err = out.stderr_str();
    assert_eq!(fail_lines(&err).len(), 1, "{err}");
    assert!(
        fail_lines(&err)[0].contains("leaked at leak_first ("),
        "{err}"
    );
    assert!(err.contains(" exited with status 0\n"), "{err}");

    let out = run_check(d, &leaky(), &[], &["clean"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());

    // The program exits 3: reported, not failing unless asked.
    fs::write(d.join("s.supp"), "leak:leak_first\n").unwrap();
    let out = run_check(d, &leaky(), &["--suppressions", "s.supp"], &["fail"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert!(
        out.stderr_str()
            .contains("exited with status 3 (the program's own failure"),
        "{}",
        out.describe()
    );
    let out = run_check(
        d,
        &leaky(),
        &["--suppressions", "s.supp", "--fail-on-program-error"],
        &["fail"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr_str()
            .contains("exited with status 3 (fails the gate"),
        "{}",
        out.describe()
    );
}

#[test]
fn gate_options_need_check() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&OsStr> = vec![
        "run".as_ref(),
        "--sarif".as_ref(),
        "x.sarif".as_ref(),
        "--".as_ref(),
        leaky().into_os_string().leak(),
    ];
    let out = memscope_in(dir.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
    assert!(
        out.stderr_str().contains("need --check"),
        "{}",
        out.describe()
    );
}

/// The fixtures, each with the leaks it makes on purpose.
const FIXTURES: &[(&str, &[&str])] = &[
    ("mt", &[]),
    ("getattr_first", &[]),
    (
        "leak3",
        &["leak:^leak_alpha$", "leak:^leak_beta$", "leak:^leak_gamma$"],
    ),
    ("threads2", &["leak:^thread_a$", "leak:^thread_b$"]),
    ("rust_alloc", &["leak:^rust_alloc::rust_leak$"]),
];

#[test]
fn the_project_fixtures_pass_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_check(dir.path(), &clean(), &["--fail-on", "all"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "clean fails the gate: {}",
        out.describe()
    );
    for (name, known) in FIXTURES {
        let program = fixture(name);
        let supp = dir.path().join(format!("{name}.supp"));
        fs::write(&supp, known.join("\n")).unwrap();
        let supp_arg = supp.to_str().unwrap();
        let out = run_check(
            dir.path(),
            &program,
            // Every kind: some fixtures keep their blocks reachable on purpose, and
            // the suppressions are what is tested here.
            &[
                "--suppressions",
                supp_arg,
                "--fail-on",
                "all",
                "--fail-on-leak-kinds",
                "all",
            ],
            &[],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name} fails the gate: {}",
            out.describe()
        );
        if !known.is_empty() {
            // The suppressions are what makes it pass: without them it fails.
            let out = run_check(dir.path(), &program, &["--fail-on-leak-kinds", "all"], &[]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{name} passes without its suppressions: {}",
                out.describe()
            );
            assert_eq!(
                fail_lines(&out.stderr_str()).len(),
                known.len(),
                "{name}: {}",
                out.stderr_str()
            );
        }
    }
}

//! A version manager's shim under `memscope run` (issue 15, item 11): pyenv's `python3`
//! is a bash script that `exec`s other bash scripts, which run many short processes
//! (`$(...)`, `sed`, `cat`) before they `exec` the interpreter. That wrote ~80 traces into
//! the working directory and printed them all on one line. Now the traces of processes
//! that made no heap call are not kept, the others stay together in one directory
//! (`memscope.<program>.<pid>/`, with the default `--output`), one short line says so,
//! and the report is on the interpreter the root process ended up as.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use memscope_tests::{
    assert_no_panic, memscope_bin, python3, run_with_timeout, untraced, Report, ReportExt as _,
    DEFAULT_TIMEOUT,
};

fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/usr/bin/env bash\nset -eu\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A pyenv-like chain in `root`: `shims/python3` → `libexec/pyenv` → `libexec/pyenv-exec`
/// → the system's python3, each layer running short processes on the way.
fn fake_pyenv(root: &Path) -> std::path::PathBuf {
    fs::create_dir_all(root.join("shims")).unwrap();
    fs::create_dir_all(root.join("libexec")).unwrap();
    fs::write(root.join("version"), "3.11.2\n").unwrap();
    let libexec = root.join("libexec");
    script(
        &root.join("shims/python3"),
        &format!(
            "program=\"${{0##*/}}\"\nexport PYENV_ROOT={}\nexec \"$PYENV_ROOT/libexec/pyenv\" exec \"$program\" \"$@\"",
            root.display()
        ),
    );
    script(
        &libexec.join("pyenv"),
        "cmd=\"$1\"; shift\n\
         for i in 1 2 3; do d=$(dirname \"$PYENV_ROOT/libexec/pyenv-$cmd\"); /bin/true; done\n\
         exec \"$d/pyenv-$cmd\" \"$@\"",
    );
    script(
        &libexec.join("pyenv-exec"),
        &format!(
            "name=\"$1\"; shift\n\
             version=$(cat \"$PYENV_ROOT/version\" | sed -e 's/[[:space:]]//g')\n\
             major=$(echo \"$version\" | sed -e 's/\\..*//')\n\
             for i in 1 2 3 4; do /bin/true; x=$(/bin/true); done\n\
             test \"$major\" = 3\n\
             exec {} \"$@\"",
            python3().display()
        ),
    );
    root.join("shims/python3")
}

#[test]
fn shim_chain_keeps_its_traces_in_one_directory_and_reports_on_python() {
    let root = tempfile::tempdir().unwrap();
    let shim = fake_pyenv(root.path());
    let cwd = tempfile::tempdir().unwrap();
    let report = root.path().join("r.json");
    let mut cmd = Command::new(memscope_bin());
    cmd.args(["run", "--format", "json", "--report"])
        .arg(&report)
        .arg("--")
        .arg(&shim)
        .args(["-c", "print(1)"])
        .current_dir(cwd.path());
    untraced(&mut cmd);
    let out = run_with_timeout(cmd, DEFAULT_TIMEOUT, "memscope run -- shim python3");
    assert_no_panic(&out, "shim chain");
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout_str(), "1\n");

    // The working directory holds one directory, named after the program and the pid.
    let entries: Vec<_> = fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let group = &entries[0];
    assert!(group.is_dir(), "{entries:?}");
    let doc = Report::parse(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        group.file_name().unwrap().to_string_lossy(),
        format!("memscope.python3.{}", doc.trace.pid)
    );
    assert!(
        Path::new(&doc.trace.exe)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("python3"),
        "the report is on the interpreter the root became: {}",
        doc.trace.exe
    );
    let kept = fs::read_dir(group).unwrap().count();

    // One short line says how many traces, where, and which one the report is on.
    let err = out.stderr_str();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("memscope: this run wrote"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    let prefix = format!("memscope: this run wrote {kept} traces (");
    assert!(lines[0].starts_with(&prefix), "{err}");
    assert!(
        lines[0].contains(&format!(
            " more not kept: no heap call), in {}/;",
            group.display()
        )),
        "{err}"
    );
    assert!(lines[0].len() < 400, "{}", lines[0]);
    assert!(
        err.lines().all(|l| l.len() < 400),
        "no huge line listing every trace:\n{err}"
    );
}

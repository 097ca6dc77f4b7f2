//! Installing memscope (issue 15, item 1): `scripts/install.sh --prefix DIR` puts the CLI
//! in `DIR/bin` and the tracer in `DIR/lib/memscope`, and the installed `memscope run`
//! finds the tracer without flags, run from any directory; `scripts/package.sh` makes a
//! tarball of the same layout. Both are given `--no-build` (the release build the tests
//! use is the one they install), so that the test does not rebuild.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;

use memscope_tests::{
    assert_no_panic, build_test_program, copy_program, memscope_bin, run_with_timeout, untraced,
    workspace_root, Output, DEFAULT_TIMEOUT,
};

/// `program ARGS` in `cwd`, untraced, with `MEMSCOPE_PRELOAD` unset.
fn run_in(cwd: &Path, program: &Path, args: &[&OsStr]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("MEMSCOPE_PRELOAD");
    untraced(&mut cmd);
    run_with_timeout(cmd, DEFAULT_TIMEOUT, &program.display().to_string())
}

/// `PREFIX/bin/memscope run --check --no-config -- ./prog` in a directory of its own,
/// `prog` being `gate_leaky` (one 1234-byte leak; with `clean`, none).
fn check_from_elsewhere(memscope: &Path, clean: bool) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    // As gate_support.rs builds it (same flags: one cached build).
    let leaky = build_test_program(
        "gate_leaky",
        "gate_leaky.c",
        "gcc",
        &["-O0", "-g", "-Wall", "-Wextra"],
    );
    copy_program(&leaky, &cwd.path().join("prog"));
    let mut args: Vec<&OsStr> = ["run", "--check", "--no-config", "--", "./prog"]
        .iter()
        .map(OsStr::new)
        .collect();
    if clean {
        args.push("clean".as_ref());
    }
    let out = run_in(cwd.path(), memscope, &args);
    assert_no_panic(&out, "installed memscope run --check");
    out
}

#[test]
fn installed_memscope_runs_check_from_another_directory_without_flags() {
    let prefix = tempfile::tempdir().unwrap();
    let install = workspace_root().join("scripts/install.sh");
    let out = run_in(
        &workspace_root(),
        Path::new("bash"),
        &[
            install.as_os_str(),
            "--no-build".as_ref(),
            "--prefix".as_ref(),
            prefix.path().as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let bin = prefix.path().join("bin/memscope");
    let lib = prefix.path().join("lib/memscope/libmemscope.so");
    assert!(bin.is_file() && lib.is_file(), "{}", out.describe());
    assert!(
        !prefix.path().join("bin/libmemscope.so").exists(),
        "the library goes to lib/memscope, not beside the binary"
    );

    let out = check_from_elsewhere(&bin, false);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let err = out.stderr_str();
    assert!(
        err.lines()
            .any(|l| l.starts_with("FAIL leak: 1234 bytes in 1 block")),
        "{err}"
    );
    let out = check_from_elsewhere(&bin, true);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());

    // Without the library in either place, the error names where it looked.
    fs::remove_file(&lib).unwrap();
    let out = check_from_elsewhere(&bin, true);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
    let expected = format!(
        "memscope: tracer library libmemscope.so not found; looked in: {}, {}, \
         $MEMSCOPE_PRELOAD (not set); install with scripts/install.sh, or pass --preload PATH\n",
        prefix.path().join("bin/libmemscope.so").display(),
        prefix
            .path()
            .join("bin/../lib/memscope/libmemscope.so")
            .display()
    );
    assert_eq!(out.stderr_str(), expected);
}

#[test]
fn memscope_preload_variable_is_the_last_place_looked() {
    // A copy of the CLI alone: only $MEMSCOPE_PRELOAD can name the library.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("memscope");
    copy_program(&memscope_bin(), &bin);
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&bin);
    cmd.args(["run", "--", "true"])
        .current_dir(cwd.path())
        .env("MEMSCOPE_PRELOAD", memscope_tests::preload_lib());
    untraced(&mut cmd);
    let out = run_with_timeout(cmd, DEFAULT_TIMEOUT, "memscope run (MEMSCOPE_PRELOAD)");
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert!(
        out.stderr_str().starts_with("memscope: trace: "),
        "{}",
        out.describe()
    );
}

#[test]
fn release_tarball_has_the_installed_layout() {
    let out_dir = tempfile::tempdir().unwrap();
    let script = workspace_root().join("scripts/package.sh");
    let out = run_in(
        &workspace_root(),
        Path::new("bash"),
        &[
            script.as_os_str(),
            "--no-build".as_ref(),
            "--out".as_ref(),
            out_dir.path().as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let tarball = out.stdout_str().trim().to_string();
    let name = Path::new(&tarball)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        name,
        format!("memscope-{version}-{}-linux.tar.gz", std::env::consts::ARCH)
    );
    let unpacked = tempfile::tempdir().unwrap();
    let out = run_in(
        unpacked.path(),
        Path::new("tar"),
        &["-xzf".as_ref(), tarball.as_ref()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let top = unpacked.path().join(name.trim_end_matches(".tar.gz"));
    assert!(top.join("lib/memscope/libmemscope.so").is_file());
    assert!(top.join("README.md").is_file());
    let out = check_from_elsewhere(&top.join("bin/memscope"), true);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
}

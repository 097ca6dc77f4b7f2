//! What the gate tests share: the `gate_leaky` fixture (two builds: as written, and with
//! unrelated lines inserted above the leak sites), its traces, and `memscope` run in a
//! given directory without a CI environment.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use memscope_tests::{
    assert_no_panic, build_test_program, fixtures_out_dir, fixtures_src_dir, memscope_bin,
    run_with_timeout, write_if_changed, Output, Run, Traced, DEFAULT_TIMEOUT,
};

/// `gate_leaky.c` as written.
pub fn leaky() -> PathBuf {
    build_test_program(
        "gate_leaky",
        "gate_leaky.c",
        "gcc",
        &["-O0", "-g", "-Wall", "-Wextra"],
    )
}

/// Unrelated code inserted above the leak sites by [`leaky_extra_lines`].
const EXTRA_LINES: &str = "\
/* Unrelated code, added above the leak sites. */
static volatile int unrelated_counter;

__attribute__((noinline)) void unrelated(int n) {
    for (int i = 0; i < n; i++) {
        unrelated_counter += i;
    }
}
";

/// A copy of `gate_leaky.c` with unrelated lines inserted above the leak sites (written
/// to `target/fixtures/`): the leaks move down, in the same functions.
pub fn leaky_extra_lines() -> PathBuf {
    let src = fixtures_src_dir().join("gate_leaky.c");
    let text = fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let marker = "/* EXTRA LINES GO HERE */\n";
    assert!(
        text.contains(marker),
        "{} lost its marker line",
        src.display()
    );
    let moved = text.replace(marker, &format!("{marker}{EXTRA_LINES}"));
    fs::create_dir_all(fixtures_out_dir()).expect("create target/fixtures");
    let copy = fixtures_out_dir().join("gate_leaky_extra_lines.c");
    write_if_changed(&copy, &moved);
    // An absolute source path: `build_test_program` joins it onto tests/fixtures/.
    build_test_program(
        "gate_leaky_extra_lines",
        copy.to_str().expect("UTF-8 target path"),
        "gcc",
        &["-O0", "-g", "-Wall", "-Wextra"],
    )
}

/// Traces `program mode` (leak, more, clean, fail).
pub fn trace(program: &Path, mode: &str) -> Traced {
    Run::new(program).arg(mode).traced()
}

/// `memscope ARGS...` in `dir`, without GitHub's variables unless `env` sets them; must
/// not panic.
pub fn memscope_in(dir: &Path, args: &[&OsStr], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(memscope_bin());
    cmd.args(args).current_dir(dir);
    for k in [
        "LD_PRELOAD",
        "MEMSCOPE_OUTPUT",
        "GITHUB_ACTIONS",
        "GITHUB_WORKSPACE",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let out = run_with_timeout(cmd, DEFAULT_TIMEOUT, "memscope");
    assert_no_panic(&out, &format!("{args:?}"));
    out
}

/// `memscope check TRACE --no-config EXTRA...` in `dir`.
pub fn check(dir: &Path, trace: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec!["check".as_ref(), trace.as_os_str(), "--no-config".as_ref()];
    args.extend(extra.iter().map(OsStr::new));
    memscope_in(dir, &args, &[])
}

/// The `FAIL ` lines of a summary.
pub fn fail_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("FAIL "))
        .map(str::to_string)
        .collect()
}

/// The line of the leak allocated in `function` (its frame in the JSON report).
pub fn leak_line(trace: &Path, function: &str) -> u64 {
    let r = memscope_tests::report_json(trace, &[]);
    r["leaks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["stack"].as_array().into_iter().flatten())
        .find(|f| f["function"] == function)
        .and_then(|f| f["line"].as_u64())
        .unwrap_or_else(|| {
            panic!(
                "no frame of {function} in the leaks of {}: {r:#}",
                trace.display()
            )
        })
}

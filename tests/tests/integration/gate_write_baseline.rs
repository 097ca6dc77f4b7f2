//! `memscope check --write-baseline` (issue 15): it writes the baseline, lists what it
//! wrote and judges the run against it, so it prints no FAILED verdict nor FAIL lines for
//! what it has just accepted; exit 0, or the failure code when the program's own failure
//! still fails the gate.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use memscope_tests::Output;
use serde_json::Value;

use crate::gate_support::{check, fail_lines, leaky, memscope_in, trace};

/// The baseline file's entries as (fingerprint, frames joined by ` < `, bytes).
fn entries(path: &Path) -> Vec<(String, String, u64)> {
    let base: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    base["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let frames: Vec<&str> = e["frames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            (
                e["fingerprint"].as_str().unwrap().to_string(),
                frames.join(" < "),
                e["bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn write_baseline_says_what_it_wrote_and_passes() {
    let more = trace(&leaky(), "more");
    let dir = more.dir.path();
    let out = check(dir, &more.trace, &["--write-baseline", "base.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let path = dir.join("base.json");
    let written = entries(&path);
    assert_eq!(written.len(), 2, "{written:?}");
    let mut expected = format!(
        "memscope check: passed\n\
         program: {} exited with status 0\n\
         leaks: 2 groups of the program's, 2 blocks, 5555 bytes; counted against the budget: 0 bytes, 0 blocks (allowed: 0 bytes, 0 blocks)\n\
         memscope check: wrote 2 baseline entries to {}; this run passes against it:\n",
        leaky().display(),
        path.display()
    );
    for (fp, frames, bytes) in &written {
        expected.push_str(&format!(
            "  leak in {frames} ({bytes} bytes, 1 block) {fp}\n"
        ));
    }
    assert_eq!(out.stdout_str(), expected);
    assert_eq!(
        written
            .iter()
            .map(|(_, f, b)| (f.as_str(), *b))
            .collect::<std::collections::BTreeSet<_>>(),
        [("leak_first < main", 1234), ("leak_second < main", 4321)]
            .into_iter()
            .collect()
    );

    // What it said of the run is what a gate against the baseline says.
    let against = check(dir, &more.trace, &["--baseline", "base.json"]);
    assert_eq!(against.status.code(), Some(0), "{}", against.describe());
    let first_lines: String = expected.lines().take(3).map(|l| format!("{l}\n")).collect();
    assert_eq!(against.stdout_str(), first_lines);
}

/// `memscope run --check --no-config GATE... -- gate_leaky MODE` in `dir` (`run` knows
/// the program's exit status; a trace of a return from `main` does not).
fn run_check(dir: &Path, gate: &[&str], mode: &str) -> Output {
    let program = leaky();
    let mut args: Vec<&OsStr> = vec!["run".as_ref(), "--check".as_ref(), "--no-config".as_ref()];
    args.extend(gate.iter().map(OsStr::new));
    args.extend(["--".as_ref(), program.as_os_str(), OsStr::new(mode)]);
    memscope_in(dir, &args, &[])
}

/// The gate's summary in `run --check`'s stderr: from its first line on (`run` may say
/// other things before it).
fn summary(stderr: &str) -> String {
    let at = stderr
        .find("memscope check: ")
        .unwrap_or_else(|| panic!("no gate summary: {stderr}"));
    stderr[at..].to_string()
}

#[test]
fn write_baseline_of_a_failing_program_fails_only_for_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `fail` leaks 1234 bytes from leak_first, then exits 3.
    let out = run_check(
        d,
        &["--write-baseline", "base.json", "--fail-on-program-error"],
        "fail",
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let text = summary(&out.stderr_str());
    assert!(
        text.starts_with("memscope check: FAILED (1 item failing)\n"),
        "{text}"
    );
    assert!(
        text.contains("exited with status 3 (fails the gate"),
        "{text}"
    );
    assert!(fail_lines(&text).is_empty(), "{text}");
    let written = entries(&d.join("base.json"));
    assert_eq!(written.len(), 1, "{written:?}");
    let (fp, frames, bytes) = &written[0];
    assert_eq!((frames.as_str(), *bytes), ("leak_first < main", 1234));
    assert!(
        text.contains(&format!(
            "memscope check: wrote 1 baseline entry to {}; this run's leaks and findings pass against it (the program's failure still fails the gate):\n  leak in leak_first < main (1234 bytes, 1 block) {fp}\n",
            d.join("base.json").display()
        )),
        "{text}"
    );
    // Without --fail-on-program-error the program's status is reported, and it passes.
    let out = run_check(d, &["--write-baseline", "again.json"], "fail");
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let text = summary(&out.stderr_str());
    assert!(text.starts_with("memscope check: passed\n"), "{text}");
    assert!(
        text.contains("exited with status 3 (the program's own failure"),
        "{text}"
    );
}

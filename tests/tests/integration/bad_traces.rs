//! Bad input never panics the CLI: a truncated trace is analyzed (exit 0,
//! `"truncated": true`); a corrupted one is a one-line error naming the file
//! and the byte offset, exit code 2.

use std::path::{Path, PathBuf};

use memscope_tests::ReportExt as _;
use memscope_tests::{
    analyze, assert_clean, assert_no_panic, fixture, memscope, Output, Report, Run,
};

/// A real trace (mt: 5 threads, ~24k allocations) copied into `dir`, and its report.
fn real_trace(dir: &Path) -> (PathBuf, Report) {
    let traced = Run::new(fixture("mt")).traced();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    let copy = dir.join("good.msl");
    std::fs::copy(&traced.trace, &copy).expect("copy trace");
    let report = analyze(&copy);
    assert_clean("mt", &report);
    (copy, report)
}

fn analyze_raw(path: &Path) -> Output {
    let out = memscope([
        "analyze".as_ref(),
        path.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_no_panic(&out, &path.display().to_string());
    out
}

/// Exit 2 and exactly one line on stderr naming the file and an offset.
fn assert_one_line_error(out: &Output, path: &Path, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: expected exit code 2: {}",
        out.describe()
    );
    let err = out.stderr_str();
    let lines: Vec<&str> = err.trim_end().lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected one line on stderr, got:\n{err}"
    );
    assert!(
        lines[0].contains(&path.display().to_string()),
        "{what}: the error line should name the file {}: {:?}",
        path.display(),
        lines[0]
    );
    assert!(
        lines[0].contains("offset"),
        "{what}: the error line should give the byte offset: {:?}",
        lines[0]
    );
}

#[test]
fn truncated_traces_are_analyzed() {
    let dir = tempfile::tempdir().unwrap();
    let (good, full) = real_trace(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    let len = bytes.len();
    assert!(
        len > 1000,
        "the mt trace is suspiciously small: {len} bytes"
    );
    for cut in [len / 4, len / 2, len * 3 / 4, len - 7, len - 1] {
        let path = dir.path().join(format!("cut{cut}.msl"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let out = analyze_raw(&path);
        assert_eq!(
            out.status.code(),
            Some(0),
            "trace cut at {cut} of {len} bytes: a truncated trace must be analyzed: {}",
            out.describe()
        );
        let report = Report::parse(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "cut at {cut}: no valid JSON report ({e}): {}",
                out.describe()
            )
        });
        assert!(
            report.trace.truncated,
            "trace cut at {cut} of {len} bytes is not reported truncated"
        );
        assert!(
            report.summary.allocations <= full.summary.allocations,
            "cut at {cut}: more allocations ({}) than the whole trace ({})",
            report.summary.allocations,
            full.summary.allocations
        );
    }
}

/// Where the last chunk of a trace starts (file header: payload length at byte 12 of a
/// 20-byte prefix; chunk header: 16 bytes, payload length first). A damaged last chunk
/// reads as a torn tail (analyzed up to it, exit 0 or 1), so corruption tests damage
/// bytes before it.
fn last_chunk_offset(bytes: &[u8]) -> usize {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let mut off = 20 + u32_at(12);
    let mut last = off;
    while off + 16 <= bytes.len() {
        last = off;
        off += 16 + u32_at(off);
    }
    assert_eq!(off, bytes.len(), "the trace is a header and whole chunks");
    last
}

#[test]
fn flipped_bytes_are_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = real_trace(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    let len = bytes.len();
    let before_last = last_chunk_offset(&bytes);
    for at in [before_last / 3, before_last / 2, before_last * 2 / 3] {
        let mut bad = bytes.clone();
        bad[at] ^= 0xff;
        let path = dir.path().join(format!("flip{at}.msl"));
        std::fs::write(&path, &bad).unwrap();
        let out = analyze_raw(&path);
        assert_one_line_error(&out, &path, &format!("byte {at} of {len} flipped"));
    }
}

#[test]
fn several_flipped_bytes_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = real_trace(dir.path());
    let mut bad = std::fs::read(&good).unwrap();
    let mid = last_chunk_offset(&bad) / 2;
    for b in &mut bad[mid..mid + 16] {
        *b = b.wrapping_add(0x5b);
    }
    let path = dir.path().join("flip16.msl");
    std::fs::write(&path, &bad).unwrap();
    let out = analyze_raw(&path);
    assert_one_line_error(&out, &path, "16 bytes changed in the middle");
}

#[test]
fn bad_magic_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = real_trace(dir.path());
    let mut bad = std::fs::read(&good).unwrap();
    for b in &mut bad[..4] {
        *b ^= 0xa5;
    }
    let path = dir.path().join("magic.msl");
    std::fs::write(&path, &bad).unwrap();
    let out = analyze_raw(&path);
    assert_one_line_error(&out, &path, "bad magic");
}

#[test]
fn a_text_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.msl");
    std::fs::write(&path, "this is not a memscope trace\n".repeat(100)).unwrap();
    let out = analyze_raw(&path);
    assert_one_line_error(&out, &path, "a text file");
}

#[test]
fn empty_and_tiny_files_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = real_trace(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    for cut in [0usize, 1, 3, 8, 16] {
        let path = dir.path().join(format!("tiny{cut}.msl"));
        std::fs::write(&path, &bytes[..cut.min(bytes.len())]).unwrap();
        let out = analyze_raw(&path);
        // Whether a header cut short is "truncated" (0) or "corrupt" (2) is the
        // CLI's choice; anything else (a panic, another code) is a bug.
        assert!(
            matches!(out.status.code(), Some(0) | Some(2)),
            "a {cut}-byte prefix: expected exit 0 or 2: {}",
            out.describe()
        );
        if out.status.code() == Some(2) {
            assert_one_line_error(&out, &path, &format!("a {cut}-byte prefix"));
        }
    }
}

#[test]
fn a_missing_file_is_an_error_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("does-not-exist.msl");
    let out = analyze_raw(&path);
    assert_ne!(
        out.status.code(),
        Some(0),
        "analyzing a missing file must fail: {}",
        out.describe()
    );
    assert!(
        out.stderr_str().contains("does-not-exist.msl"),
        "the error should name the missing file: {}",
        out.describe()
    );
}

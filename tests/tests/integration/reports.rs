//! The other report forms on a real trace of leak3 (three leaks of 1111, 2222 and 3333
//! bytes from leak_alpha/beta/gamma): folded stacks, the SVG flame graph, the heap at a
//! moment (`--at`), `diff`, and `--list-detectors`.

use std::process::Command;

use memscope_tests::{fixture, memscope, memscope_ok, report_json, Run};

fn leak3_trace() -> (Run, std::path::PathBuf, tempfile::TempDir) {
    let run = Run::new(fixture("leak3"));
    let traced = run.traced();
    let trace = traced.trace.clone();
    (run, trace, traced.dir)
}

#[test]
fn collapsed_stacks_weigh_the_leaks() {
    let (_run, trace, _dir) = leak3_trace();
    let out = memscope_ok(&[
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "collapsed".as_ref(),
        "--weight".as_ref(),
        "leaked".as_ref(),
    ]);
    for (function, bytes) in [
        ("leak_alpha", 1111u64),
        ("leak_beta", 2222),
        ("leak_gamma", 3333),
    ] {
        let line = out
            .lines()
            .find(|l| l.split(';').any(|f| f.starts_with(function)))
            .unwrap_or_else(|| panic!("no folded stack through {function}:\n{out}"));
        let (stack, weight) = line.rsplit_once(' ').expect("`stack weight`");
        assert_eq!(weight.parse::<u64>().unwrap(), bytes, "{line}");
        // Root first: main comes before the leaking function.
        let frames: Vec<&str> = stack.split(';').collect();
        let main = frames
            .iter()
            .position(|f| f.starts_with("main"))
            .expect("main in the stack");
        let leak = frames.iter().position(|f| f.starts_with(function)).unwrap();
        assert!(main < leak, "root first: {line}");
    }
    let by_count = memscope_ok(&[
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "collapsed".as_ref(),
        "--weight".as_ref(),
        "allocations".as_ref(),
    ]);
    let alpha = by_count.lines().find(|l| l.contains("leak_alpha")).unwrap();
    assert!(
        alpha.ends_with(" 1"),
        "one allocation by leak_alpha: {alpha}"
    );
}

#[test]
fn svg_flame_graph_names_the_leaking_functions() {
    let (_run, trace, _dir) = leak3_trace();
    let svg = memscope_ok(&[
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "svg".as_ref(),
        "--weight".as_ref(),
        "leaked".as_ref(),
    ]);
    assert!(
        svg.trim_start().starts_with("<?xml") || svg.trim_start().starts_with("<svg"),
        "not SVG: {}",
        &svg[..svg.len().min(200)]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    for f in ["leak_alpha", "leak_beta", "leak_gamma", "main"] {
        assert!(svg.contains(f), "the flame graph lacks {f}");
    }
}

#[test]
fn at_a_moment_shows_the_heap_then() {
    let (_run, trace, _dir) = leak3_trace();
    let start = report_json(&trace, &["--at", "0%"]);
    let end = report_json(&trace, &["--at", "100%"]);
    let full = report_json(&trace, &[]);
    assert_eq!(
        start["summary"]["allocations"], 0,
        "nothing allocated at the start"
    );
    assert_eq!(start["summary"]["live_at_exit"]["bytes"], 0);
    assert_eq!(
        end["summary"]["allocations"],
        full["summary"]["allocations"]
    );
    assert_eq!(
        end["summary"]["live_at_exit"],
        full["summary"]["live_at_exit"]
    );
    assert!(start["trace"]["at_ns"].is_u64());
}

#[test]
fn diff_compares_call_sites() {
    let (_run, trace, _dir) = leak3_trace();
    let same = memscope([
        "diff".as_ref(),
        trace.as_os_str(),
        trace.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", same.describe());
    let same: serde_json::Value = serde_json::from_str(&same.stdout_str()).unwrap();
    let other = Run::new(fixture("every_entry")).traced();
    let diff = memscope([
        "diff".as_ref(),
        trace.as_os_str(),
        other.trace.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(diff.status.code(), Some(0), "{}", diff.describe());
    let diff: serde_json::Value = serde_json::from_str(&diff.stdout_str()).unwrap();
    let text_same = same.to_string();
    let text_diff = diff.to_string();
    assert_ne!(
        text_same, text_diff,
        "a trace against itself and against another must differ"
    );
    // leak3's leaking sites are gone in every_entry's trace.
    assert!(text_diff.contains("leak_alpha"), "{text_diff}");
}

#[test]
fn list_detectors_names_each_one_with_a_line() {
    let out = Command::new(memscope_tests::memscope_bin())
        .args(["analyze", "--list-detectors"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for d in [
        "double-free",
        "invalid-free",
        "realloc-of-freed",
        "mismatched-free",
        "fishy-size",
        "leak",
        "growth",
        "type",
        "lifetime",
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(d))
            .unwrap_or_else(|| panic!("{d} not listed:\n{text}"));
        assert!(
            line.split_whitespace().count() > 3,
            "{d} has no description: {line}"
        );
    }
}

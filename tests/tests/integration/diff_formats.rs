//! `memscope diff` (issue 15): call sites keyed by function and file:line (two call
//! sites of one function are two sites), in every format it offers: text, JSON,
//! differential folded stacks and a differential SVG flame graph; `--format html` is
//! refused by the command line (exit 2). On diff_sites, whose two sites in `two_sites`
//! allocate 1 × 100 and 2 × 200 bytes in run `a`, 3 × 100 and 1 × 200 in run `b`.

use std::path::PathBuf;

use memscope_tests::{build_test_program, fixtures_src_dir, memscope, Run, Traced};
use serde_json::Value;

fn diff_sites() -> PathBuf {
    build_test_program(
        "diff_sites",
        "diff_sites.c",
        "gcc",
        &["-O0", "-g", "-Wall", "-Wextra"],
    )
}

/// The source's path as the debug info names it, and the lines of the two sites and of
/// main's call.
fn source_lines() -> (String, u32, u32, u32) {
    let src = fixtures_src_dir().join("diff_sites.c");
    let text = std::fs::read_to_string(&src).unwrap();
    let line = |marker: &str| {
        text.lines()
            .position(|l| l.contains(marker))
            .map(|i| i as u32 + 1)
            .unwrap_or_else(|| panic!("no {marker:?} in {}", src.display()))
    };
    (
        src.display().to_string(),
        line("/* SITE ONE */"),
        line("/* SITE TWO */"),
        line("two_sites(b ?"),
    )
}

struct Pair {
    a: Traced,
    b: Traced,
}

fn traced_pair() -> Pair {
    let program = diff_sites();
    Pair {
        a: Run::new(&program).arg("a").traced(),
        b: Run::new(&program).arg("b").traced(),
    }
}

/// `memscope diff A B EXTRA...`: exit code, stdout, stderr.
fn diff(p: &Pair, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec![
        "diff".into(),
        p.a.trace.clone().into_os_string(),
        p.b.trace.clone().into_os_string(),
    ];
    args.extend(extra.iter().map(Into::into));
    let out = memscope(&args);
    memscope_tests::assert_no_panic(&out, "diff");
    (out.status.code(), out.stdout_str(), out.stderr_str())
}

#[test]
fn text_names_each_call_site_by_file_and_line() {
    let p = traced_pair();
    let (file, one, two, call) = source_lines();
    let (code, text, err) = diff(&p, &[]);
    assert_eq!(code, Some(0), "{err}");
    let expected_head = format!(
        "memscope diff: A = {}, B = {}\n2 call sites changed\n\n",
        p.a.trace.display(),
        p.b.trace.display()
    );
    assert!(text.starts_with(&expected_head), "{text}");
    let lines: Vec<&str> = text[expected_head.len()..].lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let at = |line| format!("two_sites ({file}:{line}) <- main ({file}:{call}) <- ");
    assert!(
        lines[0].starts_with(&format!(
            "live +200 bytes, allocated +200 bytes, +2 allocations  at {}",
            at(one)
        )),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "live -200 bytes, allocated -200 bytes, -1 allocations  at {}",
            at(two)
        )),
        "{text}"
    );
}

#[test]
fn json_lists_both_sites_with_their_frames() {
    let p = traced_pair();
    let (file, one, two, _) = source_lines();
    let (code, text, err) = diff(&p, &["--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["schema"], "memscope-diff/1");
    let sites = doc["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 2, "{doc:#}");
    for (site, line, a, b) in [
        (&sites[0], one, (1, 100), (3, 300)),
        (&sites[1], two, (2, 400), (1, 200)),
    ] {
        let f = &site["frames"][0];
        assert_eq!(
            (&f["function"], &f["file"], &f["line"]),
            (
                &Value::from("two_sites"),
                &Value::from(file.as_str()),
                &Value::from(line)
            ),
            "{site:#}"
        );
        assert_eq!(
            site["key"][0],
            Value::from(format!("two_sites ({file}:{line})"))
        );
        let side = |s: &Value| {
            (
                s["allocations"].as_u64().unwrap(),
                s["bytes"].as_u64().unwrap(),
                s["live_bytes"].as_u64().unwrap(),
            )
        };
        assert_eq!(side(&site["a"]), (a.0, a.1, a.1), "{site:#}");
        assert_eq!(side(&site["b"]), (b.0, b.1, b.1), "{site:#}");
    }
}

#[test]
fn collapsed_is_a_differential_folded_stack_per_site() {
    let p = traced_pair();
    let (file, one, two, call) = source_lines();
    let leaf = |line| format!(";main ({file}:{call});two_sites ({file}:{line})");
    for (weight, first, second) in [
        ("bytes", "100 300", "400 200"),
        ("allocations", "1 3", "2 1"),
        ("leaked", "100 300", "400 200"),
    ] {
        let (code, text, err) = diff(&p, &["--format", "collapsed", "--weight", weight]);
        assert_eq!(code, Some(0), "{err}");
        let through_sites: Vec<&str> = text.lines().filter(|l| l.contains("two_sites")).collect();
        assert_eq!(through_sites.len(), 2, "{weight}: {text}");
        for (l, line, counts) in [
            (through_sites[0], one, first),
            (through_sites[1], two, second),
        ] {
            assert!(
                l.ends_with(&format!("{} {counts}", leaf(line))),
                "{weight}: {l}"
            );
        }
    }
}

#[test]
fn svg_is_a_differential_flame_graph() {
    let p = traced_pair();
    let (file, one, two, _) = source_lines();
    let (code, svg, err) = diff(&p, &["--format", "svg"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.contains("memscope diff (bytes)"), "no title");
    // Width is B's, colour the change: site one grew (red), site two shrank (blue).
    let frame = |line, rest: &str| format!("<title>two_sites ({file}:{line}) ({rest})</title>");
    assert!(
        svg.contains(&frame(one, "300 bytes, 60.00%; +40.00%")),
        "site one"
    );
    assert!(
        svg.contains(&frame(two, "200 bytes, 40.00%; -40.00%")),
        "site two"
    );
}

#[test]
fn html_is_refused_by_the_command_line() {
    let p = traced_pair();
    let (code, out, err) = diff(&p, &["--format", "html"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("invalid value 'html' for '--format <FORMAT>'")
            && err.contains("[possible values: text, json, collapsed, svg]"),
        "{err}"
    );
}

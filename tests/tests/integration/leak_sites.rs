//! Leaks named by the program's own frame (issue 15, items 2, 5, 9, 13): Rust (debug and
//! release), C++ and stripped C leaks are named by the program's function, file and
//! line (a stripped program by module and offset) in the text report, the HTML report's
//! data, the JSON `site`, SARIF and the gate's FAIL lines, never by the allocator, a
//! container or the C library's start-up; identical sites merge; the text report puts
//! the program's leaks first, hides runtime-internal blocks with a count, limits groups
//! with `--max-groups`/`--all-groups` and folds runtime frames unless `--full-stacks`;
//! `--at` says "live at", not "at exit", and refuses a moment after the end; the exit is
//! worded "exited with status 0".

use std::path::{Path, PathBuf};

use memscope_tests::{build_test_program, fixtures_src_dir, memscope, report_json, Run, Traced};
use serde_json::Value;

fn rust(release: bool) -> PathBuf {
    if release {
        build_test_program(
            "site_rust_release",
            "site_rust.rs",
            "rustc",
            &["-O", "-g", "--edition", "2021"],
        )
    } else {
        build_test_program(
            "site_rust_debug",
            "site_rust.rs",
            "rustc",
            &["-g", "--edition", "2021"],
        )
    }
}

fn cxx() -> PathBuf {
    build_test_program(
        "site_cxx",
        "site_cxx.cpp",
        "g++",
        &["-O2", "-g", "-std=c++17", "-Wall"],
    )
}

fn stripped_c() -> PathBuf {
    build_test_program(
        "site_c_stripped",
        "site_c.c",
        "gcc",
        &["-O0", "-s", "-Wall"],
    )
}

fn traced(program: &Path) -> Traced {
    let t = Run::new(program).traced();
    assert!(t.output.status.success(), "{}", t.output.describe());
    t
}

/// The 1-based line of `source` holding `// SITE marker`.
fn line_of(source: &str, marker: &str) -> u32 {
    let text = std::fs::read_to_string(fixtures_src_dir().join(source)).unwrap();
    let needle = format!("SITE {marker}");
    text.lines()
        .position(|l| l.contains(&needle))
        .map(|i| i as u32 + 1)
        .unwrap_or_else(|| panic!("{source} has no {needle}"))
}

fn stdout_of(args: &[&str], trace: &Path) -> (Option<i32>, String) {
    let mut all: Vec<&std::ffi::OsStr> = vec![args[0].as_ref(), trace.as_os_str()];
    all.extend(args[1..].iter().map(std::ffi::OsStr::new));
    let out = memscope(&all);
    (out.status.code(), out.stdout_str() + &out.stderr_str())
}

fn fail_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("FAIL ")).collect()
}

/// The gate names the site and never an allocator-internal function.
fn assert_gate_names(trace: &Path, expected: &str) -> String {
    let (code, text) = stdout_of(&["check"], trace);
    assert_eq!(code, Some(1), "{text}");
    let fails = fail_lines(&text);
    assert!(
        fails
            .iter()
            .any(|l| l.contains(&format!("leaked at {expected}"))),
        "no FAIL line names {expected}:\n{text}"
    );
    for l in &fails {
        for bad in [
            "alloc::",
            "core::",
            "hashbrown",
            "std::__new_allocator",
            "__libc_start",
        ] {
            assert!(
                !l.contains(&format!("at {bad}")),
                "FAIL line names {bad}: {l}"
            );
        }
    }
    text
}

fn sites(report: &Value) -> Vec<Value> {
    report["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| !l["runtime_internal"].as_bool().unwrap())
        .map(|l| l["site"].clone())
        .collect()
}

fn rust_leaks_are_named_by_the_program(release: bool) {
    let t = traced(&rust(release));
    let buf_line = line_of("site_rust.rs", "forget_buffer");
    let map_line = line_of("site_rust.rs", "leak_map");
    let report = report_json(&t.trace, &[]);
    let s = sites(&report);
    let named = |f: &str, line: u32| {
        s.iter().any(|site| {
            site["function"].as_str().is_some_and(|n| n.ends_with(f))
                && site["line"] == line
                && site["file"].as_str().unwrap().ends_with("site_rust.rs")
                && site["program"] == true
        })
    };
    assert!(named("::forget_buffer", buf_line), "{s:#?}");
    assert!(named("::leak_map", map_line), "{s:#?}");
    // Full stacks stay in the JSON: the allocator's frames are still there.
    let big = report["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["bytes"] == 1234)
        .unwrap();
    assert!(big["site"]["frame"].as_u64().unwrap() > 0, "{big:#}");

    let gate = assert_gate_names(&t.trace, "site_rust::forget_buffer (");
    assert!(
        gate.contains(&format!("site_rust.rs:{buf_line})")),
        "{gate}"
    );
    assert!(gate.contains("leaked at site_rust::leak_map ("), "{gate}");

    let (code, text) = stdout_of(&["analyze"], &t.trace);
    assert_eq!(code, Some(0));
    assert!(
        text.contains(&format!(
            "allocated at site_rust::forget_buffer (site_rust.rs:{buf_line})"
        )),
        "{text}"
    );
    assert!(text.contains("runtime frames"), "{text}");
    assert!(!text.contains("at std::rt::lang_start"), "{text}");
    assert!(!text.contains("at alloc::alloc::alloc"), "{text}");
    let (_, full) = stdout_of(&["analyze", "--full-stacks"], &t.trace);
    assert!(full.contains("std::rt::lang_start"), "{full}");

    let (_, html) = stdout_of(&["analyze", "--format", "html"], &t.trace);
    assert!(
        html.contains("\"function\":\"site_rust::forget_buffer\""),
        "no site in the HTML data"
    );
    assert!(html.contains("stackDetails(l.stack, l.site)"));
}

#[test]
fn rust_debug_leaks_are_named_by_the_program() {
    rust_leaks_are_named_by_the_program(false);
}

#[test]
fn rust_release_leaks_are_named_by_the_program() {
    rust_leaks_are_named_by_the_program(true);
}

#[test]
fn identical_sites_make_one_group_and_one_fail_line() {
    for release in [false, true] {
        let t = traced(&rust(release));
        let line = line_of("site_rust.rs", "leak_small");
        let (_, gate) = stdout_of(&["check"], &t.trace);
        let small: Vec<&str> = fail_lines(&gate)
            .into_iter()
            .filter(|l| l.contains("::leak_small ("))
            .collect();
        assert_eq!(small.len(), 1, "{gate}");
        assert!(
            small[0]
                .starts_with("FAIL leak: 192 bytes in 8 blocks leaked at site_rust::leak_small (")
                && small[0].contains(&format!("site_rust.rs:{line})")),
            "{gate}"
        );
        let (_, text) = stdout_of(&["analyze"], &t.trace);
        let groups = text
            .lines()
            .filter(|l| l.contains("allocated at site_rust::leak_small ("))
            .count();
        assert_eq!(groups, 1, "{text}");
        assert!(text.contains("192 bytes in 8 blocks"), "{text}");
    }
}

#[test]
fn cxx_vector_leak_is_named_by_its_function_in_every_output() {
    let t = traced(&cxx());
    let line = line_of("site_cxx.cpp", "push_back");
    assert_gate_names(&t.trace, "leaky_vec");
    let (_, gate) = stdout_of(&["check"], &t.trace);
    assert!(gate.contains(&format!("site_cxx.cpp:{line})")), "{gate}");

    let (_, text) = stdout_of(&["analyze"], &t.trace);
    let header = text
        .lines()
        .find(|l| l.contains(&format!("(site_cxx.cpp:{line})")) && l.contains("allocated at"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(header.contains("[std::vector]"), "{header}");
    assert!(!text.contains("std::__new_allocator"), "{text}");
    // Program's leaks first; libstdc++'s pool and the stdio buffer hidden, counted.
    assert!(text.contains("hidden: 2 groups runtime-internal"), "{text}");
    assert!(
        !text.contains("72,704 bytes in 1 block still reachable"),
        "{text}"
    );
    let (_, shown) = stdout_of(&["analyze", "--show-runtime"], &t.trace);
    let pool = shown.find("72,704 bytes in 1 block").expect("pool shown");
    let own = shown.find(&format!("(site_cxx.cpp:{line})")).unwrap();
    assert!(own < pool, "program's leaks must come first:\n{shown}");

    // SARIF: the site's file, line and function.
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("out.sarif");
    let (_, _) = stdout_of(&["check", "--sarif", sarif.to_str().unwrap()], &t.trace);
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| {
            let loc = &r["locations"][0];
            loc["physicalLocation"]["region"]["startLine"] == line
                && loc["logicalLocations"][0]["fullyQualifiedName"]
                    .as_str()
                    .is_some_and(|f| f.starts_with("leaky_vec"))
        }),
        "{log:#}"
    );

    // Flame graphs leave the runtime's 72 KB pool out unless asked.
    let (_, folded) = stdout_of(
        &["analyze", "--format", "collapsed", "--weight", "leaked"],
        &t.trace,
    );
    assert!(folded.contains("leaky_vec"), "{folded}");
    assert!(!folded.contains(" 72704"), "{folded}");
    let (_, all) = stdout_of(
        &[
            "analyze",
            "--format",
            "collapsed",
            "--weight",
            "leaked",
            "--show-runtime",
        ],
        &t.trace,
    );
    assert!(all.contains(" 72704"), "{all}");
}

#[test]
fn stripped_c_leak_is_named_by_module_offset() {
    let t = traced(&stripped_c());
    let report = report_json(&t.trace, &[]);
    let s = sites(&report);
    let leak = report["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["bytes"] == 777)
        .unwrap();
    let site = &leak["site"];
    assert_eq!(site["program"], true, "{s:#?}");
    let name = format!(
        "site_c_stripped+{}",
        site["module_offset"].as_str().unwrap()
    );
    let gate = assert_gate_names(&t.trace, &name);
    assert!(!gate.contains("__libc_start_call_main"), "{gate}");
    let (_, text) = stdout_of(&["analyze"], &t.trace);
    assert!(text.contains(&format!("allocated at {name}:")), "{text}");
}

#[test]
fn groups_are_limited_with_max_groups_and_all_groups() {
    let t = traced(&rust(false));
    let (_, one) = stdout_of(&["analyze", "--max-groups", "1"], &t.trace);
    assert!(
        one.contains("(1 of 3 shown; --all-groups or --max-groups N shows more)"),
        "{one}"
    );
    assert_eq!(one.matches(", allocated at ").count(), 1, "{one}");
    let (_, all) = stdout_of(&["analyze", "--all-groups"], &t.trace);
    assert!(all.contains("(3 of 3 shown)"), "{all}");
}

#[test]
fn at_reports_say_live_at_and_refuse_a_moment_after_the_end() {
    let t = traced(&cxx());
    let (code, text) = stdout_of(&["analyze", "--at", "50%"], &t.trace);
    assert_eq!(code, Some(0), "{text}");
    for wrong in ["in use at exit", "LIVE AT EXIT", "ended by", "shutdown"] {
        assert!(!text.contains(wrong), "--at report says {wrong:?}:\n{text}");
    }
    assert!(text.contains("    live at "), "{text}");
    assert!(text.contains("exited with status 0"), "{text}");
    let (code, err) = stdout_of(&["analyze", "--at", "10s"], &t.trace);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("after the end of the run"), "{err}");
    let (_, html) = stdout_of(&["analyze", "--format", "html"], &t.trace);
    assert!(html.contains("'exited with status '") && !html.contains("'ended by '"));
}

#[test]
fn run_takes_the_view_options() {
    // `memscope run` reports as `analyze` does: runtime-internal blocks hidden with a
    // count unless `--show-runtime`, and `--max-groups` applies.
    let prog = cxx();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("t.%p.msl");
    let run = |extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--output".as_ref()];
        args.push(output.as_os_str());
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.push("--".as_ref());
        args.push(prog.as_os_str());
        let out = memscope(args);
        assert_eq!(out.status.code(), Some(0), "{}", out.describe());
        out.stderr_str()
    };
    let default = run(&[]);
    assert!(
        default.contains("hidden: 2 groups runtime-internal"),
        "{default}"
    );
    let shown = run(&["--show-runtime", "--max-groups", "1"]);
    assert!(!shown.contains("hidden: "), "{shown}");
    assert!(shown.contains("1 of "), "{shown}");
    assert_eq!(shown.matches(", allocated at ").count(), 1, "{shown}");
}

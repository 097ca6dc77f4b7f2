//! Classifiers on real programs: the type of each leak of a Rust program
//! (tests/fixtures/rust_types.rs: Box<[u8]>, String, an Rc cycle, HashMap, each from a
//! named function), and the split of what `python3` and `sort` leave live at exit into
//! the program's leaks and runtime-internal blocks (docs/runtime-internal.md).

use memscope_tests::{build_test_program, report_json, stack_functions, Run};
use serde_json::Value;

fn leaks(r: &Value) -> &Vec<Value> {
    r["leaks"].as_array().expect("leaks array")
}

fn describe(r: &Value) -> String {
    leaks(r)
        .iter()
        .map(|l| {
            format!(
                "{} bytes {} {} {:?}\n",
                l["bytes"],
                l["type"],
                l["runtime_internal"],
                stack_functions(&l["stack"])
            )
        })
        .collect()
}

#[test]
fn rust_leaks_have_their_function_and_type() {
    let program = build_test_program(
        "rust_types",
        "rust_types.rs",
        "rustc",
        &["-O", "-g", "--edition", "2021"],
    );
    let traced = Run::new(program).traced();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    let r = report_json(&traced.trace, &[]);
    for (function, ty, bytes, groups) in [
        ("rust_types::leak_box", "Box", 3001u64, 1usize),
        ("rust_types::leak_string", "String", 3002, 1),
        ("rust_types::leak_rc_cycle", "Rc", 2 * 432, 2),
        ("rust_types::leak_hashmap", "HashMap", 2192, 1),
    ] {
        let mine: Vec<&Value> = leaks(&r)
            .iter()
            .filter(|l| stack_functions(&l["stack"]).iter().any(|f| f == function))
            .collect();
        assert_eq!(mine.len(), groups, "{function}: leaks\n{}", describe(&r));
        for l in &mine {
            assert_eq!(l["type"], ty, "{function}\n{}", describe(&r));
            assert_eq!(l["runtime_internal"], false, "{function}");
        }
        let total: u64 = mine.iter().map(|l| l["bytes"].as_u64().unwrap_or(0)).sum();
        assert_eq!(total, bytes, "{function}\n{}", describe(&r));
    }
    assert_eq!(r["findings"], serde_json::json!([]), "{:#}", r["findings"]);
}

/// Program and runtime-internal sums add up to what is live, each group is counted
/// once, and every runtime-internal group has a frame of the builtin list.
fn check_split(what: &str, r: &Value) {
    let s = &r["summary"];
    let (pb, rb) = (
        s["program_leaks"]["bytes"].as_u64().unwrap(),
        s["runtime_internal"]["bytes"].as_u64().unwrap(),
    );
    assert_eq!(
        pb + rb,
        s["live_at_exit"]["bytes"].as_u64().unwrap(),
        "{what}"
    );
    let sum = |rt: bool| -> u64 {
        leaks(r)
            .iter()
            .filter(|l| l["runtime_internal"] == rt)
            .map(|l| l["bytes"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!((sum(false), sum(true)), (pb, rb), "{what}");
    assert!(
        rb > 0,
        "{what}: no runtime-internal blocks\n{}",
        describe(r)
    );
}

#[test]
fn sort_locale_and_stdio_blocks_are_runtime_internal() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "b\na\nc\n").unwrap();
    let traced = Run::new("/usr/bin/sort")
        .arg(input.display().to_string())
        .env("LC_ALL", "C.UTF-8")
        .traced();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    let r = report_json(&traced.trace, &[]);
    check_split("sort", &r);
    // Everything setlocale keeps is the runtime's.
    for l in leaks(&r) {
        let f = stack_functions(&l["stack"]);
        if f.iter()
            .any(|n| n.ends_with("setlocale") || n.starts_with("_nl_"))
        {
            assert_eq!(l["runtime_internal"], true, "sort: {f:?}");
        }
    }
}

#[test]
fn python_interpreter_state_is_runtime_internal_and_a_ctypes_leak_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("leak.py");
    std::fs::write(
        &script,
        "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.malloc.restype = ctypes.c_void_p\np = libc.malloc(77777)\n",
    )
    .unwrap();
    let traced = Run::new("/usr/bin/python3")
        .arg(script.display().to_string())
        .traced();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    let r = report_json(&traced.trace, &[]);
    check_split("python3", &r);
    let ours: Vec<&Value> = leaks(&r).iter().filter(|l| l["bytes"] == 77777).collect();
    assert_eq!(ours.len(), 1, "python3\n{}", describe(&r));
    assert_eq!(ours[0]["runtime_internal"], false);
    for l in leaks(&r) {
        let f = stack_functions(&l["stack"]);
        if f.iter().any(|n| n == "Py_InitializeFromConfig") {
            assert_eq!(l["runtime_internal"], true, "python3: {f:?}");
        }
    }
}

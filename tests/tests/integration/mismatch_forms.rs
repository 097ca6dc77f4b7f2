//! The C++ release forms the mismatched-free family of detectors judges beyond the
//! family (tests/fixtures/mm_delete_args.cpp, mm_bsym.cpp over mm_bsym_lib.cpp,
//! mm_stl.cpp):
//! - a sized delete given a size other than the allocation's is one
//!   `new-delete-size-mismatch`, an aligned/unaligned crossing or another alignment one
//!   `new-delete-alignment-mismatch`, each naming the allocating and releasing functions,
//!   where AddressSanitizer reports `new-delete-type-mismatch` with the same sizes and
//!   alignments (valgrind 3.19 does not check either: 0 errors);
//! - the forms g++ emits for correct programs (sized, aligned, array cookies) give none;
//! - a `-Bsymbolic` library's own `operator new`/`delete` over `malloc`/`free`, meeting
//!   the hooked `delete`/`new` of the program, gives no `mismatched-free` (valgrind:
//!   0 errors).

use std::path::PathBuf;
use std::process::Command;

use memscope_tests::{
    build_test_program, fixtures_out_dir, report_json, stack_functions, untraced, Run,
};
use serde_json::Value;

const CXX_FLAGS: &[&str] = &["-O0", "-g", "-std=c++17", "-Wall", "-Wextra"];

fn delete_args() -> PathBuf {
    build_test_program("mm_delete_args", "mm_delete_args.cpp", "g++", CXX_FLAGS)
}

/// The library is built without sibling calls so that its `operator delete`'s frame is
/// on the stack of the `free` it makes (see `mismatch_forms` in the report notes).
fn bsym() -> PathBuf {
    let lib = build_test_program(
        "libmm_bsym.so",
        "mm_bsym_lib.cpp",
        "g++",
        &[
            "-O2",
            "-fno-optimize-sibling-calls",
            "-g",
            "-std=c++17",
            "-fPIC",
            "-shared",
            "-Wl,-Bsymbolic",
            "-Wall",
            "-Wextra",
        ],
    );
    let lib = lib.display().to_string();
    build_test_program(
        "mm_bsym",
        "mm_bsym.cpp",
        "g++",
        &[
            "-O2",
            "-g",
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Wl,--no-as-needed",
            &lib,
        ],
    )
}

fn report(program: PathBuf, mode: &str) -> Value {
    let traced = Run::new(program).arg(mode).traced();
    assert_eq!(
        traced.output.status.code(),
        Some(0),
        "{mode}: {}",
        traced.output.describe()
    );
    report_json(&traced.trace, &[])
}

fn innermost(stack: &Value) -> String {
    let f = stack_functions(stack);
    f.first()
        .map(|s| s.split('(').next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Exactly one finding: `detector`, error, count 1, `message`, and the allocation and
/// release stacks starting in `alloc_fn` and `free_fn` (the release's own stack may
/// start in `main` when the release function was a tail call).
fn assert_one(r: &Value, detector: &str, message: &str, alloc_fn: &str, free_fn: &str) {
    let findings = r["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{detector}: {findings:#?}");
    let f = &findings[0];
    assert_eq!(f["detector"], detector, "{f:#}");
    assert_eq!(f["severity"], "error", "{f:#}");
    assert_eq!(f["count"], 1, "{f:#}");
    assert_eq!(f["message"], message, "{f:#}");
    let roles: Vec<&String> = f["stacks"].as_object().expect("stacks").keys().collect();
    assert_eq!(roles, ["allocation", "offending"], "{f:#}");
    assert_eq!(innermost(&f["stacks"]["allocation"]), alloc_fn, "{f:#}");
    assert_eq!(innermost(&f["stacks"]["offending"]), free_fn, "{f:#}");
}

/// The program built with `-fsanitize=address`, run in `mode`: its stderr.
fn asan_stderr(mode: &str) -> String {
    let mut flags: Vec<&str> = CXX_FLAGS.to_vec();
    flags.push("-fsanitize=address");
    let program = build_test_program("mm_delete_args_asan", "mm_delete_args.cpp", "g++", &flags);
    let mut cmd = Command::new(program);
    untraced(&mut cmd);
    let out = cmd
        .arg(mode)
        .env("ASAN_OPTIONS", "new_delete_type_mismatch=1:detect_leaks=0")
        .output()
        .expect("run the ASan build");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// ASan's report of `mode`: (allocated, deallocated) lines of its type mismatch.
fn asan_mismatch(mode: &str) -> (String, String) {
    let err = asan_stderr(mode);
    assert!(
        err.contains("ERROR: AddressSanitizer: new-delete-type-mismatch"),
        "{mode}: {err}"
    );
    let line = |what: &str| {
        err.lines()
            .find(|l| l.contains(what))
            .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            .unwrap_or_default()
    };
    (
        line("of the allocated type"),
        line("of the deallocated type"),
    )
}

#[test]
fn sized_delete_of_a_base_class_without_virtual_destructor() {
    let r = report(delete_args(), "base-delete");
    assert_one(
        &r,
        "new-delete-size-mismatch",
        "48-byte block allocated by operator new released by sized operator delete with size 16",
        "make_derived",
        "drop_base",
    );
    assert_eq!(
        asan_mismatch("base-delete"),
        ("48 bytes;".to_string(), "16 bytes.".to_string())
    );
}

#[test]
fn sized_delete_and_delete_array_given_another_size() {
    let r = report(delete_args(), "sized-wrong");
    assert_one(
        &r,
        "new-delete-size-mismatch",
        "32-byte block allocated by operator new released by sized operator delete with size 33",
        "alloc_raw",
        "release_sized",
    );
    let r = report(delete_args(), "sized-array-wrong");
    assert_one(
        &r,
        "new-delete-size-mismatch",
        "32-byte block allocated by operator new[] released by sized operator delete[] with size 33",
        "alloc_raw_array",
        "release_sized_array",
    );
    for mode in ["sized-wrong", "sized-array-wrong"] {
        assert_eq!(
            asan_mismatch(mode),
            ("32 bytes;".to_string(), "33 bytes.".to_string()),
            "{mode}"
        );
    }
}

#[test]
fn aligned_and_unaligned_new_and_delete_crossed() {
    let cases = [
        (
            "aligned-unaligned",
            "64-byte block allocated by operator new with alignment 64 released by operator delete without alignment",
            "alloc_aligned",
            "release_unaligned",
            ("64 bytes;", "default-aligned."),
        ),
        (
            "unaligned-aligned",
            "32-byte block allocated by operator new without alignment released by operator delete with alignment 64",
            "alloc_raw",
            "release_aligned",
            ("default-aligned;", "64 bytes."),
        ),
        (
            "aligned-other",
            "64-byte block allocated by operator new with alignment 64 released by operator delete with alignment 128",
            "alloc_aligned",
            "release_aligned_128",
            ("64 bytes;", "128 bytes."),
        ),
    ];
    for (mode, message, alloc_fn, free_fn, (asan_alloc, asan_free)) in cases {
        let r = report(delete_args(), mode);
        assert_one(
            &r,
            "new-delete-alignment-mismatch",
            message,
            alloc_fn,
            free_fn,
        );
        assert_eq!(
            asan_mismatch(mode),
            (asan_alloc.to_string(), asan_free.to_string()),
            "{mode}"
        );
    }
}

#[test]
fn valgrind_3_19_checks_neither_size_nor_alignment() {
    for mode in ["base-delete", "aligned-unaligned"] {
        let (out, log) = Run::new(delete_args())
            .arg(mode)
            .memcheck(memscope_tests::LeakCheck::No);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", out.describe());
        assert!(
            log.contains("ERROR SUMMARY: 0 errors from 0 contexts"),
            "{mode}: valgrind now reports these (use it as an oracle): {log}"
        );
    }
}

#[test]
fn forms_g_plus_plus_emits_for_correct_code_give_no_finding() {
    // Sized delete (16), sized delete[] with the array cookie (8 + 5 × 12 = 68),
    // unsized delete[], sized aligned delete (64/64), sized aligned delete[] (64 + 3 × 64
    // / 64), delete through a virtual destructor (sizeof the derived type), explicit
    // sized and aligned calls.
    let r = report(delete_args(), "correct");
    assert_eq!(r["findings"], Value::Array(vec![]), "{:#}", r["findings"]);
    assert_eq!(r["summary"]["allocations"], 9, "{:#}", r["summary"]);
    assert_eq!(r["summary"]["frees"], 8, "{:#}", r["summary"]);
    assert!(!asan_stderr("correct").contains("ERROR"), "ASan agrees");
}

#[test]
fn standard_containers_at_o2_give_no_finding() {
    let program = build_test_program(
        "mm_stl",
        "mm_stl.cpp",
        "g++",
        &["-O2", "-g", "-std=c++17", "-Wall", "-Wextra"],
    );
    let traced = Run::new(program).traced();
    assert_eq!(traced.output.stdout_str(), "15301\n");
    let r = report_json(&traced.trace, &[]);
    assert_eq!(r["findings"], Value::Array(vec![]), "{:#}", r["findings"]);
    assert_eq!(r["summary"]["allocations"], 28873, "{:#}", r["summary"]);
}

#[test]
fn g_plus_plus_compiling_a_program_gives_no_finding() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("stl");
    let source = memscope_tests::fixtures_src_dir().join("mm_stl.cpp");
    let traced = Run::new("g++")
        .args(["-O2", "-std=c++17", "-o"])
        .arg(out.display().to_string())
        .arg(source.display().to_string())
        .traced();
    assert_eq!(
        traced.output.status.code(),
        Some(0),
        "{}",
        traced.output.describe()
    );
    let traces = traced.all_traces();
    // g++, cc1plus, as, collect2, ld at least.
    assert!(traces.len() >= 5, "{traces:?}");
    for t in &traces {
        let r = report_json(t, &[]);
        assert_eq!(
            r["findings"],
            Value::Array(vec![]),
            "{}: {:#}",
            r["trace"]["exe"],
            r["findings"]
        );
    }
}

#[test]
fn bsymbolic_library_operators_are_no_mismatch() {
    let program = bsym();
    assert!(fixtures_out_dir().join("libmm_bsym.so").is_file());
    for mode in ["lib-new", "main-new"] {
        let traced = Run::new(&program).arg(mode).traced();
        assert_eq!(
            traced.output.status.code(),
            Some(0),
            "{}",
            traced.output.describe()
        );
        let r = report_json(&traced.trace, &[]);
        assert_eq!(
            r["findings"],
            Value::Array(vec![]),
            "{mode}: {:#}",
            r["findings"]
        );
        // The libstdc++ emergency pool, a node of 40 bytes, an array of 9 ints.
        assert_eq!(r["summary"]["allocations"], 3, "{mode}");
        assert_eq!(r["summary"]["frees"], 2, "{mode}");
        let (out, log) = Run::new(&program)
            .arg(mode)
            .memcheck(memscope_tests::LeakCheck::Full);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", out.describe());
        assert!(
            log.contains("ERROR SUMMARY: 0 errors from 0 contexts"),
            "{mode}: {log}"
        );
    }
}

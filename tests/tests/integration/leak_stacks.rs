//! Leak stacks of a program built `-O2 -g -fomit-frame-pointer` (leak3.c):
//! each of the three leaks is found, with its size, its allocating function
//! and the callers above it, symbolized to file and line.

use memscope_tests::{assert_clean, fixture, fixtures_src_dir, Leak, Report, Run};
use memscope_tests::{LeakExt as _, ReportExt as _};

const LEAKS: [(u64, &str); 3] = [
    (1111, "leak_alpha"),
    (2222, "leak_beta"),
    (3333, "leak_gamma"),
];

fn leak3_report() -> Report {
    let traced = Run::new(fixture("leak3")).traced();
    assert!(
        traced.output.status.success(),
        "leak3 under the preload: {}",
        traced.output.describe()
    );
    let report = traced.report();
    assert_clean("leak3", &report);
    report
}

fn find<'a>(report: &'a Report, bytes: u64, function: &str) -> &'a Leak {
    report
        .leaks_of_size(bytes)
        .into_iter()
        .find(|l| l.frame_index(function).is_some())
        .unwrap_or_else(|| {
            panic!(
                "leak3: no leak of {bytes} bytes with {function} in its stack; leaks:\n{}",
                report.describe_leaks()
            )
        })
}

/// The 1-based line of the first line of leak3.c containing `needle`.
fn source_line(needle: &str) -> u32 {
    let src = std::fs::read_to_string(fixtures_src_dir().join("leak3.c")).expect("read leak3.c");
    src.lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u32 + 1)
        .unwrap_or_else(|| panic!("leak3.c has no line with {needle:?}"))
}

#[test]
fn each_leak_has_its_named_function() {
    let report = leak3_report();
    for (bytes, function) in LEAKS {
        let leak = find(&report, bytes, function);
        assert_eq!(leak.blocks, 1, "leak3: the {bytes}-byte leak is one block");
    }
}

#[test]
fn leaks_are_largest_first() {
    let report = leak3_report();
    let sizes: Vec<u64> = report.leaks.iter().map(|l| l.bytes).collect();
    let mut sorted = sizes.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sizes, sorted, "leaks must be listed largest first");
}

#[test]
fn no_frame_inside_libmemscope() {
    let report = leak3_report();
    for leak in &report.leaks {
        for frame in &leak.stack {
            let module = frame.module.as_deref().unwrap_or("");
            assert!(
                !module.ends_with("libmemscope.so"),
                "leak of {} bytes has a frame inside libmemscope: {frame:?}",
                leak.bytes
            );
        }
    }
}

/// Without frame pointers the unwinder must still climb from the allocating
/// function through level3/level2/level1 to main, in that order.
#[test]
fn full_stacks_through_omitted_frame_pointers() {
    let report = leak3_report();
    let chains: [(u64, &str, &[&str]); 3] = [
        (1111, "leak_alpha", &["level3", "level2", "level1", "main"]),
        (2222, "leak_beta", &["level3", "level2", "level1", "main"]),
        (3333, "leak_gamma", &["level2", "level1", "main"]),
    ];
    for (bytes, function, callers) in chains {
        let leak = find(&report, bytes, function);
        let mut at = leak.frame_index(function).expect("found above");
        assert_eq!(
            at,
            0,
            "leak3: {function} should be the innermost frame, stack: {:?}",
            leak.functions()
        );
        for caller in callers {
            let next = leak.frame_index(caller).unwrap_or_else(|| {
                panic!(
                    "leak3: the {bytes}-byte leak's stack lacks {caller}: {:?}",
                    leak.functions()
                )
            });
            assert!(
                next > at,
                "leak3: {caller} is not above the previous frame in {:?}",
                leak.functions()
            );
            at = next;
        }
    }
}

/// The allocating frame is symbolized to leak3.c and the line of the malloc
/// call (a return address must be looked up as the call, not the next line).
#[test]
fn allocating_frame_has_file_and_line() {
    let report = leak3_report();
    for (bytes, function) in LEAKS {
        let leak = find(&report, bytes, function);
        let frame = &leak.stack[leak.frame_index(function).unwrap()];
        let file = frame.file.as_deref().unwrap_or("");
        assert!(
            file.ends_with("leak3.c"),
            "leak3: {function}'s frame should be in leak3.c: {frame:?}"
        );
        let needle = format!("malloc({bytes} + extra)");
        assert_eq!(
            frame.line,
            Some(source_line(&needle)),
            "leak3: {function}'s frame should point at the line of `{needle}`: {frame:?}"
        );
        let module = frame.module.as_deref().unwrap_or("");
        assert!(
            module.ends_with("/leak3"),
            "leak3: {function}'s module should be the leak3 executable: {frame:?}"
        );
    }
}

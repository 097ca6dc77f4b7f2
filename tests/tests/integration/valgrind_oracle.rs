//! Counts in memscope's report equal valgrind's for the fixtures that call
//! every allocation entry point: allocations, frees, bytes allocated and what
//! is live at exit (blocks and bytes), with a complete, consistent trace.
//!
//! valgrind is the oracle; the only numbers written here come from the fixture
//! sources (leak sizes, the pvalloc request).

use memscope_tests::{assert_clean, assert_counts_eq, dump_records, fixture, Counts, Report, Run};
use memscope_tests::{LeakExt as _, ReportExt as _};

/// Runs `run` traced and under valgrind; asserts equal counts, a clean trace,
/// equal stdout and exit status. Returns the report.
fn compare_with_valgrind(what: &str, run: &Run) -> Report {
    let native = run.native();
    assert!(
        native.status.success(),
        "{what} fails natively: {}",
        native.describe()
    );
    let (traced, vg_out, vg) = run.traced_and_valgrind();
    assert_eq!(
        traced.output.shell_status(),
        native.shell_status(),
        "{what}: exit status differs under the preload: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.stdout_str(),
        native.stdout_str(),
        "{what}: stdout differs under the preload"
    );
    let report = traced.report();
    assert_clean(what, &report);
    assert_eq!(
        vg_out.stdout_str(),
        native.stdout_str(),
        "{what}: stdout differs under valgrind"
    );
    assert_counts_eq(what, Counts::from(&report), vg.into());
    report
}

fn assert_leak(what: &str, report: &Report, bytes: u64, function: &str) {
    let leaks = report.leaks_of_size(bytes);
    assert!(
        leaks.iter().any(|l| l.blocks == 1 && l.frame_index(function).is_some()),
        "{what}: expected a leak of {bytes} bytes in 1 block whose stack contains {function}; leaks:\n{}",
        report.describe_leaks()
    );
}

#[test]
fn every_entry_matches_valgrind() {
    let run = Run::new(fixture("every_entry"));
    let report = compare_with_valgrind("every_entry", &run);
    assert_eq!(report.summary.threads, 1, "every_entry is single-threaded");
    // The four leaks of the fixture, from main (strdup's copy through strdup).
    assert_leak("every_entry", &report, 2001, "main");
    assert_leak("every_entry", &report, 2007, "main");
    assert_leak("every_entry", &report, 2013, "main");
    assert_leak("every_entry", &report, 26, "main");
    // peak_live_bytes: at least the 5003-byte realloc'd block plus the
    // leaks, and at most everything ever allocated.
    assert!(
        report.summary.peak_live_bytes >= 5003
            && report.summary.peak_live_bytes <= report.summary.bytes_allocated,
        "every_entry: implausible peak_live_bytes {} (bytes_allocated {})",
        report.summary.peak_live_bytes,
        report.summary.bytes_allocated
    );
}

/// valgrind 3.19 aborts on pvalloc, so the run with pvalloc is compared with
/// valgrind's counts of the run without it, plus exactly one allocation and
/// one free of the 1811 bytes the fixture requests: as for valloc and
/// memalign, what counts is the size the program asked for (glibc rounds
/// pvalloc's block up to a page, but that is allocator slack, like
/// malloc_usable_size minus the request).
#[test]
fn every_entry_with_pvalloc_adds_one_block() {
    let without = Run::new(fixture("every_entry"));
    let (_, vg) = without.valgrind();
    let pvalloc_bytes = 1811u64;
    let with = Run::new(fixture("every_entry")).arg("pvalloc");
    let native = with.native();
    assert!(
        native.status.success(),
        "every_entry pvalloc fails natively: {}",
        native.describe()
    );
    let traced = with.traced();
    assert_eq!(
        traced.output.shell_status(),
        0,
        "{}",
        traced.output.describe()
    );
    let report = traced.report();
    assert_clean("every_entry pvalloc", &report);
    let expected = Counts {
        allocs: vg.allocs + 1,
        frees: vg.frees + 1,
        bytes_allocated: vg.bytes_allocated + pvalloc_bytes,
        live_blocks: vg.live_blocks,
        live_bytes: vg.live_bytes,
    };
    assert_counts_eq(
        &format!(
            "every_entry pvalloc (valgrind without pvalloc + 1 block of {pvalloc_bytes} bytes)"
        ),
        Counts::from(&report),
        expected,
    );
}

#[test]
fn threads2_matches_valgrind() {
    let run = Run::new(fixture("threads2"));
    let report = compare_with_valgrind("threads2", &run);
    assert_eq!(
        report.summary.threads, 3,
        "threads2 runs main and two threads"
    );
    assert_leak("threads2", &report, 3001, "thread_a");
    assert_leak("threads2", &report, 3002, "thread_b");
}

/// Blocks cross the moment a second thread starts recording, in both directions (see
/// the fixture): counts still equal valgrind's and the replay finds every free after its
/// allocation. Before that moment the trace stores times to a 64 ns grain, after it
/// every nanosecond.
#[test]
fn solo_then_shared_matches_valgrind() {
    let run = Run::new(fixture("solo_then_shared"));
    let report = compare_with_valgrind("solo_then_shared", &run);
    assert_eq!(
        report.summary.threads, 2,
        "solo_then_shared runs main and a worker"
    );
    assert_leak("solo_then_shared", &report, 4321, "main");

    let traced = run.traced();
    // (stream, time) of every timed record of a thread stream, in file order.
    let mut times = Vec::new();
    let mut worker_start = None;
    for (stream, record) in dump_records(&traced.trace) {
        let Some(at) = record.find("time: ") else {
            continue;
        };
        let time: u64 = record[at + 6..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|t| t.parse().ok())
            .expect("a time");
        if stream == 2 && record.starts_with("ThreadStart") {
            worker_start = Some(time);
        }
        if stream > 0 {
            times.push((stream, time));
        }
    }
    let start = worker_start.expect("the worker's stream starts with ThreadStart");
    let coarse = |&&(_, t): &&(u32, u64)| t % 64 == 0;
    let solo: Vec<_> = times
        .iter()
        .filter(|&&(s, t)| s == 1 && t < start)
        .collect();
    assert!(
        solo.len() >= 1500,
        "main's events before the worker: {}",
        solo.len()
    );
    assert!(
        solo.iter().all(coarse),
        "a time recorded alone is not on the 64 ns grain: {:?}",
        solo.iter().find(|t| !coarse(t))
    );
    for s in [1, 2] {
        let shared: Vec<_> = times
            .iter()
            .filter(|&&(st, t)| st == s && t > start)
            .collect();
        assert!(
            shared.len() >= 20_000,
            "stream {s}: {} events after the worker started",
            shared.len()
        );
        assert!(
            !shared.iter().all(coarse),
            "stream {s}: times after the worker started are all on the 64 ns grain"
        );
    }
}

#[test]
fn cxx_newdelete_matches_valgrind() {
    let run = Run::new(fixture("cxx_newdelete"));
    let report = compare_with_valgrind("cxx_newdelete", &run);
    assert_eq!(
        report.summary.threads, 1,
        "cxx_newdelete is single-threaded"
    );
    assert_leak("cxx_newdelete", &report, 4001, "main");
    assert_leak("cxx_newdelete", &report, 4003, "main");
    assert_leak("cxx_newdelete", &report, 4005, "main");
}

#[test]
fn leak3_matches_valgrind() {
    let run = Run::new(fixture("leak3"));
    compare_with_valgrind("leak3", &run);
}

/// Rust's default allocator on Linux is the system one: Vec growth is realloc,
/// an over-aligned Box is posix_memalign.
#[test]
fn rust_alloc_matches_valgrind() {
    let run = Run::new(fixture("rust_alloc")).timeout(std::time::Duration::from_secs(60));
    let report = compare_with_valgrind("rust_alloc", &run);
    let found = report.leaks_of_size(5555).into_iter().any(|l| {
        l.stack.iter().any(|f| {
            f.function
                .as_deref()
                .is_some_and(|name| name.contains("rust_leak"))
        })
    });
    assert!(
        found,
        "rust_alloc: no 5555-byte leak from rust_leak; leaks:\n{}",
        report.describe_leaks()
    );
}

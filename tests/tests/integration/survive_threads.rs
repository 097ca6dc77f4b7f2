//! Threads under the preload (tests/fixtures/surv_threads.c): hundreds of
//! short-lived threads with cross-thread frees and address reuse replay with
//! zero inconsistencies and valgrind's counts; a thread that returns right
//! after allocating, and one leaving through `pthread_exit`, lose no event;
//! detached threads still allocating when the process exits leave a
//! complete, consistent trace.

use std::path::PathBuf;
use std::time::Duration;

use memscope_tests::{assert_clean, assert_counts_eq, build_test_program, Counts, Report, Run};
use memscope_tests::{LeakExt as _, ReportExt as _};

fn surv_threads() -> PathBuf {
    build_test_program(
        "surv_threads",
        "surv_threads.c",
        "gcc",
        &["-O1", "-g", "-pthread", "-Wall", "-Wextra"],
    )
}

fn run(mode: &str) -> Run {
    Run::new(surv_threads())
        .arg(mode)
        .timeout(Duration::from_secs(90))
}

/// Native and traced: same stdout, status 0; a clean trace. Returns the report.
fn traced_like_native(mode: &str) -> Report {
    let r = run(mode);
    let native = r.native();
    assert!(
        native.status.success(),
        "surv_threads {mode}: {}",
        native.describe()
    );
    let traced = r.traced();
    assert_eq!(
        traced.output.shell_status(),
        0,
        "{mode}: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.stdout_str(),
        native.stdout_str(),
        "{mode}: stdout differs"
    );
    let report = traced.report();
    assert_clean(&format!("surv_threads {mode}"), &report);
    report
}

#[test]
fn hundreds_of_short_threads_match_valgrind() {
    let r = run("many");
    let native = r.native();
    assert!(native.status.success(), "{}", native.describe());
    let (traced, vg_out, vg) = r.traced_and_valgrind();
    assert_eq!(
        traced.output.shell_status(),
        0,
        "{}",
        traced.output.describe()
    );
    assert_eq!(traced.output.stdout, native.stdout);
    assert_eq!(vg_out.stdout, native.stdout);
    let report = traced.report();
    assert_clean("surv_threads many", &report);
    assert_eq!(report.summary.threads, 301, "main and 300 threads");
    // 300 threads x 50 blocks, all freed (most by another thread).
    assert!(
        report.summary.allocations >= 15_000 && report.summary.frees >= 15_000,
        "surv_threads many: {} allocations, {} frees",
        report.summary.allocations,
        report.summary.frees
    );
    assert_counts_eq("surv_threads many", Counts::from(&report), vg.into());
}

#[test]
fn thread_returning_right_after_allocating_loses_nothing() {
    let report = traced_like_native("quick");
    // 100 blocks of 7001..=7100 bytes from quick_worker, all leaked.
    let bytes: u64 = (7001..=7100).sum();
    let from_worker: Vec<_> = report
        .leaks
        .iter()
        .filter(|l| l.frame_index("quick_worker") == Some(0))
        .collect();
    let blocks: u64 = from_worker.iter().map(|l| l.blocks).sum();
    let total: u64 = from_worker.iter().map(|l| l.bytes).sum();
    assert_eq!(
        (blocks, total),
        (100, bytes),
        "the thread's 100 blocks must all be in the trace; leaks:\n{}",
        report.describe_leaks()
    );
    assert_eq!(report.summary.threads, 2);
}

#[test]
fn pthread_exit_keeps_the_threads_events() {
    let report = traced_like_native("pexit");
    // 7201..=7204 leaked, 7205 freed before pthread_exit.
    let from_worker: Vec<_> = report
        .leaks
        .iter()
        .filter(|l| l.frame_index("pexit_worker") == Some(0))
        .collect();
    let blocks: u64 = from_worker.iter().map(|l| l.blocks).sum();
    let total: u64 = from_worker.iter().map(|l| l.bytes).sum();
    assert_eq!(
        (blocks, total),
        (4, 7201 + 7202 + 7203 + 7204),
        "pthread_exit: leaks:\n{}",
        report.describe_leaks()
    );
    assert!(report.summary.frees >= 1, "the 7205-byte free is recorded");
}

#[test]
fn detached_threads_running_at_exit() {
    let report = traced_like_native("detached");
    assert_eq!(report.summary.threads, 5, "main and 4 detached threads");
    let worker_7301: u64 = report
        .leaks
        .iter()
        .filter(|l| l.frame_index("detached_worker").is_some())
        .flat_map(|l| std::iter::repeat_n(l.bytes / l.blocks.max(1), l.blocks as usize))
        .filter(|b| *b == 7301)
        .count() as u64;
    assert_eq!(
        worker_7301,
        4,
        "each detached thread's 7301-byte block is in the trace; leaks:\n{}",
        report.describe_leaks()
    );
    assert!(
        report
            .leaks_of_size(7401)
            .iter()
            .any(|l| l.frame_index("detached").is_some()),
        "main's 7401-byte block; leaks:\n{}",
        report.describe_leaks()
    );
    // Every thread did at least 1000 malloc/free pairs before main returned.
    assert!(
        report.summary.allocations >= 4 * 1000 + 5,
        "allocations: {}",
        report.summary.allocations
    );
}

/// Blocks handed from thread to thread (allocated in one, freed in another under a
/// lock) must be stamped in causal order on every run, not just usually: an event
/// stamped by a timestamp read that ran ahead of the load that got the pointer shows up
/// as a double free in the replay. Before the clock read was fenced on frees too, this
/// failed within the first few of its 25 rounds of the 300-thread case (run without
/// stacks, which do not matter to the order and would only slow it down).
#[test]
fn cross_thread_handoffs_replay_in_order_every_time() {
    for round in 0..25 {
        let traced = run("many").env("MEMSCOPE_STACK_DEPTH", "0").traced();
        assert_eq!(
            traced.output.shell_status(),
            0,
            "round {round}: {}",
            traced.output.describe()
        );
        assert_clean(
            &format!("surv_threads many, round {round}"),
            &traced.report(),
        );
    }
}

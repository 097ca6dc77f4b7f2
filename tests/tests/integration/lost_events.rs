//! A thread whose ring stays full longer than `MEMSCOPE_FULL_RING_WAIT_MS` drops the
//! event instead of hanging the program; the trace counts what was dropped and every
//! report says so.
//!
//! `MEMSCOPE_FULL_RING_WAIT_MS=0` (never wait) with the smallest ring and no stacks makes
//! a tight allocation loop outrun the writer, which naps up to a millisecond between
//! rounds when nobody rings for it. The oracle is the same program traced normally: the
//! event records of its trace must be the lossy trace's plus the dropped events.

use std::path::Path;

use memscope_tests::{dump_records, fixture, memscope_ok, Run};

/// The records of the thread streams in `trace` (allocations, frees, reallocs, thread
/// starts and exits: each one event the tracer recorded).
fn thread_records(trace: &Path) -> u64 {
    dump_records(trace)
        .iter()
        .filter(|(stream, _)| *stream != 0)
        .count() as u64
}

#[test]
fn dropped_events_are_counted_and_reported() {
    let complete = Run::new(fixture("solo_then_shared")).traced();
    assert!(
        complete.output.status.success(),
        "{}",
        complete.output.describe()
    );
    assert_eq!(complete.report().trace.lost_events, 0);
    let all_events = thread_records(&complete.trace);

    for attempt in 1..=5 {
        let lossy = Run::new(fixture("solo_then_shared"))
            .env("MEMSCOPE_RING_KB", "64")
            .env("MEMSCOPE_STACK_DEPTH", "0")
            .env("MEMSCOPE_FULL_RING_WAIT_MS", "0")
            .traced();
        assert!(lossy.output.status.success(), "{}", lossy.output.describe());
        assert_eq!(lossy.output.stdout, complete.output.stdout);
        let r = lossy.report();
        assert!(
            !r.trace.truncated,
            "a lossy trace is still complete: {}",
            lossy.output.describe()
        );
        if r.trace.lost_events == 0 {
            eprintln!("attempt {attempt}: the writer kept up, nothing dropped");
            continue;
        }
        assert_eq!(
            thread_records(&lossy.trace) + r.trace.lost_events,
            all_events,
            "recorded events plus dropped ones must be every event ({} dropped)",
            r.trace.lost_events
        );
        let text = memscope_ok(&["analyze".as_ref(), lossy.trace.as_os_str()]);
        let line = format!("WARNING: the tracer dropped {} events", r.trace.lost_events);
        assert!(
            text.contains(&line),
            "the text report does not say `{line}`:\n{text}"
        );
        return;
    }
    panic!("five runs with a 64 KiB ring and no waiting dropped nothing: the test no longer provokes a full ring");
}

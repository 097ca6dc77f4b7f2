//! However the traced process ends (return, exit, _exit, _Exit, abort, a
//! segfault, glibc's abort on a double free), the trace holds the 4242-byte
//! block leaked by `leak_before_exit` just before, and the exit status is the
//! native one.

use memscope_report::ExitHowDoc;
use memscope_tests::{fixture, memscope_ok, Run};
use memscope_tests::{LeakExt as _, ReportExt as _};
use std::time::Duration;

/// Runs `exits PATH` natively and traced; checks the status is `expected`
/// in both, stdout and stderr are unchanged, and the trace lists the leak.
fn check_path(path: &str, expected_shell_status: i32, consistent: bool) {
    let run = Run::new(fixture("exits")).arg(path);
    let native = run.native();
    assert_eq!(
        native.shell_status(),
        expected_shell_status,
        "exits {path} natively: {}",
        native.describe()
    );
    let traced = run.traced();
    assert_eq!(
        traced.output.shell_status(),
        native.shell_status(),
        "exits {path}: exit status changed under the preload: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.status.signal_or_code(),
        native.status.signal_or_code(),
        "exits {path}: the process must end the same way (same signal or same code)"
    );
    assert_eq!(
        traced.output.stdout_str(),
        native.stdout_str(),
        "exits {path}: stdout differs"
    );
    assert_eq!(
        traced.output.stderr_str(),
        native.stderr_str(),
        "exits {path}: stderr differs"
    );

    let report = traced.report();
    assert!(
        !report.trace.truncated,
        "exits {path}: the trace is truncated: the tracer must flush on this exit path"
    );
    if consistent {
        assert_eq!(
            report.trace.inconsistencies, 0,
            "exits {path}: inconsistencies in the replay"
        );
    }
    let found = report
        .leaks_of_size(4242)
        .into_iter()
        .any(|l| l.blocks == 1 && l.frame_index("leak_before_exit").is_some());
    assert!(
        found,
        "exits {path}: no 4242-byte leak from leak_before_exit in the report; leaks:\n{}",
        report.describe_leaks()
    );
}

/// Distinguishes "killed by signal N" from "exited with 128+N".
trait SignalOrCode {
    fn signal_or_code(&self) -> (Option<i32>, Option<i32>);
}

impl SignalOrCode for std::process::ExitStatus {
    fn signal_or_code(&self) -> (Option<i32>, Option<i32>) {
        use std::os::unix::process::ExitStatusExt;
        (self.code(), self.signal())
    }
}

#[test]
fn return_from_main() {
    check_path("return", 0, true);
}

#[test]
fn exit() {
    check_path("exit", 3, true);
}

#[test]
fn status_returned_from_main_is_in_the_trace() {
    // The C library passes main's value to its own exit, which no hook sees: the trace
    // must still say 7, as it says 3 for exit(3), so that `memscope check` of the trace
    // alone knows the program failed.
    check_path("return7", 7, true);
    for (path, code) in [("return7", 7), ("exit", 3), ("return", 0)] {
        let exit = Run::new(fixture("exits"))
            .arg(path)
            .traced()
            .report()
            .trace
            .exit;
        let exit = exit.unwrap_or_else(|| panic!("exits {path}: no exit record"));
        assert_eq!(
            (exit.how, exit.code),
            (ExitHowDoc::Exit, code),
            "exits {path}"
        );
    }
}

#[test]
fn underscore_exit() {
    check_path("_exit", 4, true);
}

#[test]
fn underscore_capital_exit() {
    check_path("_Exit", 5, true);
}

#[test]
fn abort() {
    check_path("abort", 134, true);
}

#[test]
fn segv() {
    check_path("segv", 139, true);
}

/// The second free is of a block already freed: the replay may count it as an
/// inconsistency (it is the program's bug), so only the leak and status are checked.
#[test]
fn glibc_abort_on_double_free() {
    check_path("doublefree", 134, false);
}

/// The tracer's own fatal-signal handlers must not be visible to the program:
/// `sigaction(SIGSEGV, NULL, &old)` reports the default disposition natively,
/// and must under the preload too (programs install their handlers only where
/// none is set; see `rust_stack_overflow_message_and_status`).
#[test]
fn fatal_signal_dispositions_unchanged() {
    check_path("sighandlers", 0, true);
}

/// Rust's std reports a stack overflow from its own SIGSEGV handler, installed
/// only when the program has none, then aborts (134). Under the preload the
/// program must print the same message and end with the same status.
#[test]
fn rust_stack_overflow_message_and_status() {
    let run = Run::new(fixture("rust_stack_overflow")).timeout(Duration::from_secs(60));
    let native = run.native();
    assert_eq!(
        native.shell_status(),
        134,
        "rust_stack_overflow natively: {}",
        native.describe()
    );
    assert!(
        native.stderr_str().contains("has overflowed its stack"),
        "{}",
        native.describe()
    );
    let traced = run.traced();
    assert_eq!(
        traced.output.shell_status(),
        native.shell_status(),
        "rust_stack_overflow: exit status changed under the preload: {}",
        traced.output.describe()
    );
    assert!(
        traced
            .output
            .stderr_str()
            .contains("has overflowed its stack"),
        "rust_stack_overflow: std's stack overflow message is missing under the preload: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.stdout, native.stdout,
        "rust_stack_overflow: stdout differs"
    );
    let report = traced.report();
    assert!(
        !report.trace.truncated,
        "rust_stack_overflow: the trace is truncated"
    );
}

/// The end marker is the trace's last chunk: a trace cut before any chunk that follows it
/// would otherwise read as complete. Threads that end just before the process does leave
/// their last events in the writer's open chunks, and the request to end may come while
/// the writer is between rounds.
#[test]
fn end_marker_is_the_last_chunk() {
    for round in 0..8 {
        let traced = Run::new(fixture("mt")).traced();
        assert!(
            traced.output.status.success(),
            "{}",
            traced.output.describe()
        );
        let dump = memscope_ok(&["dump".as_ref(), traced.trace.as_os_str()]);
        let last_chunk = dump.rsplit("\nchunk @").next().unwrap_or_default();
        assert!(
            last_chunk.contains("End {"),
            "round {round}: the last chunk is not the end marker:\nchunk @{last_chunk}"
        );
    }
}

//! A thread's first allocation can happen inside libc while libc holds a lock
//! (pthread_getattr_np → fopen → malloc on the main thread). Whatever the
//! tracer does to set a thread up must not take that lock again: the program
//! must finish, with its native output, and its trace must be clean.
//! Every Rust program starts this way (std's stack guard setup).

use std::time::Duration;

use memscope_tests::{assert_clean, fixture, Run};

const TIMEOUT: Duration = Duration::from_secs(60);

fn check(name: &str) {
    let run = Run::new(fixture(name)).timeout(TIMEOUT);
    let native = run.native();
    assert!(
        native.status.success(),
        "{name} natively: {}",
        native.describe()
    );
    // A deadlock panics inside traced() after TIMEOUT, having killed the process.
    let traced = run.traced();
    assert_eq!(
        traced.output.shell_status(),
        0,
        "{name} under the preload: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.stdout, native.stdout,
        "{name}: stdout differs under the preload"
    );
    let report = traced.report();
    assert_clean(name, &report);
    assert!(
        report.summary.allocations > 0,
        "{name}: no allocations recorded"
    );
}

#[test]
fn pthread_getattr_np_before_any_malloc() {
    check("getattr_first");
}

#[test]
fn rust_program_starts() {
    check("rust_alloc");
}

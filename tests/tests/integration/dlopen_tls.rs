//! Threads started before a dlopen of libraries with a large __thread block
//! then use that TLS (which makes __tls_get_addr call malloc) and allocate in
//! a loop: under the preload this must neither hang nor crash, and print what
//! it prints natively.

use std::time::Duration;

use memscope_tests::{assert_clean, assert_counts_eq, fixture, fixture_lib_copies, Counts, Run};

const TIMEOUT: Duration = Duration::from_secs(60);

fn check(count: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let libs = fixture_lib_copies("bigtls.so", dir.path(), count);
    let run = Run::new(fixture("dlopen_tls"))
        .args(libs.iter().map(|p| p.display().to_string()))
        .timeout(TIMEOUT);
    let native = run.native();
    assert!(
        native.status.success(),
        "dlopen_tls natively: {}",
        native.describe()
    );
    // A hang panics inside traced() after TIMEOUT, having killed the process.
    let traced = run.traced();
    assert_eq!(
        traced.output.shell_status(),
        0,
        "dlopen_tls with {count} libraries under the preload: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.stdout_str(),
        native.stdout_str(),
        "dlopen_tls: stdout differs"
    );
    let report = traced.report();
    assert_clean("dlopen_tls", &report);
    assert_eq!(
        report.summary.threads, 5,
        "dlopen_tls runs main and 4 threads"
    );
    // Each thread does at least ROUNDS malloc/free pairs of its own.
    assert!(
        report.summary.allocations >= 4 * 2000,
        "too few allocations: {}",
        report.summary.allocations
    );
}

#[test]
fn one_library() {
    check(1);
}

/// 20 modules with TLS are more than the DTV's spare slots (14 in glibc), so
/// every thread's DTV is reallocated inside __tls_get_addr.
#[test]
fn twenty_libraries_grow_the_dtv() {
    check(20);
}

#[test]
fn counts_match_valgrind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let libs = fixture_lib_copies("bigtls.so", dir.path(), 3);
    let run = Run::new(fixture("dlopen_tls")).args(libs.iter().map(|p| p.display().to_string()));
    let (traced, _, vg) = run.traced_and_valgrind();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    let report = traced.report();
    assert_clean("dlopen_tls", &report);
    assert_counts_eq(
        "dlopen_tls with 3 libraries",
        Counts::from(&report),
        vg.into(),
    );
}

//! Crashes (tests/fixtures/surv_crash.c): after `abort`, a SIGSEGV and glibc's
//! own abort on a double free, the exit status is the native one and the last
//! event before the crash is in the trace (a block of a distinctive size
//! allocated right before it is reported live). After SIGKILL at a random
//! moment of an allocation loop, `memscope analyze` recovers what was
//! written: exit 0, `"truncated": true`, allocations counted.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memscope_tests::{
    all_trace_files, analyze, build_test_program, memscope, preload_lib, report_json, Report, Run,
};
use memscope_tests::{LeakExt as _, ReportExt as _};

fn surv_crash() -> PathBuf {
    build_test_program(
        "surv_crash",
        "surv_crash.c",
        "gcc",
        &["-O1", "-g", "-Wall", "-Wextra", "-Wno-use-after-free"],
    )
}

/// Runs `surv_crash MODE` natively and traced; same status (and it is
/// `status`); returns the report of the trace.
fn crash(mode: &str, status: i32) -> (Report, serde_json::Value) {
    let run = Run::new(surv_crash())
        .arg(mode)
        .timeout(Duration::from_secs(60));
    let native = run.native();
    assert_eq!(
        native.shell_status(),
        status,
        "surv_crash {mode} natively: {}",
        native.describe()
    );
    let traced = run.traced();
    assert_eq!(
        traced.output.shell_status(),
        status,
        "surv_crash {mode}: the exit status changes under the preload: {}",
        traced.output.describe()
    );
    let report = traced.report();
    let value = report_json(&traced.trace, &[]);
    assert!(
        !report.trace.truncated,
        "surv_crash {mode}: the trace is truncated although the tracer flushes on fatal signals"
    );
    (report, value)
}

/// 100 malloc/free pairs of history, then the distinctive block.
fn assert_last_block(mode: &str, r: &Report, size: u64) {
    assert!(
        r.leaks_of_size(size).iter().any(|l| l.frame_index("main").is_some()),
        "surv_crash {mode}: the {size}-byte block allocated right before the crash is not in the trace; leaks:\n{}",
        r.describe_leaks()
    );
    assert!(
        r.summary.allocations >= 101,
        "{mode}: allocations {}",
        r.summary.allocations
    );
}

#[test]
fn abort_keeps_the_last_allocation() {
    let (r, v) = crash("abort", 134);
    assert_eq!(r.trace.inconsistencies, 0);
    assert_last_block("abort", &r, 9111);
    assert_eq!(v["trace"]["exit"]["how"], "signal", "{}", v["trace"]);
    assert_eq!(v["trace"]["exit"]["code"], 6, "{}", v["trace"]);
}

#[test]
fn segfault_keeps_the_last_allocation() {
    let (r, v) = crash("segv", 139);
    assert_eq!(r.trace.inconsistencies, 0);
    assert_last_block("segv", &r, 9222);
    assert_eq!(v["trace"]["exit"]["how"], "signal", "{}", v["trace"]);
    assert_eq!(v["trace"]["exit"]["code"], 11, "{}", v["trace"]);
}

#[test]
fn glibc_double_free_abort_keeps_the_bad_free() {
    let (r, v) = crash("doublefree", 134);
    assert_last_block("doublefree", &r, 9333);
    // The last event is the second free of the 40-byte block. The replay
    // reports it either as an anomaly (a free of an address no longer live:
    // one inconsistency) or, with the double-free detector, as one finding.
    let double_frees: u64 = v["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter(|f| f["detector"] == "double-free")
                .map(|f| f["count"].as_u64().unwrap_or(1))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(
        r.trace.inconsistencies + double_frees,
        1,
        "the double free (the event glibc aborted in) must be in the trace, once: {} inconsistencies, {double_frees} double-free findings",
        r.trace.inconsistencies
    );
    // 100 history frees + the first free of the 40-byte block.
    assert_eq!(r.summary.frees, 101, "frees");
    assert_eq!(v["trace"]["exit"]["code"], 6, "{}", v["trace"]);
}

/// The program's own handler resets the signal to SIG_DFL and re-raises it
/// (coreutils sort does this for SIGPIPE): the tracer must still flush.
#[test]
fn own_handler_reraising_sigpipe_keeps_the_last_allocation() {
    let (r, v) = crash("reraise", 141);
    assert_eq!(r.trace.inconsistencies, 0);
    assert_last_block("reraise", &r, 9444);
    assert_eq!(v["trace"]["exit"]["code"], 13, "{}", v["trace"]);
}

/// A pseudo-random delay of 50..=250 ms (from the clock; no timing is asserted).
fn random_delay() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    Duration::from_millis(50 + (nanos / 7) % 201)
}

#[test]
fn sigkill_at_a_random_moment_leaves_a_readable_truncated_trace() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(surv_crash())
        .arg("loop")
        .env("LD_PRELOAD", preload_lib())
        .env("MEMSCOPE_OUTPUT", dir.path().join("%p.msl"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start surv_crash loop");
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read from surv_crash loop");
    assert_eq!(line, "started\n", "surv_crash loop did not start");
    let delay = random_delay();
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");

    let traces = all_trace_files(dir.path());
    let trace = dir.path().join(format!("{pid}.msl"));
    assert_eq!(traces, vec![trace.clone()], "one trace expected");
    let len = std::fs::metadata(&trace).unwrap().len();
    let r = analyze(&trace);
    assert!(
        r.trace.truncated,
        "killed after {delay:?}: a trace without its end must be reported truncated ({len} bytes)"
    );
    assert_eq!(
        r.trace.inconsistencies, 0,
        "killed after {delay:?}: the readable prefix replays cleanly"
    );
    // "started" is printed after 10001 allocations; the writer drains rings
    // continuously, so what reached the file before the kill is analyzed.
    assert!(
        r.summary.allocations > 0,
        "killed after {delay:?}: nothing recovered from a {len}-byte trace"
    );
    // The text report says so too, on stderr, naming the file and offset.
    let out = memscope(["analyze".as_ref(), trace.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert!(
        out.stderr_str().contains("truncated") && out.stderr_str().contains("offset"),
        "the text report's truncation note: {}",
        out.describe()
    );
}

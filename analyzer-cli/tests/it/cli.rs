//! The real `memscope` binary on synthetic traces: exit codes and the exact stderr lines
//! for corrupt and truncated traces, and `memscope run`'s status and missing-trace paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memscope_analyzer::trace::synth::{alloc, TraceBuilder};
use memscope_format::{AllocKind, Origin, Record, StackId};

fn memscope(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memscope"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run memscope")
}

fn trace() -> TraceBuilder {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[
            Record::ThreadStart { time: 1000, tid: 1 },
            alloc(1001, 0x10, 1234, AllocKind::Malloc, StackId::NONE),
        ],
    );
    t.chunk(
        1,
        1002,
        &[alloc(1002, 0x20, 1235, AllocKind::Malloc, StackId::NONE)],
    );
    t.end(1010);
    t
}

fn write(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("t.msl");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn corrupt_trace_is_one_line_and_exit_2() {
    let t = trace();
    let mut bytes = t.bytes().to_vec();
    bytes[t.chunk_offsets[0] as usize + 20] ^= 1;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &bytes);
    for format in ["text", "json"] {
        let out = memscope(&[
            ("analyze").as_ref(),
            path.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            stderr(&out),
            format!(
                "memscope: {}: checksum mismatch at byte offset {}\n",
                path.display(),
                t.chunk_offsets[0]
            )
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn not_a_trace_and_missing_file_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), b"hello, world, this is not a trace");
    let out = memscope(&["analyze".as_ref(), path.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "memscope: {}: not a memscope trace (bad magic) at byte offset 0\n",
            path.display()
        )
    );
    let empty = dir.path().join("empty.msl");
    std::fs::write(&empty, b"").unwrap();
    let out = memscope(&["analyze".as_ref(), empty.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "memscope: {}: empty file, the tracer wrote no header at byte offset 0\n",
            empty.display()
        )
    );
    let missing = dir.path().join("missing.msl");
    let out = memscope(&["analyze".as_ref(), missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(stderr(&out).starts_with(&format!("memscope: {}: ", missing.display())));
}

#[test]
fn truncated_trace_is_analyzed_with_a_note() {
    let t = trace();
    let cut = t.chunk_offsets[1] as usize + 10;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &t.bytes()[..cut]);
    let out = memscope(&["analyze".as_ref(), path.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "memscope: {}: trace is truncated at byte offset {}; analyzed what was complete\n",
            path.display(),
            t.chunk_offsets[1]
        )
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("in use at exit: 1,234 bytes in 1 block"),
        "{text}"
    );

    let out = memscope(&[
        "analyze".as_ref(),
        path.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["trace"]["truncated"], true);
    assert_eq!(v["summary"]["allocations"], 1);
}

#[test]
fn complete_trace_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), trace().bytes());
    let out = memscope(&[
        "analyze".as_ref(),
        path.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["trace"]["truncated"], false);
    assert_eq!(v["summary"]["bytes_allocated"], 1234 + 1235);
    assert_eq!(v["leaks"][0]["bytes"], 1234 + 1235);
}

#[test]
fn usage_error_exits_2() {
    let out = memscope(&["analyze".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    let out = memscope(&["frobnicate".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_without_a_trace_keeps_the_program_status() {
    // A fake tracer library: the loader cannot load it, so no trace is written, but the
    // program still runs (ld.so only warns about an unloadable LD_PRELOAD entry).
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libmemscope.so");
    std::fs::write(&fake, b"not an ELF").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_memscope"))
        .current_dir(dir.path())
        .args(["run", "--preload"])
        .arg(&fake)
        .args(["--", "sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("memscope: no trace found for sh (pid "),
        "{}",
        stderr(&out)
    );

    let out = Command::new(env!("CARGO_BIN_EXE_memscope"))
        .current_dir(dir.path())
        .args(["run", "--preload"])
        .arg(&fake)
        .args(["--", "sh", "-c", "kill -TERM $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 15), "{}", stderr(&out));
}

#[test]
fn run_with_missing_tracer_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = memscope(&[
        "run".as_ref(),
        "--preload".as_ref(),
        dir.path().join("nope.so").as_os_str(),
        "true".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("tracer library not found"),
        "{}",
        stderr(&out)
    );
}

//! Unit tests of the pipeline on synthetic traces written with the format crate's encoder.

use std::path::PathBuf;

use memscope_format::{AllocKind, ExitHow, FormatErrorKind, Origin, Record, StackId};

use crate::analysis::{analyze_file, Analysis};
use crate::error::CliError;
use crate::trace::reader::{read_index, TruncationReason};
use crate::trace::synth::{alloc, free, module, realloc, stack, TraceBuilder};

const NO_STACK: StackId = StackId::NONE;

fn write(t: &TraceBuilder) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.msl");
    std::fs::write(&path, t.bytes()).expect("write trace");
    (dir, path)
}

fn analyze(t: &TraceBuilder) -> Analysis {
    let (_dir, path) = write(t);
    analyze_file(&path).expect("analysis")
}

#[test]
fn realloc_split_and_cross_thread_reuse_are_consistent() {
    const A: u64 = 0x1000;
    const B: u64 = 0x2000;
    const X: u64 = 0x3000;
    let mut t = TraceBuilder::new(Origin::Start);
    // Thread 2's chunks come first in the file: order must come from times only.
    t.chunk(
        2,
        25,
        &[
            Record::ThreadStart { time: 25, tid: 2 },
            // Gets A after thread 1's realloc gave it up (t=20) but before it returned (t=40).
            alloc(30, A, 8, AllocKind::Malloc, NO_STACK),
            free(50, A, NO_STACK),
        ],
    );
    t.chunk(
        2,
        90,
        &[
            alloc(90, X, 4, AllocKind::Malloc, NO_STACK),
            // Same time as thread 1's allocation of X: the free must come first.
            free(100, X, NO_STACK),
        ],
    );
    t.chunk(
        1,
        5,
        &[
            Record::ThreadStart { time: 5, tid: 1 },
            alloc(10, A, 16, AllocKind::Malloc, NO_STACK),
            realloc(20, 40, A, B, 32, NO_STACK),
        ],
    );
    t.chunk(
        1,
        60,
        &[
            free(60, B, NO_STACK),
            alloc(100, X, 4, AllocKind::Malloc, NO_STACK),
            Record::ThreadExit { time: 110 },
        ],
    );
    t.end(120);
    let a = analyze(&t);
    let c = a.counters;
    assert_eq!(c.inconsistencies, 0);
    assert_eq!(
        (c.allocations, c.frees, c.bytes_allocated),
        (5, 4, 16 + 32 + 8 + 4 + 4)
    );
    assert_eq!((a.live_blocks, a.live_bytes), (1, 4));
    assert_eq!(c.threads, 2);
    // Event times before the header's start clock saturate to 0.
    assert_eq!(a.duration_ns, 0);
    assert!(a.index.truncation.is_none());
}

#[test]
fn counts_like_valgrind() {
    let (p1, p2, p3, p4) = (0x10u64, 0x20u64, 0x30u64, 0x40u64);
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[
            Record::ThreadStart { time: 1000, tid: 9 },
            alloc(1001, p1, 100, AllocKind::Malloc, StackId(1)),
            alloc(1002, p2, 50, AllocKind::Calloc, StackId(2)),
            realloc(1003, 1003, 0, p3, 30, StackId(3)), // alloc
            realloc(1004, 1005, p1, p4, 200, StackId(4)), // free + alloc
            realloc(1006, 1007, p2, 0, 0, StackId(5)),  // free
            realloc(1008, 1009, p3, 0, 64, StackId(5)), // failed
            // failed
            Record::AllocFailed {
                time: 1010,
                size: u64::MAX,
                kind: AllocKind::Malloc,
                stack: StackId(5),
            },
            free(1011, p4, NO_STACK),
            free(1012, 0x999, NO_STACK), // unknown: inconsistency
            alloc(1013, p3, 10, AllocKind::Malloc, StackId(6)), // live: inconsistency
        ],
    );
    t.chunk(
        0,
        1020,
        &[
            Record::ProcessExit {
                time: 1020,
                how: ExitHow::Exit,
                code: 3,
            },
            Record::ProcessExit {
                time: 1021,
                how: ExitHow::Shutdown,
                code: 0,
            },
            Record::End { time: 1030 },
        ],
    );
    let a = analyze(&t);
    let c = a.counters;
    assert_eq!(c.allocations, 5);
    assert_eq!(c.frees, 3);
    assert_eq!(c.bytes_allocated, 100 + 50 + 30 + 200 + 10);
    assert_eq!(c.failed_allocations, 2);
    assert_eq!(c.inconsistencies, 2);
    assert_eq!(c.inherited_frees, 0);
    assert_eq!(c.peak_live_bytes, 280);
    assert_eq!((a.live_blocks, a.live_bytes), (1, 10));
    assert_eq!(a.leaks.len(), 1);
    assert_eq!(a.leaks[0].stack, StackId(6));
    assert_eq!(a.duration_ns, 30);
    let exit = a.index.exit.expect("exit record");
    assert_eq!((exit.how, exit.code), (ExitHow::Exit, 3));
}

#[test]
fn fork_child_frees_of_inherited_blocks_are_not_inconsistencies() {
    for (origin, inherited, inconsistent) in [(Origin::ForkChild, 2, 0), (Origin::Start, 0, 2)] {
        let mut t = TraceBuilder::new(origin);
        t.chunk(
            1,
            1000,
            &[
                free(1001, 0x5000, NO_STACK),
                realloc(1002, 1003, 0x6000, 0x7000, 8, NO_STACK),
                free(1004, 0x7000, NO_STACK),
            ],
        );
        t.end(1010);
        let c = analyze(&t).counters;
        assert_eq!(c.inherited_frees, inherited, "{origin:?}");
        assert_eq!(c.inconsistencies, inconsistent, "{origin:?}");
        assert_eq!((c.allocations, c.frees), (1, 1), "{origin:?}");
    }
}

#[test]
fn leaks_are_grouped_by_stack_largest_first() {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[
            alloc(1001, 0x10, 5, AllocKind::Malloc, StackId(1)),
            alloc(1002, 0x20, 5, AllocKind::Malloc, StackId(1)),
            alloc(1003, 0x30, 10, AllocKind::Malloc, StackId(2)),
            alloc(1004, 0x40, 100, AllocKind::Malloc, StackId(3)),
            alloc(1005, 0x50, 1, AllocKind::New, StackId(4)),
        ],
    );
    t.end(1010);
    let a = analyze(&t);
    let order: Vec<(u64, u64, u64)> = a
        .leaks
        .iter()
        .map(|g| (g.stack.0, g.bytes, g.blocks))
        .collect();
    assert_eq!(order, vec![(3, 100, 1), (1, 10, 2), (2, 10, 1), (4, 1, 1)]);
}

#[test]
fn missing_end_record_is_truncation() {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[alloc(1001, 0x10, 5, AllocKind::Malloc, NO_STACK)],
    );
    let a = analyze(&t);
    let tr = a.index.truncation.expect("truncated");
    assert_eq!(tr.reason, TruncationReason::NoEndRecord);
    assert_eq!(tr.offset, t.bytes().len() as u64);
    assert_eq!(a.counters.allocations, 1);
    assert_eq!(a.duration_ns, 1);
}

#[test]
fn torn_tail_is_truncation_and_the_prefix_is_analyzed() {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[alloc(1001, 0x10, 5, AllocKind::Malloc, NO_STACK)],
    );
    t.chunk(
        1,
        1002,
        &[alloc(1002, 0x20, 7, AllocKind::Malloc, NO_STACK)],
    );
    t.end(1010);
    let last = t.chunk_offsets[2] as usize;
    let full = t.bytes().to_vec();
    for cut in [last - 3, last + 5, full.len() - 1] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.msl");
        std::fs::write(&path, &full[..cut]).unwrap();
        let a = analyze_file(&path).expect("a torn tail is not an error");
        let tr = a.index.truncation.expect("truncated");
        assert_eq!(tr.reason, TruncationReason::TornTail, "cut at {cut}");
        let expect_at = if cut < last {
            t.chunk_offsets[1]
        } else {
            t.chunk_offsets[2]
        };
        assert_eq!(tr.offset, expect_at, "cut at {cut}");
        assert_eq!(
            a.counters.allocations,
            if cut < last { 1 } else { 2 },
            "cut at {cut}"
        );
    }
}

#[test]
fn bad_record_inside_a_good_chunk_is_corruption_with_its_offset() {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[alloc(1001, 0x10, 5, AllocKind::Malloc, NO_STACK)],
    );
    // Base time 5 (one byte), then the unknown tag 99.
    t.raw_chunk(2, &[5, 99]);
    t.end(1010);
    let (_dir, path) = write(&t);
    // Pass 1 only checks a thread chunk's checksum; the replay decodes it.
    assert!(read_index(&path).is_ok());
    match analyze_file(&path) {
        Err(CliError::Format { err, .. }) => {
            assert_eq!(err.kind, FormatErrorKind::UnknownRecord(99));
            assert_eq!(err.offset, t.chunk_offsets[1] + 16 + 1);
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

/// Pass 1 counts a thread's events by its chunk headers; a header whose count does not
/// match the records is corruption, named at the count's offset.
#[test]
fn wrong_record_count_is_corruption_with_its_offset() {
    let mut payload = vec![0u8; 256];
    let mut e = memscope_format::Enc::new(&mut payload);
    let mut c = memscope_format::ChunkEnc::begin(&mut e, 1000).unwrap();
    for r in [
        alloc(1001, 0x10, 5, AllocKind::Malloc, NO_STACK),
        alloc(1002, 0x20, 5, AllocKind::Malloc, NO_STACK),
    ] {
        c.put(&mut e, &r).unwrap();
    }
    c.finish(&mut e).unwrap();
    let n = e.len();
    for (records, ok) in [(2, true), (3, false), (1, false)] {
        let mut t = TraceBuilder::new(Origin::Start);
        t.raw_chunk_counted(1, &payload[..n], records);
        t.end(1010);
        let (_dir, path) = write(&t);
        match analyze_file(&path) {
            Ok(a) => assert!(
                ok,
                "count {records}: accepted, {} allocations",
                a.counters.allocations
            ),
            Err(CliError::Format { err, .. }) => {
                assert!(!ok, "count {records}: {err}");
                assert_eq!(err.kind, FormatErrorKind::BadValue("chunk record count"));
                assert_eq!(
                    err.offset,
                    t.chunk_offsets[0] + memscope_format::chunk::RECORDS_FIELD_OFFSET
                );
            }
            Err(other) => panic!("count {records}: {other}"),
        }
    }
}

#[test]
fn bad_checksum_in_the_middle_is_corruption_with_its_offset() {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[alloc(1001, 0x10, 5, AllocKind::Malloc, NO_STACK)],
    );
    t.end(1010);
    let mut bytes = t.bytes().to_vec();
    let at = t.chunk_offsets[0] as usize + 16 + 2;
    bytes[at] ^= 0x40;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.msl");
    std::fs::write(&path, &bytes).unwrap();
    let err = analyze_file(&path).expect_err("corrupt");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: checksum mismatch at byte offset {}",
            path.display(),
            t.chunk_offsets[0]
        )
    );
}

#[test]
fn every_prefix_and_every_flipped_byte_is_handled_without_panic() {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        0,
        900,
        &[
            module(1, 0x1000, 0x9000, b"/bin/synth", &[1, 2, 3]),
            stack(StackId(1), &[0x1100, 0x1200, 0x7000_0000]),
        ],
    );
    t.chunk(
        1,
        1000,
        &[
            Record::ThreadStart { time: 1000, tid: 1 },
            alloc(1001, 0x10, 5, AllocKind::Malloc, StackId(1)),
            realloc(1002, 1003, 0x10, 0x20, 9, StackId(1)),
        ],
    );
    t.end(1010);
    let full = t.bytes().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.msl");
    for cut in 0..full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let _ = analyze_file(&path);
    }
    for i in 0..full.len() {
        let mut b = full.clone();
        b[i] ^= 0xff;
        std::fs::write(&path, &b).unwrap();
        if let Ok(a) = analyze_file(&path) {
            let _ = crate::cmd::commands::render(&a, crate::report::Format::Json, false);
        }
    }
}

#[test]
fn stacks_bind_to_the_modules_loaded_when_they_were_recorded() {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        0,
        900,
        &[
            module(1, 0x1000, 0x2000, b"/lib/a.so", b""),
            module(2, 0x5000, 0x6000, b"/lib/libmemscope.so", b""),
            stack(StackId(1), &[0x5010, 0x1800, 0x3000]),
            Record::ModuleUnload { id: 1 },
            module(1, 0x1000, 0x2000, b"/lib/b.so", b""),
            stack(StackId(2), &[0x1800]),
        ],
    );
    t.end(1010);
    let (_dir, path) = write(&t);
    let index = read_index(&path).unwrap();
    let module_of = |stack: u64, frame: usize| {
        index.stack(StackId(stack))[frame]
            .module
            .and_then(|m| index.module(m))
            .map(|m| m.path.clone())
    };
    assert_eq!(module_of(1, 0).as_deref(), Some("/lib/libmemscope.so"));
    assert_eq!(module_of(1, 1).as_deref(), Some("/lib/a.so"));
    assert_eq!(module_of(1, 2), None);
    assert_eq!(module_of(2, 0).as_deref(), Some("/lib/b.so"));
    // Symbolized: the tracer's frame is dropped, unknown files give bare frames.
    let frames = crate::symbols::symbolize::Symbolizer::new()
        .symbolize_stack(&index, index.stack(StackId(1)));
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].address, 0x1800);
    assert_eq!(frames[0].module.as_deref(), Some("/lib/a.so"));
    assert_eq!(frames[0].function, None);
    assert_eq!(frames[1].module, None);
}

#[test]
fn json_report_has_the_documented_shape() {
    let mut t = TraceBuilder::new(Origin::ForkChild);
    t.chunk(
        1,
        1000,
        &[
            Record::ThreadStart { time: 1000, tid: 1 },
            alloc(1001, 0x10, 5, AllocKind::Malloc, StackId(1)),
        ],
    );
    t.chunk(
        0,
        1005,
        &[Record::ProcessExit {
            time: 1005,
            how: ExitHow::QuickExit,
            code: 4,
        }],
    );
    let a = analyze(&t);
    let json = crate::cmd::commands::render(&a, crate::report::Format::Json, false);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], memscope_report::SCHEMA);
    assert_eq!(v["trace"]["pid"], 100);
    assert_eq!(v["trace"]["exe"], "/bin/synth");
    assert_eq!(v["trace"]["args"], serde_json::json!(["synth", "-x"]));
    assert_eq!(v["trace"]["truncated"], true);
    assert_eq!(v["trace"]["origin"], "fork_child");
    assert_eq!(
        v["trace"]["exit"],
        serde_json::json!({"how": "_exit", "code": 4})
    );
    assert_eq!(
        v["summary"]["live_at_exit"],
        serde_json::json!({"blocks": 1, "bytes": 5})
    );
    assert_eq!(v["summary"]["threads"], 1);
    assert_eq!(v["leaks"][0]["bytes"], 5);
    assert_eq!(v["leaks"][0]["stack"], serde_json::json!([]));
    let text = crate::cmd::commands::render(&a, crate::report::Format::Text, false);
    assert!(
        text.contains("in use at exit: 5 bytes in 1 block"),
        "{text}"
    );
    assert!(
        text.contains("total heap usage: 1 allocs, 0 frees, 5 bytes allocated"),
        "{text}"
    );
}

#[test]
fn json_report_reads_back_into_the_same_document() {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[
            Record::ThreadStart { time: 1000, tid: 1 },
            alloc(1001, 0x10, 5, AllocKind::Malloc, StackId(1)),
            free(1002, 0x10, StackId(1)),
            free(1003, 0x10, StackId(1)),
            Record::Alloc {
                time: 1004,
                ptr: 0x20,
                size: 7,
                align: 1,
                kind: AllocKind::New,
                stack: StackId(1),
                slack: 0,
            },
        ],
    );
    t.chunk(
        0,
        1005,
        &[Record::ProcessExit {
            time: 1005,
            how: ExitHow::Signal,
            code: 11,
        }],
    );
    let a = analyze(&t);
    let json = crate::cmd::commands::render(&a, crate::report::Format::Json, false);
    let doc: memscope_report::ReportDoc = serde_json::from_str(&json).unwrap();
    assert_eq!(
        doc.findings[0].detector,
        memscope_report::Detector::DoubleFree
    );
    assert_eq!(crate::report::json::render(&doc), json);
}

#[test]
fn same_time_in_one_stream_keeps_record_order() {
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[
            alloc(1001, 0x10, 5, AllocKind::Malloc, NO_STACK),
            free(1001, 0x10, NO_STACK),
            // A clock that stepped back inside a stream still replays in record order.
            alloc(1000, 0x10, 6, AllocKind::Malloc, NO_STACK),
        ],
    );
    t.chunk(
        2,
        1001,
        &[alloc(1001, 0x20, 7, AllocKind::Malloc, NO_STACK)],
    );
    t.end(1010);
    let a = analyze(&t);
    assert_eq!(a.counters.inconsistencies, 0);
    assert_eq!(
        (a.counters.allocations, a.counters.frees, a.live_bytes),
        (3, 1, 13)
    );
}

/// A list held through a table from a global root: each block's holder links are walked
/// once; every block ends at the root; the chain to the leaf merges the list's nodes into
/// one step; a block whose holder the check did not report has no holder.
#[test]
fn holder_links_end_at_the_root_and_chains_merge_list_nodes() {
    use crate::analysis::reach::{Chain, HeldBy};
    use crate::trace::synth::{reach, reach_end, root};
    use memscope_format::{Holder, LeakKind, RootKind};
    let (table, node, leaf, stray) = (StackId(1), StackId(2), StackId(3), StackId(4));
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(
        1,
        1000,
        &[
            alloc(1001, 0x100, 64, AllocKind::Malloc, table),
            alloc(1002, 0x200, 16, AllocKind::Malloc, node),
            alloc(1003, 0x300, 16, AllocKind::Malloc, node),
            alloc(1004, 0x400, 16, AllocKind::Malloc, node),
            alloc(1005, 0x500, 8, AllocKind::Malloc, leaf),
            alloc(1006, 0x600, 8, AllocKind::Malloc, stray),
        ],
    );
    let sr = LeakKind::StillReachable;
    t.chunk(
        0,
        1100,
        &[
            root(7, RootKind::Global, 0x4000, 0, 0),
            reach(0x500, sr, Holder::Block(0x400)),
            reach(0x400, sr, Holder::Block(0x300)),
            reach(0x300, sr, Holder::Block(0x200)),
            reach(0x200, sr, Holder::Block(0x100)),
            reach(0x100, sr, Holder::Root(7)),
            reach(0x600, sr, Holder::Block(0x999)),
            reach_end(6, 1),
            Record::End { time: 1200 },
        ],
    );
    let a = analyze(&t);
    let k = a.results.leak_kinds.as_ref().expect("leak check");
    assert_eq!((k.totals(sr).blocks, k.totals(sr).bytes), (6, 128));
    assert_eq!((k.unknown_blocks, k.unjudged_blocks), (0, 0));
    let held = |s| k.holders.get(&(s, sr)).cloned().unwrap_or_default();
    assert_eq!(held(node).held_by, vec![(HeldBy::Root(7), 3)]);
    assert_eq!(
        held(leaf).chain,
        Some(Chain {
            root: 7,
            steps: vec![table, node]
        })
    );
    assert_eq!(
        held(node).chain,
        Some(Chain {
            root: 7,
            steps: vec![table]
        })
    );
    assert_eq!(
        held(table).chain,
        Some(Chain {
            root: 7,
            steps: vec![]
        })
    );
    assert_eq!(held(stray).held_by, vec![]);
    assert_eq!(held(stray).chain, None);
    let groups: Vec<(u64, u64, Option<LeakKind>)> = a
        .leaks
        .iter()
        .map(|g| (g.stack.0, g.bytes, g.kind))
        .collect();
    assert_eq!(
        groups,
        vec![
            (1, 64, Some(sr)),
            (2, 48, Some(sr)),
            (3, 8, Some(sr)),
            (4, 8, Some(sr))
        ]
    );
}

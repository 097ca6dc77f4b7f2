//! Round trips of the record coding: every record kind by hand, randomized record
//! streams (proptest) written through chunks of random sizes and decoded back to the same
//! records, and hostile payloads that must give errors, never panics.

use proptest::prelude::*;

use super::*;
use crate::error::{FormatError, FormatErrorKind};
use crate::varint::Enc;

/// Encodes `records` as one finished chunk payload.
fn chunk(base: u64, records: &[Record<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 16];
    let mut e = Enc::new(&mut buf);
    let mut c = ChunkEnc::begin(&mut e, base).unwrap();
    for r in records {
        c.put(&mut e, r).unwrap();
    }
    c.finish(&mut e).unwrap();
    let n = e.len();
    buf.truncate(n);
    buf
}

/// A `Stack` record of `frames`.
fn stack(id: StackId, frames: &[u64]) -> Record<'static> {
    Record::Stack {
        id,
        frames: frames.to_vec(),
    }
}

/// A `malloc` of `size` bytes at `ptr`, its slack unknown (0).
fn malloc(time: u64, ptr: u64, size: u64, stack: StackId) -> Record<'static> {
    Record::Alloc {
        time,
        ptr,
        size,
        align: 0,
        kind: AllocKind::Malloc,
        stack,
        slack: 0,
    }
}

fn decode(payload: &[u8]) -> Vec<String> {
    RecordDecoder::new(payload)
        .unwrap()
        .map(|r| format!("{:?}", r.unwrap()))
        .collect()
}

#[test]
fn every_record_round_trips() {
    let payload = chunk(
        1000,
        &[
            Record::Module {
                id: 1,
                base: 0x1000,
                start: 0x1000,
                end: 0x9000,
                path: b"/bin/x",
                build_id: &[1, 2, 3],
            },
            Record::Stack {
                id: StackId(7),
                frames: vec![0x401136, 0x401000, 0x7fff_0000_1234],
            },
            Record::ThreadStart {
                time: 1001,
                tid: 77,
            },
            Record::Alloc {
                time: 1002,
                ptr: 0x5555_0000,
                size: 16,
                align: 0,
                kind: AllocKind::Malloc,
                stack: StackId(7),
                slack: 8,
            },
            Record::Realloc {
                time_before: 1003,
                time: 1005,
                old: 0x5555_0000,
                new: 0x5555_1000,
                size: 64,
                kind: AllocKind::Realloc,
                stack: StackId(7),
                slack: 0,
            },
            Record::Free {
                time: 1006,
                ptr: 0x5555_1000,
                kind: FreeKind::Delete,
                stack: StackId::NONE,
                size: 0,
                align: 0,
            },
            Record::AllocFailed {
                time: 1007,
                size: u64::MAX,
                kind: AllocKind::Calloc,
                stack: StackId(7),
            },
            Record::ThreadExit { time: 1008 },
            Record::ProcessExit {
                time: 1009,
                how: ExitHow::Signal,
                code: 11,
            },
            Record::Fork {
                time: 1010,
                child_pid: 99,
            },
            Record::ModuleUnload { id: 1 },
            Record::Alloc {
                time: 1011,
                ptr: 0x7000,
                size: 64,
                align: 4096,
                kind: AllocKind::PosixMemalign,
                stack: StackId(3),
                slack: 4032,
            },
            Record::Realloc {
                time_before: 1012,
                time: 1012,
                old: 0x7000,
                new: 0x7000,
                size: 100,
                kind: AllocKind::Pvalloc,
                stack: StackId(3),
                slack: 4,
            },
            Record::Realloc {
                time_before: 1013,
                time: 1013,
                old: 0,
                new: 0x8000,
                size: 10,
                kind: AllocKind::ReallocArray,
                stack: StackId(9),
                slack: 0,
            },
            Record::Realloc {
                time_before: 1014,
                time: 1014,
                old: 0x8000,
                new: 0,
                size: 0,
                kind: AllocKind::Realloc,
                stack: StackId(9),
                slack: 0,
            },
            Record::Lost {
                time: 1015,
                events: 12_345,
            },
            Record::End { time: 1016 },
        ],
    );
    let recs: Vec<_> = RecordDecoder::new(&payload)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(recs.len(), 17);
    assert_eq!(
        recs[0],
        Record::Module {
            id: 1,
            base: 0x1000,
            start: 0x1000,
            end: 0x9000,
            path: b"/bin/x",
            build_id: &[1, 2, 3]
        }
    );
    assert_eq!(
        recs[1],
        Record::Stack {
            id: StackId(7),
            frames: vec![0x401136, 0x401000, 0x7fff_0000_1234]
        }
    );
    assert_eq!(
        recs[2],
        Record::ThreadStart {
            time: 1001,
            tid: 77
        }
    );
    assert_eq!(
        recs[3],
        Record::Alloc {
            time: 1002,
            ptr: 0x5555_0000,
            size: 16,
            align: 0,
            kind: AllocKind::Malloc,
            stack: StackId(7),
            slack: 8
        }
    );
    assert_eq!(
        recs[4],
        Record::Realloc {
            time_before: 1003,
            time: 1005,
            old: 0x5555_0000,
            new: 0x5555_1000,
            size: 64,
            kind: AllocKind::Realloc,
            stack: StackId(7),
            slack: 0
        }
    );
    assert_eq!(
        recs[5],
        Record::Free {
            time: 1006,
            ptr: 0x5555_1000,
            kind: FreeKind::Delete,
            stack: StackId::NONE,
            size: 0,
            align: 0,
        }
    );
    assert_eq!(
        recs[6],
        Record::AllocFailed {
            time: 1007,
            size: u64::MAX,
            kind: AllocKind::Calloc,
            stack: StackId(7)
        }
    );
    assert_eq!(recs[7], Record::ThreadExit { time: 1008 });
    assert_eq!(
        recs[8],
        Record::ProcessExit {
            time: 1009,
            how: ExitHow::Signal,
            code: 11
        }
    );
    assert_eq!(
        recs[9],
        Record::Fork {
            time: 1010,
            child_pid: 99
        }
    );
    assert_eq!(recs[10], Record::ModuleUnload { id: 1 });
    assert_eq!(
        recs[11],
        Record::Alloc {
            time: 1011,
            ptr: 0x7000,
            size: 64,
            align: 4096,
            kind: AllocKind::PosixMemalign,
            stack: StackId(3),
            slack: 4032
        }
    );
    assert_eq!(
        recs[12],
        Record::Realloc {
            time_before: 1012,
            time: 1012,
            old: 0x7000,
            new: 0x7000,
            size: 100,
            kind: AllocKind::Pvalloc,
            stack: StackId(3),
            slack: 4
        }
    );
    assert_eq!(
        recs[13],
        Record::Realloc {
            time_before: 1013,
            time: 1013,
            old: 0,
            new: 0x8000,
            size: 10,
            kind: AllocKind::ReallocArray,
            stack: StackId(9),
            slack: 0
        }
    );
    assert_eq!(
        recs[14],
        Record::Realloc {
            time_before: 1014,
            time: 1014,
            old: 0x8000,
            new: 0,
            size: 0,
            kind: AllocKind::Realloc,
            stack: StackId(9),
            slack: 0
        }
    );
    assert_eq!(
        recs[15],
        Record::Lost {
            time: 1015,
            events: 12_345
        }
    );
    assert_eq!(recs[16], Record::End { time: 1016 });
}

#[test]
fn stacks_share_their_outer_frames() {
    let outer: Vec<u64> = (0..30).map(|i| 0x40_0000 + 0x100 * i).collect();
    let over_outer = |inner: &[u64]| -> Vec<u64> {
        inner.iter().copied().chain(outer.iter().copied()).collect()
    };
    let (a, b, c) = (
        over_outer(&[0x7001, 0x7002]),
        over_outer(&[0x7003]),
        vec![0x9000],
    );
    let payload = chunk(
        0,
        &[
            stack(StackId(1), &a),
            stack(StackId(2), &b),
            stack(StackId(3), &c),
            stack(StackId(4), &b),
        ],
    );
    let recs: Vec<_> = RecordDecoder::new(&payload)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        recs,
        vec![
            Record::Stack {
                id: StackId(1),
                frames: a.clone()
            },
            Record::Stack {
                id: StackId(2),
                frames: b.clone()
            },
            Record::Stack {
                id: StackId(3),
                frames: c.clone()
            },
            Record::Stack {
                id: StackId(4),
                frames: b.clone()
            },
        ]
    );
    // The second stack costs its own frame and a count.
    let one = chunk(0, &[stack(StackId(1), &a)]).len();
    assert!(chunk(0, &[stack(StackId(1), &a), stack(StackId(2), &b)]).len() < one + 10);
}

#[test]
fn predicted_fields_cost_nothing() {
    // A malloc/free loop over a few blocks: after the first round every pointer is a
    // ring index, every stack and size predicted.
    let loop_records: Vec<Record<'_>> = (0..1000u64)
        .flat_map(|i| {
            let p = 0x1000 + (i % 4) * 0x40;
            [
                malloc(10 * i, p, 24, StackId(2)),
                Record::Free {
                    time: 10 * i + 5,
                    ptr: p,
                    kind: FreeKind::Free,
                    stack: StackId(3),
                    size: 0,
                    align: 0,
                },
            ]
        })
        .collect();
    let payload = chunk(0, &loop_records);
    // Per event: the opcode, a one-byte time delta and a one-byte ring index.
    assert!(payload.len() < 2000 * 3 + 200, "{} bytes", payload.len());
    assert_eq!(decode(&payload).len(), 2000);
}

#[test]
fn a_clock_that_steps_back_decodes_at_the_previous_time() {
    let payload = chunk(
        100,
        &[
            malloc(150, 0x10, 1, StackId::NONE),
            Record::Free {
                time: 120,
                ptr: 0x10,
                kind: FreeKind::Free,
                stack: StackId::NONE,
                size: 0,
                align: 0,
            },
            Record::ThreadExit { time: 160 },
        ],
    );
    let recs: Vec<_> = RecordDecoder::new(&payload)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(matches!(recs[1], Record::Free { time: 150, .. }));
    assert_eq!(recs[2], Record::ThreadExit { time: 160 });
}

#[test]
fn a_payload_without_directory_is_all_main_stream() {
    // Base time 5, then records that need no side stream.
    let recs: Vec<_> = RecordDecoder::new(&[5, op::MODULE_UNLOAD, 3])
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(recs, vec![Record::ModuleUnload { id: 3 }]);
    let e = RecordDecoder::new(&[5, 99])
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(e, FormatError::new(1, FormatErrorKind::UnknownRecord(99)));
    // An event needs its side streams.
    let e = RecordDecoder::new(&[5, op::THREAD_EXIT])
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind, FormatErrorKind::UnexpectedEnd);
}

#[test]
fn unread_side_stream_bytes_are_an_error() {
    let mut payload = chunk(0, &[Record::ThreadExit { time: 5 }]);
    // Claim one more main byte than there is... by moving a byte from the time stream's
    // length to the size stream's: the lengths still add up, the streams do not.
    let dir = 1; // after the one-byte base time
    let len_at = |i: usize| dir + 1 + 4 * i;
    payload[len_at(1)] -= 1; // time heads
    payload[len_at(1 + 2 * crate::model::F_SIZE)] += 1; // size heads
    let r: Result<Vec<_>, _> = RecordDecoder::new(&payload).unwrap().collect();
    assert!(r.is_err());
}

#[test]
fn truncation_at_every_byte_never_panics() {
    let payload = chunk(
        5,
        &[
            stack(StackId(1), &[1, 2, 3, 4]),
            Record::Alloc {
                time: 6,
                ptr: 0x10,
                size: 16,
                align: 0,
                kind: AllocKind::New,
                stack: StackId(1),
                slack: 0,
            },
            Record::Free {
                time: 7,
                ptr: 0x10,
                kind: FreeKind::Delete,
                stack: StackId(1),
                size: 0,
                align: 0,
            },
            Record::Realloc {
                time_before: 8,
                time: 9,
                old: 0x10,
                new: 0x20,
                size: 5,
                kind: AllocKind::Realloc,
                stack: StackId(2),
                slack: 0,
            },
        ],
    );
    for cut in 0..payload.len() {
        if let Ok(dec) = RecordDecoder::new(&payload[..cut]) {
            for _ in dec {}
        }
    }
}

/// One generated event; the driver turns choices into concrete, consistent records.
#[derive(Debug, Clone)]
struct Step {
    what: u8,
    pick: u16,
    dt: u64,
    size: u64,
    stack: u8,
    raw: u64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        any::<u8>(),
        any::<u16>(),
        prop_oneof![0u64..300, 0u64..100_000, any::<u32>().prop_map(u64::from)],
        prop_oneof![1u64..200, any::<u64>()],
        any::<u8>(),
        any::<u64>(),
    )
        .prop_map(|(what, pick, dt, size, stack, raw)| Step {
            what,
            pick,
            dt,
            size,
            stack,
            raw,
        })
}

/// The records `steps` describe, as owned values (paths live in `paths`).
fn records<'p>(steps: &[Step], paths: &'p [Vec<u8>]) -> Vec<Record<'p>> {
    let mut live: Vec<u64> = Vec::new();
    let mut freed: Vec<u64> = Vec::new();
    let mut t = 1000u64;
    let mut next_ptr = 0x5555_0000_0000u64;
    let mut out = Vec::new();
    for s in steps {
        t = t.saturating_add(s.dt);
        let stack = StackId(match s.stack % 4 {
            0 => (s.stack / 4 % 4) as u64,
            1 => s.raw % 1000,
            _ => (s.stack % 16) as u64,
        });
        let kind = AllocKind::ALL[s.pick as usize % AllocKind::ALL.len()];
        let common = if s.pick % 3 == 0 {
            kind
        } else {
            AllocKind::Malloc
        };
        let size = if s.stack % 5 == 0 {
            s.size
        } else {
            s.size % 64
        };
        let slack = if s.pick % 7 == 0 {
            s.raw % 50
        } else {
            crate::model::predicted_slack(size)
        };
        let fresh = |next_ptr: &mut u64| {
            *next_ptr += 16 * (1 + s.raw % 8);
            *next_ptr
        };
        let pick = |v: &Vec<u64>| v[v.len() - 1 - s.pick as usize % v.len().min(40)];
        out.push(match s.what % 17 {
            0..=5 => {
                let ptr = match s.raw % 4 {
                    0 if !freed.is_empty() => pick(&freed),
                    1 => s.raw,
                    _ => fresh(&mut next_ptr),
                };
                live.push(ptr);
                let align = if s.what % 32 == 1 {
                    1 << (s.raw % 13)
                } else {
                    0
                };
                Record::Alloc {
                    time: t,
                    ptr,
                    size,
                    align,
                    kind: common,
                    stack,
                    slack,
                }
            }
            6..=10 => {
                let ptr = match s.raw % 5 {
                    0 => s.raw | 1,
                    _ if !live.is_empty() => pick(&live),
                    _ => 0x40,
                };
                freed.push(ptr);
                let kind =
                    [FreeKind::Free, FreeKind::Delete, FreeKind::DeleteArray][s.pick as usize % 3];
                Record::Free {
                    time: t,
                    ptr,
                    kind,
                    stack,
                    // Sized and aligned deletes now and then (FREE_ARGS).
                    size: if s.pick % 4 == 1 { s.raw % 5000 } else { 0 },
                    align: if s.pick % 5 == 2 {
                        1 << (s.raw % 13)
                    } else {
                        0
                    },
                }
            }
            11 | 12 => {
                let old = match s.raw % 4 {
                    0 => 0,
                    1 => s.raw,
                    _ if !live.is_empty() => pick(&live),
                    _ => 0x80,
                };
                let new = match (s.raw >> 8) % 5 {
                    0 => 0,
                    1 => old,
                    2 if !freed.is_empty() => pick(&freed),
                    3 => s.raw.rotate_left(17),
                    _ => fresh(&mut next_ptr),
                };
                freed.push(old);
                live.push(new);
                let time_before = t;
                t = t.saturating_add(s.dt % 50);
                let kind = [AllocKind::Realloc, AllocKind::ReallocArray, kind][s.pick as usize % 3];
                Record::Realloc {
                    time_before,
                    time: t,
                    old,
                    new,
                    size,
                    kind,
                    stack,
                    slack,
                }
            }
            13 => Record::AllocFailed {
                time: t,
                size: s.raw,
                kind,
                stack,
            },
            14 => match s.pick % 8 {
                0 => Record::ThreadStart {
                    time: t,
                    tid: s.raw as u32,
                },
                1 => Record::ThreadExit { time: t },
                2 => Record::ProcessExit {
                    time: t,
                    how: [ExitHow::Exit, ExitHow::Signal, ExitHow::Shutdown][s.raw as usize % 3],
                    code: s.raw as i32,
                },
                3 => Record::Fork {
                    time: t,
                    child_pid: s.raw as u32,
                },
                4 => Record::Lost {
                    time: t,
                    events: s.raw,
                },
                _ => Record::End { time: t },
            },
            15 => match s.pick % 3 {
                0 => Record::Root {
                    id: s.stack as u32,
                    kind: RootKind::from_u8((s.raw % 5) as u8).unwrap(),
                    addr: s.raw,
                    tid: s.dt as u32,
                    pc: s.raw.rotate_left(9),
                },
                1 => Record::Reach {
                    ptr: live.last().copied().unwrap_or(s.raw),
                    kind: LeakKind::from_u8((s.raw % 4) as u8).unwrap(),
                    heuristic: Heuristic::from_u8((s.dt % 5) as u8).unwrap(),
                    holder: match s.stack % 3 {
                        0 => Holder::None,
                        1 => Holder::Root(s.dt as u32),
                        _ => Holder::Block(s.raw),
                    },
                },
                _ => Record::ReachEnd {
                    blocks: s.raw,
                    roots: s.dt,
                    scanned_bytes: s.raw.rotate_left(3),
                    ns: s.dt.wrapping_mul(7),
                    threads: s.stack as u32,
                    unresponsive: s.pick as u32,
                },
            },
            _ => match s.pick % 3 {
                0 => {
                    // A few frames of its own under a run of frames stacks share.
                    let own = (0..s.stack as u64 % 5).map(|i| s.raw.wrapping_mul(i + 1));
                    let outer = (0..s.pick as u64 % 300).map(|i| 0x40_0000 + 0x10 * i);
                    Record::Stack {
                        id: StackId(s.raw % 100),
                        frames: own.chain(outer).collect(),
                    }
                }
                1 => Record::ModuleUnload { id: s.raw as u32 },
                _ => {
                    let p = &paths[s.pick as usize % paths.len()];
                    Record::Module {
                        id: s.raw as u32,
                        base: s.raw,
                        start: s.raw / 2,
                        end: s.raw,
                        path: p,
                        build_id: &p[..p.len().min(5)],
                    }
                }
            },
        });
    }
    out
}

/// Writes `recs` the way the tracer's chunk builder does: one reused encoder, a chunk
/// closed when a record does not fit and the record retried in the next one.
fn write_chunks(recs: &[Record<'_>], capacity: usize) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut c = ChunkEnc::new(capacity);
    let mut buf = vec![0u8; capacity];
    let mut len = None;
    for r in recs {
        let time = match *r {
            Record::Alloc { time, .. } | Record::Free { time, .. } | Record::End { time } => time,
            _ => 0,
        };
        for attempt in 0..2 {
            let n = match len {
                Some(n) => n,
                None => {
                    let mut e = Enc::new(&mut buf);
                    c.restart(&mut e, time).unwrap();
                    e.len()
                }
            };
            let mut e = Enc::new(&mut buf[n..]);
            if c.put(&mut e, r).is_ok() {
                len = Some(n + e.len());
                break;
            }
            assert_eq!(
                attempt, 0,
                "a record does not fit an empty chunk of {capacity} bytes"
            );
            let mut e = Enc::resume(&mut buf, n);
            c.finish(&mut e).unwrap();
            chunks.push(e.written().to_vec());
            len = None;
        }
    }
    if let Some(n) = len {
        let mut e = Enc::resume(&mut buf, n);
        c.finish(&mut e).unwrap();
        chunks.push(e.written().to_vec());
    }
    chunks
}

proptest! {
    #[test]
    fn random_streams_round_trip(steps in prop::collection::vec(step(), 0..600), capacity in 600usize..8192) {
        let paths = vec![b"/usr/lib/libc.so.6".to_vec(), b"/a".to_vec()];
        let recs = records(&steps, &paths);
        let chunks = write_chunks(&recs, capacity);
        let mut got = Vec::new();
        for payload in &chunks {
            for r in RecordDecoder::new(payload).unwrap() {
                got.push(format!("{:?}", r.unwrap()));
            }
            // The compressed form decodes to the same payload.
            let mut stored = vec![0u8; crate::chunk::compressed_bound(payload.len())];
            if let Some(n) = crate::chunk::ChunkCompressor::new().unwrap().compress(payload, &mut stored) {
                let back = crate::chunk::decode_stored(crate::chunk::CODEC_ZSTD, stored[..n].to_vec(), 0).unwrap();
                prop_assert_eq!(&back, payload);
            }
        }
        let want: Vec<String> = recs.iter().map(|r| format!("{r:?}")).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn mutated_payloads_never_panic(steps in prop::collection::vec(step(), 1..200), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let paths = vec![b"/x".to_vec()];
        let recs = records(&steps, &paths);
        for mut payload in write_chunks(&recs, 1 << 16) {
            for &(at, v) in &flips {
                let n = payload.len();
                payload[at % n] ^= v | 1;
            }
            if let Ok(dec) = RecordDecoder::new(&payload) {
                for _ in dec {}
            }
        }
    }
}

#[test]
fn sized_and_aligned_deletes_and_the_allocator_round_trip() {
    let recs = [
        Record::Free {
            time: 5,
            ptr: 0x5555_0000,
            kind: FreeKind::DeleteArray,
            stack: StackId(7),
            size: 24,
            align: 64,
        },
        Record::Free {
            time: 6,
            ptr: 0x5555_1000,
            kind: FreeKind::Delete,
            stack: StackId(7),
            size: 40,
            align: 0,
        },
        Record::Free {
            time: 7,
            ptr: 0x5555_2000,
            kind: FreeKind::Free,
            stack: StackId(7),
            size: 0,
            align: 0,
        },
        Record::Allocator {
            path: b"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
            bypassed: 0b1111,
        },
    ];
    let payload = chunk(1, &recs);
    let back: Vec<_> = RecordDecoder::new(&payload)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, recs);
}

//! Micro-benchmarks of the writer's encoding and the reader's decoding: a chunk of 20k
//! malloc/free records (a loop over 64 live blocks, as in scripts/malloc_loop.c),
//! interning and encoding a stack of 20 frames, and checksumming plus compressing the
//! chunk.
//! `cargo bench -p memscope-format`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use memscope_format::chunk::{compressed_bound, ChunkCompressor};
use memscope_format::record::ChunkEnc;
use memscope_format::{crc32, AllocKind, Enc, FreeKind, Record, RecordDecoder, StackId, StackIds};

const RECORDS: u64 = 20_000;

/// Writes the benchmark chunk into `buf` with `c`; returns its length.
fn write_chunk(c: &mut ChunkEnc, buf: &mut [u8]) -> usize {
    let mut e = Enc::new(buf);
    c.restart(&mut e, 0).unwrap();
    let mut live = [0u64; 64];
    let mut seed = 1u64;
    for i in 0..RECORDS / 2 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let size = [16u64, 24, 32, 48, 64, 100, 128, 256, 512, 1000, 2048, 4000]
            [(seed >> 33) as usize % 12];
        let slot = (seed >> 40) as usize % 64;
        let ptr = 0x5555_0000_0000 + (seed >> 20) % 0x10_0000 * 16;
        let alloc = Record::Alloc {
            time: i * 173,
            ptr,
            size,
            align: 0,
            kind: AllocKind::Malloc,
            stack: StackId(2),
            slack: 8,
        };
        c.put(&mut e, &alloc).unwrap();
        if live[slot] != 0 {
            let free = Record::Free {
                time: i * 173 + 40,
                ptr: live[slot],
                kind: FreeKind::Free,
                stack: StackId(3),
                size: 0,
                align: 0,
            };
            c.put(&mut e, &free).unwrap();
        }
        live[slot] = ptr;
    }
    c.finish(&mut e).unwrap();
    e.len()
}

fn bench(c: &mut Criterion) {
    let mut buf = vec![0u8; 1 << 20];
    let mut ce = ChunkEnc::new(buf.len());
    let mut group = c.benchmark_group("records");
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function("encode", |b| {
        b.iter(|| black_box(write_chunk(&mut ce, &mut buf)))
    });
    let n = write_chunk(&mut ce, &mut buf);
    let payload = buf[..n].to_vec();
    group.bench_function("decode", |b| {
        b.iter(|| RecordDecoder::new(black_box(&payload)).unwrap().count())
    });
    group.finish();

    let stack = Record::Stack {
        id: StackId(1),
        frames: (0..20).map(|i| 0x5555_0000_0000 + i * 0x1234).collect(),
    };
    c.bench_function("encode 20-frame stack", |b| {
        b.iter(|| {
            let mut e = Enc::new(&mut buf);
            ce.put(&mut e, black_box(&stack)).unwrap();
            black_box(e.len())
        })
    });

    // 1000 distinct 20-frame stacks that share their outer frames, as a program's do.
    let stacks: Vec<Vec<u64>> = (0..1000u64)
        .map(|i| {
            (0..20u64)
                .map(|f| 0x5555_0000_0000 + f * 0x1234 + if f < 4 { i * 0x40 } else { 0 })
                .collect()
        })
        .collect();
    let mut group = c.benchmark_group("intern 20-frame stacks");
    group.throughput(Throughput::Elements(stacks.len() as u64));
    group.bench_function("first sight", |b| {
        b.iter_batched_ref(
            StackIds::new,
            |ids| {
                stacks.iter().for_each(|s| {
                    black_box(ids.intern(s));
                })
            },
            BatchSize::SmallInput,
        )
    });
    let mut ids = StackIds::new();
    for s in &stacks {
        ids.intern(s);
    }
    group.bench_function("seen before", |b| {
        b.iter(|| {
            stacks.iter().for_each(|s| {
                black_box(ids.intern(s));
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Bytes(n as u64));
    group.bench_function("crc32", |b| {
        b.iter(|| black_box(crc32(black_box(&payload))))
    });
    let mut comp = ChunkCompressor::new().unwrap();
    let mut out = vec![0u8; compressed_bound(n)];
    group.bench_function("zstd compress", |b| {
        b.iter(|| black_box(comp.compress(black_box(&payload), &mut out)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

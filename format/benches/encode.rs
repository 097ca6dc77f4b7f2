//! Micro-benchmarks of the writer's encoding: one allocation record, one interned stack
//! of 20 frames, and checksumming plus compressing a full chunk.
//! `cargo bench -p memscope-format`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use memscope_format::chunk::{compressed_bound, ChunkCompressor};
use memscope_format::record::ChunkEnc;
use memscope_format::{crc32, AllocKind, Enc, StackId};

fn bench(c: &mut Criterion) {
    let mut buf = vec![0u8; 1 << 20];
    c.bench_function("encode alloc record", |b| {
        let mut t = 0u64;
        b.iter(|| {
            let mut e = Enc::new(&mut buf);
            let mut ce = ChunkEnc::begin(&mut e, t).unwrap();
            t += 150;
            ce.alloc(&mut e, black_box(t), 0x5555_0000_1230, 48, 0, AllocKind::Malloc, StackId(17)).unwrap();
            black_box(e.len())
        })
    });
    let frames: Vec<u64> = (0..20).map(|i| 0x5555_0000_0000 + i * 0x1234).collect();
    c.bench_function("encode 20-frame stack", |b| {
        b.iter(|| {
            let mut e = Enc::new(&mut buf);
            let mut ce = ChunkEnc::begin(&mut e, 0).unwrap();
            ce.stack(&mut e, StackId(1), black_box(&frames)).unwrap();
            black_box(e.len())
        })
    });
    // A realistic chunk: 20k allocation records.
    let mut e = Enc::new(&mut buf);
    let mut ce = ChunkEnc::begin(&mut e, 0).unwrap();
    for i in 0..20_000u64 {
        ce.alloc(&mut e, i * 173, 0x5555_0000_0000 + (i % 64) * 48, 16 + i % 200, 0, AllocKind::Malloc, StackId(1 + i % 7)).unwrap();
    }
    let n = e.len();
    let payload = buf[..n].to_vec();
    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Bytes(n as u64));
    group.bench_function("crc32", |b| b.iter(|| black_box(crc32(black_box(&payload)))));
    let mut comp = ChunkCompressor::new().unwrap();
    let mut out = vec![0u8; compressed_bound(n)];
    group.bench_function("zstd compress", |b| b.iter(|| black_box(comp.compress(black_box(&payload), &mut out))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Micro-benchmark of the ring's per-event work: one push of a 26-word entry and its
//! drain. `cargo bench -p memscope-recorder`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use memscope_recorder::ring::Ring;

fn bench(c: &mut Criterion) {
    let ring = Ring::new(1 << 16).unwrap();
    let entry = [
        1u64, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
        25, 26,
    ];
    c.bench_function("ring push+drain 26 words", |b| {
        b.iter(|| {
            assert!(ring.try_push(black_box(&entry)));
            let (_, head) = ring.readable();
            ring.release(head);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

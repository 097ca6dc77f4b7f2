//! Micro-benchmarks of the tracer's per-event work in this crate: the clocks and a stack
//! capture (memoized, and from scratch) at 5, 20 and 60 frames (the ring push and drain
//! are benchmarked in the recorder crate). `cargo bench -p memscope-platform`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memscope_platform::clock::{event_ticks, now_ns, start_event_clock};
use memscope_platform::modules::loaded_modules;
use memscope_platform::thread::{mapping_of, stack_pointer};
use memscope_platform::unwind::{StackUnwinder, UnwindCache};

#[inline(never)]
fn at_depth(depth: u32, f: &mut dyn FnMut() -> usize) -> usize {
    if depth == 0 {
        return f();
    }
    black_box(at_depth(depth - 1, f)) + 1
}

fn bench(c: &mut Criterion) {
    c.bench_function("clock now_ns", |b| b.iter(|| black_box(now_ns())));
    start_event_clock();
    c.bench_function("event clock (TSC where the kernel uses it)", |b| {
        b.iter(|| black_box(event_ticks()))
    });

    let mut unwinder = StackUnwinder::new();
    for m in loaded_modules(&mut |_, _| true) {
        unwinder.add_module(&m);
    }
    unwinder.keep_own_frames();
    let stack = mapping_of(stack_pointer()).unwrap();
    let mut out = [0u64; 64]; // the tracer's default depth
                              // The same stack again and again: replayed from the walk memo, and (memo off) unwound
                              // from scratch with warm rule caches.
    for (name, memoize) in [
        ("stack capture (memoized walk)", true),
        ("stack capture (from scratch, warm rule cache)", false),
    ] {
        let mut cache = UnwindCache::new(memoize);
        let mut group = c.benchmark_group(name);
        for depth in [5u32, 20, 60] {
            group.throughput(Throughput::Elements(depth as u64));
            group.bench_with_input(BenchmarkId::from_parameter(depth), &depth, |b, &depth| {
                b.iter(|| {
                    at_depth(depth, &mut || {
                        unwinder.capture(&mut cache, stack, &mut out).frames
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

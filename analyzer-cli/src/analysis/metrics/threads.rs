//! The `threads` metric: per traced thread (stream), allocations, bytes, frees, and frees
//! of blocks another thread allocated (cross-thread frees, counted on the freeing
//! thread).

use rustc_hash::FxHashMap;

use crate::analysis::findings::FindingSet;
use crate::analysis::visitor::{Category, End, Info, Results, Visitor};
use crate::ids::StreamId;
use crate::replay::block_events::{Ctx, Lifecycle};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadStats {
    pub stream: u32,
    /// The kernel thread id from the `ThreadStart` record (0 when none was seen).
    pub tid: u32,
    pub allocations: u64,
    pub bytes: u64,
    pub frees: u64,
    pub cross_thread_frees: u64,
}

/// Threads in order of first event, found by stream (the last one without a lookup:
/// events come in runs of one thread).
#[derive(Default)]
pub struct ThreadVisitor {
    threads: Vec<ThreadStats>,
    by_stream: FxHashMap<StreamId, usize>,
    last: Option<(StreamId, usize)>,
}

impl ThreadVisitor {
    #[inline]
    fn stats(&mut self, stream: StreamId) -> &mut ThreadStats {
        let i = match self.last {
            Some((s, i)) if s == stream => i,
            _ => {
                let threads = &mut self.threads;
                let i = *self.by_stream.entry(stream).or_insert_with(|| {
                    threads.push(ThreadStats {
                        stream: stream.0,
                        ..ThreadStats::default()
                    });
                    threads.len() - 1
                });
                self.last = Some((stream, i));
                i
            }
        };
        &mut self.threads[i]
    }
}

impl Visitor for ThreadVisitor {
    fn info(&self) -> Info {
        Info {
            name: "threads",
            category: Category::Metric,
            description: "per thread: allocations, bytes, frees, cross-thread frees",
        }
    }

    fn event(&mut self, ctx: &Ctx, ev: &Lifecycle, _: &mut FindingSet) {
        let t = self.stats(ctx.stream);
        match *ev {
            Lifecycle::ThreadStart { tid } => t.tid = tid,
            Lifecycle::Alloc { block, .. } => {
                t.allocations += 1;
                t.bytes = t.bytes.saturating_add(block.size);
            }
            Lifecycle::Free { block, .. } => {
                t.frees += 1;
                if block.stream != ctx.stream {
                    t.cross_thread_frees += 1;
                }
            }
            _ => {}
        }
    }

    fn finish(self: Box<Self>, _: &End<'_>, results: &mut Results) {
        let mut threads = self.threads;
        threads.sort_unstable_by_key(|t| t.stream);
        results.threads = threads;
    }
}

//! The `threads` metric: per traced thread (stream), allocations, bytes, frees, and frees
//! of blocks another thread allocated (cross-thread frees, counted on the freeing
//! thread).

use std::collections::BTreeMap;

use crate::findings::FindingSet;
use crate::ids::StreamId;
use crate::lifecycle::{Ctx, Lifecycle};
use crate::visitor::{Category, End, Info, Results, Visitor};

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

#[derive(Default)]
pub struct ThreadVisitor {
    threads: BTreeMap<StreamId, ThreadStats>,
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
        let t = self.threads.entry(ctx.stream).or_insert(ThreadStats {
            stream: ctx.stream.0,
            ..ThreadStats::default()
        });
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
        results.threads = self.threads.into_values().collect();
    }
}

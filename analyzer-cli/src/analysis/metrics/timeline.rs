//! The `timeline` metric: allocation rate and live bytes over time, in at most
//! [`MAX_BUCKETS`] buckets of equal width. The width starts at [`FIRST_WIDTH_NS`] and
//! doubles (merging neighbours) whenever an event falls past the last bucket, so memory
//! is fixed whatever the run's length. Times are relative to the trace's start.

use crate::analysis::findings::FindingSet;
use crate::analysis::visitor::{Category, End, Info, Results, Visitor};
use crate::replay::block_events::{Ctx, Kinds, Lifecycle};

pub const MAX_BUCKETS: usize = 64;
pub const FIRST_WIDTH_NS: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    /// Live bytes at the end of the bucket, and the most during it.
    pub live_bytes: u64,
    pub max_live_bytes: u64,
}

impl Bucket {
    fn merge(self, later: Bucket) -> Bucket {
        Bucket {
            allocations: self.allocations + later.allocations,
            frees: self.frees + later.frees,
            bytes_allocated: self.bytes_allocated.saturating_add(later.bytes_allocated),
            live_bytes: later.live_bytes,
            max_live_bytes: self.max_live_bytes.max(later.max_live_bytes),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub width_ns: u64,
    /// Bucket i covers [i × width, (i + 1) × width) after the start.
    pub buckets: Vec<Bucket>,
}

pub struct TimelineVisitor {
    start: u64,
    live: u64,
    t: Timeline,
    /// The bucket of the last event and the relative times it covers, `[lo, hi)`: most
    /// events fall in the same bucket as the one before (saves a division each).
    last: Option<(u64, u64, usize)>,
}

impl TimelineVisitor {
    pub fn new(start: u64) -> Self {
        Self {
            start,
            live: 0,
            t: Timeline {
                width_ns: FIRST_WIDTH_NS,
                buckets: Vec::new(),
            },
            last: None,
        }
    }

    #[inline]
    fn bucket(&mut self, time: u64) -> &mut Bucket {
        let rel = time.saturating_sub(self.start);
        match self.last {
            Some((lo, hi, i)) if lo <= rel && rel < hi => &mut self.t.buckets[i],
            _ => self.bucket_at(rel),
        }
    }

    fn bucket_at(&mut self, rel: u64) -> &mut Bucket {
        let mut i = (rel / self.t.width_ns) as usize;
        while i >= MAX_BUCKETS {
            let merged: Vec<Bucket> = self
                .t
                .buckets
                .chunks(2)
                .map(|c| c.iter().copied().reduce(Bucket::merge).unwrap_or_default())
                .collect();
            self.t.buckets = merged;
            self.t.width_ns = self.t.width_ns.saturating_mul(2);
            i = (rel / self.t.width_ns) as usize;
        }
        while self.t.buckets.len() <= i {
            let live = self.live;
            self.t.buckets.push(Bucket {
                live_bytes: live,
                max_live_bytes: live,
                ..Bucket::default()
            });
        }
        let w = self.t.width_ns;
        let lo = (i as u64).saturating_mul(w);
        self.last = Some((lo, lo.saturating_add(w), i));
        &mut self.t.buckets[i]
    }
}

impl Visitor for TimelineVisitor {
    fn wants(&self) -> Kinds {
        Kinds::ALLOC.or(Kinds::FREE)
    }

    fn info(&self) -> Info {
        Info {
            name: "timeline",
            category: Category::Metric,
            description: "allocation rate and live bytes over time (at most 64 buckets)",
        }
    }

    fn event(&mut self, ctx: &Ctx, ev: &Lifecycle, _: &mut FindingSet) {
        let (alloc, freed) = match *ev {
            Lifecycle::Alloc {
                block, replaced, ..
            } => (Some(block.size), replaced.map(|b| b.size)),
            Lifecycle::Free { block, .. } => (None, Some(block.size)),
            _ => return,
        };
        if let Some(f) = freed {
            self.live = self.live.saturating_sub(f);
        }
        if let Some(a) = alloc {
            self.live = self.live.saturating_add(a);
        }
        let live = self.live;
        let b = self.bucket(ctx.time);
        if let Some(a) = alloc {
            b.allocations += 1;
            b.bytes_allocated = b.bytes_allocated.saturating_add(a);
        } else {
            b.frees += 1;
        }
        b.live_bytes = live;
        b.max_live_bytes = b.max_live_bytes.max(live);
    }

    fn finish(self: Box<Self>, _: &End<'_>, results: &mut Results) {
        results.timeline = self.t;
    }
}

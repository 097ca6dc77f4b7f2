//! Size and lifetime histograms (power-of-two buckets) and the `lifetime` classifier.
//!
//! Lifetime classes of a block:
//! - **temporary**: freed before its thread allocated anything else;
//! - **short**: otherwise freed within [`SHORT_NS`] (1 ms);
//! - **long**: freed later than that;
//! - **until-exit**: still live when the trace ends.

use crate::analysis::findings::FindingSet;
use crate::analysis::visitor::{Category, End, Info, Results, Visitor};
use crate::replay::block_events::{Ctx, Kinds, Lifecycle};

/// Blocks freed within this many nanoseconds (and not temporary) are short-lived.
pub const SHORT_NS: u64 = 1_000_000;

/// Bucket 0 holds the value 0; bucket i ≥ 1 holds [2^(i-1), 2^i).
pub fn log2_bucket(v: u64) -> usize {
    (64 - v.leading_zeros()) as usize
}

/// The smallest value of bucket `i` (see [`log2_bucket`]).
pub fn bucket_min(i: usize) -> u64 {
    if i == 0 {
        0
    } else {
        1u64 << (i - 1)
    }
}

/// Counts and bytes per power-of-two bucket (65 buckets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log2Histogram {
    pub counts: Vec<u64>,
    pub bytes: Vec<u64>,
}

impl Default for Log2Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; 65],
            bytes: vec![0; 65],
        }
    }
}

impl Log2Histogram {
    pub fn add(&mut self, value: u64, bytes: u64) {
        let i = log2_bucket(value);
        self.counts[i] += 1;
        self.bytes[i] = self.bytes[i].saturating_add(bytes);
    }
}

/// Requested sizes of all allocations.
pub type SizeHistogram = Log2Histogram;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCount {
    pub blocks: u64,
    pub bytes: u64,
}

impl ClassCount {
    fn add(&mut self, bytes: u64) {
        self.blocks += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// The lifetime classes and the histogram of lifetimes (ns) of freed blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifetimes {
    pub temporary: ClassCount,
    pub short: ClassCount,
    pub long: ClassCount,
    pub until_exit: ClassCount,
    pub histogram: Log2Histogram,
}

#[derive(Default)]
pub struct LifetimeVisitor {
    l: Lifetimes,
}

impl Visitor for LifetimeVisitor {
    fn wants(&self) -> Kinds {
        Kinds::FREE
    }

    fn info(&self) -> Info {
        Info {
            name: "lifetime",
            category: Category::Classifier,
            description:
                "temporary / short (< 1 ms) / long / until-exit blocks, lifetime histogram",
        }
    }

    fn event(&mut self, ctx: &Ctx, ev: &Lifecycle, _: &mut FindingSet) {
        if let Lifecycle::Free {
            block, temporary, ..
        } = *ev
        {
            let life = ctx.time.saturating_sub(block.time);
            self.l.histogram.add(life, block.size);
            if temporary {
                self.l.temporary.add(block.size);
            } else if life < SHORT_NS {
                self.l.short.add(block.size);
            } else {
                self.l.long.add(block.size);
            }
        }
    }

    fn finish(mut self: Box<Self>, end: &End<'_>, results: &mut Results) {
        for b in end.live.values() {
            self.l.until_exit.add(b.size);
        }
        results.lifetimes = self.l;
    }
}

#[derive(Default)]
pub struct SizeVisitor {
    h: SizeHistogram,
}

impl Visitor for SizeVisitor {
    fn wants(&self) -> Kinds {
        Kinds::ALLOC
    }

    fn info(&self) -> Info {
        Info {
            name: "sizes",
            category: Category::Metric,
            description: "histogram of requested sizes (powers of two)",
        }
    }

    fn event(&mut self, _: &Ctx, ev: &Lifecycle, _: &mut FindingSet) {
        if let Lifecycle::Alloc { block, .. } = *ev {
            self.h.add(block.size, block.size);
        }
    }

    fn finish(self: Box<Self>, _: &End<'_>, results: &mut Results) {
        results.sizes = self.h;
    }
}

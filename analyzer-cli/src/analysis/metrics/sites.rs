//! The `sites` metric: per allocation stack, allocations, bytes, frees, what is live,
//! and the patterns found there:
//!
//! - **realloc growth chains**: a block reallocated again and again (a buffer grown one
//!   step at a time); a site's `longest_chain` is the most reallocs that led to one
//!   block; it is a pattern when at least [`CHAIN_MIN`];
//! - **churn**: at least [`CHURN_MIN`] blocks of one single size, of which at least 90 %
//!   were short-lived (temporary or freed within
//!   [`crate::analysis::metrics::histograms::SHORT_NS`]): a candidate for reuse or the stack.

use rustc_hash::FxHashMap;

use crate::analysis::findings::FindingSet;
use crate::analysis::metrics::histograms::SHORT_NS;
use crate::analysis::visitor::{Category, End, Info, Results, Visitor};
use crate::ids::StackId;
use crate::replay::block_events::{Ctx, Kinds, Lifecycle};
use crate::replay::stack_table::StackTable;

/// Reallocs in a row that make a growth-chain pattern.
pub const CHAIN_MIN: u32 = 8;
/// Short-lived blocks of one size that make a churn pattern.
pub const CHURN_MIN: u64 = 1000;

/// What happened at one allocation stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteStats {
    pub allocations: u64,
    pub bytes: u64,
    pub frees: u64,
    pub live_blocks: u64,
    pub live_bytes: u64,
    pub short_lived: u64,
    pub min_size: u64,
    pub max_size: u64,
    pub longest_chain: u32,
}

impl SiteStats {
    pub fn is_churn(&self) -> bool {
        self.short_lived >= CHURN_MIN
            && self.min_size == self.max_size
            && self.short_lived * 10 >= self.allocations * 9
    }

    pub fn is_growth_chain(&self) -> bool {
        self.longest_chain >= CHAIN_MIN
    }
}

/// Per-stack statistics, filled by [`SiteVisitor`].
pub type Sites = FxHashMap<StackId, SiteStats>;

#[derive(Default)]
pub struct SiteVisitor {
    sites: StackTable<SiteStats>,
}

impl SiteVisitor {
    /// `dense_stacks`: see [`crate::replay::stack_table::dense_limit`].
    pub fn new(dense_stacks: usize) -> Self {
        Self {
            sites: StackTable::new(dense_stacks),
        }
    }
}

impl Visitor for SiteVisitor {
    fn wants(&self) -> Kinds {
        Kinds::ALLOC.or(Kinds::FREE)
    }

    fn info(&self) -> Info {
        Info {
            name: "sites",
            category: Category::Metric,
            description: "per call site: allocations, bytes, live; realloc growth chains and churn",
        }
    }

    fn event(&mut self, ctx: &Ctx, ev: &Lifecycle, _: &mut FindingSet) {
        match *ev {
            Lifecycle::Alloc {
                block, replaced, ..
            } => {
                let s = self.sites.entry(block.stack);
                if s.allocations == 0 {
                    s.min_size = block.size;
                }
                s.allocations += 1;
                s.bytes = s.bytes.saturating_add(block.size);
                s.live_blocks += 1;
                s.live_bytes = s.live_bytes.saturating_add(block.size);
                s.min_size = s.min_size.min(block.size);
                s.max_size = s.max_size.max(block.size);
                s.longest_chain = s.longest_chain.max(block.chain);
                if let Some(old) = replaced {
                    let o = self.sites.entry(old.stack);
                    o.live_blocks = o.live_blocks.saturating_sub(1);
                    o.live_bytes = o.live_bytes.saturating_sub(old.size);
                }
            }
            Lifecycle::Free {
                block, temporary, ..
            } => {
                let s = self.sites.entry(block.stack);
                s.frees += 1;
                s.live_blocks = s.live_blocks.saturating_sub(1);
                s.live_bytes = s.live_bytes.saturating_sub(block.size);
                if temporary || ctx.time.saturating_sub(block.time) < SHORT_NS {
                    s.short_lived += 1;
                }
            }
            _ => {}
        }
    }

    fn finish(self: Box<Self>, _: &End<'_>, results: &mut Results) {
        results.sites = self.sites.into_entries().collect();
    }
}

/// The `n` sites with the most bytes allocated (then allocations, then stack id).
pub fn top_sites(sites: &Sites, n: usize) -> Vec<(StackId, SiteStats)> {
    let mut v: Vec<(StackId, SiteStats)> = sites.iter().map(|(&k, &s)| (k, s)).collect();
    v.sort_by(|a, b| {
        b.1.bytes
            .cmp(&a.1.bytes)
            .then(b.1.allocations.cmp(&a.1.allocations))
            .then(a.0.cmp(&b.0))
    });
    v.truncate(n);
    v
}

//! Builds the `metrics` object of the report (and the numbers the text report prints):
//! built from the metric visitors' results, symbolizing only the few stacks it names
//! (top call sites, peak holders, patterns).

use memscope_report::{
    ClassDoc, HistBucketDoc, LifetimesDoc, MetricsDoc, PatternDoc, PatternsDoc, PeakDoc, SiteDoc,
    SlackDoc, ThreadDoc, TimeBucketDoc, TimelineDoc,
};

use crate::analysis::metrics::histograms::{bucket_min, Log2Histogram, SHORT_NS};
use crate::analysis::metrics::sites::{top_sites, SiteStats, CHAIN_MIN, CHURN_MIN};
use crate::analysis::metrics::timeline::Bucket;
use crate::analysis::Analysis;

use super::build::Stacks;

/// Call sites, peak holders and pattern sites listed in the report.
pub const TOP_SITES: usize = 10;

pub const SLACK_REASON: &str =
    "usable size (malloc_usable_size) minus requested size, summed over all allocations";

fn hist(h: &Log2Histogram) -> Vec<HistBucketDoc> {
    h.counts
        .iter()
        .zip(&h.bytes)
        .enumerate()
        .filter(|(_, (&c, _))| c > 0)
        .map(|(i, (&count, &bytes))| HistBucketDoc {
            min: bucket_min(i),
            count,
            bytes,
        })
        .collect()
}

fn class(c: crate::analysis::metrics::histograms::ClassCount) -> ClassDoc {
    ClassDoc {
        blocks: c.blocks,
        bytes: c.bytes,
    }
}

fn site(stacks: &mut Stacks<'_>, id: crate::ids::StackId, s: SiteStats) -> SiteDoc {
    SiteDoc {
        stack_id: id.0,
        allocations: s.allocations,
        bytes: s.bytes,
        live_blocks: s.live_blocks,
        live_bytes: s.live_bytes,
        type_name: stacks.type_name(id),
        stack: stacks.frames(id),
        site: stacks.site(id),
    }
}

fn pattern(stacks: &mut Stacks<'_>, id: crate::ids::StackId, s: SiteStats) -> PatternDoc {
    PatternDoc {
        stack_id: id.0,
        allocations: s.allocations,
        longest_chain: s.longest_chain,
        short_lived: s.short_lived,
        min_size: s.min_size,
        max_size: s.max_size,
        stack: stacks.frames(id),
    }
}

/// Builds the metrics object.
pub fn build_metrics(a: &Analysis, stacks: &mut Stacks<'_>) -> MetricsDoc {
    let r = &a.results;
    let start = a.index.header.start_clock_ns;
    let top_sites = top_sites(&r.sites, TOP_SITES)
        .into_iter()
        .map(|(id, s)| site(stacks, id, s))
        .collect();
    let holders = a
        .peak
        .holders
        .iter()
        .take(TOP_SITES)
        .map(|g| SiteDoc {
            stack_id: g.stack.0,
            allocations: r.sites.get(&g.stack).map_or(0, |s| s.allocations),
            bytes: g.bytes,
            live_blocks: g.blocks,
            live_bytes: g.bytes,
            type_name: stacks.type_name(g.stack),
            stack: stacks.frames(g.stack),
            site: stacks.site(g.stack),
        })
        .collect();
    let mut chains: Vec<_> = r
        .sites
        .iter()
        .filter(|(_, s)| s.is_growth_chain())
        .map(|(&k, &s)| (k, s))
        .collect();
    chains.sort_by(|a, b| {
        b.1.longest_chain
            .cmp(&a.1.longest_chain)
            .then(a.0.cmp(&b.0))
    });
    let mut churn: Vec<_> = r
        .sites
        .iter()
        .filter(|(_, s)| s.is_churn())
        .map(|(&k, &s)| (k, s))
        .collect();
    churn.sort_by(|a, b| b.1.short_lived.cmp(&a.1.short_lived).then(a.0.cmp(&b.0)));
    let w = r.timeline.width_ns;
    MetricsDoc {
        peak: PeakDoc {
            bytes: a.peak.bytes,
            time_ns: a.peak.time.saturating_sub(start),
            holders,
        },
        top_sites,
        timeline: TimelineDoc {
            bucket_ns: w,
            buckets: r
                .timeline
                .buckets
                .iter()
                .enumerate()
                .map(|(i, b): (usize, &Bucket)| TimeBucketDoc {
                    start_ns: (i as u64).saturating_mul(w),
                    allocations: b.allocations,
                    frees: b.frees,
                    bytes_allocated: b.bytes_allocated,
                    live_bytes: b.live_bytes,
                    max_live_bytes: b.max_live_bytes,
                })
                .collect(),
        },
        sizes: hist(&r.sizes),
        lifetimes: LifetimesDoc {
            short_threshold_ns: SHORT_NS,
            temporary: class(r.lifetimes.temporary),
            short: class(r.lifetimes.short),
            long: class(r.lifetimes.long),
            until_exit: class(r.lifetimes.until_exit),
            histogram: hist(&r.lifetimes.histogram),
        },
        threads: r
            .threads
            .iter()
            .map(|t| ThreadDoc {
                stream: t.stream,
                tid: t.tid,
                allocations: t.allocations,
                bytes: t.bytes,
                frees: t.frees,
                cross_thread_frees: t.cross_thread_frees,
            })
            .collect(),
        patterns: PatternsDoc {
            realloc_chain_min: CHAIN_MIN,
            realloc_chains: chains
                .into_iter()
                .take(TOP_SITES)
                .map(|(k, s)| pattern(stacks, k, s))
                .collect(),
            churn_min: CHURN_MIN,
            churn: churn
                .into_iter()
                .take(TOP_SITES)
                .map(|(k, s)| pattern(stacks, k, s))
                .collect(),
        },
        allocator_slack: SlackDoc {
            recorded: true,
            bytes: a.counters.slack_bytes,
            per_allocation: if a.counters.allocations == 0 {
                0.0
            } else {
                a.counters.slack_bytes as f64 / a.counters.allocations as f64
            },
            percent_of_requested: if a.counters.bytes_allocated == 0 {
                0.0
            } else {
                a.counters.slack_bytes as f64 * 100.0 / a.counters.bytes_allocated as f64
            },
            reason: SLACK_REASON.to_string(),
        },
        findings_dropped: r.findings.dropped,
    }
}

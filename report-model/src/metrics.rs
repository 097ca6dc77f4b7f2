//! The `metrics` object of the report: the peak and who held it, the top call sites,
//! memory over time, size and lifetime histograms, per-thread numbers, allocation
//! patterns (realloc growth chains, churn) and allocator slack.

use serde::{Deserialize, Serialize};

use crate::FrameDoc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricsDoc {
    pub peak: PeakDoc,
    pub top_sites: Vec<SiteDoc>,
    pub timeline: TimelineDoc,
    pub sizes: Vec<HistBucketDoc>,
    pub lifetimes: LifetimesDoc,
    pub threads: Vec<ThreadDoc>,
    pub patterns: PatternsDoc,
    pub allocator_slack: SlackDoc,
    /// Findings not listed because too many distinct ones were found.
    pub findings_dropped: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeakDoc {
    pub bytes: u64,
    /// Nanoseconds after the start.
    pub time_ns: u64,
    pub holders: Vec<SiteDoc>,
}

/// A call site (allocation stack) and its numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteDoc {
    pub stack_id: u64,
    pub allocations: u64,
    pub bytes: u64,
    pub live_blocks: u64,
    pub live_bytes: u64,
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    pub stack: Vec<FrameDoc>,
    /// The frame the stack is named by (the program's own); absent in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<crate::LocationDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineDoc {
    pub bucket_ns: u64,
    pub buckets: Vec<TimeBucketDoc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TimeBucketDoc {
    pub start_ns: u64,
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub live_bytes: u64,
    pub max_live_bytes: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HistBucketDoc {
    /// Bucket [min, 2 × min) (or exactly 0).
    pub min: u64,
    pub count: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ClassDoc {
    pub blocks: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LifetimesDoc {
    pub short_threshold_ns: u64,
    pub temporary: ClassDoc,
    pub short: ClassDoc,
    pub long: ClassDoc,
    pub until_exit: ClassDoc,
    /// Lifetimes (ns) of freed blocks.
    pub histogram: Vec<HistBucketDoc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ThreadDoc {
    pub stream: u32,
    pub tid: u32,
    pub allocations: u64,
    pub bytes: u64,
    pub frees: u64,
    pub cross_thread_frees: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatternsDoc {
    pub realloc_chain_min: u32,
    pub realloc_chains: Vec<PatternDoc>,
    pub churn_min: u64,
    pub churn: Vec<PatternDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatternDoc {
    pub stack_id: u64,
    pub allocations: u64,
    pub longest_chain: u32,
    pub short_lived: u64,
    pub min_size: u64,
    pub max_size: u64,
    pub stack: Vec<FrameDoc>,
}

/// Allocator slack: what the allocator reserved beyond the requested sizes
/// (`malloc_usable_size` minus the request, recorded by the tracer per allocation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlackDoc {
    pub recorded: bool,
    /// Slack summed over every allocation of the run.
    pub bytes: u64,
    /// Average slack per allocation.
    pub per_allocation: f64,
    /// Slack as a percentage of the bytes requested.
    pub percent_of_requested: f64,
    pub reason: String,
}

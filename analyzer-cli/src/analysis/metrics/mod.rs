//! Metrics and the lifetime classifier: per call site (`sites`, which also finds realloc
//! growth chains and churn), over time (`timeline`), sizes and lifetimes
//! (`histograms`), per thread (`threads`) and the peak (`peak`, computed by replaying
//! again up to the moment of the peak).
//!
//! Allocator slack (usable size minus requested size) comes with each allocation record
//! (the tracer asks `malloc_usable_size`) and is summed by the replay.

pub mod histograms;
pub mod peak;
pub mod sites;
pub mod threads;
pub mod timeline;

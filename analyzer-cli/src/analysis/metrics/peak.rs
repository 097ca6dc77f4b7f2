//! The `peak` metric: the highest live bytes, when they were first reached, and which
//! allocation stacks held them then. The replay finds the moment (a merged-event
//! position) and, without taking snapshots, logs the blocks live then that it releases
//! afterwards (see [`crate::replay`]), so memory stays bounded by the live set.

use crate::analysis::detectors::leak::LeakGroup;
use crate::analysis::visitor::{Category, Info};

pub const INFO: Info = Info {
    name: "peak",
    category: Category::Metric,
    description: "peak live bytes: when, and the stacks holding them",
};

/// The peak of live bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peak {
    pub bytes: u64,
    /// Absolute clock time of the event that first reached it.
    pub time: u64,
    /// Its position in the merged event stream.
    pub seq: u64,
    /// Live blocks at that moment by allocation stack, largest first.
    pub holders: Vec<LeakGroup>,
}

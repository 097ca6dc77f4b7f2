//! The analysis pipeline up to typed results: reader (pass 1) → merge (pass 2) → replay →
//! leak grouping. Nothing here is symbolized or rendered; detectors will plug in between
//! the merge and the results.

use std::collections::HashMap;
use std::path::Path;

use crate::error::CliError;
use crate::ids::StackId;
use crate::merge::Merger;
use crate::reader::{read_index, TraceIndex};
use crate::replay::{Counters, Replay};

/// Blocks live at the end of the trace that share an allocation stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakGroup {
    pub stack: StackId,
    pub bytes: u64,
    pub blocks: u64,
}

/// Everything the reports need, before symbolization.
#[derive(Debug)]
pub struct Analysis {
    pub index: TraceIndex,
    pub counters: Counters,
    pub live_blocks: u64,
    pub live_bytes: u64,
    /// Largest first (bytes, then blocks, then stack id).
    pub leaks: Vec<LeakGroup>,
    pub duration_ns: u64,
}

/// Reads, merges and replays the trace at `path`.
pub fn analyze_file(path: &Path) -> Result<Analysis, CliError> {
    let index = read_index(path)?;
    let mut replay = Replay::new(index.header.origin);
    for ev in Merger::new(&index)? {
        replay.apply(&ev?);
    }
    let result = replay.finish();
    let mut groups: HashMap<StackId, LeakGroup> = HashMap::new();
    let (mut live_blocks, mut live_bytes) = (0u64, 0u64);
    for block in result.live.values() {
        live_blocks += 1;
        live_bytes = live_bytes.saturating_add(block.size);
        let g = groups.entry(block.stack).or_insert(LeakGroup {
            stack: block.stack,
            bytes: 0,
            blocks: 0,
        });
        g.bytes = g.bytes.saturating_add(block.size);
        g.blocks += 1;
    }
    let mut leaks: Vec<LeakGroup> = groups.into_values().collect();
    leaks.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.blocks.cmp(&a.blocks))
            .then(a.stack.cmp(&b.stack))
    });
    let end = index
        .end_time
        .or(result.counters.last_time)
        .unwrap_or(index.header.start_clock_ns);
    let duration_ns = end.saturating_sub(index.header.start_clock_ns);
    Ok(Analysis {
        index,
        counters: result.counters,
        live_blocks,
        live_bytes,
        leaks,
        duration_ns,
    })
}

//! Live blocks grouped by allocation stack, largest first: what the leak detector reports
//! at the end of the replay and what the peak metric names as the peak's holders. The
//! replay computes the latter itself, so the grouping lives here and not in a detector.

use std::collections::HashMap;

use crate::ids::StackId;

/// Blocks live at the end of the trace that share an allocation stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakGroup {
    pub stack: StackId,
    pub bytes: u64,
    pub blocks: u64,
}

/// Groups (stack, size) pairs by stack, largest first (bytes, then blocks, then stack).
pub fn group_by_stack(blocks: impl Iterator<Item = (StackId, u64)>) -> Vec<LeakGroup> {
    let mut groups: HashMap<StackId, LeakGroup> = HashMap::new();
    for (stack, size) in blocks {
        let g = groups.entry(stack).or_insert(LeakGroup {
            stack,
            bytes: 0,
            blocks: 0,
        });
        g.bytes = g.bytes.saturating_add(size);
        g.blocks += 1;
    }
    let mut out: Vec<LeakGroup> = groups.into_values().collect();
    out.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.blocks.cmp(&a.blocks))
            .then(a.stack.cmp(&b.stack))
    });
    out
}

//! Live blocks grouped by allocation stack (and, when the trace has the tracer's leak
//! check, by leak kind), largest first: what the leak detector reports at the end of
//! the replay and what the peak metric names as the peak's holders. The replay computes
//! the latter itself, so the grouping lives here and not in a detector.

use std::collections::HashMap;

use memscope_format::LeakKind;

use crate::ids::StackId;

/// Blocks live at the end of the trace that share an allocation stack (and leak kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakGroup {
    pub stack: StackId,
    pub bytes: u64,
    pub blocks: u64,
    /// The leak check's kind of these blocks; `None` without a leak check (or for blocks
    /// the check did not judge).
    pub kind: Option<LeakKind>,
}

/// Groups (stack, size) pairs by stack, largest first (bytes, then blocks, then stack).
pub fn group_by_stack(blocks: impl Iterator<Item = (StackId, u64)>) -> Vec<LeakGroup> {
    group_by_stack_and_kind(blocks.map(|(stack, size)| (stack, None, size)))
}

/// Groups (stack, kind, size) triples by stack and kind: definitely lost first, then
/// indirectly lost, possibly lost, still reachable, blocks without a kind last; within
/// a kind largest first (bytes, then blocks, then stack).
pub fn group_by_stack_and_kind(
    blocks: impl Iterator<Item = (StackId, Option<LeakKind>, u64)>,
) -> Vec<LeakGroup> {
    let mut groups: HashMap<(StackId, Option<LeakKind>), LeakGroup> = HashMap::new();
    for (stack, kind, size) in blocks {
        let g = groups.entry((stack, kind)).or_insert(LeakGroup {
            stack,
            bytes: 0,
            blocks: 0,
            kind,
        });
        g.bytes = g.bytes.saturating_add(size);
        g.blocks += 1;
    }
    let mut out: Vec<LeakGroup> = groups.into_values().collect();
    out.sort_by(|a, b| {
        kind_rank(a.kind)
            .cmp(&kind_rank(b.kind))
            .then(b.bytes.cmp(&a.bytes))
            .then(b.blocks.cmp(&a.blocks))
            .then(a.stack.cmp(&b.stack))
    });
    out
}

/// Report order of the kinds (valgrind's: the worst first); no kind last.
fn kind_rank(kind: Option<LeakKind>) -> u8 {
    kind.map_or(u8::MAX, |k| k as u8)
}

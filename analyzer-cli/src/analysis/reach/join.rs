//! Joins the leak check's verdicts with the replay's live blocks: each block live at the
//! end gets the kind of the `Reach` record at its address; the kinds are summed in
//! requested bytes (as valgrind counts them) and the blocks grouped by allocation stack
//! and kind. The two sides should agree exactly; where they do not, a `Reach` record for
//! an address the replay has no live block at is ignored, and a live block without one
//! keeps no kind; both are counted. A block a fork child inherited (seeded from the
//! parent's trace) that the check did not judge, and one allocated after the process
//! began to exit (by a thread still running while, or after, the check ran), keep no
//! kind and are counted apart.

use crate::analysis::reach::{holders, KindTotals, LeakKinds};
use crate::ids::StreamId;
use crate::replay::live_groups::{group_by_stack_and_kind, LeakGroup};
use crate::replay::LiveMap;
use crate::trace::leak_check::LeakCheck;

/// The live blocks by stack and kind (report order), and the kinds' totals and holders;
/// `exit_time`: when the process began to exit (its exit record), if known.
pub fn join(
    live: &LiveMap,
    check: &LeakCheck,
    exit_time: Option<u64>,
) -> (Vec<LeakGroup>, LeakKinds) {
    let mut kinds = LeakKinds::default();
    let groups = group_by_stack_and_kind(live.iter().map(|(ptr, block)| {
        let kind = check.reach.get(&ptr).map(|r| r.kind);
        match kind {
            Some(k) => {
                let t: &mut KindTotals = &mut kinds.totals[k as usize];
                t.blocks += 1;
                t.bytes = t.bytes.saturating_add(block.size);
            }
            // An inherited block the child's check did not judge (a tracer whose check
            // covers only the child's own blocks) is no disagreement: it keeps no kind
            // and is counted apart, neither a leak kind nor an inconsistency.
            None if block.stream == StreamId::INHERITED => kinds.inherited_unjudged += 1,
            None if exit_time.is_some_and(|t| block.time > t) => kinds.late_unjudged += 1,
            None => kinds.unjudged_blocks += 1,
        }
        (block.stack, kind, block.size)
    }));
    kinds.unknown_blocks = check
        .reach
        .keys()
        .filter(|&&ptr| live.get(ptr).is_none())
        .count() as u64;
    kinds.holders = holders::resolve(live, check);
    (groups, kinds)
}

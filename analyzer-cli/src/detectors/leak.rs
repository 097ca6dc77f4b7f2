//! The `leak` detector: blocks live when the replay ends (or at the `--at` moment),
//! grouped by allocation stack, largest first. Which groups belong to libc, ld.so or a
//! language runtime (kept on purpose) is decided later on the symbolized stacks, by
//! [`crate::classify::runtime`].

use std::collections::HashMap;

use crate::findings::FindingSet;
use crate::ids::StackId;
use crate::lifecycle::{Ctx, Kinds, Lifecycle};
use crate::visitor::{Category, End, Info, Results, Visitor};

/// Blocks live at the end of the trace that share an allocation stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakGroup {
    pub stack: StackId,
    pub bytes: u64,
    pub blocks: u64,
}

pub struct Leaks;

impl Visitor for Leaks {
    fn wants(&self) -> Kinds {
        Kinds::NONE
    }

    fn info(&self) -> Info {
        Info {
            name: "leak",
            category: Category::Detector,
            description: "blocks live at the end, by allocation stack; program vs runtime-internal",
        }
    }

    fn event(&mut self, _: &Ctx, _: &Lifecycle, _: &mut FindingSet) {}

    fn finish(self: Box<Self>, end: &End<'_>, results: &mut Results) {
        results.leaks = group_by_stack(end.live.values().map(|b| (b.stack, b.size)));
    }
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

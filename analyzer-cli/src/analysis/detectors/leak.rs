//! The `leak` detector: blocks live when the replay ends (or at the `--at` moment),
//! grouped by allocation stack, largest first; when the trace has the tracer's leak
//! check, by allocation stack and leak kind, worst kind first
//! ([`crate::analysis::reach`]). Which groups belong to libc, ld.so or a language
//! runtime (kept on purpose) is decided later on the symbolized stacks, by
//! [`crate::analysis::classify::runtime`].

use crate::analysis::findings::FindingSet;
use crate::analysis::reach::join::join;
use crate::analysis::visitor::{Category, End, Info, Results, Visitor};
use crate::replay::block_events::{Ctx, Kinds, Lifecycle};
use crate::replay::live_groups::group_by_stack;
pub use crate::replay::live_groups::LeakGroup;

pub struct Leaks;

impl Visitor for Leaks {
    fn wants(&self) -> Kinds {
        Kinds::NONE
    }

    fn info(&self) -> Info {
        Info {
            name: "leak",
            category: Category::Detector,
            description: "blocks live at the end, by allocation stack; program vs runtime-internal; any run (leak kinds need the tracer's check at exit: not after SIGKILL, nor with --at)",
        }
    }

    fn event(&mut self, _: &Ctx, _: &Lifecycle, _: &mut FindingSet) {}

    fn finish(self: Box<Self>, end: &End<'_>, results: &mut Results) {
        match end.leak_check {
            Some(check) => {
                let exit_time = end.index.exit.map(|e| e.time);
                let (groups, kinds) = join(end.live, check, exit_time);
                results.leaks = groups;
                results.leak_kinds = Some(kinds);
            }
            None => results.leaks = group_by_stack(end.live.values().map(|b| (b.stack, b.size))),
        }
    }
}

//! What a reader sees of the leak groups in the text report: groups with the same site
//! (function, file and line of the program's own frame), kind and classification merged
//! into one with the summed counts (an unrolled loop's stacks differ only in return
//! addresses), the program's groups first and runtime-internal ones after them or hidden
//! with a count, at most `--max-groups` of them; and how much of each stack is shown
//! (from the site outward, runtime start-up folded, unless `--full-stacks`). The options
//! are declared here ([`ViewArgs`]); the document keeps every group and frame.

use memscope_report::{LeakDoc, LiveDoc, LocationDoc};

/// The text report's and flame graphs' view options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ViewArgs {
    /// Print whole stacks: allocator, library and runtime start-up frames too (text).
    #[arg(long)]
    pub full_stacks: bool,
    /// Leak groups (by site) the text report shows.
    #[arg(long, value_name = "N", default_value_t = super::TEXT_LEAK_GROUPS)]
    pub max_groups: usize,
    /// Show every leak group (text).
    #[arg(long, conflicts_with = "max_groups")]
    pub all_groups: bool,
    /// Show runtime-internal blocks (what libc, ld.so and language runtimes keep on
    /// purpose) in the text report and flame graphs; hidden by default, with a count.
    #[arg(long, conflicts_with = "hide_runtime")]
    pub show_runtime: bool,
    /// Hide runtime-internal blocks (the default; counted in one line).
    #[arg(long)]
    pub hide_runtime: bool,
}

impl Default for ViewArgs {
    fn default() -> Self {
        ViewArgs {
            full_stacks: false,
            max_groups: super::TEXT_LEAK_GROUPS,
            all_groups: false,
            show_runtime: false,
            hide_runtime: false,
        }
    }
}

impl ViewArgs {
    /// The groups to show, `None` for all.
    pub fn limit(&self) -> Option<usize> {
        (!self.all_groups).then_some(self.max_groups)
    }

    pub fn runtime_hidden(&self) -> bool {
        !self.show_runtime
    }
}

/// One shown group: the first (largest) of the merged groups, and the sums.
#[derive(Debug, Clone)]
pub struct Shown<'a> {
    pub leak: &'a LeakDoc,
    pub bytes: u64,
    pub blocks: u64,
    /// Allocation stacks merged into it (1: none merged).
    pub stacks: usize,
}

/// The groups a text report shows, and what it leaves out.
#[derive(Debug, Clone)]
pub struct LeakView<'a> {
    pub shown: Vec<Shown<'a>>,
    /// Groups after merging (shown or not, runtime-internal hidden excluded).
    pub total: usize,
    /// Runtime-internal groups hidden, and their blocks and bytes.
    pub hidden_runtime: usize,
    pub hidden_runtime_live: LiveDoc,
}

/// Whether two groups are one for a reader: the same site, kind and classification.
fn same(a: &LeakDoc, b: &LeakDoc) -> bool {
    let site_eq = |x: &LocationDoc, y: &LocationDoc| {
        (&x.function, &x.file, x.line, &x.module) == (&y.function, &y.file, y.line, &y.module)
            && (x.function.is_some() || x.module_offset == y.module_offset)
    };
    match (&a.site, &b.site) {
        (Some(x), Some(y)) => {
            site_eq(x, y)
                && a.kind == b.kind
                && a.runtime_internal == b.runtime_internal
                && a.inherited == b.inherited
                && a.type_name == b.type_name
        }
        _ => false,
    }
}

/// Merges, orders (the program's first, each part in report order: worst kind, then
/// largest) and limits `leaks`.
pub fn leak_view<'a>(leaks: &'a [LeakDoc], opts: &ViewArgs) -> LeakView<'a> {
    let mut merged: Vec<Shown<'a>> = Vec::new();
    for leak in leaks {
        match merged.iter_mut().find(|s| same(s.leak, leak)) {
            Some(s) => {
                s.bytes = s.bytes.saturating_add(leak.bytes);
                s.blocks = s.blocks.saturating_add(leak.blocks);
                s.stacks += 1;
            }
            None => merged.push(Shown {
                leak,
                bytes: leak.bytes,
                blocks: leak.blocks,
                stacks: 1,
            }),
        }
    }
    let (mut ordered, runtime): (Vec<_>, Vec<_>) =
        merged.into_iter().partition(|s| !s.leak.runtime_internal);
    let mut hidden_runtime = 0;
    let mut hidden_runtime_live = LiveDoc::default();
    if opts.runtime_hidden() {
        for s in &runtime {
            hidden_runtime += 1;
            hidden_runtime_live.blocks += s.blocks;
            hidden_runtime_live.bytes = hidden_runtime_live.bytes.saturating_add(s.bytes);
        }
    } else {
        ordered.extend(runtime);
    }
    let total = ordered.len();
    ordered.truncate(opts.limit().unwrap_or(usize::MAX));
    LeakView {
        shown: ordered,
        total,
        hidden_runtime,
        hidden_runtime_live,
    }
}

/// The frames of a stack to print: `(first, end, folded runtime frames)`, the whole stack
/// with `full`.
pub fn stack_span(
    stack_len: usize,
    site: Option<&LocationDoc>,
    full: bool,
) -> (usize, usize, usize) {
    match site {
        Some(s) if !full && s.frame < stack_len => {
            let folded = s.runtime_frames.min(stack_len - s.frame - 1);
            (s.frame, stack_len - folded, folded)
        }
        _ => (0, stack_len, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak(function: &str, line: u32, bytes: u64, runtime: bool) -> LeakDoc {
        LeakDoc {
            bytes,
            blocks: 1,
            stack_id: 1,
            stack: Vec::new(),
            type_name: None,
            runtime_internal: runtime,
            kind: None,
            held_by: Vec::new(),
            chain: Vec::new(),
            inherited: false,
            site: Some(LocationDoc {
                frame: 2,
                function: Some(function.into()),
                file: Some("a.rs".into()),
                line: Some(line),
                module: Some("/t/a".into()),
                module_offset: None,
                program: true,
                program_frames: vec![function.into()],
                runtime_frames: 3,
            }),
        }
    }

    #[test]
    fn same_sites_merge_and_the_program_comes_first() {
        let leaks = vec![
            leak("stdio", 1, 4096, true),
            leak("f", 4, 24, false),
            leak("f", 4, 24, false),
            leak("g", 9, 8, false),
        ];
        let v = leak_view(&leaks, &ViewArgs::default());
        let shown: Vec<(&str, u64, usize)> = v
            .shown
            .iter()
            .map(|s| {
                (
                    s.leak.site.as_ref().unwrap().function.as_deref().unwrap(),
                    s.bytes,
                    s.stacks,
                )
            })
            .collect();
        assert_eq!(shown, vec![("f", 48, 2), ("g", 8, 1)]);
        assert_eq!((v.hidden_runtime, v.hidden_runtime_live.bytes), (1, 4096));
        let all = ViewArgs {
            show_runtime: true,
            max_groups: 2,
            ..ViewArgs::default()
        };
        let v = leak_view(&leaks, &all);
        assert_eq!((v.shown.len(), v.total), (2, 3));
    }

    #[test]
    fn stacks_start_at_the_site_and_fold_runtime_frames() {
        let l = leak("f", 4, 1, false);
        assert_eq!(stack_span(10, l.site.as_ref(), false), (2, 7, 3));
        assert_eq!(stack_span(10, l.site.as_ref(), true), (0, 10, 0));
        assert_eq!(stack_span(4, None, false), (0, 4, 0));
    }
}

//! Applies the policy to a report: each leak group and finding gets a [`Disposition`]
//! (fails, passes and why, suppressed, or runtime-internal and left out), and the whole
//! an [`Outcome`] that the renderers only format.
//!
//! Leaks: runtime-internal groups are left out unless `include_runtime`; with the
//! tracer's leak check, so are groups whose kind is not in `fail_on_leak_kinds`
//! (definitely and indirectly lost by default; a group without a kind counts); without
//! it every group counts, as before leak kinds existed. Suppressed ones
//! are counted per suppression; with a baseline, groups whose fingerprint is unchanged
//! pass. The rest count against the leak budget (`max_leaked_bytes`, `max_leaked_blocks`;
//! a grown fingerprint counts only its growth); over budget, each of them fails; and a
//! group over a per-site limit fails whatever the budget. Findings fail when their
//! detector is in `fail_on`, they are not suppressed and the baseline does not accept
//! //! them; in a trace with lost events such a finding passes as a warning instead (the lost
//! events could explain it), while leaks are still gated (see `docs/ci-gate.md`). The
//! traced program's failure fails the gate only with `fail_on_program_error`.

use std::collections::{BTreeMap, BTreeSet};

use super::baseline::{self, Baseline, Entry, State};
use super::frames::{self, Fingerprint, Recipe};
use super::input::{GateReport, ProgramStatus};
use super::policy::Policy;
use super::suppress::{self, Matched, Suppression};

/// Why an item fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Together with the other counted leaks it is over the leak budget.
    LeakBudget,
    /// Its bytes are over `max_site_bytes` (the limit).
    SiteBytes(u64),
    /// Its blocks are over `max_site_blocks`.
    SiteBlocks(u64),
    /// Its detector is in `fail_on`.
    Detector,
}

/// Why an item passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// A leak counted against the budget, which holds.
    WithinBudget,
    /// The baseline has it, no larger.
    Baseline,
    /// A finding of a detector not in `fail_on`.
    NotGated,
    /// A finding that would fail, in a trace whose tracer dropped events: a lost
    /// allocation or free could explain it (a correct free of a block whose allocation
    /// was lost reads as an invalid free; a lost free and a lost allocation at the same
    /// address read as a double or mismatched free), so it is reported as a warning.
    LostEvents,
}

/// What the gate decided for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Fail(Vec<Reason>),
    Pass(Pass),
    /// Taken by the suppression of this index.
    Suppressed(usize),
    /// A runtime-internal leak, left out (no `include_runtime`).
    RuntimeInternal,
    /// A leak of a kind not in `fail_on_leak_kinds`, left out.
    LeakKindNotGated,
    /// Blocks a fork child inherited that its leak check did not judge (a tracer whose
    /// check covers only the child's own blocks): no kind, left out.
    InheritedUnjudged,
}

/// One item's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Index into [`GateReport::items`].
    pub item: usize,
    pub fingerprint: Fingerprint,
    /// The function names the fingerprint was made of.
    pub frames: Vec<String>,
    pub disposition: Disposition,
    /// With a baseline, how its fingerprint compares (not for left-out items).
    pub baseline: Option<State>,
}

impl Verdict {
    pub fn fails(&self) -> bool {
        matches!(self.disposition, Disposition::Fail(_))
    }
}

/// Blocks and bytes of some leak groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub groups: u64,
    pub blocks: u64,
    pub bytes: u64,
}

impl Totals {
    fn add(&mut self, blocks: u64, bytes: u64) {
        self.groups += 1;
        self.blocks = self.blocks.saturating_add(blocks);
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// The gate's decision and everything the renderers show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdicts: Vec<Verdict>,
    /// The program's leaks the gate considered (not suppressed, not left out).
    pub leaks: Totals,
    /// What counted against the budget (new or grown, with a baseline).
    pub counted: Totals,
    pub budget_exceeded: bool,
    /// Runtime-internal leaks left out.
    pub runtime_internal: Totals,
    /// Leaks left out for their kind.
    pub kind_left_out: Totals,
    /// Inherited blocks the child's leak check did not judge, left out.
    pub inherited_unjudged: Totals,
    /// The report had leak kinds (else every leak counted).
    pub leak_check: bool,
    /// Per suppression (same order as given), what it took.
    pub suppressed: Vec<Matched>,
    /// Baseline entries that no longer occur.
    pub absent: Vec<Entry>,
    /// The considered items summed by fingerprint: what `--write-baseline` writes.
    pub current: BTreeMap<String, Entry>,
    pub program: ProgramStatus,
    /// The program's failure fails the gate.
    pub program_fails: bool,
    pub baseline_used: bool,
    /// The baseline was written with fingerprint recipe 1 (before sites) and was matched
    /// by it: it should be written again.
    pub legacy_baseline: bool,
}

impl Outcome {
    /// Whether the gate fails.
    pub fn failed(&self) -> bool {
        self.program_fails || self.verdicts.iter().any(Verdict::fails)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| v.fails())
    }

    /// Findings that would fail but that the trace's lost events could explain.
    pub fn excused(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts
            .iter()
            .filter(|v| v.disposition == Disposition::Pass(Pass::LostEvents))
    }
}

/// What the evaluation is given.
pub struct Inputs<'a> {
    pub report: &'a GateReport,
    pub policy: &'a Policy,
    pub suppressions: &'a [Suppression],
    pub baseline: Option<&'a Baseline>,
    /// Program frames per fingerprint.
    pub frames: usize,
    /// How the program ended (from `run`, or the trace's exit record).
    pub status: ProgramStatus,
}

/// Decides.
pub fn evaluate(inp: &Inputs<'_>) -> Outcome {
    let policy = inp.policy;
    let mut suppressed = vec![Matched::default(); inp.suppressions.len()];
    let mut runtime_internal = Totals::default();
    let mut kind_left_out = Totals::default();
    let mut inherited_unjudged = Totals::default();
    let mut leaks = Totals::default();
    let leak_check = inp.report.leak_check;
    let mut current = BTreeMap::new();
    // Summed by the baseline's recipe: `current` itself, unless the baseline is older.
    let legacy = inp.baseline.is_some_and(|b| b.recipe() == Recipe::V1);
    let mut matched = BTreeMap::new();
    let mut match_fps = Vec::with_capacity(inp.report.items.len());
    let mut verdicts = Vec::with_capacity(inp.report.items.len());

    // Pass 1: left out, suppressed, or considered (summed by fingerprint).
    for (i, item) in inp.report.items.iter().enumerate() {
        let (fingerprint, key) = frames::fingerprint(item, inp.frames);
        let match_fp = if legacy {
            frames::legacy_fingerprint(item, inp.frames)
        } else {
            fingerprint.clone()
        };
        let disposition = if item.is_leak() && item.runtime_internal && !policy.include_runtime {
            runtime_internal.add(item.blocks, item.bytes);
            Some(Disposition::RuntimeInternal)
        } else if item.is_leak()
            && leak_check
            && item
                .leak_kind
                .is_some_and(|k| !policy.fail_on_leak_kinds.contains(&k))
        {
            kind_left_out.add(item.blocks, item.bytes);
            Some(Disposition::LeakKindNotGated)
        } else if item.is_leak() && leak_check && item.inherited && item.leak_kind.is_none() {
            inherited_unjudged.add(item.blocks, item.bytes);
            Some(Disposition::InheritedUnjudged)
        } else if let Some(k) = suppress::first_match(inp.suppressions, item) {
            let m = &mut suppressed[k];
            m.items += 1;
            m.blocks += item.blocks;
            m.bytes = m.bytes.saturating_add(item.bytes);
            m.occurrences += item.count;
            Some(Disposition::Suppressed(k))
        } else {
            if item.is_leak() {
                leaks.add(item.blocks, item.bytes);
            }
            baseline::add(
                &mut current,
                &fingerprint,
                item.detector.name(),
                &key,
                item.bytes,
                item.blocks,
                item.count,
            );
            baseline::add(
                &mut matched,
                &match_fp,
                item.detector.name(),
                &key,
                item.bytes,
                item.blocks,
                item.count,
            );
            None
        };
        match_fps.push(match_fp);
        verdicts.push((i, fingerprint, key, disposition));
    }

    // Pass 2: baseline states, the budget, site limits, detectors.
    let mut counted = Totals::default();
    let mut counted_fps = BTreeSet::new();
    let mut candidates = Vec::new();
    let mut out = Vec::with_capacity(verdicts.len());
    for (i, fingerprint, key, decided) in verdicts {
        let item = &inp.report.items[i];
        if let Some(disposition) = decided {
            out.push(Verdict {
                item: i,
                fingerprint,
                frames: key,
                disposition,
                baseline: None,
            });
            continue;
        }
        let match_fp = &match_fps[i];
        let state = inp.baseline.map(|b| match matched.get(&match_fp.0) {
            Some(cur) => b.state_of(cur),
            None => State::New,
        });
        let accepted = state == Some(State::Unchanged);
        let disposition = if accepted {
            Disposition::Pass(Pass::Baseline)
        } else if item.is_leak() {
            if counted_fps.insert(match_fp.0.clone()) {
                let (blocks, bytes) = match (
                    inp.baseline.and_then(|b| b.get(match_fp)),
                    matched.get(&match_fp.0),
                ) {
                    (Some(base), Some(cur)) => (
                        cur.blocks.saturating_sub(base.blocks),
                        cur.bytes.saturating_sub(base.bytes),
                    ),
                    (None, Some(cur)) => (cur.blocks, cur.bytes),
                    _ => (item.blocks, item.bytes),
                };
                counted.add(blocks, bytes);
            }
            candidates.push(out.len());
            let mut reasons = Vec::new();
            if let Some(limit) = policy.max_site_bytes.filter(|&l| item.bytes > l) {
                reasons.push(Reason::SiteBytes(limit));
            }
            if let Some(limit) = policy.max_site_blocks.filter(|&l| item.blocks > l) {
                reasons.push(Reason::SiteBlocks(limit));
            }
            if reasons.is_empty() {
                Disposition::Pass(Pass::WithinBudget)
            } else {
                Disposition::Fail(reasons)
            }
        } else if policy.fail_on.contains(&item.detector) && inp.report.lost_events > 0 {
            Disposition::Pass(Pass::LostEvents)
        } else if policy.fail_on.contains(&item.detector) {
            Disposition::Fail(vec![Reason::Detector])
        } else {
            Disposition::Pass(Pass::NotGated)
        };
        out.push(Verdict {
            item: i,
            fingerprint,
            frames: key,
            disposition,
            baseline: state,
        });
    }
    let budget_exceeded = policy.budget().exceeded_by(counted.bytes, counted.blocks);
    if budget_exceeded {
        for &k in &candidates {
            let v = &mut out[k];
            v.disposition =
                match std::mem::replace(&mut v.disposition, Disposition::Fail(Vec::new())) {
                    Disposition::Fail(mut r) => {
                        r.insert(0, Reason::LeakBudget);
                        Disposition::Fail(r)
                    }
                    _ => Disposition::Fail(vec![Reason::LeakBudget]),
                };
        }
    }
    let absent = inp
        .baseline
        .map(|b| b.absent(&matched).into_iter().cloned().collect())
        .unwrap_or_default();
    Outcome {
        verdicts: out,
        leaks,
        counted,
        budget_exceeded,
        runtime_internal,
        kind_left_out,
        inherited_unjudged,
        leak_check,
        suppressed,
        absent,
        current,
        program: inp.status,
        program_fails: policy.fail_on_program_error && inp.status.is_error(),
        baseline_used: inp.baseline.is_some(),
        legacy_baseline: legacy,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gate::input::{Detector, Frame, Item, StackRole};
    use crate::gate::policy::Limit;
    use crate::gate::suppress::parse;

    pub(crate) fn frame(function: &str, line: u32) -> Frame {
        Frame {
            function: Some(function.into()),
            file: Some("/src/app.c".into()),
            line: Some(line),
            module: Some("/build/app".into()),
        }
    }

    pub(crate) fn leak(function: &str, bytes: u64, blocks: u64) -> Item {
        Item {
            detector: Detector::Leak,
            message: format!("{bytes} bytes in {blocks} blocks leaked"),
            bytes,
            blocks,
            count: 1,
            runtime_internal: false,
            type_name: None,
            leak_kind: None,
            inherited: false,
            stacks: vec![(
                StackRole::Allocation,
                vec![frame(function, 10), frame("main", 20)],
            )],
            site: None,
        }
    }

    pub(crate) fn finding(detector: Detector, function: &str) -> Item {
        Item {
            detector,
            message: "bad free".into(),
            bytes: 0,
            blocks: 0,
            count: 1,
            runtime_internal: false,
            type_name: None,
            leak_kind: None,
            inherited: false,
            stacks: vec![
                (
                    StackRole::Allocation,
                    vec![frame("make", 5), frame("main", 20)],
                ),
                (
                    StackRole::Offending,
                    vec![frame(function, 7), frame("main", 21)],
                ),
            ],
            site: None,
        }
    }

    pub(crate) fn report(items: Vec<Item>) -> GateReport {
        GateReport {
            exe: "/build/app".into(),
            pid: 1,
            command: "/build/app".into(),
            truncated: false,
            lost_events: 0,
            items,
            leak_check: false,
            status: ProgramStatus::Exited(0),
        }
    }

    fn run(
        r: &GateReport,
        policy: &Policy,
        supp: &[Suppression],
        base: Option<&Baseline>,
    ) -> Outcome {
        evaluate(&Inputs {
            report: r,
            policy,
            suppressions: supp,
            baseline: base,
            frames: 5,
            status: r.status,
        })
    }

    fn failing(o: &Outcome, r: &GateReport) -> Vec<String> {
        o.failures()
            .map(|v| {
                frames::function(r.items[v.item].primary_stack())
                    .unwrap_or("?")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn any_leak_fails_by_default_runtime_left_out() {
        let mut rt = leak("_IO_file_doallocate", 1024, 1);
        rt.runtime_internal = true;
        let r = report(vec![leak("leak_one", 100, 1), rt]);
        let o = run(&r, &Policy::default(), &[], None);
        assert!(o.failed());
        assert_eq!(failing(&o, &r), vec!["leak_one"]);
        assert_eq!(
            o.verdicts[0].disposition,
            Disposition::Fail(vec![Reason::LeakBudget])
        );
        assert_eq!(o.verdicts[1].disposition, Disposition::RuntimeInternal);
        assert_eq!(
            o.runtime_internal,
            Totals {
                groups: 1,
                blocks: 1,
                bytes: 1024
            }
        );
        let with_rt = Policy {
            include_runtime: true,
            ..Policy::default()
        };
        assert_eq!(run(&r, &with_rt, &[], None).failures().count(), 2);
    }

    #[test]
    fn leak_kinds_filter_leaks_beside_runtime_internal() {
        use memscope_report::LeakKindDoc;
        let kinded = |function, bytes, kind| Item {
            leak_kind: Some(kind),
            inherited: false,
            ..leak(function, bytes, 1)
        };
        let mut rt = kinded("_IO_file_doallocate", 1024, LeakKindDoc::DefinitelyLost);
        rt.runtime_internal = true;
        let mut r = report(vec![
            kinded("lost", 100, LeakKindDoc::DefinitelyLost),
            kinded("kept", 50, LeakKindDoc::StillReachable),
            rt,
            leak("unjudged", 7, 1),
        ]);
        r.leak_check = true;
        let o = run(&r, &Policy::default(), &[], None);
        assert_eq!(failing(&o, &r), vec!["lost", "unjudged"]);
        assert_eq!(o.verdicts[1].disposition, Disposition::LeakKindNotGated);
        assert_eq!(o.verdicts[2].disposition, Disposition::RuntimeInternal);
        assert_eq!(
            o.kind_left_out,
            Totals {
                groups: 1,
                blocks: 1,
                bytes: 50
            }
        );
        assert_eq!(o.counted.bytes, 107);
        let with_rt = Policy {
            include_runtime: true,
            ..Policy::default()
        };
        assert_eq!(
            failing(&run(&r, &with_rt, &[], None), &r),
            vec!["lost", "_IO_file_doallocate", "unjudged"]
        );
        let reachable = Policy {
            fail_on_leak_kinds: [LeakKindDoc::StillReachable].into_iter().collect(),
            ..Policy::default()
        };
        assert_eq!(
            failing(&run(&r, &reachable, &[], None), &r),
            vec!["kept", "unjudged"]
        );
        // Without a leak check every leak counts, whatever its (absent) kind.
        r.leak_check = false;
        let o = run(&r, &Policy::default(), &[], None);
        assert_eq!(failing(&o, &r), vec!["lost", "kept", "unjudged"]);
        assert!(!o.leak_check);
    }

    #[test]
    fn budget_and_site_limits() {
        let r = report(vec![leak("a", 100, 1), leak("b", 50, 2)]);
        let roomy = Policy {
            max_leaked_bytes: Limit::AtMost(150),
            max_leaked_blocks: Limit::AtMost(3),
            ..Policy::default()
        };
        let o = run(&r, &roomy, &[], None);
        assert!(!o.failed());
        assert_eq!(
            o.counted,
            Totals {
                groups: 2,
                blocks: 3,
                bytes: 150
            }
        );
        let tight = Policy {
            max_leaked_bytes: Limit::AtMost(149),
            max_leaked_blocks: Limit::AtMost(3),
            ..Policy::default()
        };
        assert_eq!(run(&r, &tight, &[], None).failures().count(), 2);
        let site = Policy {
            max_site_bytes: Some(60),
            ..roomy
        };
        let o = run(&r, &site, &[], None);
        assert_eq!(failing(&o, &r), vec!["a"]);
        assert_eq!(
            o.verdicts[0].disposition,
            Disposition::Fail(vec![Reason::SiteBytes(60)])
        );
        assert_eq!(
            o.verdicts[1].disposition,
            Disposition::Pass(Pass::WithinBudget)
        );
    }

    #[test]
    fn findings_fail_on_selected_detectors() {
        let r = report(vec![
            finding(Detector::DoubleFree, "twice"),
            finding(Detector::Growth, "grow"),
        ]);
        let o = run(&r, &Policy::default(), &[], None);
        assert_eq!(failing(&o, &r), vec!["twice"]);
        assert_eq!(o.verdicts[1].disposition, Disposition::Pass(Pass::NotGated));
        let none = Policy {
            fail_on: Default::default(),
            ..Policy::default()
        };
        assert!(!run(&r, &none, &[], None).failed());
    }

    #[test]
    fn suppressions_take_items_and_count() {
        let r = report(vec![
            leak("leak_one", 100, 2),
            leak("leak_two", 10, 1),
            finding(Detector::DoubleFree, "twice"),
        ]);
        let supp = parse("leak:^leak_one$\ndouble-free:twice\nleak:unused\n", "s").unwrap();
        let o = run(&r, &Policy::default(), &supp, None);
        assert_eq!(failing(&o, &r), vec!["leak_two"]);
        assert_eq!(
            o.suppressed[0],
            Matched {
                items: 1,
                blocks: 2,
                bytes: 100,
                occurrences: 1
            }
        );
        assert_eq!(o.suppressed[1].occurrences, 1);
        assert_eq!(o.suppressed[2], Matched::default());
        assert_eq!(
            o.leaks,
            Totals {
                groups: 1,
                blocks: 1,
                bytes: 10
            }
        );
    }

    #[test]
    fn baseline_accepts_known_fails_new_and_grown_lists_absent() {
        let before = report(vec![
            leak("a", 100, 1),
            leak("gone", 5, 1),
            finding(Detector::DoubleFree, "twice"),
        ]);
        let o = run(&before, &Policy::default(), &[], None);
        let base = Baseline::new(5, o.current.values().cloned().collect());
        assert_eq!(base.entries.len(), 3);

        let after = report(vec![
            leak("a", 100, 1),
            leak("new_one", 7, 1),
            finding(Detector::DoubleFree, "twice"),
        ]);
        let o = run(&after, &Policy::default(), &[], Some(&base));
        assert_eq!(failing(&o, &after), vec!["new_one"]);
        assert_eq!(o.verdicts[0].baseline, Some(State::Unchanged));
        assert_eq!(o.verdicts[1].baseline, Some(State::New));
        assert_eq!(o.verdicts[2].disposition, Disposition::Pass(Pass::Baseline));
        assert_eq!(o.absent.len(), 1);
        assert_eq!(o.absent[0].frames, vec!["gone", "main"]);

        // Grown: only the growth counts against the budget.
        let grown = report(vec![leak("a", 130, 2)]);
        let o = run(
            &grown,
            &Policy {
                max_leaked_bytes: Limit::AtMost(30),
                max_leaked_blocks: Limit::AtMost(1),
                ..Policy::default()
            },
            &[],
            Some(&base),
        );
        assert_eq!(o.verdicts[0].baseline, Some(State::Updated));
        assert_eq!(
            o.counted,
            Totals {
                groups: 1,
                blocks: 1,
                bytes: 30
            }
        );
        assert!(!o.failed());
        let o = run(&grown, &Policy::default(), &[], Some(&base));
        assert_eq!(failing(&o, &grown), vec!["a"]);
    }

    #[test]
    fn program_error_fails_only_when_asked() {
        let mut r = report(vec![]);
        r.status = ProgramStatus::Signaled(11);
        assert!(!run(&r, &Policy::default(), &[], None).failed());
        let p = Policy {
            fail_on_program_error: true,
            ..Policy::default()
        };
        assert!(run(&r, &p, &[], None).failed());
        r.status = ProgramStatus::Exited(0);
        assert!(!run(&r, &p, &[], None).failed());
    }
}

//! The visitor architecture: every detector, classifier and metric is a small
//! [`Visitor`] over the replay's [`Lifecycle`] events, with a name, a category and a
//! one-line description. [`registry`] builds them all (in report order); [`catalogue`]
//! lists them, and the classifiers that work later on symbolized stacks, for
//! `memscope analyze --list-detectors`.
//!
//! A visitor keeps only what it needs (at most per live block or per distinct stack),
//! pushes findings into the shared [`FindingSet`] as events arrive, and at the end puts
//! its typed result in its own slot of [`Results`].

use crate::analysis::findings::FindingSet;
use crate::replay::block_events::{Ctx, Kinds, Lifecycle};
use crate::replay::{Counters, LiveMap};
use crate::trace::event::EventKind;
use crate::trace::reader::TraceIndex;

/// What kind of work a visitor does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Reports findings (bugs, leaks, growth).
    Detector,
    /// Labels blocks or call sites (type, lifetime, runtime-internal).
    Classifier,
    /// Measures (totals, peaks, rates, histograms).
    Metric,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::Detector => "detector",
            Category::Classifier => "classifier",
            Category::Metric => "metric",
        }
    }
}

/// Name, category and one-line description of a visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub name: &'static str,
    pub category: Category,
    pub description: &'static str,
}

/// The state at the end of the replay (or at the `--at` moment).
pub struct End<'a> {
    pub index: &'a TraceIndex,
    pub counters: &'a Counters,
    pub live: &'a LiveMap,
    /// Time of the end (the last event replayed, or the trace's end).
    pub time: u64,
    /// The tracer's leak check, when the trace has one and the replay ran to the end
    /// (not for `--at`).
    pub leak_check: Option<&'a crate::trace::leak_check::LeakCheck>,
}

/// A detector, classifier or metric fed the lifecycle events in global order.
pub trait Visitor {
    fn info(&self) -> Info;
    /// The kinds of events `event` acts on; it is not called for the others (most
    /// visitors look at one or two kinds, and the replay calls them for every event).
    fn wants(&self) -> Kinds {
        Kinds::ALL
    }
    fn event(&mut self, ctx: &Ctx, ev: &Lifecycle, findings: &mut FindingSet);
    /// As [`Visitor::event`], also shown the merged event the lifecycle event came from:
    /// for the few visitors that judge what a call was given beyond what the lifecycle
    /// carries (an allocation's alignment, a sized or aligned `delete`'s arguments).
    fn event_with_call(
        &mut self,
        ctx: &Ctx,
        ev: &Lifecycle,
        _call: &EventKind,
        findings: &mut FindingSet,
    ) {
        self.event(ctx, ev, findings)
    }
    fn finish(self: Box<Self>, end: &End<'_>, results: &mut Results);
}

/// Every visitor's typed result, one slot each, plus the shared findings.
#[derive(Debug, Default)]
pub struct Results {
    pub findings: FindingSet,
    pub leaks: Vec<crate::analysis::detectors::leak::LeakGroup>,
    /// The leak check joined with the live blocks (`None` without one).
    pub leak_kinds: Option<crate::analysis::reach::LeakKinds>,
    pub sites: crate::analysis::metrics::sites::Sites,
    pub timeline: crate::analysis::metrics::timeline::Timeline,
    pub sizes: crate::analysis::metrics::histograms::SizeHistogram,
    pub lifetimes: crate::analysis::metrics::histograms::Lifetimes,
    pub threads: Vec<crate::analysis::metrics::threads::ThreadStats>,
}

/// All event visitors, in report order.
/// `expected_events` sizes the growth detector's sampling (records in the trace);
/// `start_clock` is the trace's start time; `dense_stacks` sizes per-stack tables (see
/// [`crate::replay::stack_table::dense_limit`]).
pub fn registry(
    expected_events: u64,
    start_clock: u64,
    dense_stacks: usize,
) -> Vec<Box<dyn Visitor>> {
    use crate::analysis::detectors::{delete_args, growth, leak, misuse};
    use crate::analysis::metrics::{histograms, sites, threads, timeline};
    vec![
        Box::new(misuse::DoubleFree),
        Box::new(misuse::InvalidFree),
        Box::new(misuse::ReallocOfFreed),
        Box::new(misuse::MismatchedFree),
        Box::new(delete_args::SizedDelete),
        Box::new(delete_args::AlignedDelete::default()),
        Box::new(misuse::FishySize),
        Box::new(leak::Leaks),
        Box::new(growth::Growth::new(expected_events, dense_stacks)),
        Box::new(histograms::LifetimeVisitor::default()),
        Box::new(sites::SiteVisitor::new(dense_stacks)),
        Box::new(timeline::TimelineVisitor::new(start_clock)),
        Box::new(histograms::SizeVisitor::default()),
        Box::new(threads::ThreadVisitor::default()),
    ]
}

/// Everything `--list-detectors` shows: the event visitors, then the classifiers that
/// run on symbolized stacks when a report is built.
pub fn catalogue() -> Vec<Info> {
    let mut out: Vec<Info> = registry(0, 0, 0).iter().map(|v| v.info()).collect();
    out.extend(crate::analysis::classify::SYMBOL_CLASSIFIERS);
    out.push(crate::analysis::metrics::peak::INFO);
    out
}

/// The visitors of a replay, each called only for the kinds of events it wants, in
/// registry order.
pub struct Visitors {
    all: Vec<Box<dyn Visitor>>,
    /// Per event kind ([`Kinds::index`]), the visitors that want it.
    by_kind: [Vec<usize>; 7],
}

impl Visitors {
    pub fn new(all: Vec<Box<dyn Visitor>>) -> Self {
        let by_kind = std::array::from_fn(|k| {
            let kind = Kinds::ALL.nth(k);
            (0..all.len())
                .filter(|&i| all[i].wants().contains(kind))
                .collect()
        });
        Self { all, by_kind }
    }

    /// Shows one event (and the merged event `call` it came from) to the visitors that
    /// want it.
    #[inline]
    pub fn event(
        &mut self,
        ctx: &Ctx,
        ev: &Lifecycle,
        call: &EventKind,
        findings: &mut FindingSet,
    ) {
        for &i in &self.by_kind[ev.kind().index()] {
            self.all[i].event_with_call(ctx, ev, call, findings);
        }
    }

    pub fn finish(self, end: &End<'_>, results: &mut Results) {
        for v in self.all {
            v.finish(end, results);
        }
    }
}

//! The visitor architecture: every detector, classifier and metric is a small
//! [`Visitor`] over the replay's [`Lifecycle`] events, with a name, a category and a
//! one-line description. [`registry`] builds them all (in report order); [`catalogue`]
//! lists them, and the classifiers that work later on symbolized stacks, for
//! `memscope analyze --list-detectors`.
//!
//! A visitor keeps only what it needs (at most per live block or per distinct stack),
//! pushes findings into the shared [`FindingSet`] as events arrive, and at the end puts
//! its typed result in its own slot of [`Results`].

use std::collections::BTreeMap;

use crate::findings::FindingSet;
use crate::lifecycle::{Ctx, Lifecycle, LiveBlock};
use crate::reader::TraceIndex;
use crate::replay::Counters;

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
    pub live: &'a BTreeMap<u64, LiveBlock>,
    /// Time of the end (the last event replayed, or the trace's end).
    pub time: u64,
}

/// A detector, classifier or metric fed the lifecycle events in global order.
pub trait Visitor {
    fn info(&self) -> Info;
    fn event(&mut self, ctx: &Ctx, ev: &Lifecycle, findings: &mut FindingSet);
    fn finish(self: Box<Self>, end: &End<'_>, results: &mut Results);
}

/// Every visitor's typed result, one slot each, plus the shared findings.
#[derive(Debug, Default)]
pub struct Results {
    pub findings: FindingSet,
    pub leaks: Vec<crate::detectors::leak::LeakGroup>,
    pub sites: crate::metrics::sites::Sites,
    pub timeline: crate::metrics::timeline::Timeline,
    pub sizes: crate::metrics::histograms::SizeHistogram,
    pub lifetimes: crate::metrics::histograms::Lifetimes,
    pub threads: Vec<crate::metrics::threads::ThreadStats>,
}

/// All event visitors, in report order.
/// `expected_events` sizes the growth detector's sampling (records in the trace);
/// `start_clock` is the trace's start time.
pub fn registry(expected_events: u64, start_clock: u64) -> Vec<Box<dyn Visitor>> {
    use crate::detectors::{growth, leak, misuse};
    use crate::metrics::{histograms, sites, threads, timeline};
    vec![
        Box::new(misuse::DoubleFree),
        Box::new(misuse::InvalidFree),
        Box::new(misuse::ReallocOfFreed),
        Box::new(misuse::MismatchedFree),
        Box::new(misuse::FishySize),
        Box::new(leak::Leaks),
        Box::new(growth::Growth::new(expected_events)),
        Box::new(histograms::LifetimeVisitor::default()),
        Box::new(sites::SiteVisitor::default()),
        Box::new(timeline::TimelineVisitor::new(start_clock)),
        Box::new(histograms::SizeVisitor::default()),
        Box::new(threads::ThreadVisitor::default()),
    ]
}

/// Everything `--list-detectors` shows: the event visitors, then the classifiers that
/// run on symbolized stacks when a report is built.
pub fn catalogue() -> Vec<Info> {
    let mut out: Vec<Info> = registry(0, 0).iter().map(|v| v.info()).collect();
    out.extend(crate::classify::SYMBOL_CLASSIFIERS);
    out.push(crate::metrics::peak::INFO);
    out
}

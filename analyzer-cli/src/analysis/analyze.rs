//! The analysis pipeline up to typed results: reader (pass 1) → merge (pass 2) → replay
//! → every visitor of the [`crate::analysis::visitor::registry`] (detectors, classifiers, metrics),
//! and the stacks that held the peak (which the replay keeps track of). Nothing here is
//! symbolized or rendered.
//!
//! `--at` stops the replay at a moment of the run: everything (counts, findings, live
//! blocks) is then as it was at that moment, and "live at exit" means "live then".

use std::path::Path;

use memscope_format::Origin;

use crate::analysis::inherit::{inheritance, Inheritance};
use crate::analysis::metrics::peak::Peak;
use crate::analysis::visitor::{registry, End, Results, Visitors};
use crate::error::CliError;
use crate::replay::{Counters, Replay};
use crate::symbols::symbolize::Warmup;
use crate::trace::family::Family;
use crate::trace::merge::Merger;
use crate::trace::reader::{read_index, TraceIndex};

pub use crate::replay::live_groups::LeakGroup;

/// A moment of the run, for `--at`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    /// Nanoseconds after the trace's start.
    Time(u64),
    /// Percent (0–100) of the trace's duration.
    Percent(f64),
}

impl At {
    /// Parses `1.5s`, `250ms`, `40us`, `1000ns`, `1000` (ns) or `50%`.
    pub fn parse(s: &str) -> Result<At, String> {
        let s = s.trim();
        let bad = || {
            format!("--at {s:?}: expected a time (1.5s, 250ms, 40us, 1000ns) or a percent (50%)")
        };
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&v) {
                return Err(bad());
            }
            return Ok(At::Percent(v));
        }
        let (num, scale) = [
            ("ns", 1.0),
            ("us", 1e3),
            ("µs", 1e3),
            ("ms", 1e6),
            ("s", 1e9),
        ]
        .iter()
        .find_map(|&(suffix, scale)| s.strip_suffix(suffix).map(|n| (n, scale)))
        .unwrap_or((s, 1.0));
        let v: f64 = num.trim().parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(bad());
        }
        Ok(At::Time((v * scale).min(u64::MAX as f64) as u64))
    }
}

/// Where an `--at` analysis stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtInfo {
    /// Nanoseconds after the trace's start.
    pub time_ns: u64,
    pub events: u64,
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
    pub results: Results,
    pub peak: Peak,
    /// Set when the analysis stopped at a moment (`--at`).
    pub at: Option<AtInfo>,
    /// The modules of the trace's stacks, loading for symbolizing (see
    /// [`crate::symbols::warmup`]).
    pub symbols: Warmup,
    /// A fork child's blocks inherited from its parent (see [`crate::analysis::inherit`]).
    pub inheritance: Inheritance,
}

/// As [`analyze_file`], for a trace among the traces of a process tree (`family`): a
/// forked child's parent is looked for there.
pub fn analyze_in_family(path: &Path, family: &Family) -> Result<Analysis, CliError> {
    let mut index = read_index(path)?;
    let inheritance = inheritance(&mut index, family);
    analyze_index(index, None, inheritance)
}

/// Reads, merges and replays the whole trace at `path`.
pub fn analyze_file(path: &Path) -> Result<Analysis, CliError> {
    analyze_file_at(path, None)
}

/// As [`analyze_file`], stopping at `at` when given.
/// A fork child's parent is looked for among the `.msl` files beside it.
pub fn analyze_file_at(path: &Path, at: Option<At>) -> Result<Analysis, CliError> {
    let mut index = read_index(path)?;
    let inheritance = if index.header.origin == Origin::ForkChild {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        inheritance(
            &mut index,
            &Family::of_directory(dir.unwrap_or(Path::new("."))),
        )
    } else {
        Inheritance::None
    };
    analyze_index(index, at, inheritance)
}

/// The analysis of a read trace, its replay seeded with what it inherited.
fn analyze_index(
    index: TraceIndex,
    at: Option<At>,
    inheritance: Inheritance,
) -> Result<Analysis, CliError> {
    let early = Warmup::before_replay().then(|| Warmup::start(&index));
    let start = index.header.start_clock_ns;
    let stop = match at {
        None => None,
        Some(at) => {
            let end = match index.end_time {
                Some(t) => t,
                None => last_event_time(&index)?.unwrap_or(start),
            };
            let span = end.saturating_sub(start);
            match at {
                // A moment after the end would report the end under another name.
                At::Time(t) if t > span => {
                    return Err(CliError::Usage(format!(
                        "--at {:.3} ms: after the end of the run, which lasted {:.3} ms",
                        t as f64 / 1e6,
                        span as f64 / 1e6
                    )))
                }
                At::Time(t) => Some(start.saturating_add(t)),
                At::Percent(p) => Some(start.saturating_add((span as f64 * p / 100.0) as u64)),
            }
        }
    };
    let expected: u64 = index.streams.values().map(|s| s.events).sum();
    let max_stack = index.stacks.keys().map(|s| s.0).max().unwrap_or(0);
    let dense = crate::replay::stack_table::dense_limit(index.stacks.len(), max_stack);
    let mut visitors = Visitors::new(registry(expected, start, dense));
    let mut results = Results::default();
    let mut replay = Replay::new(index.header.origin);
    if let Inheritance::Known(seed) = &inheritance {
        replay.seed_inherited(&seed.blocks, &seed.counters, start);
    }
    let mut merger = Merger::new(&index)?;
    'replay: while let Some(run) = merger.next_run()? {
        for ev in run {
            if stop.is_some_and(|s| ev.time > s) {
                break 'replay;
            }
            let (ctx, what) = replay.apply(ev);
            visitors.event(&ctx, &what, &ev.kind, &mut results.findings);
        }
    }
    drop(merger);
    let symbols = early.unwrap_or_else(|| Warmup::start(&index));
    let mut counters = *replay.counters();
    let end_time = match stop {
        Some(s) => s,
        None => index.end_time.or(counters.last_time).unwrap_or(start),
    };
    {
        let end = End {
            index: &index,
            counters: &counters,
            live: replay.live(),
            time: end_time,
            leak_check: index.leak_check.as_ref().filter(|_| stop.is_none()),
        };
        visitors.finish(&end, &mut results);
    }
    if let Some(k) = &results.leak_kinds {
        counters.inconsistencies = counters.inconsistencies.saturating_add(k.inconsistencies());
    }
    let peak = Peak {
        bytes: counters.peak_live_bytes,
        time: counters.peak_time,
        seq: counters.peak_seq,
        holders: replay.peak_holders(),
    };
    let live = replay.finish().live;
    let live_blocks = live.len() as u64;
    let live_bytes = live.values().fold(0u64, |a, b| a.saturating_add(b.size));
    drop(live);
    let leaks = results.leaks.clone();
    Ok(Analysis {
        duration_ns: end_time.saturating_sub(start),
        at: stop.map(|s| AtInfo {
            time_ns: s.saturating_sub(start),
            events: counters.events,
        }),
        index,
        counters,
        live_blocks,
        live_bytes,
        leaks,
        results,
        peak,
        symbols,
        inheritance,
    })
}

/// The time of the last event (for a trace without an `End` record).
fn last_event_time(index: &TraceIndex) -> Result<Option<u64>, CliError> {
    let mut merger = Merger::new(index)?;
    let mut last = None;
    while let Some(run) = merger.next_run()? {
        for ev in run {
            last = Some(last.map_or(ev.time, |l: u64| l.max(ev.time)));
        }
    }
    Ok(last)
}

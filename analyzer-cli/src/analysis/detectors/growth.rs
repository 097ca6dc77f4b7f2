//! The `growth` detector: call sites whose live bytes rise steadily through the run (a
//! leak in a long-running program), as opposed to one-time initialisation.
//!
//! The run is cut into [`SAMPLES`] intervals of equal event counts (sized from the number
//! of records in the trace; a sample is also taken at the end); runs of fewer than
//! [`MIN_EVENTS`] events are not judged. At each cut the live
//! bytes of every allocation stack are sampled. A site is *growing* when, from its first
//! non-zero sample on, there are at least [`MIN_INTERVALS`] intervals and:
//! - its live bytes rose in at least two thirds of them,
//! - it ends within 10 % of its maximum, and
//! - it ends with at least twice its first non-zero sample.
//!
//! Initialisation (one jump, then flat) rises once; a cache that fills and is emptied
//! does not end near its maximum. Memory: [`SAMPLES`] numbers per stack that held bytes.

use rustc_hash::FxHashMap;

use crate::analysis::findings::{Finding, FindingSet};
use crate::analysis::visitor::{Category, End, Info, Results, Visitor};
use crate::ids::StackId;
use crate::replay::block_events::{Ctx, Lifecycle};
use crate::replay::stack_table::StackTable;

/// Sample points over the run.
pub const SAMPLES: u64 = 16;
/// Intervals a site must span (from its first non-zero sample) to be judged: half the
/// run at least.
pub const MIN_INTERVALS: usize = 8;
/// Events a run must have for growth to be judged at all: in shorter runs everything
/// is initialisation (a `sort` of three lines has about 500).
pub const MIN_EVENTS: u64 = 20_000;

pub struct Growth {
    every: u64,
    /// The next multiple of `every` (saves a division per event).
    next_sample: u64,
    events: u64,
    /// Live bytes per stack now.
    live: StackTable<u64>,
    /// Samples per stack (padded with zeros for samples before its first bytes).
    history: FxHashMap<StackId, Vec<u64>>,
    taken: usize,
}

impl Growth {
    /// `expected_events`: about how many events the run has (records in the trace).
    /// `dense_stacks`: see [`crate::replay::stack_table::dense_limit`].
    pub fn new(expected_events: u64, dense_stacks: usize) -> Self {
        Self {
            every: (expected_events / SAMPLES).max(1),
            next_sample: (expected_events / SAMPLES).max(1),
            events: 0,
            live: StackTable::new(dense_stacks),
            history: FxHashMap::default(),
            taken: 0,
        }
    }

    fn sample(&mut self) {
        for (stack, &bytes) in self.live.iter() {
            let taken = self.taken;
            let h = self.history.entry(stack).or_insert_with(|| vec![0; taken]);
            h.push(bytes);
        }
        self.taken += 1;
        // Stacks that hold nothing now still need a sample.
        for h in self.history.values_mut() {
            h.resize(self.taken, 0);
        }
        self.live.retain(|_, b| *b > 0);
    }
}

/// Whether a sample series shows steady growth (see the module docs).
/// Returns (first non-zero sample, last sample, rises, intervals).
pub fn is_growing(samples: &[u64]) -> Option<(u64, u64, u32, u32)> {
    let first = samples.iter().position(|&b| b > 0)?;
    let s = &samples[first..];
    let intervals = s.len().saturating_sub(1);
    if intervals < MIN_INTERVALS {
        return None;
    }
    let rises = s.windows(2).filter(|w| w[1] > w[0]).count();
    let max = s.iter().copied().max().unwrap_or(0);
    let (start, last) = (s[0], s[s.len() - 1]);
    let steady = rises * 3 >= intervals * 2;
    let near_max = last as u128 * 10 >= max as u128 * 9;
    let doubled = last as u128 >= start as u128 * 2;
    (steady && near_max && doubled).then_some((start, last, rises as u32, intervals as u32))
}

impl Visitor for Growth {
    fn info(&self) -> Info {
        Info {
            name: "growth",
            category: Category::Detector,
            description: "call sites whose live bytes rise steadily through the run (not one-time init); needs a run of at least 20,000 events (shorter runs are not judged) and a site holding bytes through half of it",
        }
    }

    fn event(&mut self, ctx: &Ctx, ev: &Lifecycle, _: &mut FindingSet) {
        self.events += 1;
        // Samples at every positive multiple of `every` (while fewer than 2 × SAMPLES).
        if ctx.seq >= self.next_sample {
            let due = ctx.seq.is_multiple_of(self.every);
            self.next_sample = (ctx.seq / self.every + 1).saturating_mul(self.every);
            if due && (self.taken as u64) < 2 * SAMPLES {
                self.sample();
            }
        }
        match *ev {
            Lifecycle::Alloc {
                block, replaced, ..
            } => {
                let b = self.live.entry(block.stack);
                *b = b.saturating_add(block.size);
                if let Some(old) = replaced {
                    let b = self.live.entry(old.stack);
                    *b = b.saturating_sub(old.size);
                }
            }
            Lifecycle::Free { block, .. } => {
                let b = self.live.entry(block.stack);
                *b = b.saturating_sub(block.size);
            }
            _ => {}
        }
    }

    fn finish(mut self: Box<Self>, _: &End<'_>, results: &mut Results) {
        if self.events < MIN_EVENTS {
            return;
        }
        self.sample();
        let mut found: Vec<(StackId, (u64, u64, u32, u32))> = self
            .history
            .iter()
            .filter_map(|(&stack, h)| is_growing(h).map(|g| (stack, g)))
            .collect();
        found.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
        for (stack, (first_bytes, last_bytes, rises, intervals)) in found {
            results.findings.push(Finding::Growth {
                stack,
                first_bytes,
                last_bytes,
                rises,
                intervals,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listed_minimum_is_the_one_applied() {
        let digits = MIN_EVENTS.to_string();
        let (high, low) = digits.split_at(digits.len() - 3);
        let listed = format!("at least {high},{low} events");
        let info = Growth::new(0, 0).info();
        assert!(info.description.contains(&listed), "{}", info.description);
    }
}

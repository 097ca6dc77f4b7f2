//! Flame graph outputs: folded stacks (`frame;frame;frame weight`, root first, one line
//! per distinct symbolized stack, for flamegraph.pl, inferno and speedscope) and an SVG
//! flame graph drawn by the `inferno` crate from the same lines.
//!
//! Weights: `allocations` and `bytes` (allocated over the run), `leaked` (bytes live at
//! the end), `peak` (bytes live at the moment of the peak). Stacks that allocate
//! runtime-internal blocks (libstdc++'s 72 KB emergency pool, stdio buffers: the
//! `runtime-internal` classifier) are left out unless `--show-runtime`, so that they do
//! not dwarf the program's own.

use std::collections::BTreeMap;

use crate::analysis::classify::runtime::is_runtime_internal;
use crate::analysis::Analysis;
use crate::ids::StackId;
use crate::symbols::symbolize::{SymFrame, Symbolizer};

/// What a flame graph's widths measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Weight {
    Allocations,
    Bytes,
    Leaked,
    Peak,
}

impl Weight {
    fn unit(self) -> &'static str {
        match self {
            Weight::Allocations => "allocations",
            _ => "bytes",
        }
    }
}

fn frame_name(f: &SymFrame) -> String {
    let name = match &f.function {
        Some(name) => name.clone(),
        None => {
            let module = f.module.as_deref().unwrap_or("?");
            let file = module.rsplit('/').next().unwrap_or(module);
            format!("{file}+{:#x}", f.module_address.unwrap_or(f.address))
        }
    };
    // `;` separates frames and the last space the weight: keep names free of both roles.
    name.replace(';', ":").replace('\n', " ")
}

fn weights(a: &Analysis, weight: Weight) -> Vec<(StackId, u64)> {
    match weight {
        Weight::Allocations => a
            .results
            .sites
            .iter()
            .map(|(&k, s)| (k, s.allocations))
            .collect(),
        Weight::Bytes => a.results.sites.iter().map(|(&k, s)| (k, s.bytes)).collect(),
        Weight::Leaked => a.leaks.iter().map(|g| (g.stack, g.bytes)).collect(),
        Weight::Peak => a.peak.holders.iter().map(|g| (g.stack, g.bytes)).collect(),
    }
}

/// The folded stacks, sorted, each line `root;...;leaf weight`; without the stacks of
/// runtime-internal blocks when `hide_runtime`.
pub fn collapsed(
    a: &Analysis,
    weight: Weight,
    hide_runtime: bool,
    symbolizer: &mut Symbolizer,
) -> String {
    let mut folded: BTreeMap<String, u64> = BTreeMap::new();
    for (stack, w) in weights(a, weight) {
        if w == 0 {
            continue;
        }
        let frames = symbolizer.symbolize_stack(&a.index, a.index.stack(stack));
        if hide_runtime && is_runtime_internal(&frames) {
            continue;
        }
        let mut names: Vec<String> = frames.iter().rev().map(frame_name).collect();
        if names.is_empty() {
            names.push("[no stack]".to_string());
        }
        let e = folded.entry(names.join(";")).or_insert(0);
        *e = e.saturating_add(w);
    }
    let mut out = String::new();
    for (k, w) in folded {
        out.push_str(&k);
        out.push(' ');
        out.push_str(&w.to_string());
        out.push('\n');
    }
    out
}

/// An SVG flame graph of the folded stacks.
pub fn svg(
    a: &Analysis,
    weight: Weight,
    hide_runtime: bool,
    symbolizer: &mut Symbolizer,
) -> String {
    let lines = collapsed(a, weight, hide_runtime, symbolizer);
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = format!("memscope: {} ({:?})", a.index.header.exe, weight).to_lowercase();
    opts.count_name = weight.unit().to_string();
    let mut out = Vec::new();
    let input: Vec<&str> = if lines.is_empty() {
        vec!["[nothing to show] 1"]
    } else {
        lines.lines().collect()
    };
    match inferno::flamegraph::from_lines(&mut opts, input, &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><text x=\"10\" y=\"20\">flame graph failed: {}</text></svg>\n",
            e.to_string().replace('<', "&lt;").replace('&', "&amp;")
        ),
    }
}

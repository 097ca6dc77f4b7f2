//! memscope's analyzer: reads a `.msl` trace written by `libmemscope.so` and reports on
//! it. The data path, one module per stage:
//!
//! `reader` (pass 1: header, modules, stacks, chunk index) → `merge` (pass 2: thread
//! streams in global order, typed events, chunks decoded ahead by `prefetch`) → `replay` (live map, valgrind-style counts,
//! typed [`lifecycle`] events) → the [`visitor`] registry: `detectors`, `metrics` and
//! their results (`findings`), driven by `analysis` (per-stack state in `stack_table`)
//! → `symbolize` (addr2line over the `debuginfo` loader, only for shown stacks; modules
//! loaded ahead by `warmup`) → `classify` (type, runtime-internal, on symbolized stacks)
//! → `report` (JSON, text, collapsed stacks, SVG flame graph) and `diff`. `cli` parses
//! the command line, `commands` and `run` carry it out.

pub mod analysis;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod coverage;
pub mod debuginfo;
pub mod detectors;
pub mod diff;
pub mod dump;
pub mod error;
pub mod findings;
pub mod gate;
pub mod ids;
pub mod lifecycle;
pub mod merge;
pub mod metrics;
pub mod prefetch;
pub mod progress;
pub mod reader;
pub mod replay;
pub mod report;
#[cfg(unix)]
pub mod run;
pub mod stack_table;
pub mod symbolize;
pub mod synth;
pub mod visitor;
pub mod warmup;

#[cfg(test)]
mod tests;

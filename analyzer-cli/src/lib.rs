//! memscope's analyzer: reads a `.msl` trace written by `libmemscope.so` and reports on
//! it. The data path, one module per stage:
//!
//! `reader` (pass 1: header, modules, stacks, chunk index) → `merge` (pass 2: thread
//! streams in global order, typed events) → `replay` (live map, valgrind-style counts) →
//! `analysis` (leak groups) → `symbolize` (addr2line, only for shown stacks) → `report`
//! (JSON, text). `cli` parses the command line, `commands` and `run` carry it out.

pub mod analysis;
pub mod cli;
pub mod commands;
pub mod dump;
pub mod error;
pub mod ids;
pub mod merge;
pub mod reader;
pub mod replay;
pub mod report;
pub mod run;
pub mod symbolize;
pub mod synth;

#[cfg(test)]
mod tests;

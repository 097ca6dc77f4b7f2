//! memscope's analyzer: reads a `.msl` trace written by `libmemscope.so` and reports on
//! it. The folders follow the data path (docs/architecture.md, "The analyzer's
//! folders"; `scripts/layers.sh` checks that no folder uses one after it):
//!
//! [`trace`] (pass 1 reader, pass 2 merge with chunks decoded ahead, the typed event) →
//! [`replay`] (live map, valgrind-style counts, typed block events, per-stack table) →
//! [`analysis`] (visitor registry: detectors, metrics, classifiers, their findings) →
//! [`symbols`] (addr2line over the debug-info loader, only for shown stacks, modules
//! loaded ahead) → [`report`] (the typed `memscope-report/1` document of the
//! `memscope-report` crate, built and rendered) → [`gate`] (`memscope check` on the
//! typed report). [`cmd`] holds the command line. [`ids`] and [`error`] are leaves every
//! folder may use.

// No unsafe code, except the Windows launcher's process creation and DLL injection
// (`cmd/launch_windows.rs`, allowed there by name).
#![cfg_attr(not(windows), forbid(unsafe_code))]
#![cfg_attr(windows, deny(unsafe_code))]

pub mod analysis;
pub mod cmd;
pub mod error;
pub mod gate;
pub mod ids;
pub mod replay;
pub mod report;
pub mod symbols;
pub mod trace;

#[cfg(test)]
mod site_fingerprints;
#[cfg(test)]
mod tests;

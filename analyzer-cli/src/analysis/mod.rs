//! From events to typed results: the [`visitor`] trait and registry, the [`detectors`],
//! [`metrics`] and [`classify`] (classifiers), their [`findings`], what the trace cannot
//! see ([`coverage`]), the leak check's kinds and holders joined with the replay
//! ([`reach`]), and [`analyze`], which drives trace → replay → visitors for one trace
//! file.
//!
//! Uses `trace/`, `replay/` and (for the warm-up and the classifiers, which read
//! symbolized stacks) `symbols/`.

pub mod analyze;
pub mod classify;
pub mod coverage;
pub mod detectors;
pub mod findings;
pub mod inherit;
pub mod metrics;
pub mod reach;
pub mod visitor;

pub use analyze::{
    analyze_file, analyze_file_at, analyze_in_family, Analysis, At, AtInfo, LeakGroup,
};

//! The CI gate behind `memscope check` and `memscope run --check`: decides from a report
//! whether a build passes, and says why in forms CI systems read.
//!
//! It works on the typed report document of the `memscope-report` crate (what `memscope
//! analyze --format json` writes), never on the analysis pipeline: the command line
//! (`cmd/check.rs`) builds the report and hands it over. The data path, one module per
//! step:
//!
//! [`input`] (report → leaks and findings as items to judge, program status) → [`frames`] (which
//! frames are the program's own, fingerprints) → [`suppress`] (LeakSanitizer-style
//! suppression files) and [`baseline`] (accepted leaks and findings) → [`evaluate`] (the
//! [`policy`], resolved from [`config`] and the command line, applied to each item) →
//! renderers: [`text`], [`sarif`], [`junit`], [`annotations`] (GitHub Actions).
//! [`args`] declares the options; [`cmd`] reads files, runs the steps, writes outputs and
//! maps the outcome to an exit code. Documented in `docs/ci-gate.md`.

pub mod annotations;
pub mod args;
pub mod baseline;
pub mod cmd;
pub mod config;
pub mod evaluate;
pub mod frames;
pub mod input;
pub mod junit;
pub mod policy;
#[cfg(test)]
mod sample;
pub mod sarif;
pub mod suppress;
pub mod text;

pub use args::{CheckArgs, GateArgs};
pub use cmd::{gate, gate_all, Env, GateRun, Process};

/// Exit code of a gate that failed, unless `--exit-code` says otherwise.
pub const EXIT_FAILED: i32 = 1;

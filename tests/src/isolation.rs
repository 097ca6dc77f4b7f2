//! What a child of a test must not inherit from the test process.
//!
//! The suite may itself run traced (`memscope run cargo test`, or with `LD_PRELOAD` and
//! `MEMSCOPE_OUTPUT` in the shell), and every test shares the one test process. A test
//! never changes the process's own environment (`std::env::set_var` would leak into every
//! test running beside it); it gives each child its environment on the `Command`, starting
//! from the process's without the tracer's variables.

use std::process::Command;

/// The variables that make a program traced: the preload and where it writes.
pub const TRACER_VARIABLES: [&str; 2] = ["LD_PRELOAD", "MEMSCOPE_OUTPUT"];

/// Removes [`TRACER_VARIABLES`] from `cmd`'s environment, so that only what the test sets
/// on `cmd` decides whether the child is traced.
pub fn untraced(cmd: &mut Command) -> &mut Command {
    for k in TRACER_VARIABLES {
        cmd.env_remove(k);
    }
    cmd
}

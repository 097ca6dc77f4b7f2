//! The command line: [`cli`] declares it, [`commands`] carries out `analyze` and the
//! report output the commands share, [`run`] runs a program under the tracer (its traces found exactly through [`run_dir`], signals passed on by [`forward`]), [`check`]
//! builds the report a gate decides on, [`dump`] lists a trace's records and [`diff`]
//! compares two traces; [`outputs`] checks output files before the work that fills them;
//! [`parallel`] analyzes the traces of a process tree side by side.
//! [`launch_macos`] tells, on macOS, whether a program can be traced at all.
//! The only folder that sees the whole pipeline.

pub mod check;
pub mod cli;
pub mod commands;
pub mod diff;
pub mod dump;
#[cfg(unix)]
pub mod forward;
pub mod launch_macos;
#[cfg(windows)]
#[allow(unsafe_code)]
pub mod launch_windows;
pub mod outputs;
pub mod parallel;
#[cfg(unix)]
pub mod run;
#[cfg(unix)]
pub mod run_dir;

//! The command line, declared with clap: `memscope analyze`, `run`, `check`, `diff`, `dump`.
//! The gate's options are declared next to the gate, in [`crate::gate::args`].
//! Only parsing lives here; [`crate::cmd::commands`] carries the commands out.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd::diff::{DiffFormat, DiffWeight};
use crate::gate::{CheckArgs, GateArgs};
use crate::report::flame::Weight;
use crate::report::Format;

/// Find leaks and heap misuse in programs nobody recompiled.
#[derive(Debug, Parser)]
#[command(name = "memscope", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Look for module files under this root first (a trace from another machine: copy
    /// its libraries into DIR/lib/..., DIR/usr/lib/...).
    #[arg(long, global = true, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
    /// Also look for detached debug info here (DIR/.build-id/xx/yyyy.debug, DIR/NAME.debug
    /// for a module NAME, and .gnu_debuglink names); repeatable; /usr/lib/debug is always
    /// searched.
    #[arg(long = "debug-dir", global = true, value_name = "DIR")]
    pub debug_dirs: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze a trace (.msl) and print a report on stdout.
    Analyze(AnalyzeArgs),
    /// Run a program under libmemscope.so, then report on stderr (exits with the
    /// program's status).
    Run(RunArgs),
    /// Gate a trace for CI: fail (exit 1) on leaks over the budget and on heap misuse,
    /// with suppressions, a baseline, SARIF, JUnit and GitHub annotations (see
    /// docs/ci-gate.md).
    Check(CheckArgs),
    /// Compare two traces by call site (symbolized frames, by function and file:line):
    /// allocations, bytes, bytes live at the end; as text, JSON or a differential flame
    /// graph.
    Diff(DiffArgs),
    /// Print the header and every record of a trace, in file order (for debugging the
    /// tracer).
    Dump(DumpArgs),
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The trace file.
    pub trace: PathBuf,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The trace file written by libmemscope.so.
    #[arg(required_unless_present = "list_detectors")]
    pub trace: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// What flame graph widths measure (`--format collapsed|svg`).
    #[arg(long, value_enum, default_value_t = Weight::Bytes)]
    pub weight: Weight,
    /// Analyze the heap as it was at this moment: a time after the start (1.5s, 250ms,
    /// 40us, 1000ns) or a percent of the run (50%).
    #[arg(long, value_name = "TIME|PERCENT")]
    pub at: Option<String>,
    /// List the detectors, classifiers and metrics, one line each, and exit.
    #[arg(long)]
    pub list_detectors: bool,
    /// What the text report and flame graphs show.
    #[command(flatten)]
    pub view: crate::report::view::ViewArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first (baseline) trace.
    pub a: PathBuf,
    /// The second trace.
    pub b: PathBuf,
    /// Output format: the changed call sites as text or JSON, or a differential flame
    /// graph (folded stacks `root;...;leaf A B`, or an SVG: widths B, red grew, blue
    /// shrank). No html: the HTML report describes one run.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// What flame graph widths measure (`--format collapsed|svg`): allocations, bytes
    /// allocated, or bytes live at the end (leaked).
    #[arg(long, value_enum, default_value_t = DiffWeight::Bytes)]
    pub weight: DiffWeight,
    /// Call sites shown in the text table (JSON shows all).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Trace file template; `%p` becomes the pid, `%e` the executable's base name,
    /// `%%` a percent sign. Relative paths are taken from the current directory.
    #[arg(
        long,
        short = 'o',
        value_name = "FILE",
        default_value = "memscope.%e.%p.msl"
    )]
    pub output: PathBuf,
    /// The tracer library (default: libmemscope.so next to the memscope executable, then
    /// ../lib/memscope/ from there, then $MEMSCOPE_PRELOAD).
    #[arg(long, value_name = "PATH")]
    pub preload: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Gate every process the run traced (as `memscope check`; the one started and all
    /// its descendants, each failing one named by pid and command line): the exit code
    /// is the gate's, the program's status is reported.
    #[arg(long)]
    pub check: bool,
    /// Report on every process the run traced (forked children, programs it started), not
    /// only the one started; with `--format json`, a JSON array of reports. With
    /// `--check` (which always gates every process), `--report FILE` then gets every
    /// process's report instead of the started one's.
    #[arg(long)]
    pub all: bool,
    /// The gate's options (with `--check`).
    /// What the text report shows (groups, stacks, runtime-internal blocks).
    #[command(flatten)]
    pub view: crate::report::view::ViewArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    /// The program to run and its arguments (after `--`; everything from the program on
    /// is the program's, but an unknown option before it is an error, not a program).
    #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM")]
    pub command: Vec<OsString>,
}

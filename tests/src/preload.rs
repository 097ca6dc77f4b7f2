//! Running a program under the real `libmemscope.so`: `LD_PRELOAD` set to the release
//! library, `MEMSCOPE_OUTPUT` to `%p.msl` in a fresh folder, and [`Traced`] holding the
//! output, the process's own trace and the folder (with its children's traces).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::cli::analyze;
use crate::paths::preload_lib;
use crate::process::{run_with_timeout, Output};
use crate::report::Report;
use crate::run::Run;
use crate::scratch::trace_dir;

/// A program run under the preload: its output and the folder with its
/// trace(s). The folder is deleted when this is dropped.
pub struct Traced {
    pub output: Output,
    /// The trace of the process itself (`<dir>/<pid>.msl`).
    pub trace: PathBuf,
    pub dir: TempDir,
}

impl Traced {
    /// All `.msl` files in the trace folder (the process's and its children's).
    pub fn all_traces(&self) -> Vec<PathBuf> {
        let mut traces: Vec<PathBuf> = fs::read_dir(self.dir.path())
            .expect("read trace dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "msl"))
            .collect();
        traces.sort();
        traces
    }

    /// `memscope analyze --format json` of the process's own trace.
    pub fn report(&self) -> Report {
        analyze(&self.trace)
    }
}

impl Run {
    /// Runs the program with `LD_PRELOAD=<abs>/libmemscope.so` and
    /// `MEMSCOPE_OUTPUT=<fresh temp dir>/%p.msl`. Panics if the process's own
    /// trace file is missing afterwards.
    pub fn traced(&self) -> Traced {
        let traced = self.traced_allow_missing();
        assert!(
            traced.trace.is_file(),
            "no trace at {} after running `{}` under LD_PRELOAD={}; {}; files in the folder: {:?}",
            traced.trace.display(),
            self.display(),
            preload_lib().display(),
            traced.output.describe(),
            traced.all_traces()
        );
        traced
    }

    /// As [`Run::traced`], without checking the trace exists.
    pub fn traced_allow_missing(&self) -> Traced {
        self.traced_with_preload(preload_lib().as_os_str())
    }

    /// Runs the program with `LD_PRELOAD=ld_preload` (a list naming libmemscope.so) and
    /// `MEMSCOPE_OUTPUT=<fresh temp dir>/%p.msl`.
    pub(crate) fn traced_with_preload(&self, ld_preload: &OsStr) -> Traced {
        let dir = trace_dir();
        let mut cmd = self.command(&self.program, &[]);
        cmd.env("LD_PRELOAD", ld_preload);
        cmd.env("MEMSCOPE_OUTPUT", output_pattern(dir.path()));
        let output = run_with_timeout(cmd, self.timeout, &format!("(traced) {}", self.display()));
        let trace = dir.path().join(format!("{}.msl", output.pid));
        Traced { output, trace, dir }
    }
}

/// The `MEMSCOPE_OUTPUT` of a traced run writing into `dir`: one trace per process.
pub(crate) fn output_pattern(dir: &Path) -> PathBuf {
    dir.join("%p.msl")
}

/// Every trace file in `dir`, sorted: `*.msl` (including `x.N.msl`, the name the
/// tracer takes when `x.msl` exists already: an exec in the same pid writes a
/// second trace), and also `*.msl.N`, for patterns not ending in `.msl`.
pub fn all_trace_files(dir: &Path) -> Vec<PathBuf> {
    let mut traces: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            match name.rsplit_once(".msl") {
                Some((_, rest)) => {
                    rest.is_empty()
                        || (rest.starts_with('.') && rest[1..].chars().all(|c| c.is_ascii_digit()))
                }
                None => false,
            }
        })
        .collect();
    traces.sort();
    traces
}

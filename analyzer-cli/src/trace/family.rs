//! The traces of a process tree, known by their headers: which process wrote each
//! (pid, parent pid, how it began, when), read without reading the traces whole.
//!
//! `memscope run` gets the exact list of its traces from its per-run directory,
//! `memscope check` from the files and directories it is given; both order them by the
//! time each process's trace started (one clock for every process of a machine), so the
//! root comes first and an `exec`'s earlier image before its later one. The analysis of
//! a forked child looks its parent's trace up here. [`has_heap_events`] tells the traces
//! worth keeping from those of processes that never touched the heap (a shell's fork
//! child that only `exec`s).

use std::fs;
use std::path::{Path, PathBuf};

use memscope_format::{Header, Origin};

use crate::error::CliError;
use crate::trace::event::EventKind;
use crate::trace::merge::Merger;
use crate::trace::reader::{read_header, read_index};

/// One trace and its header (`None`: the header could not be read, e.g. an empty file
/// of a process killed before it wrote one).
#[derive(Debug, Clone)]
pub struct Member {
    pub path: PathBuf,
    pub header: Option<Header>,
}

/// The traces of one run (or of one `check`), oldest first.
#[derive(Debug, Clone, Default)]
pub struct Family {
    pub members: Vec<Member>,
}

impl Family {
    /// Reads the headers of `paths`; orders them by trace start (unreadable ones last,
    /// by path).
    pub fn read(paths: &[PathBuf]) -> Family {
        let mut members: Vec<Member> = paths
            .iter()
            .map(|p| Member {
                path: p.clone(),
                header: read_header(p).ok(),
            })
            .collect();
        members.sort_by(|a, b| {
            let key = |m: &Member| {
                (
                    m.header.is_none(),
                    m.header.as_ref().map_or(0, |h| h.start_clock_ns),
                    m.path.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        Family { members }
    }

    /// The `.msl` files of `dir` (the siblings a lone trace's parent is looked for in).
    pub fn of_directory(dir: &Path) -> Family {
        Family::read(&msl_files(dir).unwrap_or_default())
    }

    /// The traces of process `pid`, oldest first.
    pub fn of_pid(&self, pid: u32) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(move |m| m.header.as_ref().is_some_and(|h| h.pid == pid))
    }

    /// The traces that may be the parent of a fork child with header `child`: written by
    /// its parent pid, started before the child. (Pids are reused: the caller also
    /// requires a `Fork` record naming the child, before the child's start.)
    pub fn parent_candidates<'a>(&'a self, child: &'a Header) -> impl Iterator<Item = &'a Member> {
        self.members.iter().filter(move |m| {
            m.header.as_ref().is_some_and(|h| {
                child.origin == Origin::ForkChild
                    && h.pid == child.ppid
                    && h.start_clock_ns <= child.start_clock_ns
            })
        })
    }
}

/// Every `*.msl` file of `dir`, sorted by name.
pub fn msl_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = fs::read_dir(dir).map_err(|e| CliError::io(dir, e))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "msl"))
        .collect();
    out.sort();
    Ok(out)
}

/// Files as given, directories as their `*.msl` files.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let files = msl_files(p)?;
            if files.is_empty() {
                return Err(CliError::Usage(format!(
                    "{}: no .msl trace in this directory",
                    p.display()
                )));
            }
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Whether the trace at `path` holds any heap event (an allocation, a free, a realloc or
/// a failed one), thread starts and exits aside. An unreadable trace, or one still being
/// written (no end record: its process may allocate yet), counts as having some: only a
/// trace known to be empty of the heap may be left out.
pub fn has_heap_events(path: &Path) -> bool {
    let Ok(index) = read_index(path) else {
        return true;
    };
    if index.end_time.is_none() || index.lost_events > 0 {
        return true;
    }
    let Ok(mut merger) = Merger::new(&index) else {
        return true;
    };
    loop {
        match merger.next_run() {
            Ok(Some(run)) => {
                let heap = run.iter().any(|e| {
                    !matches!(
                        e.kind,
                        EventKind::ThreadStart { .. } | EventKind::ThreadExit
                    )
                });
                if heap {
                    return true;
                }
            }
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

//! Exact trace discovery for `memscope run`: the per-run directory.
//!
//! The launcher creates a fresh directory beside the place the user's `--output` template
//! names, `<dir>/.memscope-run-<launcher pid>-<n>` (same file system, so moving a trace
//! out of it is a rename), and gives the tracer the template's file pattern inside it. No
//! other process writes there, so after the root process ends, every file in it is a
//! trace of this run: no timestamps, no name guessing. Each is then moved to the name the
//! user's template gives it (the tracer's `.N` suffix scheme when the name is taken: by an
//! older run, or by an earlier image of the same pid before an `exec`), and the directory
//! is removed. A move is a hard link to a name that must not exist (so an existing file
//! is never replaced) and the unlink of the old name; where links are not supported, a
//! rename to a name checked to be free.
//!
//! A descendant that outlives the root keeps its trace file open and keeps writing to it
//! under its new name (an open file descriptor follows the inode, not the name); its
//! trace has no end record yet and is read up to its last complete record, like any torn
//! trace. A process that starts after the directory was removed cannot create its trace
//! (the tracer says so on stderr and runs the program untraced): the run's traces are
//! those of the processes that started while the run was being watched.
//!
//! When the root has ended ([`RunDir::finish`]) and the caller asks for the tidy layout
//! (the default template), the traces of non-root processes that made no heap call (a
//! shell's fork child that only `exec`s) are removed and, when more than one trace is
//! left, the directory itself becomes the run's final directory (renamed to a free name)
//! instead of its files being spread beside the template. An explicit template keeps
//! every trace, where it says.
//!
//! When memscope is ended by a signal it can catch and does not forward to the program
//! (SIGALRM, SIGUSR1, SIGUSR2; SIGINT, SIGTERM, SIGHUP and SIGQUIT go to the program, see
//! `forward.rs`), a thread moves what the directory holds to the final names and removes
//! it before the signal's default action ends memscope, so that no directory is left
//! behind.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use signal_hook::consts::{SIGALRM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::error::CliError;
use crate::trace::family::has_heap_events;
use crate::trace::reader::read_header;

/// Name prefix of per-run directories.
pub const RUN_DIR_PREFIX: &str = ".memscope-run-";

/// Signals whose default action ends memscope and that it catches to clean up first
/// (the others that end it are forwarded to the program).
const CLEANUP_SIGNALS: [i32; 3] = [SIGALRM, SIGUSR1, SIGUSR2];

/// Where the tracer of one run writes, and where its traces go afterwards.
#[derive(Debug)]
struct Layout {
    /// The per-run directory.
    run_dir: PathBuf,
    /// The directory the user's template names.
    final_dir: PathBuf,
    /// The template names one file for every process (no `%p`): an earlier run's trace
    /// there is replaced, as the tracer does with a fixed `MEMSCOPE_OUTPUT`.
    fixed: bool,
}

/// What the per-run directory became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Finished,
}

/// Where a run's traces ended up.
#[derive(Debug, Default)]
pub struct Finished {
    /// The traces kept, at their final paths.
    pub traces: Vec<PathBuf>,
    /// Traces removed because their process made no heap call.
    pub dropped: usize,
    /// The directory that holds them all, when they were kept together.
    pub grouped: Option<PathBuf>,
}

/// A per-run directory, removed by [`RunDir::finish`] (or by a caught signal).
#[derive(Debug)]
pub struct RunDir {
    layout: Arc<Layout>,
    /// The tracer's template: the run directory joined with the user's file pattern.
    template: PathBuf,
    state: Arc<Mutex<State>>,
}

impl RunDir {
    /// Creates the directory for `template` (the user's, absolute) and starts the
    /// cleanup-on-signal thread.
    pub fn create(template: &Path) -> Result<RunDir, CliError> {
        let (Some(final_dir), Some(pattern)) = (template.parent(), template.file_name()) else {
            return Err(CliError::Usage(format!(
                "run: --output {}: not a file path",
                template.display()
            )));
        };
        if let Err(e) = fs::metadata(final_dir).and_then(|m| {
            if m.is_dir() {
                Ok(())
            } else {
                Err(std::io::Error::new(
                    ErrorKind::NotADirectory,
                    "not a directory",
                ))
            }
        }) {
            let reason = match e.kind() {
                ErrorKind::NotFound => "no such directory".to_string(),
                _ => e.to_string(),
            };
            return Err(CliError::Usage(format!(
                "run: --output {}: cannot write in {}: {reason}",
                template.display(),
                final_dir.display()
            )));
        }
        let me = std::process::id();
        let mut n = 0u32;
        let run_dir = loop {
            let candidate = final_dir.join(format!("{RUN_DIR_PREFIX}{me}-{n}"));
            match fs::create_dir(&candidate) {
                Ok(()) => break candidate,
                Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => {
                    return Err(CliError::Usage(format!(
                        "run: --output {}: cannot write in {}: {e}",
                        template.display(),
                        final_dir.display()
                    )))
                }
            }
        };
        let layout = Arc::new(Layout {
            run_dir,
            final_dir: final_dir.to_path_buf(),
            fixed: !has_pid(pattern.as_bytes()),
        });
        let template = layout.run_dir.join(pattern);
        let state = Arc::new(Mutex::new(State::Open));
        watch_signals(Arc::clone(&layout), Arc::clone(&state));
        Ok(RunDir {
            layout,
            template,
            state,
        })
    }

    /// The template to give the tracer (`MEMSCOPE_OUTPUT`).
    pub fn tracer_template(&self) -> &Path {
        &self.template
    }

    /// Called once the root process (`root_pid`) has ended. With `group` (the tidy
    /// layout of the default template): removes the traces of other processes that made
    /// no heap call, then, when more than one trace is left, renames the directory to a
    /// free name based on `group`. Otherwise (or when the rename fails) moves every trace
    /// to its final name and removes the directory. The final paths come in the
    /// order the tracer created them per name (an `exec`'s earlier image first), names
    /// sorted otherwise.
    pub fn finish(self, group: Option<&Path>, root_pid: u32) -> Finished {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if *state == State::Finished {
            return Finished::default();
        }
        let dropped = match group {
            Some(_) => drop_heapless(&self.layout.run_dir, root_pid),
            None => 0,
        };
        let left = trace_names(&self.layout.run_dir).len();
        let grouped = match group {
            Some(base) if left > 1 => rename_to_free(&self.layout.run_dir, base),
            _ => None,
        };
        let traces = match &grouped {
            Some(dir) => {
                let mut names = trace_names(dir);
                names.sort();
                names.into_iter().map(|n| dir.join(n)).collect()
            }
            None => drain(&self.layout),
        };
        *state = State::Finished;
        Finished {
            traces,
            dropped,
            grouped,
        }
    }
}

/// Starts the thread that, on a cleanup signal, finishes the directory (unless done)
/// and then lets the signal's default action end memscope.
fn watch_signals(layout: Arc<Layout>, state: Arc<Mutex<State>>) {
    // Registration fails only for signals signal-hook forbids; these are not. Were it
    // to fail, the directory would be left behind by such a signal, as before.
    let Ok(mut signals) = Signals::new(CLEANUP_SIGNALS) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            {
                let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                if *s == State::Open {
                    let moved = drain(&layout);
                    if !moved.is_empty() {
                        eprintln!(
                            "memscope: ended by signal {sig}; the run's traces: {}",
                            display_list(&moved)
                        );
                    }
                    *s = State::Finished;
                }
            }
            // Ends the process as the signal's default action would (all five end it).
            let _ = signal_hook::low_level::emulate_default_handler(sig);
        }
    });
}

/// Removes the traces in `dir` of processes other than `root_pid` that hold no heap
/// event; returns how many.
fn drop_heapless(dir: &Path, root_pid: u32) -> usize {
    let mut dropped = 0;
    for name in trace_names(dir) {
        let path = dir.join(&name);
        let root = read_header(&path).is_ok_and(|h| h.pid == root_pid);
        if !root && !has_heap_events(&path) && fs::remove_file(&path).is_ok() {
            dropped += 1;
        }
    }
    dropped
}

/// The names of the regular files in `dir`.
fn trace_names(dir: &Path) -> Vec<OsString> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name())
        .collect()
}

/// Renames `dir` to `base`, or `base.1`, `base.2`, ... (the first name free); `None` if
/// none could be taken (the traces are then moved out as usual).
fn rename_to_free(dir: &Path, base: &Path) -> Option<PathBuf> {
    for k in 0..1000u32 {
        let mut name = base.as_os_str().to_os_string();
        if k > 0 {
            name.push(format!(".{k}"));
        }
        let to = PathBuf::from(name);
        if to.symlink_metadata().is_ok() {
            continue;
        }
        // A directory may only replace an empty directory: a name taken since the check
        // above fails here rather than being replaced (but for an empty directory).
        match fs::rename(dir, &to) {
            Ok(()) => return Some(to),
            Err(_) => continue,
        }
    }
    None
}

/// Paths for a message.
pub fn display_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Moves the run directory's files out until it can be removed (a descendant may create
/// its trace meanwhile).
fn drain(layout: &Layout) -> Vec<PathBuf> {
    let mut moved = Vec::new();
    for _ in 0..100 {
        moved.extend(move_all(layout));
        match fs::remove_dir(&layout.run_dir) {
            Ok(()) => return moved,
            Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => continue,
            Err(e) => {
                eprintln!("memscope: cannot remove {}: {e}", layout.run_dir.display());
                return moved;
            }
        }
    }
    eprintln!(
        "memscope: {} keeps receiving new traces; left in place",
        layout.run_dir.display()
    );
    moved
}

/// Moves the files now in the run directory to their final names.
fn move_all(layout: &Layout) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(&layout.run_dir) else {
        return Vec::new();
    };
    let names: Vec<OsString> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name())
        .collect();
    let mut keyed: Vec<(Vec<u8>, u32, OsString)> = names
        .iter()
        .map(|n| {
            let (base, k) = split_suffix(n.as_bytes(), &names);
            (base, k, n.clone())
        })
        .collect();
    keyed.sort();
    let mut out = Vec::new();
    let mut last: Option<(Vec<u8>, u32)> = None;
    for (base, _, name) in keyed {
        let first = match &last {
            Some((b, k)) if *b == base => k + 1,
            _ => 0,
        };
        let from = layout.run_dir.join(&name);
        match place(&from, &layout.final_dir, &base, first, layout.fixed) {
            Ok((to, k)) => {
                out.push(to);
                last = Some((base, k));
            }
            Err(e) => eprintln!(
                "memscope: cannot move {} to {}: {e}",
                from.display(),
                layout.final_dir.display()
            ),
        }
    }
    out
}

/// The tracer's name for `base` taken `k` times: `x.k.msl` for `x.msl`, else `x.k`.
pub fn suffixed(base: &[u8], k: u32) -> Vec<u8> {
    let mut name = base.to_vec();
    if k > 0 {
        let at = if name.ends_with(b".msl") {
            name.len() - 4
        } else {
            name.len()
        };
        name.splice(at..at, format!(".{k}").into_bytes());
    }
    name
}

/// Splits the tracer's `.N` off `name` when the name without it is among `names` (the
/// tracer adds it only when that name was taken): (base, N); else (name, 0).
fn split_suffix(name: &[u8], names: &[OsString]) -> (Vec<u8>, u32) {
    let (stem, ext): (&[u8], &[u8]) = match name.strip_suffix(b".msl") {
        Some(stem) => (stem, b".msl"),
        None => (name, b""),
    };
    if let Some(dot) = stem.iter().rposition(|&b| b == b'.') {
        let digits = &stem[dot + 1..];
        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
            let base = [&stem[..dot], ext].concat();
            let n = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<u32>().ok());
            if let Some(n) = n.filter(|_| names.iter().any(|o| o.as_bytes() == base)) {
                return (base, n);
            }
        }
    }
    (name.to_vec(), 0)
}

/// Moves `from` to the first free name `suffixed(base, k)`, `k >= first`, in `dir`.
/// `fixed`: the first name may replace an earlier run's trace ([`left_by_an_earlier_run`]).
fn place(
    from: &Path,
    dir: &Path,
    base: &[u8],
    first: u32,
    fixed: bool,
) -> std::io::Result<(PathBuf, u32)> {
    for k in first..first.saturating_add(10_000) {
        let to = dir.join(OsStr::from_bytes(&suffixed(base, k)));
        match fs::hard_link(from, &to) {
            Ok(()) => {
                fs::remove_file(from)?;
                return Ok((to, k));
            }
            Err(e)
                if e.kind() == ErrorKind::AlreadyExists
                    && k == 0
                    && fixed
                    && left_by_an_earlier_run(&to) =>
            {
                // Replaces the directory entry (a symlink itself, never its target).
                fs::rename(from, &to)?;
                return Ok((to, k));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(_) if fs::symlink_metadata(&to).is_err() => {
                // No hard links here (some file systems): a rename to a free name.
                fs::rename(from, &to)?;
                return Ok((to, k));
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        ErrorKind::AlreadyExists,
        "every suffixed name is taken",
    ))
}

/// Whether a trace template's file pattern has `%p` (`%%p` is a literal `%p`).
fn has_pid(pattern: &[u8]) -> bool {
    let mut i = 0;
    while i + 1 < pattern.len() {
        if pattern[i] == b'%' {
            if pattern[i + 1] == b'p' {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Whether `path` is a regular file of ours holding a trace whose process has ended (a
/// trace left by an earlier run, not one a running process writes).
fn left_by_an_earlier_run(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.uid() != rustix::process::geteuid().as_raw() {
        return false;
    }
    read_header(path).is_ok_and(|h| !Path::new(&format!("/proc/{}", h.pid)).exists())
}

/// `name` as bytes to a path (for tests).
#[cfg(test)]
fn os(name: &str) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(name.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_is_split_only_when_the_base_exists() {
        let names = [os("t.7.msl"), os("t.7.1.msl"), os("u.8.2.msl")];
        assert_eq!(split_suffix(b"t.7.1.msl", &names), (b"t.7.msl".to_vec(), 1));
        assert_eq!(split_suffix(b"t.7.msl", &names), (b"t.7.msl".to_vec(), 0));
        assert_eq!(
            split_suffix(b"u.8.2.msl", &names),
            (b"u.8.2.msl".to_vec(), 0)
        );
        assert_eq!(suffixed(b"t.7.msl", 3), b"t.7.3.msl".to_vec());
        assert_eq!(suffixed(b"trace", 2), b"trace.2".to_vec());
        assert!(has_pid(b"t.%p.msl"));
        assert!(!has_pid(b"t.%%p.%e.msl"));
    }

    #[test]
    fn moves_every_file_keeping_order_and_never_replacing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("t.7.msl"), b"old").unwrap();
        let run = RunDir::create(&dir.path().join("t.%p.msl")).unwrap();
        let rd = run.tracer_template().parent().unwrap().to_path_buf();
        assert!(rd
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(RUN_DIR_PREFIX));
        fs::write(rd.join("t.7.msl"), b"first image").unwrap();
        fs::write(rd.join("t.7.1.msl"), b"after exec").unwrap();
        fs::write(rd.join("t.9.msl"), b"child").unwrap();
        let moved = run.finish(None, 7).traces;
        assert_eq!(
            moved,
            vec![
                dir.path().join("t.7.1.msl"),
                dir.path().join("t.7.2.msl"),
                dir.path().join("t.9.msl")
            ]
        );
        assert_eq!(fs::read(dir.path().join("t.7.msl")).unwrap(), b"old");
        assert_eq!(fs::read(&moved[0]).unwrap(), b"first image");
        assert_eq!(fs::read(&moved[1]).unwrap(), b"after exec");
        assert!(!rd.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 4);
    }
}

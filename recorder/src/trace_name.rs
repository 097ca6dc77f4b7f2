//! Which file a new trace goes to, given the name `MEMSCOPE_OUTPUT` expands to.
//!
//! Traces are always created exclusively (`O_EXCL | O_NOFOLLOW`, mode 0600: never through
//! a symlink planted in a shared directory, never truncating what is there). When the
//! name is taken, the trace takes the next free one, `x.1.msl` for `x.msl` (so that
//! `*.msl` still finds it), else `x.1`: the same pid tracing twice (after `exec`), or a
//! forked child sharing a fixed name, must not clobber a trace being written.
//!
//! One exception, for the two-step recipe `MEMSCOPE_OUTPUT=app.msl ./app; memscope check
//! app.msl`: with a fixed name (no `%p` in the pattern), a trace left there by an earlier
//! run is replaced, as valgrind's `--log-file` and heaptrack do with a fixed name, so that
//! the check never judges a stale run. "Left by an earlier run" is decided from the old
//! file itself: a regular file of ours (not a symlink) whose header decodes as a trace,
//! written by another pid that no longer exists. The old entry is unlinked (a symlink
//! would be removed, never followed) and the name created exclusively again; if another
//! process took it meanwhile, the next free name is used as before.

use std::ffi::CStr;

use memscope_format::TraceReader;
use memscope_platform::file::{
    process_exists, read_own_file_start, remove_file, RawFile, ALREADY_EXISTS,
};

/// How much of an old trace is read to decode its header (exe and arguments included).
const HEADER_READ: usize = 64 << 10;

/// Names tried before giving up.
const MAX_NAMES: u32 = 100;

/// Creates the trace for `base` (the expanded pattern) for process `pid`; `fixed`: the
/// pattern has no `%p`. Returns the file, or the errno of the last attempt.
pub fn create_trace_file(base: &[u8], fixed: bool, pid: u32) -> Result<RawFile, i32> {
    let mut last_err = ALREADY_EXISTS;
    for n in 0..MAX_NAMES {
        let mut path = suffixed(base, n);
        path.push(0);
        let Ok(cpath) = CStr::from_bytes_with_nul(&path) else {
            return Err(last_err);
        };
        match RawFile::create_exclusive(cpath) {
            Ok(f) => return Ok(f),
            Err(ALREADY_EXISTS) => {
                if n == 0
                    && fixed
                    && left_by_an_earlier_run(cpath, pid)
                    && remove_file(cpath).is_ok()
                {
                    if let Ok(f) = RawFile::create_exclusive(cpath) {
                        return Ok(f);
                    }
                }
                last_err = ALREADY_EXISTS;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err)
}

/// Whether `pattern` names one file for every process (no `%p`).
pub fn is_fixed(pattern: &[u8]) -> bool {
    let mut i = 0;
    while i + 1 < pattern.len() {
        if pattern[i] == b'%' {
            if pattern[i + 1] == b'p' {
                return false;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    true
}

/// `base` with the `n`th suffix: `x.n.msl` for `x.msl`, else `x.n` (none for 0).
fn suffixed(base: &[u8], n: u32) -> Vec<u8> {
    let mut path = base.to_vec();
    if n > 0 {
        let at = if path.ends_with(b".msl") {
            path.len() - 4
        } else {
            path.len()
        };
        path.splice(at..at, format!(".{n}").into_bytes());
    }
    path
}

/// Whether the file at `path` is a trace of ours written by another, ended process.
fn left_by_an_earlier_run(path: &CStr, pid: u32) -> bool {
    let mut buf = vec![0u8; HEADER_READ];
    let Some(n) = read_own_file_start(path, &mut buf) else {
        return false;
    };
    match TraceReader::open(&buf[..n]) {
        Ok((header, _)) => header.pid != pid && !process_exists(header.pid),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_means_no_pid() {
        assert!(is_fixed(b"app.msl"));
        assert!(is_fixed(b"app.%e.msl"));
        assert!(is_fixed(b"100%%p.msl"));
        assert!(!is_fixed(b"app.%p.msl"));
        assert!(!is_fixed(b"%p"));
    }

    #[test]
    fn suffixes_go_before_msl() {
        assert_eq!(suffixed(b"a.msl", 0), b"a.msl");
        assert_eq!(suffixed(b"a.msl", 2), b"a.2.msl");
        assert_eq!(suffixed(b"trace", 1), b"trace.1");
    }
}

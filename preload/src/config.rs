//! Settings read once from the environment at start-up.
//!
//! - `MEMSCOPE_OUTPUT`: trace path; `%p` = pid, `%e` = executable name.
//!   Default `memscope.%e.%p.msl` in the current directory.
//! - `MEMSCOPE_STACK_DEPTH`: frames per stack (default 64, 0 = no stacks, max 256).
//! - `MEMSCOPE_FREE_STACKS`: `0` to record frees without stacks.
//! - `MEMSCOPE_RING_KB`: per-thread ring size (default 2048).
//! - `MEMSCOPE_FULL_RING_WAIT_MS`: how long a thread whose ring is full waits for the
//!   writer before it drops the event (default 10000; 0: never wait, drop at once).
//! - `MEMSCOPE_FOLLOW_CHILDREN`: `0` to leave forked children untraced.
//! - `MEMSCOPE_STACK_MEMO`: `0` to unwind every stack from scratch instead of replaying
//!   the thread's memoized walks (slower; the stacks are the same, which tests check).

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::entry::MAX_FRAMES;

pub static STACK_DEPTH: AtomicU32 = AtomicU32::new(64);
pub static FREE_STACKS: AtomicBool = AtomicBool::new(true);
pub static FOLLOW_CHILDREN: AtomicBool = AtomicBool::new(true);
pub static STACK_MEMO: AtomicBool = AtomicBool::new(true);

fn env(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv with a NUL-terminated name; the result (if any) is a NUL-terminated
    // string in the environment, which we only read.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

fn env_u64(name: &CStr) -> Option<u64> {
    std::str::from_utf8(env(name)?).ok()?.trim().parse().ok()
}

/// Reads the settings into the statics above.
pub fn load() {
    if let Some(d) = env_u64(c"MEMSCOPE_STACK_DEPTH") {
        STACK_DEPTH.store(d.min(MAX_FRAMES as u64) as u32, Ordering::Relaxed);
    }
    if env(c"MEMSCOPE_FREE_STACKS") == Some(b"0") {
        FREE_STACKS.store(false, Ordering::Relaxed);
    }
    if env(c"MEMSCOPE_FOLLOW_CHILDREN") == Some(b"0") {
        FOLLOW_CHILDREN.store(false, Ordering::Relaxed);
    }
    if env(c"MEMSCOPE_STACK_MEMO") == Some(b"0") {
        STACK_MEMO.store(false, Ordering::Relaxed);
    }
    if let Some(ms) = env_u64(c"MEMSCOPE_FULL_RING_WAIT_MS") {
        crate::lifecycle::FULL_RING_WAIT_NS.store(ms.saturating_mul(1_000_000), Ordering::Relaxed);
    }
    if let Some(kb) = env_u64(c"MEMSCOPE_RING_KB") {
        let words = (kb.clamp(64, 1 << 20) * 1024 / 8) as u32;
        crate::slot::RING_WORDS.store(words, Ordering::Relaxed);
    }
}

/// The trace path pattern.
pub fn output_pattern() -> Vec<u8> {
    env(c"MEMSCOPE_OUTPUT")
        .filter(|v| !v.is_empty())
        .unwrap_or(b"memscope.%e.%p.msl")
        .to_vec()
}

/// Expands `%p` and `%e` (and `%%`) in a path pattern.
pub fn expand_pattern(pattern: &[u8], pid: u32, exe_name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pattern.len() + 16);
    let mut i = 0;
    while i < pattern.len() {
        if pattern[i] == b'%' && i + 1 < pattern.len() {
            match pattern[i + 1] {
                b'p' => out.extend_from_slice(pid.to_string().as_bytes()),
                b'e' => out.extend_from_slice(exe_name),
                b'%' => out.push(b'%'),
                other => out.extend_from_slice(&[b'%', other]),
            }
            i += 2;
        } else {
            out.push(pattern[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn expands_pid_and_exe() {
        assert_eq!(
            super::expand_pattern(b"/t/%e.%p.msl", 42, b"sort"),
            b"/t/sort.42.msl"
        );
        assert_eq!(super::expand_pattern(b"a%%b%x%", 1, b"e"), b"a%b%x%");
    }
}

//! The recording settings: read from the environment once when a trace starts (at
//! start-up, and again in a forked child that starts its own trace) into a [`Config`]
//! value that is passed to whoever needs it.
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

use crate::entry::MAX_FRAMES;

/// How long a producer waits on a full ring by default (ten seconds).
pub const DEFAULT_FULL_RING_WAIT_NS: u64 = 10_000_000_000;

/// The recording settings of one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The trace path pattern (`%p`, `%e`, `%%`; see [`expand_pattern`]).
    pub output_pattern: Vec<u8>,
    /// Frames per stack, at most [`MAX_FRAMES`]; 0: no stacks.
    pub stack_depth: u32,
    /// Whether frees carry their stack.
    pub free_stacks: bool,
    /// Whether forked children start traces of their own.
    pub follow_children: bool,
    /// Whether threads memoize their walks (docs/architecture.md, "The walk memo").
    pub stack_memo: bool,
    /// How long a producer waits on a full ring before it drops the event (0: never).
    pub full_ring_wait_ns: u64,
    /// Ring size of new thread slots, in 64-bit words.
    pub ring_words: u32,
    /// Whether the writer keeps the live blocks and runs the leak check at the end
    /// (`MEMSCOPE_LEAK_CHECK=0` turns it off).
    pub leak_check: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            output_pattern: b"memscope.%e.%p.msl".to_vec(),
            stack_depth: 64,
            free_stacks: true,
            follow_children: true,
            stack_memo: true,
            full_ring_wait_ns: DEFAULT_FULL_RING_WAIT_NS,
            ring_words: 1 << 18,
            leak_check: true,
        }
    }
}

impl Config {
    /// The settings the environment asks for. Allocates: call with the guard held.
    pub fn from_env() -> Config {
        Self::from_lookup(env)
    }

    /// The settings with every variable looked up by `lookup`.
    pub fn from_lookup<'a>(lookup: impl Fn(&CStr) -> Option<&'a [u8]>) -> Config {
        let number = |name: &CStr| -> Option<u64> {
            std::str::from_utf8(lookup(name)?).ok()?.trim().parse().ok()
        };
        let mut c = Config::default();
        if let Some(pattern) = lookup(c"MEMSCOPE_OUTPUT").filter(|v| !v.is_empty()) {
            c.output_pattern = pattern.to_vec();
        }
        if let Some(d) = number(c"MEMSCOPE_STACK_DEPTH") {
            c.stack_depth = d.min(MAX_FRAMES as u64) as u32;
        }
        c.free_stacks = lookup(c"MEMSCOPE_FREE_STACKS") != Some(b"0");
        c.follow_children = lookup(c"MEMSCOPE_FOLLOW_CHILDREN") != Some(b"0");
        c.stack_memo = lookup(c"MEMSCOPE_STACK_MEMO") != Some(b"0");
        c.leak_check = lookup(c"MEMSCOPE_LEAK_CHECK") != Some(b"0");
        if let Some(ms) = number(c"MEMSCOPE_FULL_RING_WAIT_MS") {
            c.full_ring_wait_ns = ms.saturating_mul(1_000_000);
        }
        if let Some(kb) = number(c"MEMSCOPE_RING_KB") {
            c.ring_words = (kb.clamp(64, 1 << 20) * 1024 / 8) as u32;
        }
        c
    }
}

/// A variable of the process environment. `getenv` rather than `std::env`: std takes a
/// lock that a forked child may find held by a thread that no longer exists.
fn env(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv with a NUL-terminated name.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: a non-null result is a NUL-terminated string in the environment, which we
    // only read.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
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
    use super::Config;

    #[test]
    fn expands_pid_and_exe() {
        assert_eq!(
            super::expand_pattern(b"/t/%e.%p.msl", 42, b"sort"),
            b"/t/sort.42.msl"
        );
        assert_eq!(super::expand_pattern(b"a%%b%x%", 1, b"e"), b"a%b%x%");
    }

    #[test]
    fn reads_every_setting() {
        let c = Config::from_lookup(|name| {
            Some(match name.to_bytes() {
                b"MEMSCOPE_OUTPUT" => b"/t/%p.msl".as_slice(),
                b"MEMSCOPE_STACK_DEPTH" => b"999",
                b"MEMSCOPE_FULL_RING_WAIT_MS" => b" 5 ",
                b"MEMSCOPE_RING_KB" => b"1",
                _ => b"0",
            })
        });
        assert_eq!(
            c,
            Config {
                output_pattern: b"/t/%p.msl".to_vec(),
                stack_depth: 256,
                free_stacks: false,
                follow_children: false,
                stack_memo: false,
                full_ring_wait_ns: 5_000_000,
                ring_words: 64 * 1024 / 8,
                leak_check: false,
            }
        );
        assert_eq!(Config::from_lookup(|_| None), Config::default());
    }
}

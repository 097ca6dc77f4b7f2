//! The hot path: turns one hook call into one ring entry on the calling thread.
//!
//! Per event: one TLS read, one relaxed atomic load (is tracing on?), a clock read (TSC
//! or vDSO), a memoized stack unwind, and a copy into the thread's own ring. No lock shared
//! with other threads and no syscall (ARCHITECTURE invariant 6); the only waits are
//! back-pressure when a ring is full.

use std::sync::atomic::Ordering;

use memscope_format::{AllocKind, ExitHow, FreeKind};
use memscope_platform::clock::event_ticks;

use crate::config::{FREE_STACKS, STACK_DEPTH};
use crate::entry::{walk_bits, word0, word0_with_slack, Tag, MAX_FRAMES};
use crate::guard::tls;
use crate::lifecycle;
use crate::slot::{self, ThreadSlot};

/// The clock the events are stamped with (TSC ticks where the kernel trusts the TSC;
/// the writer converts them to nanoseconds).
#[inline(always)]
pub fn now() -> u64 {
    event_ticks()
}

/// Stamps the start of a realloc-like call (when the old block is given up). The thread
/// is attached first: no event of a thread may be stamped before its stream opened (see
/// `slot::solo_until`).
#[inline(always)]
pub fn realloc_begin() -> u64 {
    let _ = current_slot();
    now()
}

/// The calling thread's slot, attaching the thread (and starting the tracer) on first use.
/// `None` when tracing is off. Call with the guard held.
#[inline(always)]
fn current_slot() -> Option<&'static ThreadSlot> {
    if !lifecycle::tracing() {
        return lifecycle::ensure_started().then(attach).flatten();
    }
    let s = tls().slot;
    if s.is_null() {
        return attach();
    }
    // SAFETY: a non-null TLS slot pointer was set by `attach` from a leaked slot.
    Some(unsafe { &*(s as *const ThreadSlot) })
}

#[cold]
fn attach() -> Option<&'static ThreadSlot> {
    if !lifecycle::tracing() {
        return None;
    }
    let existing = tls().slot;
    if !existing.is_null() {
        // SAFETY: as in `current_slot`.
        return Some(unsafe { &*(existing as *const ThreadSlot) });
    }
    let (s, stream) = slot::acquire()?;
    tls().slot = s as *const ThreadSlot as *mut std::ffi::c_void;
    lifecycle::watch_thread_exit(s);
    thread_start(s, stream);
    Some(s)
}

/// Pushes the ThreadStart entry that opens a stream.
pub fn thread_start(s: &ThreadSlot, stream: u32) {
    let tid = s.tid.load(Ordering::Relaxed) as u64;
    let t = now();
    slot::note_stream_start(stream, t);
    push(
        s,
        &[word0(Tag::ThreadStart, 0, 0), t, tid, stream as u64, 0, 0],
    );
}

/// Appends `words` to the ring, waiting for the writer while the ring is full. False if
/// the entry was lost (the writer made no room for a long time).
fn push(s: &ThreadSlot, words: &[u64]) -> bool {
    push_entry(s, words, false)
}

/// As [`push`]; `patient`: see [`lifecycle::FullRingWait::wait`].
fn push_entry(s: &ThreadSlot, words: &[u64], patient: bool) -> bool {
    let mut wait = lifecycle::FullRingWait::default();
    tls().busy = 1;
    let mut pushed = true;
    while !s.ring.try_push(words) {
        if !wait.wait(patient) {
            lifecycle::note_lost_event();
            pushed = false;
            break;
        }
    }
    tls().busy = 0;
    if lifecycle::final_mode() {
        lifecycle::flush_all();
    }
    pushed
}

/// Fills the header (its length must be `header_words` of its tag), captures the stack
/// after it and pushes the entry.
#[inline(always)]
fn record<const N: usize>(s: &ThreadSlot, header: [u64; N], with_stack: bool) {
    // SAFETY: we are the owning thread of `s` and hold the guard, so no other reference
    // to the owner state exists (a signal handler that interrupts us sees `busy` and
    // leaves the slot alone).
    tls().busy = 1;
    let owner = unsafe { s.owner() };
    let depth = if with_stack {
        STACK_DEPTH.load(Ordering::Relaxed) as usize
    } else {
        0
    };
    let buf = &mut owner.scratch;
    let frames = &mut buf[N..N + depth.min(MAX_FRAMES)];
    let mut n = 0;
    let mut walk = 0;
    if let (true, Some(u)) = (depth > 0, lifecycle::unwinder()) {
        let mut captured = u.capture(&mut owner.cache, owner.stack, frames);
        // A library was loaded since the unwinder was built: have the writer read the
        // module list again (rate-limited) and unwind once more.
        if captured.cut_short && lifecycle::refresh_modules_now(u) {
            if let Some(fresh) = lifecycle::unwinder() {
                captured = fresh.capture(&mut owner.cache, owner.stack, frames);
            }
        }
        n = captured.frames;
        // The stack is a memoized walk: send its frames only if the writer does not
        // have this version yet (see entry.rs).
        if let Some((slot, version)) = captured.walk {
            walk = walk_bits(slot);
            if owner.sent_walks[slot] == version as u64 {
                n = 0;
            } else {
                owner.sent_walks[slot] = version as u64;
            }
        }
    }
    buf[..N].copy_from_slice(&header);
    buf[0] |= (n as u64) << 16 | walk;
    if !push(s, &buf[..N + n]) {
        owner.forget_sent_walks();
    }
}

/// A successful allocation (called after the real allocator returned).
#[inline(always)]
pub fn alloc(ptr: *mut libc::c_void, size: usize, align: usize, kind: AllocKind) {
    let Some(s) = current_slot() else { return };
    if ptr.is_null() {
        record(
            s,
            [
                word0(Tag::AllocFailed, kind as u8, 0),
                now(),
                0,
                size as u64,
            ],
            true,
        );
        return;
    }
    let slack = usable_size(ptr).saturating_sub(size);
    if align == 0 {
        record(
            s,
            [
                word0_with_slack(Tag::Alloc, kind as u8, slack),
                now(),
                ptr as u64,
                size as u64,
            ],
            true,
        );
    } else {
        record(
            s,
            [
                word0_with_slack(Tag::AllocAligned, kind as u8, slack),
                now(),
                ptr as u64,
                size as u64,
                align as u64,
            ],
            true,
        );
    }
}

/// What the allocator really reserved for `ptr` (0 if unknown).
#[inline(always)]
fn usable_size(ptr: *mut libc::c_void) -> usize {
    match crate::real::malloc_usable_size() {
        // SAFETY: `ptr` was just returned by glibc's allocator and is live.
        Some(f) if !ptr.is_null() => unsafe { f(ptr) },
        _ => 0,
    }
}

/// A release of a non-null pointer (called before the real `free`).
#[inline(always)]
pub fn free(ptr: *mut libc::c_void, kind: FreeKind) {
    if ptr.is_null() {
        return;
    }
    let Some(s) = current_slot() else { return };
    let with_stack = FREE_STACKS.load(Ordering::Relaxed);
    record(
        s,
        [word0(Tag::Free, kind as u8, 0), now(), ptr as u64],
        with_stack,
    );
}

/// A `realloc`-like call: `before` was stamped before the real call.
#[inline(always)]
pub fn realloc(
    before: u64,
    old: *mut libc::c_void,
    new: *mut libc::c_void,
    size: usize,
    kind: AllocKind,
) {
    let Some(s) = current_slot() else { return };
    let slack = usable_size(new).saturating_sub(size);
    record(
        s,
        [
            word0_with_slack(Tag::Realloc, kind as u8, slack),
            now(),
            old as u64,
            size as u64,
            new as u64,
            before,
        ],
        true,
    );
}

/// The thread is going away (pthread key destructor).
pub fn thread_exit(s: &ThreadSlot) {
    push(s, &[word0(Tag::ThreadExit, 0, 0), now(), 0, 0, 0, 0]);
}

/// The process is ending (or replacing its image) in the way `how` says.
pub fn process_exit(how: ExitHow, code: i32) {
    // From a signal handler: only a thread that already has a slot (attaching allocates)
    // and is not itself in the middle of a push.
    let s = if how == ExitHow::Signal {
        let p = tls().slot;
        if p.is_null() || crate::guard::pushing() {
            return;
        }
        // SAFETY: as in `current_slot`.
        Some(unsafe { &*(p as *const ThreadSlot) })
    } else {
        current_slot()
    };
    if let Some(s) = s {
        push_entry(
            s,
            &[
                word0(Tag::ProcessExit, 0, 0),
                now(),
                how as u64,
                code as u32 as u64,
                0,
                0,
            ],
            true,
        );
    }
}

/// This process forked child `pid` (recorded in the parent).
pub fn fork(pid: i32) {
    if let Some(s) = current_slot() {
        push_entry(
            s,
            &[word0(Tag::Fork, 0, 0), now(), pid as u32 as u64, 0, 0, 0],
            true,
        );
    }
}

//! The hot path: turns one event of a program thread into one entry of the thread's own
//! ring.
//!
//! Per event: the clock read (TSC or vDSO), a memoized stack unwind, and a copy into the
//! thread's own ring. No lock shared with other threads and no syscall
//! (docs/architecture.md, invariant 6); the only waits are back-pressure when a ring is
//! full ([`FullRingWait`]).

use memscope_format::{AllocKind, ExitHow, FreeKind};
use memscope_platform::clock::event_ticks;

use crate::entry::{self, stack_bits};
use crate::guard::ThreadState;
use crate::handoff::{FullRingWait, HANDOFF};
use crate::slot::{self, ThreadSlot};

/// The calling thread while it holds the guard and has its slot: what every event is
/// recorded through.
pub struct Attached<'g> {
    pub state: &'g mut ThreadState,
    pub slot: &'static ThreadSlot,
}

/// The clock the events are stamped with (TSC ticks where the kernel trusts the TSC;
/// the writer converts them to nanoseconds).
#[inline(always)]
pub fn now() -> u64 {
    event_ticks()
}

impl Attached<'_> {
    /// Pushes the ThreadStart entry that opens a stream.
    pub fn thread_start(&mut self, stream: u32) {
        let tid = self.slot.tid.load(std::sync::atomic::Ordering::Relaxed);
        let time = now();
        slot::note_stream_start(stream, time);
        self.push(&entry::thread_start(time, tid, stream), false);
    }

    /// Appends `words` to the ring, waiting for the writer while the ring is full. False if
    /// the entry was lost (the writer made no room for a long time). `patient`: see
    /// [`FullRingWait::wait`].
    fn push(&mut self, words: &[u64], patient: bool) -> bool {
        let (t, s) = (&mut *self.state, self.slot);
        let mut wait = FullRingWait::default();
        t.busy = 1;
        let mut pushed = true;
        while !s.ring.try_push(words) {
            if !wait.wait(patient) {
                HANDOFF.note_lost_event();
                pushed = false;
                break;
            }
        }
        t.busy = 0;
        if HANDOFF.final_mode() {
            HANDOFF.flush_all();
        }
        pushed
    }

    /// Captures the stack after `header` (whose length must be the header length of its
    /// tag) and pushes the entry.
    #[inline(always)]
    fn record<const N: usize>(&mut self, header: [u64; N], with_stack: bool) {
        let s = self.slot;
        self.state.busy = 1;
        // SAFETY: we are the owning thread of `s` and hold the guard, so no other reference
        // to the owner state exists (a signal handler that interrupts us sees `busy` and
        // leaves the slot alone).
        let owner = unsafe { s.owner() };
        let depth = if with_stack { owner.stack_depth } else { 0 };
        let (n, walk) = if depth > 0 {
            owner.capture_stack(N, depth)
        } else {
            (0, None)
        };
        let buf = &mut owner.scratch;
        buf[..N].copy_from_slice(&header);
        buf[0] |= stack_bits(n, walk);
        if !self.push(&buf[..N + n], false) {
            owner.forget_sent_walks();
        }
    }

    /// A successful or failed allocation (recorded after the real call returned); `usable`:
    /// what the allocator really reserved (0 if unknown).
    #[inline(always)]
    pub fn alloc(&mut self, ptr: u64, size: usize, align: usize, kind: AllocKind, usable: usize) {
        if ptr == 0 {
            self.record(entry::alloc_failed(kind, now(), size as u64), true);
            return;
        }
        let slack = usable.saturating_sub(size);
        if align == 0 {
            self.record(entry::alloc(kind, slack, now(), ptr, size as u64), true);
        } else {
            let header = entry::alloc_aligned(kind, slack, now(), ptr, size as u64, align as u64);
            self.record(header, true);
        }
    }

    /// A release of a non-null pointer (recorded before the real call); `size`, `align`:
    /// the arguments of a sized or aligned `operator delete` (0: none).
    #[inline(always)]
    pub fn free(&mut self, ptr: u64, kind: FreeKind, size: usize, align: usize) {
        // SAFETY: the owning thread, guard held; the reference ends before `record` takes
        // its own.
        let with_stack = unsafe { self.slot.owner() }.free_stacks;
        if size == 0 && align == 0 {
            self.record(entry::free(kind, now(), ptr), with_stack);
        } else {
            let header = entry::free_args(kind, now(), ptr, size as u64, align as u64);
            self.record(header, with_stack);
        }
    }

    /// A `realloc`-like call: `before` was stamped before the real call.
    #[inline(always)]
    pub fn realloc(
        &mut self,
        before: u64,
        old: u64,
        new: u64,
        size: usize,
        kind: AllocKind,
        usable: usize,
    ) {
        let slack = usable.saturating_sub(size);
        let header = entry::realloc(kind, slack, (before, now()), old, new, size as u64);
        self.record(header, true);
    }

    /// The thread is going away.
    pub fn thread_exit(&mut self) {
        self.push(&entry::thread_exit(now()), false);
    }

    /// The process is ending (or replacing its image) in the way `how` says.
    pub fn process_exit(&mut self, how: ExitHow, code: i32) {
        self.push(&entry::process_exit(now(), how, code), true);
    }

    /// This process forked child `pid` (recorded in the parent).
    pub fn fork(&mut self, pid: i32) {
        self.push(&entry::fork(now(), pid), true);
    }
}

//! The reentrancy guard: while it is held on a thread, every hook on that thread passes
//! straight to the real allocator and records nothing (docs/architecture.md, invariant 1).
//!
//! A [`Guard`] is the proof of holding it: it can only be had by entering the guard
//! ([`Guard::enter`], [`Guard::force`]), it releases the guard when dropped, and every
//! call of the recorder API takes a `&Guard`. Hold one around *everything* the tracer
//! does that may allocate: the writer thread holds one for its whole life, hooks hold
//! one for their whole body.
//!
//! The flag says which of the two it is: a hook forwarding the program's call (whatever
//! the real allocator calls inside belongs to the program: it passes to the real
//! allocator), or the tracer's own work ([`Guard::force`]: the writer thread, start-up,
//! exit paths), whose allocations the hooks serve from the tracer's private heap
//! ([`Guard::tracer_runs_here`]).
//!
//! The flag sits in the thread's [`ThreadState`], which the front end keeps where
//! reading it never allocates nor re-enters the hooks (the ELF preload: initial-exec TLS).

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::front_end::FrontEnd;

/// The tracer's per-thread state, as the front end stores it (the ELF preload declares
/// the same layout in C).
#[repr(C)]
pub struct ThreadState {
    /// Really `*const ThreadSlot` (set when the thread attaches); C only stores it.
    pub slot: *mut std::ffi::c_void,
    /// Nonzero while the tracer itself runs on this thread: [`IN_HOOK`] in a hook,
    /// [`IN_TRACER`] in the tracer's own work.
    pub guard: i32,
    /// Nonzero while this thread assembles and pushes a ring entry: a signal handler that
    /// interrupts it must not push one of its own.
    pub busy: i32,
}

/// `ThreadState::guard` in a hook's body.
pub const IN_HOOK: i32 = 1;
/// `ThreadState::guard` while the tracer does its own work.
pub const IN_TRACER: i32 = 2;

/// Holds this thread's reentrancy guard; puts back what was there when dropped. Not
/// `Send`: it belongs to the thread that entered it.
pub struct Guard<F: FrontEnd> {
    state: NonNull<ThreadState>,
    prev: i32,
    _front_end: PhantomData<(F, *mut ThreadState)>,
}

impl<F: FrontEnd> Guard<F> {
    /// Takes the guard; `None` if this thread already holds it (we are inside the tracer).
    #[inline(always)]
    pub fn enter() -> Option<Self> {
        let state = F::thread_state();
        // SAFETY: the front end's block for this thread (FrontEnd's contract): valid for
        // the thread's whole life and touched by no other thread.
        let t = unsafe { &mut *state.as_ptr() };
        if t.guard != 0 {
            return None;
        }
        t.guard = IN_HOOK;
        Some(Guard {
            state,
            prev: 0,
            _front_end: PhantomData,
        })
    }

    /// Takes the guard whether or not it is already held, for the tracer's own work
    /// (e.g. a fatal-signal flush, the writer thread, starting the tracer from a hook):
    /// until it is dropped, allocations on this thread come from the private heap.
    pub fn force() -> Self {
        let state = F::thread_state();
        // SAFETY: as in `enter`.
        let t = unsafe { &mut *state.as_ptr() };
        let prev = t.guard;
        t.guard = IN_TRACER;
        Guard {
            state,
            prev,
            _front_end: PhantomData,
        }
    }

    /// Whether the tracer's own work runs on this thread (a [`Guard::force`] is held): a
    /// hook entered now serves the allocation from the private heap.
    #[inline(always)]
    pub fn tracer_runs_here() -> bool {
        // SAFETY: as in `enter`; only reads.
        unsafe { (*F::thread_state().as_ptr()).guard == IN_TRACER }
    }

    /// This thread's state.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn state(&self) -> &mut ThreadState {
        // SAFETY: the calling thread's own block (a Guard never leaves its thread), and
        // the recorder never keeps two of these references alive at once.
        unsafe { &mut *self.state.as_ptr() }
    }

    /// Whether this thread was in the middle of pushing a ring entry when it entered (or
    /// forced) the guard: a signal handler that interrupted a push.
    #[inline(always)]
    pub(crate) fn interrupted_a_push(&self) -> bool {
        self.state().busy != 0
    }
}

impl<F: FrontEnd> Drop for Guard<F> {
    #[inline(always)]
    fn drop(&mut self) {
        let prev = self.prev;
        self.state().guard = prev;
    }
}

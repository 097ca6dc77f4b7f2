//! The reentrancy guard: while it is held on a thread, every hook on that thread passes
//! straight to the real allocator and records nothing (docs/architecture.md, invariant 1).
//!
//! A [`Guard`] is the proof of holding it: it can only be had by entering the guard
//! ([`Guard::enter`], [`Guard::force`]), it releases the guard when dropped, and every
//! call of the recorder API takes a `&Guard`. Hold one around *everything* the tracer
//! does that may allocate: the writer thread holds one for its whole life, hooks hold
//! one for their whole body.
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
    /// Nonzero while the tracer itself runs on this thread.
    pub guard: i32,
    /// Nonzero while this thread assembles and pushes a ring entry: a signal handler that
    /// interrupts it must not push one of its own.
    pub busy: i32,
}

/// Holds this thread's reentrancy guard; releases it (if it took it) when dropped. Not
/// `Send`: it belongs to the thread that entered it.
pub struct Guard<F: FrontEnd> {
    state: NonNull<ThreadState>,
    took: bool,
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
        t.guard = 1;
        Some(Guard {
            state,
            took: true,
            _front_end: PhantomData,
        })
    }

    /// Takes the guard whether or not it is already held (for paths that must run the
    /// tracer's own code, e.g. a fatal-signal flush or the writer thread).
    pub fn force() -> Self {
        let state = F::thread_state();
        // SAFETY: as in `enter`.
        let t = unsafe { &mut *state.as_ptr() };
        let took = t.guard == 0;
        t.guard = 1;
        Guard {
            state,
            took,
            _front_end: PhantomData,
        }
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
        if self.took {
            self.state().guard = 0;
        }
    }
}

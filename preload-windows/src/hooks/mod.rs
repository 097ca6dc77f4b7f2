//! The hooks, one file per family: the C runtimes' heap functions ([`crt`]), their
//! aligned family ([`aligned`]), libstdc++'s `operator new`/`delete` ([`cxx`]) and the
//! ways out of the process ([`process`]). Each is guard, real call, record; the real
//! function is the trampoline MinHook made for that target ([`Real`]).
//!
//! The C runtime hooks are generic over the runtime's index (`C`, see
//! `install::CRTS`): each runtime's functions get hooks of their own that call that
//! runtime's real functions.

use std::sync::atomic::{AtomicUsize, Ordering};

pub mod aligned;
pub mod crt;
pub mod cxx;
pub mod process;

/// The real function behind one hook (the trampoline's address; 0 until installed).
pub struct Real(AtomicUsize);

impl Real {
    pub const fn new() -> Self {
        Real(AtomicUsize::new(0))
    }

    /// Stores the trampoline (before the hook is enabled).
    pub fn set(&self, trampoline: *mut std::ffi::c_void) {
        self.0.store(trampoline as usize, Ordering::Release);
    }

    /// The trampoline as a function of type `T` (a function pointer type).
    ///
    /// # Safety
    /// `T` must be the target's own signature, and the hook must be installed (a hook
    /// runs only then).
    #[inline(always)]
    pub unsafe fn get<T: Copy>(&self) -> T {
        let addr = self.0.load(Ordering::Relaxed);
        debug_assert!(addr != 0);
        // SAFETY: the caller's contract: a function pointer of the right type.
        unsafe { std::mem::transmute_copy::<usize, T>(&addr) }
    }
}

/// Whether a hook should pass straight through: the process is on its way out and the
/// trace is complete (see `process`).
#[inline(always)]
pub fn passing_through() -> bool {
    process::exiting()
}

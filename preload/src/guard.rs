//! The reentrancy guard: while it is held on a thread, every hook on that thread passes
//! straight to the real allocator and records nothing (ARCHITECTURE invariant 1).
//!
//! WARNING: hold a [`Guard`] around *everything* the tracer does that may allocate:
//! the writer thread holds one for its whole life, hooks hold one for their whole body.
//! The flag lives in initial-exec TLS (see `native.c`), so reading it never allocates.

#[repr(C)]
pub struct Tls {
    /// Really `*mut ThreadSlot`; C only stores it.
    pub slot: *mut std::ffi::c_void,
    pub guard: i32,
    /// Nonzero while this thread assembles and pushes a ring entry: a signal handler that
    /// interrupts it must not push one of its own.
    pub busy: i32,
}

/// This thread's tracer state.
#[inline(always)]
pub fn tls() -> &'static mut Tls {
    let block: *mut Tls;
    // SAFETY: computes the address of `memscope_tls_block` (native.c) in the initial-exec
    // model: the thread pointer (fs:0 holds its own address) plus the block's offset,
    // which the dynamic linker wrote into the GOT at load time. Reads nothing else.
    unsafe {
        core::arch::asm!(
            "mov {block}, qword ptr fs:[0]",
            "add {block}, qword ptr [rip + memscope_tls_block@GOTTPOFF]",
            block = out(reg) block,
            options(pure, readonly, nostack)
        );
    }
    // SAFETY: the block is this thread's own, valid for the thread's whole life and
    // touched by no other thread.
    unsafe { &mut *block }
}

/// Holds the guard; releases it (if it took it) when dropped.
pub struct Guard {
    took: bool,
}

impl Guard {
    /// Takes the guard; `None` if this thread already holds it (we are inside the tracer).
    #[inline(always)]
    pub fn enter() -> Option<Guard> {
        let t = tls();
        if t.guard != 0 {
            return None;
        }
        t.guard = 1;
        Some(Guard { took: true })
    }

    /// Takes the guard whether or not it is already held (for paths that must run the
    /// tracer's own code, e.g. a fatal-signal flush).
    pub fn force() -> Guard {
        let t = tls();
        let took = t.guard == 0;
        t.guard = 1;
        Guard { took }
    }
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        if self.took {
            tls().guard = 0;
        }
    }
}

/// Whether the calling thread is in the middle of pushing a ring entry.
#[inline(always)]
pub fn pushing() -> bool {
    tls().busy != 0
}

//! Fatal signals: flush the trace, then die the way the program would have.
//!
//! A handler is installed only where the disposition is still the default when tracing
//! starts, so a program's own handlers always win. It is installed with `SA_RESETHAND`:
//! on entry the default action is back; the handler flushes, re-raises the signal (held
//! pending while the handler runs) and returns, so the process ends by that signal and
//! its exit status is unchanged.
//!
//! The handlers are invisible: `sigaction` and `signal` (hooked in `hooks::signal`)
//! report `SIG_DFL` where one of ours is installed, because programs decide on that
//! (Rust's runtime, for one, sets up its stack-overflow handler only over `SIG_DFL`).
//! A program that installs its own handler replaces ours.

use std::sync::atomic::{AtomicU64, Ordering};

use memscope_format::ExitHow;

use memscope_recorder::is_traced_process;

use crate::front_end::Guard;

const FATAL: [libc::c_int; 17] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGPIPE,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
];

/// Bit `n` set: our handler is installed for signal `n`.
static OURS: AtomicU64 = AtomicU64::new(0);

/// Whether our handler is (still) the one installed for `sig`.
pub fn is_ours(sig: libc::c_int) -> bool {
    (0..64).contains(&sig) && OURS.load(Ordering::Acquire) & (1 << sig) != 0
}

/// The program installed its own disposition for `sig`.
pub fn forget(sig: libc::c_int) {
    if (0..64).contains(&sig) {
        OURS.fetch_and(!(1u64 << sig), Ordering::AcqRel);
    }
}

pub fn install() {
    for sig in FATAL {
        // SAFETY: sigaction with valid, zero-initialised structures; the handler is an
        // extern "C" function that never unwinds.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                || old.sa_sigaction != libc::SIG_DFL
            {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fatal_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) == 0 {
                OURS.fetch_or(1 << sig, Ordering::AcqRel);
            }
        }
    }
}

/// The process is about to send itself `sig`: if that will kill it (default disposition,
/// a terminating signal), write the trace out first, exit record and end marker included.
///
/// A signal blocked on this thread kills only once unblocked; the usual case is a
/// program's handler re-raising its own signal, which dies as the handler returns. Then
/// the trace is completed without final mode, so a program that keeps running after all
/// still has its later events written (its exit record then says signal, wrongly).
pub fn before_self_signal(sig: libc::c_int) {
    if !FATAL.contains(&sig) || is_ours(sig) || !is_traced_process() {
        return; // not fatal by default, or our handler will flush
    }
    let mut blocked = false;
    // SAFETY: querying this process's disposition and this thread's mask into locals.
    let default = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        let mut mask: libc::sigset_t = std::mem::zeroed();
        if libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask) == 0 {
            blocked = libc::sigismember(&mask, sig) == 1;
        }
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_DFL
    };
    if default {
        let g = Guard::force();
        if blocked {
            memscope_recorder::on_likely_exit(&g, ExitHow::Signal, sig);
        } else {
            memscope_recorder::on_exit(&g, ExitHow::Signal, sig);
        }
    }
}

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    // SA_RESETHAND put the default back.
    forget(sig);
    // SAFETY: reading and restoring this thread's errno.
    let saved_errno = unsafe { *libc::__errno_location() };
    let g = Guard::force();
    // If the signal interrupted a push on this thread, no exit record is pushed (the
    // recorder sees it in the guard); everything else is still written, end marker
    // included.
    memscope_recorder::on_exit(&g, ExitHow::Signal, sig);
    // SAFETY: raise has no preconditions; restoring errno of this thread.
    unsafe {
        libc::raise(sig);
        *libc::__errno_location() = saved_errno;
    }
}

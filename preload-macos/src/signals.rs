//! Fatal signals: flush the trace, then die the way the program would have.
//!
//! A handler is installed only where the disposition is still the default when tracing
//! starts, so a program's own handlers always win. It is installed with `SA_RESETHAND`:
//! on entry the default action is back; the handler flushes, re-raises the signal (held
//! pending while the handler runs) and returns, so the process ends by that signal and
//! its exit status is unchanged.
//!
//! The same handlers as the ELF preload's (`preload/src/signals.rs`), without what that
//! one adds: `sigaction` and `signal` are not replaced here, so a program that asks
//! sees our handler instead of `SIG_DFL` (Rust's runtime then leaves its stack-overflow
//! handler out), and `raise`/`kill` of the own process do not flush first. A program
//! that installs its own handler replaces ours.

use std::sync::atomic::{AtomicU64, Ordering};

use memscope_format::ExitHow;

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

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    // SA_RESETHAND put the default back.
    OURS.fetch_and(!(1u64 << sig), Ordering::AcqRel);
    // SAFETY: reading and restoring this thread's errno.
    let saved_errno = unsafe { *libc::__error() };
    let g = Guard::force();
    // If the signal interrupted a push on this thread, no exit record is pushed (the
    // recorder sees it in the guard); everything else is still written, end marker
    // included.
    memscope_recorder::on_exit(&g, ExitHow::Signal, sig);
    // SAFETY: raise has no preconditions; restoring errno of this thread.
    unsafe {
        libc::raise(sig);
        *libc::__error() = saved_errno;
    }
}

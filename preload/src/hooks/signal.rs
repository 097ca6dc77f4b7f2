//! `sigaction` and `signal`: keep the tracer's fatal-signal handlers out of sight (see
//! `signals`): where ours is installed the program is told `SIG_DFL`, and a program
//! that installs its own disposition simply replaces ours.
//!
//! `raise` and `kill` of the own process: a program's own handler often ends by putting
//! the default back and re-raising (coreutils `sort` on SIGPIPE), which would end the
//! process without our handler: flush first when that signal is about to kill.

use std::ffi::c_int;

use crate::real::next_fn;
use crate::signals;

type SigactionFn =
    unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
type SignalFn = unsafe extern "C" fn(c_int, libc::sighandler_t) -> libc::sighandler_t;

next_fn!(real_sigaction, c"sigaction", SigactionFn);
next_fn!(real_signal, c"signal", SignalFn);
next_fn!(real_raise, c"raise", unsafe extern "C" fn(c_int) -> c_int);
next_fn!(
    real_kill,
    c"kill",
    unsafe extern "C" fn(libc::pid_t, c_int) -> c_int
);

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn raise(sig: c_int) -> c_int {
    signals::before_self_signal(sig);
    // SAFETY: forwarding the caller's argument.
    real_raise().map_or(-1, |f| unsafe { f(sig) })
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn kill(pid: libc::pid_t, sig: c_int) -> c_int {
    // SAFETY: getpid has no preconditions.
    if pid == 0 || pid == unsafe { libc::getpid() } {
        signals::before_self_signal(sig);
    }
    // SAFETY: forwarding the caller's arguments.
    real_kill().map_or(-1, |f| unsafe { f(pid, sig) })
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    let Some(real) = real_sigaction() else {
        return -1;
    };
    let ours = signals::is_ours(sig);
    // SAFETY: forwarding the caller's arguments.
    let r = unsafe { real(sig, act, old) };
    if r == 0 && ours {
        if !old.is_null() {
            // SAFETY: the caller's `old` is valid for writes (the call above just wrote it).
            unsafe {
                (*old).sa_sigaction = libc::SIG_DFL;
                (*old).sa_flags = 0;
                libc::sigemptyset(&mut (*old).sa_mask);
            }
        }
        if !act.is_null() {
            signals::forget(sig);
        }
    }
    r
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    let Some(real) = real_signal() else {
        return libc::SIG_ERR;
    };
    let ours = signals::is_ours(sig);
    // SAFETY: forwarding the caller's arguments.
    let previous = unsafe { real(sig, handler) };
    if ours && previous != libc::SIG_ERR {
        signals::forget(sig);
        return libc::SIG_DFL;
    }
    previous
}

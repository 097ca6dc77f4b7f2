//! Threads on macOS: ids, stack bounds, liveness, and futex-like wait/wake on a 32-bit
//! word for the writer's doorbell. None allocates.
//!
//! Wait and wake use `__ulock_wait` and `__ulock_wake`, the kernel's address-wait calls
//! (macOS 10.12 and later) that libc++'s `std::atomic::wait` and Rust's standard library
//! also use; `os_sync_wait_on_address`, their public successor, needs macOS 14.4.

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// A thread's id: the system-wide unique id of `pthread_threadid_np` (never reused
/// while the system runs).
pub type ThreadId = u64;

/// A [`ThreadId`] that threads share.
pub type AtomicThreadId = AtomicU64;

/// `proc_pidinfo` flavor that looks a thread up by the id of `pthread_threadid_np`
/// (`PROC_PIDTHREADID64INFO` in `<sys/proc_info.h>`).
const PROC_PIDTHREADID64INFO: libc::c_int = 15;
/// `__ulock_wait` operation: wait while the 32-bit word holds the value (`<sys/ulock.h>`).
const UL_COMPARE_AND_WAIT: u32 = 1;
/// `__ulock_wake` flag: wake every waiter (`<sys/ulock.h>`).
const ULF_WAKE_ALL: u32 = 0x100;
/// Return `-errno` instead of setting `errno` (`<sys/ulock.h>`).
const ULF_NO_ERRNO: u32 = 0x0100_0000;

extern "C" {
    fn __ulock_wait(
        operation: u32,
        addr: *mut libc::c_void,
        value: u64,
        timeout_us: u32,
    ) -> libc::c_int;
    fn __ulock_wake(operation: u32, addr: *mut libc::c_void, wake_value: u64) -> libc::c_int;
}

/// The calling thread's id.
pub fn current_tid() -> ThreadId {
    let mut id = 0u64;
    // SAFETY: a null thread means the calling thread; `id` is writable.
    unsafe { libc::pthread_threadid_np(0 as libc::pthread_t, &mut id) };
    id
}

/// Process id.
pub fn current_pid() -> u32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() as u32 }
}

/// Parent process id.
pub fn parent_pid() -> u32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() as u32 }
}

/// Whether thread `tid` of this process still exists. A thread that is gone can run no
/// more code, so its buffers may be reclaimed.
pub fn thread_alive(tid: ThreadId) -> bool {
    // SAFETY: an all-zero proc_threadinfo is valid (integers and byte arrays).
    let mut info: libc::proc_threadinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_threadinfo>() as libc::c_int;
    // SAFETY: `info` is writable for `size` bytes.
    let n = unsafe {
        libc::proc_pidinfo(
            libc::getpid(),
            PROC_PIDTHREADID64INFO,
            tid,
            (&mut info as *mut libc::proc_threadinfo).cast(),
            size,
        )
    };
    // SAFETY: reading errno of this thread.
    n > 0 || unsafe { *libc::__error() } != libc::ESRCH
}

/// The calling thread's stack as `[low, high)`, as the thread library set it up.
pub fn current_stack_bounds() -> Option<(u64, u64)> {
    // SAFETY: pthread_self is the calling thread, which is alive.
    let (top, size) = unsafe {
        let me = libc::pthread_self();
        (
            libc::pthread_get_stackaddr_np(me) as u64,
            libc::pthread_get_stacksize_np(me) as u64,
        )
    };
    (top != 0 && size != 0 && size <= top).then(|| (top - size, top))
}

/// Waits while `*word == expected`, at most `timeout_ns` (rounded up to a microsecond).
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: u64) {
    let timeout_us = timeout_ns.div_ceil(1000).clamp(1, u32::MAX as u64) as u32;
    // SAFETY: `word` is a live, aligned u32; the kernel only reads it.
    unsafe {
        __ulock_wait(
            UL_COMPARE_AND_WAIT | ULF_NO_ERRNO,
            word.as_ptr().cast(),
            expected as u64,
            timeout_us,
        )
    };
}

/// Wakes every waiter on `word`.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32.
    unsafe {
        __ulock_wake(
            UL_COMPARE_AND_WAIT | ULF_WAKE_ALL | ULF_NO_ERRNO,
            word.as_ptr().cast(),
            0,
        )
    };
}

/// Starts a detached thread that runs `main`, named `name` where the system keeps thread
/// names, with every signal blocked: process-directed signals then land on the program's
/// threads, whose handlers may wait for this one. False if the system refuses.
pub fn spawn_detached<F: FnOnce() + Send + 'static>(name: &'static CStr, main: F) -> bool {
    extern "C" fn start<F: FnOnce()>(arg: *mut c_void) -> *mut c_void {
        // SAFETY: `arg` is the Box leaked by `spawn_detached`, handed over once.
        let (name, main) = *unsafe { Box::from_raw(arg.cast::<(&'static CStr, F)>()) };
        // SAFETY: `name` is NUL-terminated; macOS names the calling thread only.
        unsafe { libc::pthread_setname_np(name.as_ptr()) };
        main();
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new((name, main))).cast::<c_void>();
    // SAFETY: the new thread inherits the full signal mask set here; the old mask is
    // restored right after pthread_create. `arg` is handed to the thread, or taken back
    // if none was created.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut t: libc::pthread_t = std::mem::zeroed();
        let r = libc::pthread_create(&mut t, std::ptr::null(), start::<F>, arg);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if r != 0 {
            drop(Box::from_raw(arg.cast::<(&'static CStr, F)>()));
            return false;
        }
        libc::pthread_detach(t);
    }
    true
}

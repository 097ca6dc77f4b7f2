//! Threads: kernel ids, stack bounds, liveness, and futex wait/wake for the writer's
//! doorbell. All async-signal-safe except `current_stack_bounds` (which may allocate
//! inside glibc and must be called with tracking suspended).

use std::sync::atomic::AtomicU32;

/// Kernel thread id of the calling thread.
pub fn current_tid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
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
pub fn thread_alive(tid: u32) -> bool {
    // SAFETY: tgkill with signal 0 only checks for existence.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid as libc::c_int, 0) };
    // SAFETY: reading errno of this thread.
    r == 0 || unsafe { *libc::__errno_location() } != libc::ESRCH
}

/// `[low, high)` of the calling thread's stack. glibc reads `/proc/self/maps` for the
/// main thread, which allocates: call with tracking suspended.
pub fn current_stack_bounds() -> Option<(u64, u64)> {
    // SAFETY: attr is initialised by pthread_getattr_np before use and destroyed after.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        ok.then(|| (addr as u64, addr as u64 + size as u64))
    }
}

/// Waits while `*word == expected`, at most `timeout_ns`.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: u64) {
    let ts = libc::timespec { tv_sec: (timeout_ns / 1_000_000_000) as _, tv_nsec: (timeout_ns % 1_000_000_000) as _ };
    // SAFETY: `word` is a live, aligned u32; the kernel only reads it.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, expected, &ts as *const libc::timespec);
    }
}

/// Wakes every waiter on `word`.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, i32::MAX);
    }
}

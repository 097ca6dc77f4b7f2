//! Threads on Linux: kernel ids, stack bounds, liveness, and futex wait/wake for the
//! writer's doorbell. All async-signal-safe; none allocates.

use std::ffi::{c_void, CStr};
use std::sync::atomic::AtomicU32;

pub use crate::x86_64::stack_pointer;

/// A thread's id: the kernel's thread id (the main thread's equals the process id).
pub type ThreadId = u32;

/// A [`ThreadId`] that threads share.
pub type AtomicThreadId = AtomicU32;

/// Kernel thread id of the calling thread.
pub fn current_tid() -> ThreadId {
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
pub fn thread_alive(tid: ThreadId) -> bool {
    // SAFETY: tgkill with signal 0 only checks for existence.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid as libc::c_int, 0) };
    // SAFETY: reading errno of this thread.
    r == 0 || unsafe { *libc::__errno_location() } != libc::ESRCH
}

/// The mapping `[start, end)` that holds `addr` (for a stack address: that thread's
/// stack), read from `/proc/self/maps` with raw syscalls and a buffer on the
/// stack. Neither `pthread_getattr_np` (which holds the thread's lock and calls `malloc`
/// for the main thread: a hook running inside it would deadlock) nor stdio is used, so
/// this is safe to call from inside an allocation hook.
pub fn mapping_of(addr: u64) -> Option<(u64, u64)> {
    // SAFETY: open/read/close on a path we own, into a buffer we own.
    let fd = unsafe {
        libc::open(
            c"/proc/self/maps".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 4096];
    let mut len = 0usize;
    let mut found = None;
    'read: loop {
        // SAFETY: the destination is the unused tail of `buf`.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
        let mut start = 0;
        while let Some(nl) = buf[start..len].iter().position(|&b| b == b'\n') {
            if let Some((lo, hi)) = parse_range(&buf[start..start + nl]) {
                if (lo..hi).contains(&addr) {
                    found = Some((lo, hi));
                    break 'read;
                }
            }
            start += nl + 1;
        }
        // Keep the partial last line for the next read (a line is far shorter than the buffer).
        buf.copy_within(start..len, 0);
        len -= start;
        if len == buf.len() {
            len = 0;
        }
    }
    // SAFETY: we own fd.
    unsafe { libc::close(fd) };
    found
}

/// Parses the `start-end` at the head of a maps line.
fn parse_range(line: &[u8]) -> Option<(u64, u64)> {
    let sp = line.iter().position(|&b| b == b' ')?;
    let dash = line[..sp].iter().position(|&b| b == b'-')?;
    let hex = |s: &[u8]| u64::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok();
    Some((hex(&line[..dash])?, hex(&line[dash + 1..sp])?))
}

/// The calling thread's stack as `[low, high)`, from the memory map (see [`mapping_of`]).
/// The main thread's stack grows on demand, so its lower bound is taken as far as the
/// usual 8 MiB limit allows.
pub fn current_stack_bounds() -> Option<(u64, u64)> {
    let (lo, hi) = mapping_of(stack_pointer())?;
    if current_tid() == current_pid() {
        Some((lo.min(hi.saturating_sub(8 << 20)), hi))
    } else {
        Some((lo, hi))
    }
}

/// Waits while `*word == expected`, at most `timeout_ns`.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as _,
        tv_nsec: (timeout_ns % 1_000_000_000) as _,
    };
    // SAFETY: `word` is a live, aligned u32; the kernel only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

/// Wakes every waiter on `word`.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

/// Starts a detached thread that runs `main`, named `name` where the system keeps thread
/// names, with every signal blocked: process-directed signals then land on the program's
/// threads, whose handlers may wait for this one. False if the system refuses.
pub fn spawn_detached<F: FnOnce() + Send + 'static>(name: &'static CStr, main: F) -> bool {
    extern "C" fn start<F: FnOnce()>(arg: *mut c_void) -> *mut c_void {
        // SAFETY: `arg` is the Box<F> leaked by `spawn_detached`, handed over once.
        let main = unsafe { Box::from_raw(arg.cast::<F>()) };
        main();
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(main)).cast::<c_void>();
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
            drop(Box::from_raw(arg.cast::<F>()));
            return false;
        }
        libc::pthread_detach(t);
        libc::pthread_setname_np(t, name.as_ptr());
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_top_of_this_threads_stack() {
        let local = 0u64;
        let addr = &local as *const u64 as u64;
        let (lo, top) = super::mapping_of(addr).expect("the stack is mapped");
        assert!(lo <= addr && top > addr && top - addr < 64 << 20);
        let t = std::thread::spawn(|| {
            let x = 0u64;
            let a = &x as *const u64 as u64;
            (a, super::mapping_of(a).unwrap().1)
        });
        let (a, top) = t.join().unwrap();
        assert!(top > a);
    }
}

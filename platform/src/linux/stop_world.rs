//! Stopping the program's other threads for the leak check at the end of the process,
//! and reading each one's registers, stack pointer and thread pointer.
//!
//! Threads may still run when the process exits; their stacks and registers are roots.
//! Each thread found in `/proc/self/task` gets a signal whose handler stores the
//! interrupted context (from its `ucontext`) and waits until [`StoppedWorld`] is
//! dropped. A thread that does not answer within the timeout (it blocks the signal, or
//! sleeps where signals are not delivered) is left alone: nothing here may hang. The
//! handler stays installed after the check (a late delivery must not kill the process
//! with the signal's default action), and answers nothing once the check is over.
//!
//! Nothing allocates: a stopped thread may hold `malloc`'s locks.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::clock::now_ns;
use crate::linux::thread::{current_pid, futex_wait, futex_wake, ThreadId};
use crate::unix::memory::map_zeroed;
pub use crate::x86_64::callee_saved_registers;

/// General-purpose registers kept per thread (`r8`-`r15`, `rdi`, `rsi`, `rbp`, `rbx`,
/// `rdx`, `rax`, `rcx`, `rsp`: the first sixteen of the kernel's `gregs`).
pub const GP_REGS: usize = 16;
/// The most threads one check stops.
const MAX_THREADS: usize = 16_384;
/// How long a stopped thread waits for the release before it goes on regardless.
const STOPPED_AT_MOST_NS: u64 = 120_000_000_000;

/// What a stopped thread was doing.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadContext {
    pub tid: ThreadId,
    /// False: the thread did not answer; the other fields are zero.
    pub answered: bool,
    pub sp: u64,
    pub pc: u64,
    /// The thread pointer (`fs` base): the thread's control block, its static TLS below.
    pub thread_pointer: u64,
    pub regs: [u64; GP_REGS],
}

struct Entry {
    tid: AtomicU32,
    answered: AtomicU32,
    context: UnsafeCell<ThreadContext>,
}

static TABLE: AtomicPtr<Entry> = AtomicPtr::new(std::ptr::null_mut());
static TABLE_LEN: AtomicUsize = AtomicUsize::new(0);
/// 1 while a check holds threads stopped (the word stopped threads wait on).
static STOPPING: AtomicU32 = AtomicU32::new(0);
/// Answers so far (the word the checking thread waits on).
static ANSWERS: AtomicU32 = AtomicU32::new(0);
static HANDLER_INSTALLED: AtomicU32 = AtomicU32::new(0);

/// The program's other threads, stopped until this is dropped.
pub struct StoppedWorld {
    entries: NonNull<Entry>,
    len: usize,
}

impl StoppedWorld {
    /// Stops every thread of the process except those in `except` (the caller is always
    /// left out), waiting at most `timeout_ns` for their answers. `None` if the signal
    /// handler cannot be installed or the thread list cannot be read.
    pub fn stop(except: &[ThreadId], timeout_ns: u64) -> Option<StoppedWorld> {
        let me = crate::linux::thread::current_tid();
        let bytes = MAX_THREADS * std::mem::size_of::<Entry>();
        let entries = map_zeroed(bytes)?.cast::<Entry>();
        let mut len = 0usize;
        let listed = for_each_thread(|tid| {
            if tid != me && !except.contains(&tid) && len < MAX_THREADS {
                // SAFETY: `len` < MAX_THREADS entries of our zeroed mapping; zero is a valid
                // Entry (atomics and a plain-data context).
                unsafe {
                    (*entries.as_ptr().add(len))
                        .tid
                        .store(tid, Ordering::Relaxed)
                };
                len += 1;
            }
        });
        if !listed || !install_handler() {
            return None;
        }
        ANSWERS.store(0, Ordering::Relaxed);
        TABLE_LEN.store(len, Ordering::Relaxed);
        TABLE.store(entries.as_ptr(), Ordering::Release);
        STOPPING.store(1, Ordering::Release);
        let pid = current_pid() as libc::c_int;
        let mut sent = 0u32;
        for i in 0..len {
            // SAFETY: entry i was filled above.
            let tid = unsafe { (*entries.as_ptr().add(i)).tid.load(Ordering::Relaxed) };
            // SAFETY: tgkill sends a signal to a thread of this process.
            let r =
                unsafe { libc::syscall(libc::SYS_tgkill, pid, tid as libc::c_int, stop_signal()) };
            sent += (r == 0) as u32;
        }
        let deadline = now_ns() + timeout_ns;
        loop {
            let n = ANSWERS.load(Ordering::Acquire);
            if n >= sent || now_ns() > deadline {
                break;
            }
            futex_wait(&ANSWERS, n, 5_000_000);
        }
        Some(StoppedWorld { entries, len })
    }

    /// The threads asked to stop, answered or not.
    pub fn threads(&self) -> impl Iterator<Item = ThreadContext> + '_ {
        (0..self.len).map(|i| {
            // SAFETY: entries below `len` are ours; an answered entry's context was written
            // before `answered` was set (release) and is not written again.
            let e = unsafe { &*self.entries.as_ptr().add(i) };
            if e.answered.load(Ordering::Acquire) == 1 {
                // SAFETY: see above.
                unsafe { *e.context.get() }
            } else {
                ThreadContext {
                    tid: e.tid.load(Ordering::Relaxed),
                    ..ThreadContext::default()
                }
            }
        })
    }
}

impl Drop for StoppedWorld {
    fn drop(&mut self) {
        // The table stays mapped: a late answer may still read it (it then sees that the
        // check is over and returns).
        STOPPING.store(0, Ordering::Release);
        futex_wake(&STOPPING);
    }
}

/// The signal that stops threads: near the top of the real-time range, which programs
/// use least.
fn stop_signal() -> libc::c_int {
    libc::SIGRTMAX() - 2
}

fn install_handler() -> bool {
    if HANDLER_INSTALLED.load(Ordering::Acquire) == 1 {
        return true;
    }
    // SAFETY: a zeroed sigaction is valid; we fill in the handler, flags and mask.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = on_stop_signal as *const () as usize;
    act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: sigfillset/sigaction on our own structures.
    let ok = unsafe {
        libc::sigfillset(&mut act.sa_mask);
        libc::sigaction(stop_signal(), &act, std::ptr::null_mut()) == 0
    };
    if ok {
        HANDLER_INSTALLED.store(1, Ordering::Release);
    }
    ok
}

/// Runs on a thread asked to stop: stores its context, answers, waits for the release.
extern "C" fn on_stop_signal(_sig: libc::c_int, _info: *mut libc::siginfo_t, uctx: *mut c_void) {
    if STOPPING.load(Ordering::Acquire) != 1 || uctx.is_null() {
        return;
    }
    // SAFETY: reading and restoring this thread's errno around the syscalls below.
    let errno = unsafe { *libc::__errno_location() };
    let table = TABLE.load(Ordering::Acquire);
    let len = TABLE_LEN.load(Ordering::Relaxed);
    let me = crate::linux::thread::current_tid();
    for i in 0..len {
        // SAFETY: the table is mapped for good and has `len` filled entries.
        let e = unsafe { &*table.add(i) };
        if e.tid.load(Ordering::Relaxed) != me || e.answered.load(Ordering::Acquire) != 0 {
            continue;
        }
        // SAFETY: the kernel passes a valid ucontext to an SA_SIGINFO handler.
        let gregs = unsafe { &(*(uctx as *const libc::ucontext_t)).uc_mcontext.gregs };
        let mut regs = [0u64; GP_REGS];
        for (r, g) in regs.iter_mut().zip(gregs.iter()) {
            *r = *g as u64;
        }
        let context = ThreadContext {
            tid: me,
            answered: true,
            sp: gregs[libc::REG_RSP as usize] as u64,
            pc: gregs[libc::REG_RIP as usize] as u64,
            thread_pointer: thread_pointer(),
            regs,
        };
        // SAFETY: only this thread writes its entry, before publishing it.
        unsafe { *e.context.get() = context };
        e.answered.store(1, Ordering::Release);
        ANSWERS.fetch_add(1, Ordering::AcqRel);
        futex_wake(&ANSWERS);
        let start = now_ns();
        while STOPPING.load(Ordering::Acquire) == 1 && now_ns() - start < STOPPED_AT_MOST_NS {
            futex_wait(&STOPPING, 1, 100_000_000);
        }
        break;
    }
    // SAFETY: see above.
    unsafe { *libc::__errno_location() = errno };
}

/// The calling thread's thread pointer (`fs` base).
pub fn thread_pointer() -> u64 {
    let mut fs = 0u64;
    const ARCH_GET_FS: libc::c_int = 0x1003;
    // SAFETY: arch_prctl(ARCH_GET_FS) writes one u64 to the address given.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_GET_FS, &mut fs as *mut u64) };
    fs
}

/// Calls `f(offset, size)` for each module's static TLS block, where `offset` is how
/// far below a thread's thread pointer the block starts (the same for every thread).
/// Takes the loader's lock: call it before stopping threads.
pub fn for_each_static_tls_block(mut f: impl FnMut(u64, u64)) {
    let tp = thread_pointer();
    let mut blocks = [(0u64, 0u64); 64];
    let mut n = 0usize;
    let mut state = (tp, &mut blocks, &mut n);
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the state tuple passed below; `info` is valid for this call.
        let (tp, blocks, n) =
            unsafe { &mut *(data as *mut (u64, &mut [(u64, u64); 64], &mut usize)) };
        // SAFETY: see above.
        let info = unsafe { &*info };
        if info.dlpi_tls_modid == 0 || info.dlpi_tls_data.is_null() || **n >= blocks.len() {
            return 0;
        }
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            let at = info.dlpi_tls_data as u64;
            if ph.p_type == libc::PT_TLS && at < *tp && *tp - at < 1 << 24 {
                blocks[**n] = (*tp - at, ph.p_memsz);
                **n += 1;
            }
        }
        0
    }
    // SAFETY: dl_iterate_phdr calls `each` with our state pointer only during this call.
    unsafe { libc::dl_iterate_phdr(Some(each), &mut state as *mut _ as *mut c_void) };
    for &(off, size) in &blocks[..n] {
        f(off, size);
    }
}

/// Calls `f` with the id of every thread of this process (`/proc/self/task`, read with
/// `getdents64` into a buffer on the stack).
fn for_each_thread(mut f: impl FnMut(ThreadId)) -> bool {
    // SAFETY: open of a constant path; closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: getdents64 writes at most buf.len() bytes into buf.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n <= 0 {
            break;
        }
        let mut at = 0usize;
        while at + 19 < n as usize {
            // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &buf[at + 19..(at + reclen).min(n as usize)];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(tid) = std::str::from_utf8(name).ok().and_then(|s| s.parse().ok()) {
                f(tid);
            }
            at += reclen;
        }
    }
    // SAFETY: we own fd.
    unsafe { libc::close(fd) };
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn stops_a_running_thread_and_reads_its_stack_pointer() {
        let go = Arc::new(AtomicBool::new(true));
        let (tx, rx) = std::sync::mpsc::channel();
        let g = go.clone();
        let t = std::thread::spawn(move || {
            let local = 1u64;
            tx.send((
                crate::linux::thread::current_tid(),
                &local as *const u64 as u64,
            ))
            .unwrap();
            while g.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
            std::hint::black_box(local);
        });
        let (tid, local_at) = rx.recv().unwrap();
        let world = StoppedWorld::stop(&[], 2_000_000_000).expect("stopped");
        let ctx = world
            .threads()
            .find(|c| c.tid == tid)
            .expect("the thread is listed");
        assert!(ctx.answered);
        assert!(ctx.sp <= local_at && local_at - ctx.sp < 1 << 20);
        assert_ne!(ctx.thread_pointer, 0);
        drop(world);
        go.store(false, Ordering::Relaxed);
        t.join().unwrap();
    }
}

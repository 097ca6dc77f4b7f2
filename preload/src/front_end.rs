//! The ELF preload as a front end of the recorder core: the per-thread state in
//! initial-exec TLS (declared in `native.c`), thread exit through the C library's
//! thread-exit destructors (`__cxa_thread_atexit_impl`, the mechanism of C++
//! `thread_local`: it takes none of the program's 1024 pthread keys), forks through
//! `pthread_atfork`, fatal signals (`signals`), and the process's identity from `/proc`.

use std::ffi::c_void;
use std::ptr::NonNull;

use memscope_format::ExitHow;
use memscope_platform::file::{read_link, read_small_file};
use memscope_recorder::{AllocatorInUse, FrontEnd, ProcessIdentity, ThreadState};

/// The ELF interposition front end.
pub struct Elf;

/// This front end's reentrancy guard.
pub type Guard = memscope_recorder::Guard<Elf>;

extern "C" {
    /// glibc's registration of a destructor to run when the calling thread exits (before
    /// the pthread key destructors), for the object `dso_handle` names.
    fn __cxa_thread_atexit_impl(
        dtor: unsafe extern "C" fn(*mut c_void),
        obj: *mut c_void,
        dso_handle: *mut c_void,
    ) -> i32;
    /// This object's handle (the linker defines it in every shared object).
    static __dso_handle: u8;
}

// SAFETY: `thread_state` returns this thread's own initial-exec TLS block, valid for the
// thread's whole life; reaching it is two instructions (no `__tls_get_addr`, so no
// allocation and no hook).
unsafe impl FrontEnd for Elf {
    #[inline(always)]
    fn thread_state() -> NonNull<ThreadState> {
        let block: *mut ThreadState;
        // SAFETY: computes the address of `memscope_tls_block` (native.c, the layout of
        // `ThreadState`) in the initial-exec model: the thread pointer (fs:0 holds its own
        // address) plus the block's offset, which the dynamic linker wrote into the GOT at
        // load time. Reads nothing else.
        unsafe {
            core::arch::asm!(
                "mov {block}, qword ptr fs:[0]",
                "add {block}, qword ptr [rip + memscope_tls_block@GOTTPOFF]",
                block = out(reg) block,
                options(pure, readonly, nostack)
            );
        }
        // SAFETY: the thread pointer plus an offset is never null.
        unsafe { NonNull::new_unchecked(block) }
    }

    fn install_process_handlers() {
        use memscope_recorder::private_heap::{after_fork, prepare_fork};
        // SAFETY: plain pthread API calls; the handlers are `extern "C"` functions that
        // never unwind. The private heap's come first: the child's handlers run in
        // registration order, and `on_fork_child` allocates.
        unsafe {
            libc::pthread_atfork(Some(prepare_fork), Some(after_fork), Some(after_fork));
            libc::pthread_atfork(
                Some(on_fork_prepare),
                Some(on_fork_parent),
                Some(on_fork_child),
            );
        }
        crate::signals::install();
    }

    fn watch_thread_exit() {
        // The main thread's "exit" is the process's, which the exit paths handle (glibc
        // runs these destructors in `exit` too, before the program's own exit handlers).
        if memscope_platform::thread::current_tid() == memscope_platform::thread::current_pid() {
            return;
        }
        // SAFETY: registers `on_thread_exit` for this thread and this object; the
        // registration is freed by glibc when it runs (the C library's allocation here is
        // the tracer's: the recorder calls this with its own work flagged).
        unsafe {
            __cxa_thread_atexit_impl(
                on_thread_exit,
                std::ptr::null_mut(),
                &__dso_handle as *const u8 as *mut c_void,
            );
        }
    }

    fn secure_execution() -> bool {
        // SAFETY: getauxval has no preconditions.
        unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
    }

    fn allocator_in_use() -> AllocatorInUse {
        crate::real::allocator_in_use()
    }

    fn process_identity() -> ProcessIdentity {
        let cmdline = read_small_file(c"/proc/self/cmdline").unwrap_or_default();
        ProcessIdentity {
            executable: read_link(c"/proc/self/exe").unwrap_or_default(),
            arguments: cmdline
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(<[u8]>::to_vec)
                .collect(),
        }
    }
}

unsafe extern "C" fn on_thread_exit(_value: *mut c_void) {
    let g = Guard::force();
    memscope_recorder::on_thread_exit(&g);
}

extern "C" fn on_fork_prepare() {
    memscope_recorder::on_fork_prepare();
}

extern "C" fn on_fork_parent() {
    memscope_recorder::on_fork_parent_resumes();
}

extern "C" fn on_fork_child() {
    let g = Guard::force();
    memscope_recorder::on_fork_child(&g);
}

/// Runs as a library destructor: return from `main` or `exit`.
pub extern "C" fn on_library_fini() {
    let g = Guard::force();
    memscope_recorder::on_exit(&g, ExitHow::Shutdown, 0);
}

/// Runs as a library constructor: start tracing before `main`.
pub extern "C" fn on_library_init() {
    if let Some(g) = Guard::enter() {
        memscope_recorder::start(&g);
    }
}

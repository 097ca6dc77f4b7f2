//! The ELF preload as a front end of the recorder core: the per-thread state in
//! initial-exec TLS (declared in `native.c`), thread exit through a pthread key, forks
//! through `pthread_atfork`, fatal signals (`signals`), and the process's identity from
//! `/proc`.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use memscope_format::ExitHow;
use memscope_platform::file::{read_link, read_small_file};
use memscope_recorder::{FrontEnd, ProcessIdentity, ThreadState};

/// The ELF interposition front end.
pub struct Elf;

/// This front end's reentrancy guard.
pub type Guard = memscope_recorder::Guard<Elf>;

/// The pthread key whose destructor reports thread exit (`u32::MAX`: none).
static THREAD_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

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
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: plain pthread API calls with valid arguments; the handlers are
        // `extern "C"` functions that never unwind.
        unsafe {
            if libc::pthread_key_create(&mut key, Some(on_thread_exit)) == 0 {
                THREAD_KEY.store(key, Ordering::Relaxed);
            }
            libc::pthread_atfork(None, None, Some(on_fork_child));
        }
        crate::signals::install();
    }

    fn watch_thread_exit() {
        let key = THREAD_KEY.load(Ordering::Relaxed);
        if key != u32::MAX {
            // Any non-null value makes the destructor run; the recorder finds the thread's
            // slot itself.
            static WATCHED: u8 = 0;
            // SAFETY: a key we created.
            unsafe { libc::pthread_setspecific(key, &WATCHED as *const u8 as *const c_void) };
        }
    }

    fn secure_execution() -> bool {
        // SAFETY: getauxval has no preconditions.
        unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
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

extern "C" fn on_thread_exit(_value: *mut c_void) {
    let g = Guard::force();
    memscope_recorder::on_thread_exit(&g);
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

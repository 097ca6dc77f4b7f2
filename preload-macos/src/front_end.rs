//! The dyld insertion as a front end of the recorder core: the per-thread state behind a
//! pthread key (`thread_state`), thread exit through that key's destructor, forks
//! through `pthread_atfork`, the flush at normal exit through `atexit`, fatal signals
//! (`signals`), and the process's identity from `_NSGetExecutablePath` and
//! `_NSGetArgv`.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::NonNull;

use memscope_format::ExitHow;
use memscope_recorder::{AllocatorInUse, FrontEnd, ProcessIdentity, ThreadState};

/// The dyld-insertion front end.
pub struct Dyld;

/// This front end's reentrancy guard.
pub type Guard = memscope_recorder::Guard<Dyld>;

extern "C" {
    /// `<mach-o/dyld.h>`: the executable's path (`*size` too small: -1 and the size).
    fn _NSGetExecutablePath(buf: *mut c_char, size: *mut u32) -> c_int;
    /// `<crt_externs.h>`: `main`'s `argc` and `argv`.
    fn _NSGetArgc() -> *mut c_int;
    fn _NSGetArgv() -> *mut *mut *mut c_char;
}

// SAFETY: `thread_state` returns the calling thread's own block (a pthread key's value,
// set once per thread, never shared), valid for the process's life (never freed), and
// reaching it neither allocates nor calls a hook (`thread_state`).
unsafe impl FrontEnd for Dyld {
    #[inline(always)]
    fn thread_state() -> NonNull<ThreadState> {
        crate::thread_state::current()
    }

    fn install_process_handlers() {
        use memscope_recorder::private_heap::{after_fork, prepare_fork};
        // SAFETY: plain pthread and libc registrations of `extern "C"` functions that
        // never unwind. The private heap's fork handlers come first: the child's run in
        // registration order, and `on_fork_child` allocates.
        unsafe {
            libc::pthread_atfork(Some(prepare_fork), Some(after_fork), Some(after_fork));
            libc::pthread_atfork(
                Some(on_fork_prepare),
                Some(on_fork_parent),
                Some(on_fork_child),
            );
            libc::atexit(on_normal_exit);
        }
        crate::signals::install();
    }

    fn watch_thread_exit() {
        // The key's destructor runs at every thread's exit once its value is set, which
        // `thread_state` did on the thread's first call. The main thread's end is the
        // process's, which the exit paths handle.
    }

    fn secure_execution() -> bool {
        // SAFETY: issetugid has no preconditions.
        unsafe { libc::issetugid() != 0 }
    }

    fn allocator_in_use() -> AllocatorInUse {
        AllocatorInUse {
            path: b"/usr/lib/system/libsystem_malloc.dylib",
            bypassed: 0,
        }
    }

    fn process_identity() -> ProcessIdentity {
        ProcessIdentity {
            executable: executable_path(),
            arguments: arguments(),
        }
    }
}

fn executable_path() -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let mut size = buf.len() as u32;
    // SAFETY: `buf` is writable for `size` bytes; on -1, `size` is the length needed.
    if unsafe { _NSGetExecutablePath(buf.as_mut_ptr().cast(), &mut size) } != 0 {
        buf = vec![0u8; size as usize];
        // SAFETY: as above, with the size asked for.
        if unsafe { _NSGetExecutablePath(buf.as_mut_ptr().cast(), &mut size) } != 0 {
            return Vec::new();
        }
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(len);
    buf
}

fn arguments() -> Vec<Vec<u8>> {
    // SAFETY: libSystem keeps `main`'s argc and argv for the process's life; argv holds
    // argc NUL-terminated strings.
    unsafe {
        let argc = *_NSGetArgc();
        let argv = *_NSGetArgv();
        if argv.is_null() {
            return Vec::new();
        }
        (0..argc.max(0) as usize)
            .map(|i| *argv.add(i))
            .filter(|a| !a.is_null())
            .map(|a| CStr::from_ptr(a).to_bytes().to_vec())
            .collect()
    }
}

/// The thread-state key's destructor: the calling thread is ending.
pub unsafe extern "C" fn on_thread_exit(_value: *mut c_void) {
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

/// Registered with `atexit` when tracing starts, so it runs after every handler the
/// program registers later: return from `main` or `exit`.
extern "C" fn on_normal_exit() {
    let g = Guard::force();
    memscope_recorder::on_exit(&g, ExitHow::Shutdown, 0);
}

/// This image's initializer (`__mod_init_func`): start tracing before `main`.
pub extern "C" fn on_library_init() {
    if let Some(g) = Guard::enter() {
        memscope_recorder::start(&g);
    }
}

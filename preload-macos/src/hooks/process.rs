//! Process paths: `fork` (the parent records the child; the child's trace starts in the
//! `pthread_atfork` handler of `front_end`), `exit` (the status is noted; the flush runs
//! from the `atexit` handler registered at start, after the program's own), `_exit`
//! (skips every handler: flush first) and `execve` (the image is replaced: flush with an
//! exit record of kind `exec`; tracing goes on if it fails). `execv`, `execvp` and
//! `posix_spawn` of libSystem reach `execve` or start a new image that inherits
//! `DYLD_INSERT_LIBRARIES`.

use std::ffi::{c_char, c_int};

use memscope_format::ExitHow;
use memscope_recorder::is_traced_process;

use crate::front_end::Guard;

pub extern "C" fn fork() -> libc::pid_t {
    // SAFETY: the real fork; its atfork handlers (ours among them) run inside.
    let pid = unsafe { libc::fork() };
    if pid > 0 && is_traced_process() {
        if let Some(g) = Guard::enter() {
            memscope_recorder::on_fork_parent(&g, pid);
        }
    }
    pid
}

pub extern "C" fn exit(code: c_int) -> ! {
    if is_traced_process() {
        if let Some(g) = Guard::enter() {
            memscope_recorder::on_exit_called(&g, code);
        }
    }
    // SAFETY: the real exit with the caller's status.
    unsafe { libc::exit(code) }
}

pub extern "C" fn underscore_exit(code: c_int) -> ! {
    if is_traced_process() {
        let g = Guard::force();
        memscope_recorder::on_exit(&g, ExitHow::QuickExit, code);
    }
    // SAFETY: the real _exit with the caller's status.
    unsafe { libc::_exit(code) }
}

pub unsafe extern "C" fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    if !is_traced_process() {
        // SAFETY: the real execve with the caller's arguments.
        return unsafe { libc::execve(path, argv, envp) };
    }
    {
        let g = Guard::force();
        memscope_recorder::on_exit(&g, ExitHow::Exec, 0);
    }
    // SAFETY: as above.
    let r = unsafe { libc::execve(path, argv, envp) };
    let g = Guard::force();
    memscope_recorder::on_exec_failed(&g);
    r
}

//! Process life: `fork` (the parent notes its child; the child's own trace is started by
//! the fork handler in `lifecycle`), and the ways out of the process image: `exit`,
//! `_exit`, `_Exit` and the `exec` family (the variadic `execl*` live in `native.c` and
//! land in `memscope_execv*` here).
//!
//! Each flushes the trace before the real call. A `vfork` child shares its parent's
//! memory until it calls `exec` or `_exit`: it must not touch the tracer, so these hooks do
//! nothing in a process whose pid is not the traced one.

use std::ffi::{c_char, c_int};

use memscope_format::ExitHow;

use memscope_recorder::is_traced_process;

use crate::front_end::Guard;
use crate::real::next_fn;

type ExitFn = unsafe extern "C" fn(c_int) -> !;
type ExecveFn =
    unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
type ExecvFn = unsafe extern "C" fn(*const c_char, *const *const c_char) -> c_int;
type FexecveFn = unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;

type ForkFn = unsafe extern "C" fn() -> libc::pid_t;

next_fn!(real_fork, c"fork", ForkFn);
next_fn!(real_exit, c"exit", ExitFn);
next_fn!(real_quick_exit, c"_exit", ExitFn);
next_fn!(real_big_quick_exit, c"_Exit", ExitFn);
next_fn!(real_execve, c"execve", ExecveFn);
next_fn!(real_execv, c"execv", ExecvFn);
next_fn!(real_execvp, c"execvp", ExecvFn);
next_fn!(real_execvpe, c"execvpe", ExecveFn);
next_fn!(real_fexecve, c"fexecve", FexecveFn);

#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn fork() -> libc::pid_t {
    let Some(real) = real_fork() else {
        return enosys();
    };
    // SAFETY: glibc's fork; its fork handlers (ours among them) run inside.
    let pid = unsafe { real() };
    if pid > 0 && is_traced_process() {
        if let Some(g) = Guard::enter() {
            memscope_recorder::on_fork_parent(&g, pid);
        }
    }
    pid
}

fn exit_syscall(code: c_int) -> ! {
    // SAFETY: exit_group ends the process and does not return.
    unsafe { libc::syscall(libc::SYS_exit_group, code) };
    unreachable!("exit_group returned")
}

#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn exit(code: c_int) -> ! {
    if is_traced_process() {
        if let Some(g) = Guard::enter() {
            memscope_recorder::on_exit_called(&g, code);
        }
    }
    match real_exit() {
        // SAFETY: glibc's exit with the caller's status.
        Some(f) => unsafe { f(code) },
        None => exit_syscall(code),
    }
}

fn quick_exit(code: c_int, real: Option<ExitFn>) -> ! {
    if is_traced_process() {
        let g = Guard::force();
        memscope_recorder::on_exit(&g, ExitHow::QuickExit, code);
    }
    match real {
        // SAFETY: glibc's _exit with the caller's status.
        Some(f) => unsafe { f(code) },
        None => exit_syscall(code),
    }
}

#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn _exit(code: c_int) -> ! {
    quick_exit(code, real_quick_exit())
}

#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn _Exit(code: c_int) -> ! {
    quick_exit(code, real_big_quick_exit())
}

/// Flushes before an exec, runs it, and undoes the final state if it failed.
fn around_exec(run: impl FnOnce() -> c_int) -> c_int {
    let traced = is_traced_process();
    if traced {
        let g = Guard::force();
        memscope_recorder::on_exit(&g, ExitHow::Exec, 0);
    }
    let r = run();
    if traced {
        let g = Guard::force();
        memscope_recorder::on_exec_failed(&g);
    }
    r
}

fn enosys() -> c_int {
    // SAFETY: setting this thread's errno.
    unsafe { *libc::__errno_location() = libc::ENOSYS };
    -1
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: forwarding the caller's arguments.
    around_exec(|| real_execve().map_or_else(enosys, |f| unsafe { f(path, argv, envp) }))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: forwarding the caller's arguments.
    around_exec(|| real_execv().map_or_else(enosys, |f| unsafe { f(path, argv) }))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: forwarding the caller's arguments.
    around_exec(|| real_execvp().map_or_else(enosys, |f| unsafe { f(file, argv) }))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn execvpe(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: forwarding the caller's arguments.
    around_exec(|| real_execvpe().map_or_else(enosys, |f| unsafe { f(file, argv, envp) }))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fexecve(
    fd: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: forwarding the caller's arguments.
    around_exec(|| real_fexecve().map_or_else(enosys, |f| unsafe { f(fd, argv, envp) }))
}

/// Targets of the variadic `execl`, `execlp`, `execle` in native.c.
#[no_mangle]
pub unsafe extern "C" fn memscope_execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: forwarding the caller's arguments.
    unsafe { execv(path, argv) }
}

#[no_mangle]
pub unsafe extern "C" fn memscope_execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: forwarding the caller's arguments.
    unsafe { execvp(file, argv) }
}

#[no_mangle]
pub unsafe extern "C" fn memscope_execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: forwarding the caller's arguments.
    unsafe { execve(path, argv, envp) }
}

//! Process life: `fork` (the parent notes its child; the child's own trace is started by
//! the fork handler in `lifecycle`), and the ways out of the process image: `exit`,
//! `_exit`, `_Exit`, the `exec` family (the variadic `execl*` live in `native.c` and
//! land in `memscope_execv*` here), and a return from `main`, whose value the C library
//! hands to its own `exit` without going through ours: `__libc_start_main` is given a
//! `main` that records the value its caller's `main` returns.
//!
//! Each flushes the trace before the real call. A `vfork` child shares its parent's
//! memory until it calls `exec` or `_exit`: it must not touch the tracer, so these hooks do
//! nothing in a process whose pid is not the traced one.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

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
type MainFn = unsafe extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) -> c_int;
/// `__libc_start_main(main, argc, argv, init, fini, rtld_fini, stack_end)`; the three
/// function pointers are passed through untouched.
type StartMainFn = unsafe extern "C" fn(
    MainFn,
    c_int,
    *mut *mut c_char,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
) -> c_int;

next_fn!(real_fork, c"fork", ForkFn);
next_fn!(real_start_main, c"__libc_start_main", StartMainFn);
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

/// The program's `main` (0 until `__libc_start_main` is called).
static PROGRAM_MAIN: AtomicUsize = AtomicUsize::new(0);

/// Runs the program's `main` and records the status it returns, which the C library
/// then passes to its own `exit` (a call within the C library that no hook sees).
unsafe extern "C" fn main_then_record_status(
    argc: c_int,
    argv: *mut *mut c_char,
    envp: *mut *mut c_char,
) -> c_int {
    // SAFETY: set by `__libc_start_main` below to the program's `main` before this runs.
    let main =
        unsafe { std::mem::transmute::<usize, MainFn>(PROGRAM_MAIN.load(Ordering::Acquire)) };
    // SAFETY: the arguments the C library gives `main`.
    let code = unsafe { main(argc, argv, envp) };
    if is_traced_process() {
        if let Some(g) = Guard::enter() {
            memscope_recorder::on_exit_called(&g, code);
        }
    }
    code
}

/// The C library's start of a dynamically linked program, called once from `_start`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __libc_start_main(
    main: MainFn,
    argc: c_int,
    argv: *mut *mut c_char,
    init: *mut c_void,
    fini: *mut c_void,
    rtld_fini: *mut c_void,
    stack_end: *mut c_void,
) -> c_int {
    let Some(real) = real_start_main() else {
        // No C library start to forward to: cannot happen in a dynamically linked
        // program; run `main` as the C library would.
        // SAFETY: the program's `main` with its arguments.
        let code = unsafe { main(argc, argv, argv.add(argc as usize + 1)) };
        std::process::exit(code);
    };
    PROGRAM_MAIN.store(main as usize, Ordering::Release);
    // SAFETY: forwarding the caller's arguments, with `main` wrapped.
    unsafe {
        real(
            main_then_record_status,
            argc,
            argv,
            init,
            fini,
            rtld_fini,
            stack_end,
        )
    }
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

//! The ways out of the process. Windows ends every other thread (the tracer's writer
//! among them) before it calls the DLLs' `DLL_PROCESS_DETACH`, so the trace must be
//! complete before that:
//!
//! - `RtlExitUserProcess` (ntdll), where `ExitProcess`, return from `main` and `exit`
//!   (after the program's `atexit` handlers), `_exit` and the C runtime's `abort` all
//!   end: the trace is flushed and ended first, recording the exit status, before the
//!   loader lock is taken and the other threads go.
//! - An unhandled exception (an access violation, ...): the filter set at attach
//!   ([`unhandled_exception`]; the mingw and MSVC runtimes install their own filter at
//!   start-up and chain to the one they replaced) ends the trace with the exception
//!   code as status, then lets the exception go on as it would (the system's debugger
//!   or error report, then the end of the process with that code).
//! - `NtTerminateProcess` of the own process (`TerminateProcess(GetCurrentProcess())`,
//!   an unhandled exception such as an access violation, which the system ends with the
//!   exception code as status): the same, unless an exit is already under way.
//!
//! After that, hooks pass straight through ([`exiting`]): the writer may be gone, and
//! the runtimes' own teardown is not the program's doing.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use memscope_format::ExitHow;

use windows_sys::Win32::System::Diagnostics::Debug::{
    SetUnhandledExceptionFilter, EXCEPTION_POINTERS,
};

use super::Real;
use crate::front_end::Guard;

pub static EXIT_USER_PROCESS: Real = Real::new();
pub static TERMINATE_PROCESS: Real = Real::new();

type ExitUserProcessFn = unsafe extern "system" fn(u32) -> !;
type TerminateProcessFn = unsafe extern "system" fn(*mut c_void, i32) -> i32;

static EXITING: AtomicBool = AtomicBool::new(false);

/// Whether the trace was ended by an exit hook: later events are not recorded.
#[inline(always)]
pub fn exiting() -> bool {
    EXITING.load(Ordering::Relaxed)
}

/// Ends the trace once (`how`, `code`), from the thread ending the process.
fn end_trace(how: ExitHow, code: i32) {
    if EXITING.load(Ordering::Acquire) {
        return;
    }
    let g = Guard::force();
    memscope_recorder::on_exit(&g, how, code);
    EXITING.store(true, Ordering::Release);
}

pub unsafe extern "system" fn rtl_exit_user_process(status: u32) -> ! {
    end_trace(ExitHow::Exit, status as i32);
    // SAFETY: ntdll's own function with the caller's status.
    unsafe { EXIT_USER_PROCESS.get::<ExitUserProcessFn>()(status) }
}

/// The pseudo-handle `GetCurrentProcess` returns.
const CURRENT_PROCESS: isize = -1;

pub unsafe extern "system" fn nt_terminate_process(process: *mut c_void, status: i32) -> i32 {
    // Null ends every other thread (the first step of `RtlExitUserProcess`); the own
    // process by its pseudo-handle or a real handle of it ends this one.
    if !process.is_null() && is_own_process(process) {
        end_trace(ExitHow::Signal, status);
    }
    // SAFETY: ntdll's own function with the caller's arguments.
    unsafe { TERMINATE_PROCESS.get::<TerminateProcessFn>()(process, status) }
}

fn is_own_process(process: *mut c_void) -> bool {
    use windows_sys::Win32::System::Threading::{GetCurrentProcessId, GetProcessId};
    if process as isize == CURRENT_PROCESS {
        return true;
    }
    // SAFETY: GetProcessId only queries the handle (0 if it is not a process handle).
    unsafe { GetProcessId(process) == GetCurrentProcessId() }
}

/// The unhandled-exception filter that was in place before ours (chained to).
static PREVIOUS_FILTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

type Filter = unsafe extern "system" fn(*const EXCEPTION_POINTERS) -> i32;

/// Sets [`unhandled_exception`] as the process's unhandled-exception filter.
pub fn install_exception_filter() {
    // SAFETY: sets a filter of the right signature, which lives as long as the process.
    let previous = unsafe { SetUnhandledExceptionFilter(Some(unhandled_exception)) };
    PREVIOUS_FILTER.store(previous.map_or(0, |f| f as usize), Ordering::Release);
}

/// `EXCEPTION_CONTINUE_SEARCH`: let the system go on handling the exception.
const CONTINUE_SEARCH: i32 = 0;

unsafe extern "system" fn unhandled_exception(info: *const EXCEPTION_POINTERS) -> i32 {
    // SAFETY: the system passes valid exception pointers.
    let code = unsafe { (*(*info).ExceptionRecord).ExceptionCode };
    end_trace(ExitHow::Signal, code);
    match PREVIOUS_FILTER.load(Ordering::Acquire) {
        0 => CONTINUE_SEARCH,
        // SAFETY: the filter that was installed before ours, with the same signature.
        f => unsafe { std::mem::transmute::<usize, Filter>(f)(info) },
    }
}

/// `DLL_PROCESS_DETACH`: the last chance when no exit hook ran (a hook that could not be
/// installed); nothing when the trace is ended already.
pub fn on_process_detach() {
    end_trace(ExitHow::Shutdown, 0);
}

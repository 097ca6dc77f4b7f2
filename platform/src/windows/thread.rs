//! Threads on Windows: ids, stack bounds, liveness, and futex-like wait/wake on a 32-bit
//! word for the writer's doorbell (`WaitOnAddress`, `WakeByAddressAll`: Windows 8 and
//! later). None allocates.

use std::ffi::{c_void, CStr};
use std::sync::atomic::AtomicU32;

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_INVALID_PARAMETER, INVALID_HANDLE_VALUE, STILL_ACTIVE,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Threading::{
    CreateThread, GetCurrentProcessId, GetCurrentThreadId, GetCurrentThreadStackLimits,
    GetExitCodeThread, OpenThread, SetThreadDescription, WaitOnAddress, WakeByAddressAll,
    THREAD_QUERY_LIMITED_INFORMATION,
};

/// A thread's id, as `GetCurrentThreadId` gives it.
pub type ThreadId = u32;

/// A [`ThreadId`] that threads share.
pub type AtomicThreadId = AtomicU32;

/// The calling thread's id.
pub fn current_tid() -> ThreadId {
    // SAFETY: GetCurrentThreadId has no preconditions.
    unsafe { GetCurrentThreadId() }
}

/// Process id.
pub fn current_pid() -> u32 {
    // SAFETY: GetCurrentProcessId has no preconditions.
    unsafe { GetCurrentProcessId() }
}

/// Parent process id (the process that created this one; 0 if it cannot be found),
/// from a snapshot of the process list.
pub fn parent_pid() -> u32 {
    let me = current_pid();
    // SAFETY: a process snapshot; the handle is closed below.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snapshot == INVALID_HANDLE_VALUE {
        return 0;
    }
    // SAFETY: an all-zero PROCESSENTRY32W is valid (integers and a UTF-16 array).
    let mut entry: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
    let mut parent = 0;
    // SAFETY: `snapshot` is open and `entry` is writable with its size set.
    let mut more = unsafe { Process32FirstW(snapshot, &mut entry) } != 0;
    while more {
        if entry.th32ProcessID == me {
            parent = entry.th32ParentProcessID;
            break;
        }
        // SAFETY: as above.
        more = unsafe { Process32NextW(snapshot, &mut entry) } != 0;
    }
    // SAFETY: we own the snapshot handle.
    unsafe { CloseHandle(snapshot) };
    parent
}

/// Whether thread `tid` still exists and has not ended. A thread that ended can run no
/// more code, so its buffers may be reclaimed.
pub fn thread_alive(tid: ThreadId) -> bool {
    // SAFETY: opening a thread by id; the handle is closed below.
    let handle = unsafe { OpenThread(THREAD_QUERY_LIMITED_INFORMATION, 0, tid) };
    if handle.is_null() {
        // No thread has this id; any other failure (say, access denied) leaves it alive.
        // SAFETY: reading this thread's last error.
        return unsafe { GetLastError() } != ERROR_INVALID_PARAMETER;
    }
    let mut code = 0u32;
    // SAFETY: `handle` is open with query rights; `code` is writable.
    let ok = unsafe { GetExitCodeThread(handle, &mut code) } != 0;
    // SAFETY: we own the handle.
    unsafe { CloseHandle(handle) };
    !ok || code == STILL_ACTIVE as u32
}

/// The calling thread's stack as `[low, high)`: the whole reserved stack, committed or
/// not.
pub fn current_stack_bounds() -> Option<(u64, u64)> {
    let (mut low, mut high) = (0usize, 0usize);
    // SAFETY: both out-parameters are writable.
    unsafe { GetCurrentThreadStackLimits(&mut low, &mut high) };
    (low < high).then_some((low as u64, high as u64))
}

/// Waits while `*word == expected`, at most `timeout_ns` (rounded up to a millisecond).
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: u64) {
    // u32::MAX is INFINITE: stay below it.
    let timeout_ms = timeout_ns.div_ceil(1_000_000).min(u32::MAX as u64 - 1) as u32;
    // SAFETY: `word` is a live, aligned u32 and `expected` a u32 to compare it with; the
    // system only reads both.
    unsafe {
        WaitOnAddress(
            word.as_ptr().cast(),
            (&expected as *const u32).cast(),
            std::mem::size_of::<u32>(),
            timeout_ms,
        )
    };
}

/// Wakes every waiter on `word`.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32.
    unsafe { WakeByAddressAll(word.as_ptr().cast()) };
}

/// Starts a detached thread that runs `main`, named `name` (`SetThreadDescription`,
/// Windows 10 1607 and later; older systems leave it unnamed). Windows has no signals to
/// block. False if the system refuses.
pub fn spawn_detached<F: FnOnce() + Send + 'static>(name: &'static CStr, main: F) -> bool {
    unsafe extern "system" fn start<F: FnOnce()>(arg: *mut c_void) -> u32 {
        // SAFETY: `arg` is the Box<F> leaked by `spawn_detached`, handed over once.
        let main = unsafe { Box::from_raw(arg.cast::<F>()) };
        main();
        0
    }
    let arg = Box::into_raw(Box::new(main)).cast::<c_void>();
    // SAFETY: default attributes and stack size; `arg` is handed to the thread, or taken
    // back below if none was created.
    let handle = unsafe {
        CreateThread(
            std::ptr::null(),
            0,
            Some(start::<F>),
            arg,
            0,
            std::ptr::null_mut(),
        )
    };
    if handle.is_null() {
        // SAFETY: no thread took `arg`.
        drop(unsafe { Box::from_raw(arg.cast::<F>()) });
        return false;
    }
    let wide: Vec<u16> = name
        .to_bytes()
        .iter()
        .map(|&b| u16::from(b))
        .chain(Some(0))
        .collect();
    // SAFETY: `handle` is the new thread's, `wide` a NUL-terminated UTF-16 string (the
    // name is ASCII); the handle is ours to close, which leaves the thread running.
    unsafe {
        SetThreadDescription(handle, wide.as_ptr());
        CloseHandle(handle);
    }
    true
}

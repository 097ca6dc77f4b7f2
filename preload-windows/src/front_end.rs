//! The Windows DLL as a front end of the recorder core: the per-thread state behind a
//! TLS index (`TlsGetValue` reads the thread's TEB: no allocation, no hook), blocks for
//! it from the private heap, thread exit through `DLL_THREAD_DETACH` (every thread but
//! the one ending the process; the process's end is the exit hooks' job), and the
//! process's identity from the loader (`GetModuleFileNameW`, `GetCommandLineW`).
//!
//! A thread's block is never freed: the C runtime may still free on the thread after
//! its detach notification reached us, and a block is 16 bytes.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use memscope_recorder::{AllocatorInUse, FrontEnd, ProcessIdentity, ThreadState};
use windows_sys::Win32::System::Environment::GetCommandLineW;
use windows_sys::Win32::System::LibraryLoader::GetModuleFileNameW;
use windows_sys::Win32::System::Threading::{
    TlsAlloc, TlsGetValue, TlsSetValue, TLS_OUT_OF_INDEXES,
};

/// The Windows inline-hook front end.
pub struct Win;

/// This front end's reentrancy guard.
pub type Guard = memscope_recorder::Guard<Win>;

static TLS_INDEX: AtomicU32 = AtomicU32::new(TLS_OUT_OF_INDEXES);

/// A block for threads whose own could not be had (the private heap exhausted): its
/// guard is held for good, so such a thread records nothing.
static mut NO_STATE: ThreadState = ThreadState {
    slot: std::ptr::null_mut(),
    guard: 2, // the recorder's IN_TRACER: every hook passes through.
    busy: 0,
};

/// Takes the TLS index (at `DLL_PROCESS_ATTACH`, before any hook exists). False if the
/// process has none left: then no hook is installed.
pub fn init_tls() -> bool {
    // SAFETY: TlsAlloc has no preconditions.
    let index = unsafe { TlsAlloc() };
    TLS_INDEX.store(index, Ordering::Release);
    index != TLS_OUT_OF_INDEXES
}

/// The calling thread's block, made on its first hook call.
#[cold]
fn new_state(index: u32) -> NonNull<ThreadState> {
    let block = crate::heap::alloc_zeroed(std::mem::size_of::<ThreadState>()).cast::<ThreadState>();
    match NonNull::new(block) {
        Some(b) => {
            // SAFETY: the index is ours; the value is this thread's own block.
            unsafe { TlsSetValue(index, b.as_ptr().cast()) };
            b
        }
        // SAFETY: only its address is taken; the guard it holds stops every write but
        // the guard flag's own save and restore, which leave it as it is.
        None => unsafe { NonNull::new_unchecked(&raw mut NO_STATE) },
    }
}

// SAFETY: `thread_state` returns the calling thread's own block (TLS), valid for the
// thread's life (never freed), reached without allocating through any hook (the private
// heap is no hooked heap).
unsafe impl FrontEnd for Win {
    #[inline(always)]
    fn thread_state() -> NonNull<ThreadState> {
        let index = TLS_INDEX.load(Ordering::Relaxed);
        // SAFETY: reads this thread's TLS slot of our index.
        let v = unsafe { TlsGetValue(index) };
        match NonNull::new(v.cast::<ThreadState>()) {
            Some(s) => s,
            None => new_state(index),
        }
    }

    fn install_process_handlers() {
        // Hooks (the exit paths included) are installed at DLL_PROCESS_ATTACH.
    }

    fn watch_thread_exit() {
        // DLL_THREAD_DETACH reaches every thread.
    }

    fn secure_execution() -> bool {
        false
    }

    fn process_identity() -> ProcessIdentity {
        let mut wide = vec![0u16; 1024];
        // SAFETY: `wide` has room for its length; null names the executable.
        let n = unsafe {
            GetModuleFileNameW(std::ptr::null_mut(), wide.as_mut_ptr(), wide.len() as u32)
        };
        wide.truncate(n as usize);
        ProcessIdentity {
            executable: String::from_utf16_lossy(&wide).into_bytes(),
            arguments: command_line(),
        }
    }

    fn allocator_in_use() -> AllocatorInUse {
        AllocatorInUse {
            path: b"msvcrt.dll",
            bypassed: 0,
        }
    }
}

/// The process's command line split into arguments (the usual rules: blanks separate,
/// double quotes group; backslash escapes are left as they are).
fn command_line() -> Vec<Vec<u8>> {
    // SAFETY: the process's command line, NUL-terminated, valid for its life.
    let p = unsafe { GetCommandLineW() };
    if p.is_null() {
        return Vec::new();
    }
    let mut len = 0;
    // SAFETY: reads up to the terminating NUL.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units before the NUL.
    let text = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) });
    split_command_line(&text)
}

fn split_command_line(text: &str) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' | '\t' if !quoted => {
                if any {
                    args.push(std::mem::take(&mut current).into_bytes());
                    any = false;
                }
            }
            c => {
                current.push(c);
                any = true;
            }
        }
    }
    if any {
        args.push(current.into_bytes());
    }
    args
}

/// `DLL_THREAD_DETACH`: the thread's last entry (only a thread that has state).
pub fn on_thread_detach() {
    let index = TLS_INDEX.load(Ordering::Relaxed);
    // SAFETY: reads this thread's TLS slot of our index.
    let v: *mut c_void = unsafe { TlsGetValue(index) };
    if v.is_null() || crate::hooks::process::exiting() {
        return;
    }
    let g = Guard::force();
    memscope_recorder::on_thread_exit(&g);
}

//! `dlopen`: clears `RTLD_DEEPBIND` and says so. That flag makes the loaded library look
//! up symbols in its own dependencies first, so its `malloc`/`free` would be libc's, past
//! this tracer: its blocks would be missing from the trace, and the program's `free` of
//! one would look like an invalid free.
//!
//! The hook must not stand in for the caller: glibc's `dlopen` finds the calling object by
//! its return address, and searches that object's `RUNPATH` (and expands its `$ORIGIN`).
//! So `dlopen` here is a stub that has the flags adjusted and then *jumps* to the real
//! `dlopen`, leaving the caller's return address where the real one looks for it. It is
//! written in assembly because a Rust function cannot promise a tail call.

use std::ffi::{c_char, c_int, c_void, CStr};

use memscope_platform::file::write_stderr;

use crate::front_end::Guard;
use crate::real::NextFn;

static REAL_DLOPEN: NextFn = NextFn::new(c"dlopen");

/// What the stub does next: jump to `real` with `flags` as the second argument.
#[repr(C)]
struct Prepared {
    real: usize,
    flags: u64,
}

#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[cfg_attr(not(test), no_mangle)]
/// # Safety
/// The C `dlopen`: `filename` is null or a NUL-terminated string.
pub unsafe extern "C" fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void {
    // On entry the stack pointer is 8 below a 16-byte boundary; after two pushes and 8
    // more bytes the call to `prepare` is aligned as the ABI wants. `prepare` returns
    // the real function in rax and the flags in rdx (a two-word struct).
    core::arch::naked_asm!(
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "call {prepare}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "mov esi, edx",
        "jmp rax",
        prepare = sym prepare,
    )
}

/// The real `dlopen` and the flags to call it with.
extern "C" fn prepare(filename: *const c_char, flags: c_int) -> Prepared {
    let real = match REAL_DLOPEN.get() {
        0 => no_dlopen as *const () as usize,
        f => f,
    };
    let mut flags = flags;
    if flags & libc::RTLD_DEEPBIND != 0 && clear_deepbind() {
        flags &= !libc::RTLD_DEEPBIND;
        say_cleared(filename);
    }
    Prepared {
        real,
        flags: flags as u32 as u64,
    }
}

/// Whether this process is traced (starting the tracer if nobody has): only then is the
/// flag worth changing the program's behaviour for.
fn clear_deepbind() -> bool {
    match Guard::enter() {
        Some(g) => memscope_recorder::start(&g) && memscope_recorder::is_traced_process(),
        None => false, // the tracer's own dlopen (none today)
    }
}

/// One line on stderr, assembled without allocating.
fn say_cleared(filename: *const c_char) {
    let name: &[u8] = if filename.is_null() {
        b"(main program)"
    } else {
        // SAFETY: the caller passed a NUL-terminated string to dlopen.
        unsafe { CStr::from_ptr(filename) }.to_bytes()
    };
    let mut line = [0u8; 512];
    let mut len = 0;
    for part in [
        &b"memscope: dlopen(\""[..],
        &name[..name.len().min(300)],
        b"\") without RTLD_DEEPBIND, so that the library's allocations are traced\n",
    ] {
        line[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    write_stderr(&line[..len]);
}

/// Stands in for a `dlopen` that no later object defines (never on glibc).
extern "C" fn no_dlopen(_filename: *const c_char, _flags: c_int) -> *mut c_void {
    std::ptr::null_mut()
}

//! The C allocator's entry points: `malloc`, `calloc`, `realloc`, `reallocf`, `free`,
//! `valloc`, `posix_memalign`, `aligned_alloc`, and `malloc_size` (passed through: a
//! block's slack is the allocator's to say).

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};

use super::{alloc, release, resize};

/// The entry points the `libc` crate does not declare for Apple targets.
pub mod sys {
    use std::ffi::c_void;

    extern "C" {
        pub fn reallocf(p: *mut c_void, size: usize) -> *mut c_void;
        pub fn valloc(size: usize) -> *mut c_void;
        pub fn aligned_alloc(align: usize, size: usize) -> *mut c_void;
    }
}

pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    alloc(size, 0, AllocKind::Malloc, || unsafe { libc::malloc(size) })
}

pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let total = n.saturating_mul(size);
    // SAFETY: the real function with the caller's arguments.
    alloc(total, 0, AllocKind::Calloc, || unsafe {
        libc::calloc(n, size)
    })
}

pub unsafe extern "C" fn realloc(old: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    resize(old, size, || unsafe { libc::realloc(old, size) })
}

/// `realloc` that frees the old block when it fails: a failed call is then recorded as
/// the release it is (after the fact: the block was the caller's until then).
pub unsafe extern "C" fn reallocf(old: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    let new = resize(old, size, || unsafe { sys::reallocf(old, size) });
    if new.is_null() && !old.is_null() {
        release(old, FreeKind::Free, 0, 0, || {});
    }
    new
}

pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the real function with the caller's arguments.
    release(p, FreeKind::Free, 0, 0, || unsafe { libc::free(p) })
}

pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    alloc(size, 0, AllocKind::Valloc, || unsafe { sys::valloc(size) })
}

pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    alloc(size, align, AllocKind::AlignedAlloc, || unsafe {
        sys::aligned_alloc(align, size)
    })
}

pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    let mut status = 0;
    // SAFETY: the real function with the caller's arguments.
    alloc(size, align, AllocKind::PosixMemalign, || unsafe {
        status = libc::posix_memalign(out, align, size);
        if status == 0 {
            *out
        } else {
            std::ptr::null_mut()
        }
    });
    status
}

pub unsafe extern "C" fn malloc_size(p: *const c_void) -> usize {
    // SAFETY: forwarding the caller's pointer.
    unsafe { libc::malloc_size(p) }
}

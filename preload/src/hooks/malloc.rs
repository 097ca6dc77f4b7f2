//! `malloc`, `calloc`, `realloc`, `reallocarray`, `free`, `malloc_usable_size`.
//!
//! Each forwards to the allocator the program would use without memscope ([`real`]),
//! except in two cases that never reach it: a call made while the tracer does its own
//! work on this thread (the C library allocating on the tracer's behalf: `dlsym`, a new
//! thread's TLS, ...) is served by the tracer's private heap, and a block of that heap
//! is released or resized there, whoever calls (`private_heap::contains`).

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};

use memscope_recorder::private_heap;
use memscope_recorder::{on_alloc, on_free, on_realloc, on_realloc_start};

use crate::front_end::Guard;
use crate::real::{self, usable_size};

/// Serves a nested call: from the private heap for the tracer's own work, else from
/// the real allocator (a real function's own inner calls, e.g. libstdc++'s
/// `operator new` calling `malloc`).
#[inline(always)]
fn nested(private: impl FnOnce() -> *mut u8, real: impl FnOnce() -> *mut c_void) -> *mut c_void {
    if Guard::tracer_runs_here() {
        private().cast()
    } else {
        real()
    }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        // SAFETY: forwarding the caller's arguments to the real malloc.
        return nested(
            || private_heap::malloc(size),
            || unsafe { real::malloc()(size) },
        );
    };
    // SAFETY: as above.
    let p = unsafe { real::malloc()(size) };
    on_alloc(&g, p, size, 0, AllocKind::Malloc, || usable_size(p));
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        // SAFETY: forwarding the caller's arguments to the real calloc.
        return nested(
            || private_heap::calloc(n, size),
            || unsafe { real::calloc()(n, size) },
        );
    };
    // SAFETY: as above.
    let p = unsafe { real::calloc()(n, size) };
    let total = n.saturating_mul(size);
    on_alloc(&g, p, total, 0, AllocKind::Calloc, || usable_size(p));
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn realloc(old: *mut c_void, size: usize) -> *mut c_void {
    if private_heap::contains(old.cast()) {
        // SAFETY: a live block of the private heap (the caller's contract for realloc).
        return unsafe { private_heap::realloc(old.cast(), size) }.cast();
    }
    let Some(g) = Guard::enter() else {
        if old.is_null() && Guard::tracer_runs_here() {
            return private_heap::malloc(size).cast();
        }
        // SAFETY: forwarding the caller's arguments to the real realloc.
        return unsafe { real::realloc()(old, size) };
    };
    let start = on_realloc_start(&g);
    // SAFETY: as above.
    let new = unsafe { real::realloc()(old, size) };
    on_realloc(&g, start, old, new, size, AllocKind::Realloc, || {
        usable_size(new)
    });
    new
}

/// `reallocarray` of the allocator in use, or its `realloc` with the overflow check when
/// that allocator has no `reallocarray` of its own (glibc's would get a block it does not
/// know).
unsafe fn real_reallocarray(old: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match real::reallocarray() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(old, n, size) },
        None => match n.checked_mul(size) {
            // SAFETY: forwarding to the same allocator's realloc.
            Some(total) => unsafe { real::realloc()(old, total) },
            None => {
                // SAFETY: errno is this thread's.
                unsafe { *libc::__errno_location() = libc::ENOMEM };
                std::ptr::null_mut()
            }
        },
    }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn reallocarray(old: *mut c_void, n: usize, size: usize) -> *mut c_void {
    if private_heap::contains(old.cast()) || (old.is_null() && Guard::tracer_runs_here()) {
        return match n.checked_mul(size) {
            // SAFETY: null or a live block of the private heap.
            Some(total) => unsafe { private_heap::realloc(old.cast(), total) }.cast(),
            None => std::ptr::null_mut(),
        };
    }
    let Some(g) = Guard::enter() else {
        // SAFETY: forwarding the caller's arguments.
        return unsafe { real_reallocarray(old, n, size) };
    };
    let start = on_realloc_start(&g);
    // SAFETY: as above.
    let new = unsafe { real_reallocarray(old, n, size) };
    let total = n.saturating_mul(size);
    on_realloc(&g, start, old, new, total, AllocKind::ReallocArray, || {
        usable_size(new)
    });
    new
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if private_heap::contains(p.cast()) {
        // SAFETY: a live block of the private heap (the caller's contract for free).
        return unsafe { private_heap::free(p.cast()) };
    }
    let Some(g) = Guard::enter() else {
        // SAFETY: forwarding the caller's pointer to the real free.
        return unsafe { real::free()(p) };
    };
    on_free(&g, p, FreeKind::Free);
    // SAFETY: as above.
    unsafe { real::free()(p) }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if private_heap::contains(p.cast()) {
        // Only the C library's blocks made for the tracer live there; nothing asks their
        // size. 0 is what glibc says of a pointer it does not know.
        return 0;
    }
    match real::malloc_usable_size() {
        // SAFETY: forwarding the caller's pointer.
        Some(real) => unsafe { real(p) },
        None => 0,
    }
}

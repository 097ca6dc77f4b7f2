//! `malloc`, `calloc`, `realloc`, `reallocarray`, `free`, `malloc_usable_size`.

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};

use memscope_recorder::{on_alloc, on_free, on_realloc, on_realloc_start};

use crate::front_end::Guard;
use crate::real::{self, __libc_calloc, __libc_free, __libc_malloc, __libc_realloc, usable_size};

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        // SAFETY: forwarding the caller's arguments to glibc's malloc.
        return unsafe { __libc_malloc(size) };
    };
    // SAFETY: as above.
    let p = unsafe { __libc_malloc(size) };
    on_alloc(&g, p, size, 0, AllocKind::Malloc, || usable_size(p));
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        // SAFETY: forwarding the caller's arguments to glibc's calloc.
        return unsafe { __libc_calloc(n, size) };
    };
    // SAFETY: as above.
    let p = unsafe { __libc_calloc(n, size) };
    let total = n.saturating_mul(size);
    on_alloc(&g, p, total, 0, AllocKind::Calloc, || usable_size(p));
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn realloc(old: *mut c_void, size: usize) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        // SAFETY: forwarding the caller's arguments to glibc's realloc.
        return unsafe { __libc_realloc(old, size) };
    };
    let start = on_realloc_start(&g);
    // SAFETY: as above.
    let new = unsafe { __libc_realloc(old, size) };
    on_realloc(&g, start, old, new, size, AllocKind::Realloc, || {
        usable_size(new)
    });
    new
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn reallocarray(old: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(real) = real::reallocarray() else {
        return std::ptr::null_mut();
    };
    let Some(g) = Guard::enter() else {
        // SAFETY: forwarding the caller's arguments to the next reallocarray.
        return unsafe { real(old, n, size) };
    };
    let start = on_realloc_start(&g);
    // SAFETY: as above.
    let new = unsafe { real(old, n, size) };
    let total = n.saturating_mul(size);
    on_realloc(&g, start, old, new, total, AllocKind::ReallocArray, || {
        usable_size(new)
    });
    new
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    let Some(g) = Guard::enter() else {
        // SAFETY: forwarding the caller's pointer to glibc's free.
        return unsafe { __libc_free(p) };
    };
    on_free(&g, p, FreeKind::Free);
    // SAFETY: as above.
    unsafe { __libc_free(p) }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    match real::malloc_usable_size() {
        // SAFETY: forwarding the caller's pointer.
        Some(real) => unsafe { real(p) },
        None => 0,
    }
}

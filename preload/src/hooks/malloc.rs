//! `malloc`, `calloc`, `realloc`, `reallocarray`, `free`, `malloc_usable_size`.

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};

use crate::guard::Guard;
use crate::real::{self, __libc_calloc, __libc_free, __libc_malloc, __libc_realloc};
use crate::recorder;

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's malloc.
    let Some(_g) = Guard::enter() else {
        return unsafe { __libc_malloc(size) };
    };
    // SAFETY: as above.
    let p = unsafe { __libc_malloc(size) };
    recorder::alloc(p, size, 0, AllocKind::Malloc);
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's calloc.
    let Some(_g) = Guard::enter() else {
        return unsafe { __libc_calloc(n, size) };
    };
    // SAFETY: as above.
    let p = unsafe { __libc_calloc(n, size) };
    recorder::alloc(p, n.saturating_mul(size), 0, AllocKind::Calloc);
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn realloc(old: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's realloc.
    let Some(_g) = Guard::enter() else {
        return unsafe { __libc_realloc(old, size) };
    };
    let before = recorder::realloc_begin();
    // SAFETY: as above.
    let new = unsafe { __libc_realloc(old, size) };
    recorder::realloc(before, old, new, size, AllocKind::Realloc);
    new
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn reallocarray(old: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(real) = real::reallocarray() else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarding the caller's arguments to the next reallocarray.
    let Some(_g) = Guard::enter() else {
        return unsafe { real(old, n, size) };
    };
    let before = recorder::realloc_begin();
    // SAFETY: as above.
    let new = unsafe { real(old, n, size) };
    recorder::realloc(
        before,
        old,
        new,
        n.saturating_mul(size),
        AllocKind::ReallocArray,
    );
    new
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarding the caller's pointer to glibc's free.
    let Some(_g) = Guard::enter() else {
        return unsafe { __libc_free(p) };
    };
    recorder::free(p, FreeKind::Free);
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

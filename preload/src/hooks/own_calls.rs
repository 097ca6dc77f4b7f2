//! The library's own calls of the C allocator, redirected here by the linker
//! (`--wrap`, see build.rs; the `__wrap_*` symbols themselves are hidden ones in
//! `native.c` that call these, so that a program's own `__wrap_malloc` cannot take
//! them over): zstd's compression contexts and any C allocation made by
//! Rust's std or the libc crate inside libmemscope. They are the tracer's, so they come
//! from its private heap; a pointer that is not the private heap's (a block the C library
//! handed the tracer, e.g. from `realpath`) goes back through the ordinary `free`.

use std::ffi::c_void;

use memscope_recorder::private_heap;

extern "C" {
    fn __real_free(p: *mut c_void);
    fn __real_realloc(p: *mut c_void, size: usize) -> *mut c_void;
}

#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn memscope_own_malloc(size: usize) -> *mut c_void {
    private_heap::malloc(size).cast()
}

#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn memscope_own_calloc(n: usize, size: usize) -> *mut c_void {
    private_heap::calloc(n, size).cast()
}

#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn memscope_own_aligned_alloc(align: usize, size: usize) -> *mut c_void {
    private_heap::memalign(align, size).cast()
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memscope_own_posix_memalign(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
) -> i32 {
    let p = private_heap::memalign(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller's valid `out`.
    unsafe { *out = p.cast() };
    0
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memscope_own_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() || private_heap::contains(p.cast()) {
        // SAFETY: null or a live block of the private heap.
        return unsafe { private_heap::realloc(p.cast(), size) }.cast();
    }
    // SAFETY: a block of the C library's allocator, resized there.
    unsafe { __real_realloc(p, size) }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memscope_own_free(p: *mut c_void) {
    if private_heap::contains(p.cast()) {
        // SAFETY: a live block of the private heap.
        return unsafe { private_heap::free(p.cast()) };
    }
    if !p.is_null() {
        // SAFETY: a block of the C library's allocator, released there.
        unsafe { __real_free(p) }
    }
}

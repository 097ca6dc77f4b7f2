//! `malloc_zone_*` of the default zone: much of the system (CoreFoundation, Objective-C
//! runtime, libc++ on some paths) allocates through zones rather than `malloc`. Calls on
//! other zones (a program's own zones) pass through untraced. Known gap: a plain `free`
//! of a block of such a zone is still recorded, as the release of a block the trace
//! never saw (an inconsistency in the report); telling zones apart in `free` would cost
//! a `malloc_zone_from_ptr` lookup on every call.

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};

use super::{alloc, release, resize};

/// `malloc_zone_t`, only ever handled by pointer.
pub type Zone = c_void;

/// `<malloc/malloc.h>`.
pub mod sys {
    use super::Zone;
    use std::ffi::c_void;

    extern "C" {
        pub fn malloc_default_zone() -> *mut Zone;
        pub fn malloc_zone_malloc(zone: *mut Zone, size: usize) -> *mut c_void;
        pub fn malloc_zone_calloc(zone: *mut Zone, n: usize, size: usize) -> *mut c_void;
        pub fn malloc_zone_realloc(zone: *mut Zone, p: *mut c_void, size: usize) -> *mut c_void;
        pub fn malloc_zone_free(zone: *mut Zone, p: *mut c_void);
        pub fn malloc_zone_memalign(zone: *mut Zone, align: usize, size: usize) -> *mut c_void;
    }
}

/// Whether `zone` is the default zone (whose blocks `malloc` hands out too).
pub fn is_default(zone: *mut Zone) -> bool {
    // SAFETY: malloc_default_zone has no preconditions.
    zone == unsafe { sys::malloc_default_zone() }
}

pub unsafe extern "C" fn malloc_zone_malloc(zone: *mut Zone, size: usize) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_zone_malloc(zone, size) };
    if !is_default(zone) {
        return real();
    }
    alloc(size, 0, AllocKind::Malloc, real)
}

pub unsafe extern "C" fn malloc_zone_calloc(zone: *mut Zone, n: usize, size: usize) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_zone_calloc(zone, n, size) };
    if !is_default(zone) {
        return real();
    }
    alloc(n.saturating_mul(size), 0, AllocKind::Calloc, real)
}

pub unsafe extern "C" fn malloc_zone_realloc(
    zone: *mut Zone,
    old: *mut c_void,
    size: usize,
) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_zone_realloc(zone, old, size) };
    if !is_default(zone) {
        return real();
    }
    resize(old, size, real)
}

pub unsafe extern "C" fn malloc_zone_free(zone: *mut Zone, p: *mut c_void) {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_zone_free(zone, p) };
    if !is_default(zone) {
        return real();
    }
    release(p, FreeKind::Free, 0, 0, real)
}

pub unsafe extern "C" fn malloc_zone_memalign(
    zone: *mut Zone,
    align: usize,
    size: usize,
) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_zone_memalign(zone, align, size) };
    if !is_default(zone) {
        return real();
    }
    alloc(size, align, AllocKind::Memalign, real)
}

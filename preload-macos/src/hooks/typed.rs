//! The `malloc_type_*` entry points of recent SDKs (macOS 14 and later): with typed
//! allocation enabled (the default of recent Xcode clang for C), the compiler turns a
//! program's `malloc(n)` into `malloc_type_malloc(n, type_id)`, so hooking `malloc`
//! alone would miss it. The type id is passed through; the zone forms follow `zone`.

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};

use super::zone::{is_default, Zone};
use super::{alloc, release, resize};

/// `malloc_type_id_t` of `<malloc/_malloc_type.h>`.
pub type TypeId = u64;

/// `<malloc/_malloc_type.h>` (macOS 14 SDK).
pub mod sys {
    use super::{TypeId, Zone};
    use std::ffi::c_void;

    extern "C" {
        pub fn malloc_type_malloc(size: usize, t: TypeId) -> *mut c_void;
        pub fn malloc_type_calloc(n: usize, size: usize, t: TypeId) -> *mut c_void;
        pub fn malloc_type_realloc(p: *mut c_void, size: usize, t: TypeId) -> *mut c_void;
        pub fn malloc_type_free(p: *mut c_void, t: TypeId);
        pub fn malloc_type_valloc(size: usize, t: TypeId) -> *mut c_void;
        pub fn malloc_type_aligned_alloc(align: usize, size: usize, t: TypeId) -> *mut c_void;
        pub fn malloc_type_posix_memalign(
            out: *mut *mut c_void,
            align: usize,
            size: usize,
            t: TypeId,
        ) -> i32;
        pub fn malloc_type_zone_malloc(zone: *mut Zone, size: usize, t: TypeId) -> *mut c_void;
        pub fn malloc_type_zone_calloc(
            zone: *mut Zone,
            n: usize,
            size: usize,
            t: TypeId,
        ) -> *mut c_void;
        pub fn malloc_type_zone_realloc(
            zone: *mut Zone,
            p: *mut c_void,
            size: usize,
            t: TypeId,
        ) -> *mut c_void;
        pub fn malloc_type_zone_free(zone: *mut Zone, p: *mut c_void, t: TypeId);
        pub fn malloc_type_zone_memalign(
            zone: *mut Zone,
            align: usize,
            size: usize,
            t: TypeId,
        ) -> *mut c_void;
    }
}

pub unsafe extern "C" fn malloc_type_malloc(size: usize, t: TypeId) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    alloc(size, 0, AllocKind::Malloc, || unsafe {
        sys::malloc_type_malloc(size, t)
    })
}

pub unsafe extern "C" fn malloc_type_calloc(n: usize, size: usize, t: TypeId) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    alloc(n.saturating_mul(size), 0, AllocKind::Calloc, || unsafe {
        sys::malloc_type_calloc(n, size, t)
    })
}

pub unsafe extern "C" fn malloc_type_realloc(
    p: *mut c_void,
    size: usize,
    t: TypeId,
) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    resize(p, size, || unsafe { sys::malloc_type_realloc(p, size, t) })
}

pub unsafe extern "C" fn malloc_type_free(p: *mut c_void, t: TypeId) {
    // SAFETY: the real function with the caller's arguments.
    release(p, FreeKind::Free, 0, 0, || unsafe {
        sys::malloc_type_free(p, t)
    })
}

pub unsafe extern "C" fn malloc_type_valloc(size: usize, t: TypeId) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    alloc(size, 0, AllocKind::Valloc, || unsafe {
        sys::malloc_type_valloc(size, t)
    })
}

pub unsafe extern "C" fn malloc_type_aligned_alloc(
    align: usize,
    size: usize,
    t: TypeId,
) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    alloc(size, align, AllocKind::AlignedAlloc, || unsafe {
        sys::malloc_type_aligned_alloc(align, size, t)
    })
}

pub unsafe extern "C" fn malloc_type_posix_memalign(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
    t: TypeId,
) -> i32 {
    let mut status = 0;
    // SAFETY: the real function with the caller's arguments.
    alloc(size, align, AllocKind::PosixMemalign, || unsafe {
        status = sys::malloc_type_posix_memalign(out, align, size, t);
        if status == 0 {
            *out
        } else {
            std::ptr::null_mut()
        }
    });
    status
}

pub unsafe extern "C" fn malloc_type_zone_malloc(
    zone: *mut Zone,
    size: usize,
    t: TypeId,
) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_type_zone_malloc(zone, size, t) };
    if !is_default(zone) {
        return real();
    }
    alloc(size, 0, AllocKind::Malloc, real)
}

pub unsafe extern "C" fn malloc_type_zone_calloc(
    zone: *mut Zone,
    n: usize,
    size: usize,
    t: TypeId,
) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_type_zone_calloc(zone, n, size, t) };
    if !is_default(zone) {
        return real();
    }
    alloc(n.saturating_mul(size), 0, AllocKind::Calloc, real)
}

pub unsafe extern "C" fn malloc_type_zone_realloc(
    zone: *mut Zone,
    p: *mut c_void,
    size: usize,
    t: TypeId,
) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_type_zone_realloc(zone, p, size, t) };
    if !is_default(zone) {
        return real();
    }
    resize(p, size, real)
}

pub unsafe extern "C" fn malloc_type_zone_free(zone: *mut Zone, p: *mut c_void, t: TypeId) {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_type_zone_free(zone, p, t) };
    if !is_default(zone) {
        return real();
    }
    release(p, FreeKind::Free, 0, 0, real)
}

pub unsafe extern "C" fn malloc_type_zone_memalign(
    zone: *mut Zone,
    align: usize,
    size: usize,
    t: TypeId,
) -> *mut c_void {
    // SAFETY: the real function with the caller's arguments.
    let real = || unsafe { sys::malloc_type_zone_memalign(zone, align, size, t) };
    if !is_default(zone) {
        return real();
    }
    alloc(size, align, AllocKind::Memalign, real)
}

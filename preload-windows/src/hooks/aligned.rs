//! The C runtimes' aligned family: `_aligned_malloc`, `_aligned_offset_malloc`,
//! `_aligned_realloc`, `_aligned_recalloc`, `_aligned_free`. They allocate through the
//! runtime's own `malloc` (whose hook sees the guard held and records nothing), so the
//! block recorded is the aligned pointer the program holds. The trace has no kind of
//! its own for them yet: they are recorded as aligned allocations and plain frees, so
//! an `_aligned_malloc` released by `free` is not told apart (docs/windows.md).

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};
use memscope_recorder::{on_alloc, on_free, on_realloc, on_realloc_start};

use super::{passing_through, Real};
use crate::front_end::Guard;
use crate::install::CRTS;

type AlignedMallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type AlignedOffsetMallocFn = unsafe extern "C" fn(usize, usize, usize) -> *mut c_void;
type AlignedReallocFn = unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void;
type AlignedRecallocFn = unsafe extern "C" fn(*mut c_void, usize, usize, usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);

pub static ALIGNED_MALLOC: [Real; CRTS] = [const { Real::new() }; CRTS];
pub static ALIGNED_OFFSET_MALLOC: [Real; CRTS] = [const { Real::new() }; CRTS];
pub static ALIGNED_REALLOC: [Real; CRTS] = [const { Real::new() }; CRTS];
pub static ALIGNED_RECALLOC: [Real; CRTS] = [const { Real::new() }; CRTS];
pub static ALIGNED_FREE: [Real; CRTS] = [const { Real::new() }; CRTS];

pub unsafe extern "C" fn _aligned_malloc<const C: usize>(size: usize, align: usize) -> *mut c_void {
    // SAFETY: the runtime's own function with the caller's arguments.
    let real = || unsafe { ALIGNED_MALLOC[C].get::<AlignedMallocFn>()(size, align) };
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    let p = real();
    on_alloc(&g, p, size, align, AllocKind::AlignedAlloc, || size);
    p
}

pub unsafe extern "C" fn _aligned_offset_malloc<const C: usize>(
    size: usize,
    align: usize,
    offset: usize,
) -> *mut c_void {
    // SAFETY: the runtime's own function with the caller's arguments.
    let real =
        || unsafe { ALIGNED_OFFSET_MALLOC[C].get::<AlignedOffsetMallocFn>()(size, align, offset) };
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    let p = real();
    on_alloc(&g, p, size, align, AllocKind::AlignedAlloc, || size);
    p
}

pub unsafe extern "C" fn _aligned_realloc<const C: usize>(
    old: *mut c_void,
    size: usize,
    align: usize,
) -> *mut c_void {
    // SAFETY: the runtime's own function with the caller's arguments.
    let real = || unsafe { ALIGNED_REALLOC[C].get::<AlignedReallocFn>()(old, size, align) };
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    let start = on_realloc_start(&g);
    let new = real();
    if size == 0 && new.is_null() && !old.is_null() {
        on_free(&g, old, FreeKind::Free);
    } else {
        on_realloc(&g, start, old, new, size, AllocKind::Realloc, || size);
    }
    new
}

pub unsafe extern "C" fn _aligned_recalloc<const C: usize>(
    old: *mut c_void,
    n: usize,
    size: usize,
    align: usize,
) -> *mut c_void {
    // SAFETY: the runtime's own function with the caller's arguments.
    let real = || unsafe { ALIGNED_RECALLOC[C].get::<AlignedRecallocFn>()(old, n, size, align) };
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    let start = on_realloc_start(&g);
    let new = real();
    let total = n.saturating_mul(size);
    if total == 0 && new.is_null() && !old.is_null() {
        on_free(&g, old, FreeKind::Free);
    } else {
        on_realloc(&g, start, old, new, total, AllocKind::Realloc, || total);
    }
    new
}

pub unsafe extern "C" fn _aligned_free<const C: usize>(p: *mut c_void) {
    // SAFETY: the runtime's own function with the caller's pointer.
    let real = || unsafe { ALIGNED_FREE[C].get::<FreeFn>()(p) };
    let Some(g) = Guard::enter().filter(|_| !passing_through() && !crate::preexisting::take(p))
    else {
        return real();
    };
    on_free(&g, p, FreeKind::Free);
    real()
}

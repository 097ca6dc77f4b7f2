//! `malloc`, `calloc`, `realloc`, `free`, `_recalloc`, `_expand` of each C runtime.
//! `_msize` is not hooked: the hooks call it for the allocator's slack.

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};
use memscope_recorder::{on_alloc, on_free, on_realloc, on_realloc_start};

use super::{passing_through, Real};
use crate::front_end::Guard;
use crate::install::CRTS;
use crate::preexisting;

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type RecallocFn = unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type MsizeFn = unsafe extern "C" fn(*mut c_void) -> usize;

pub static MALLOC: [Real; CRTS] = [const { Real::new() }; CRTS];
pub static CALLOC: [Real; CRTS] = [const { Real::new() }; CRTS];
pub static REALLOC: [Real; CRTS] = [const { Real::new() }; CRTS];
pub static RECALLOC: [Real; CRTS] = [const { Real::new() }; CRTS];
pub static EXPAND: [Real; CRTS] = [const { Real::new() }; CRTS];
pub static FREE: [Real; CRTS] = [const { Real::new() }; CRTS];
/// `_msize` of each runtime (not hooked: looked up for the slack).
pub static MSIZE: [Real; CRTS] = [const { Real::new() }; CRTS];

/// What runtime `C` really reserved for `p`.
#[inline(always)]
fn usable<const C: usize>(p: *mut c_void) -> usize {
    // SAFETY: `_msize` of the runtime that allocated `p` (looked up with the hooks).
    unsafe { MSIZE[C].get::<MsizeFn>()(p) }
}

pub unsafe extern "C" fn malloc<const C: usize>(size: usize) -> *mut c_void {
    // SAFETY: the runtime's own malloc with the caller's argument.
    let real = || unsafe { MALLOC[C].get::<MallocFn>()(size) };
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    let p = real();
    on_alloc(&g, p, size, 0, AllocKind::Malloc, || usable::<C>(p));
    p
}

pub unsafe extern "C" fn calloc<const C: usize>(n: usize, size: usize) -> *mut c_void {
    // SAFETY: the runtime's own calloc with the caller's arguments.
    let real = || unsafe { CALLOC[C].get::<CallocFn>()(n, size) };
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    let p = real();
    on_alloc(&g, p, n.saturating_mul(size), 0, AllocKind::Calloc, || {
        usable::<C>(p)
    });
    p
}

pub unsafe extern "C" fn realloc<const C: usize>(old: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the runtime's own realloc with the caller's arguments.
    let real = || unsafe { REALLOC[C].get::<ReallocFn>()(old, size) };
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    if preexisting::take(old) {
        // The old block predates tracing: the new one is an allocation of its own.
        let new = real();
        on_alloc(&g, new, size, 0, AllocKind::Realloc, || usable::<C>(new));
        return new;
    }
    let start = on_realloc_start(&g);
    let new = real();
    record_realloc::<C>(&g, start, old, new, size);
    new
}

/// A realloc-like call: `realloc(p, 0)` frees `p` in these runtimes (and returns null).
#[inline(always)]
fn record_realloc<const C: usize>(
    g: &Guard,
    start: memscope_recorder::CallStart,
    old: *mut c_void,
    new: *mut c_void,
    size: usize,
) {
    if size == 0 && new.is_null() && !old.is_null() {
        on_free(g, old, FreeKind::Free);
        return;
    }
    on_realloc(g, start, old, new, size, AllocKind::Realloc, || {
        usable::<C>(new)
    });
}

pub unsafe extern "C" fn _recalloc<const C: usize>(
    old: *mut c_void,
    n: usize,
    size: usize,
) -> *mut c_void {
    // SAFETY: the runtime's own _recalloc with the caller's arguments.
    let real = || unsafe { RECALLOC[C].get::<RecallocFn>()(old, n, size) };
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    if preexisting::take(old) {
        let new = real();
        on_alloc(
            &g,
            new,
            n.saturating_mul(size),
            0,
            AllocKind::Calloc,
            || usable::<C>(new),
        );
        return new;
    }
    let start = on_realloc_start(&g);
    let new = real();
    record_realloc::<C>(&g, start, old, new, n.saturating_mul(size));
    new
}

/// `_expand` resizes in place or fails: the block keeps its address, so its new size is
/// recorded as a realloc to the same address.
pub unsafe extern "C" fn _expand<const C: usize>(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the runtime's own _expand with the caller's arguments.
    let real = || unsafe { EXPAND[C].get::<ReallocFn>()(p, size) };
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    let start = on_realloc_start(&g);
    let new = real();
    if !new.is_null() {
        on_realloc(&g, start, p, new, size, AllocKind::Realloc, || {
            usable::<C>(new)
        });
    }
    new
}

pub unsafe extern "C" fn free<const C: usize>(p: *mut c_void) {
    // SAFETY: the runtime's own free with the caller's pointer.
    let real = || unsafe { FREE[C].get::<FreeFn>()(p) };
    let Some(g) = Guard::enter().filter(|_| !passing_through() && !preexisting::take(p)) else {
        return real();
    };
    on_free(&g, p, FreeKind::Free);
    real()
}

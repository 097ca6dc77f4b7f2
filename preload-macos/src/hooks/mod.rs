//! The replacements dyld binds in place of the allocator's entry points (table in
//! `interpose`), one file per family. Each is: take the guard (or pass straight through
//! if the tracer itself runs on this thread), call the real function, record. Frees are
//! recorded *before* the real call and allocations *after* it, which keeps cross-thread
//! address reuse in order (docs/architecture.md, invariant 2). A replacement reaches
//! the real function by its plain name: dyld does not rebind the interposing image's
//! own calls.

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};
use memscope_recorder::{on_alloc, on_free_with_args, on_realloc, on_realloc_start};

use crate::front_end::Guard;

pub mod cxx;
pub mod malloc;
pub mod process;
pub mod typed;
pub mod zone;

/// What the allocator really reserved for `p` (`malloc_size`: 0 for a block it does not
/// know).
fn usable(p: *mut c_void) -> usize {
    // SAFETY: malloc_size accepts any pointer and returns 0 for one it does not own.
    unsafe { libc::malloc_size(p) }
}

/// An allocation of `size` bytes (`align`: asked for, 0 if none) made by `real`, recorded
/// after it returned.
#[inline(always)]
fn alloc(
    size: usize,
    align: usize,
    kind: AllocKind,
    real: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        return real();
    };
    let p = real();
    on_alloc(&g, p, size, align, kind, || usable(p));
    p
}

/// A release of `p` by `real`, recorded before it runs (`size`, `align`: what a sized or
/// aligned `operator delete` was given, else 0).
#[inline(always)]
fn release(p: *mut c_void, kind: FreeKind, size: usize, align: usize, real: impl FnOnce()) {
    let g = Guard::enter();
    if let Some(g) = &g {
        on_free_with_args(g, p, kind, size, align);
    }
    real();
    drop(g);
}

/// A resize of `old` to `size` bytes by `real`: stamped before, recorded after.
#[inline(always)]
fn resize(old: *mut c_void, size: usize, real: impl FnOnce() -> *mut c_void) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        return real();
    };
    let start = on_realloc_start(&g);
    let new = real();
    on_realloc(&g, start, old, new, size, AllocKind::Realloc, || {
        usable(new)
    });
    new
}

//! `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc`. Missing any of
//! these would make their blocks look like invalid frees later. As in `malloc`, a call
//! made while the tracer does its own work on this thread comes from its private heap.

use std::ffi::c_void;

use memscope_format::AllocKind;

use memscope_recorder::on_alloc;

use crate::front_end::Guard;
use memscope_recorder::private_heap;

use crate::real::{self, usable_size};

/// The tracer's own aligned allocation, if the tracer runs on this thread.
fn for_the_tracer(align: usize, size: usize) -> Option<*mut c_void> {
    Guard::tracer_runs_here().then(|| private_heap::memalign(align, size).cast())
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    let Some(real) = real::posix_memalign() else {
        return libc::ENOMEM;
    };
    let Some(g) = Guard::enter() else {
        if let Some(p) = for_the_tracer(align, size) {
            if p.is_null() {
                return libc::ENOMEM;
            }
            // SAFETY: the caller's valid `out`.
            unsafe { *out = p };
            return 0;
        }
        // SAFETY: forwarding the caller's arguments.
        return unsafe { real(out, align, size) };
    };
    // SAFETY: as above.
    let r = unsafe { real(out, align, size) };
    let p = if r == 0 {
        // SAFETY: on success the callee stored the block through the caller's valid `out`.
        unsafe { *out }
    } else {
        std::ptr::null_mut()
    };
    on_alloc(&g, p, size, align, AllocKind::PosixMemalign, || {
        usable_size(p)
    });
    r
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    let Some(real) = real::aligned_alloc() else {
        return std::ptr::null_mut();
    };
    let Some(g) = Guard::enter() else {
        if let Some(p) = for_the_tracer(align, size) {
            return p;
        }
        // SAFETY: forwarding the caller's arguments.
        return unsafe { real(align, size) };
    };
    // SAFETY: as above.
    let p = unsafe { real(align, size) };
    on_alloc(&g, p, size, align, AllocKind::AlignedAlloc, || {
        usable_size(p)
    });
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        if let Some(p) = for_the_tracer(align, size) {
            return p;
        }
        // SAFETY: forwarding the caller's arguments to the real memalign.
        return unsafe { real::memalign()(align, size) };
    };
    // SAFETY: as above.
    let p = unsafe { real::memalign()(align, size) };
    on_alloc(&g, p, size, align, AllocKind::Memalign, || usable_size(p));
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        if let Some(p) = for_the_tracer(page_size(), size) {
            return p;
        }
        // SAFETY: forwarding the caller's arguments to the real valloc.
        return unsafe { real::valloc()(size) };
    };
    // SAFETY: as above.
    let p = unsafe { real::valloc()(size) };
    on_alloc(&g, p, size, page_size(), AllocKind::Valloc, || {
        usable_size(p)
    });
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let Some(g) = Guard::enter() else {
        if let Some(p) = for_the_tracer(page_size(), size) {
            return p;
        }
        // SAFETY: forwarding the caller's arguments to the real pvalloc.
        return unsafe { real::pvalloc()(size) };
    };
    // SAFETY: as above.
    let p = unsafe { real::pvalloc()(size) };
    // pvalloc rounds the block up to whole pages; like valgrind, count the size asked for.
    on_alloc(&g, p, size, page_size(), AllocKind::Pvalloc, || {
        usable_size(p)
    });
    p
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

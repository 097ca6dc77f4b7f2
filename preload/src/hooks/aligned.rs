//! `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc`. Missing any of
//! these would make their blocks look like invalid frees later.

use std::ffi::c_void;

use memscope_format::AllocKind;

use crate::guard::Guard;
use crate::real::{self, __libc_memalign, __libc_pvalloc, __libc_valloc};
use crate::recorder;

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    let Some(real) = real::posix_memalign() else {
        return libc::ENOMEM;
    };
    // SAFETY: forwarding the caller's arguments.
    let Some(_g) = Guard::enter() else {
        return unsafe { real(out, align, size) };
    };
    // SAFETY: as above.
    let r = unsafe { real(out, align, size) };
    // SAFETY: on success the callee stored the block through the caller's valid `out`.
    let p = if r == 0 {
        unsafe { *out }
    } else {
        std::ptr::null_mut()
    };
    recorder::alloc(p, size, align, AllocKind::PosixMemalign);
    r
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    let Some(real) = real::aligned_alloc() else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarding the caller's arguments.
    let Some(_g) = Guard::enter() else {
        return unsafe { real(align, size) };
    };
    // SAFETY: as above.
    let p = unsafe { real(align, size) };
    recorder::alloc(p, size, align, AllocKind::AlignedAlloc);
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc.
    let Some(_g) = Guard::enter() else {
        return unsafe { __libc_memalign(align, size) };
    };
    // SAFETY: as above.
    let p = unsafe { __libc_memalign(align, size) };
    recorder::alloc(p, size, align, AllocKind::Memalign);
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc.
    let Some(_g) = Guard::enter() else {
        return unsafe { __libc_valloc(size) };
    };
    // SAFETY: as above.
    let p = unsafe { __libc_valloc(size) };
    recorder::alloc(p, size, page_size(), AllocKind::Valloc);
    p
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc.
    let Some(_g) = Guard::enter() else {
        return unsafe { __libc_pvalloc(size) };
    };
    // SAFETY: as above.
    let p = unsafe { __libc_pvalloc(size) };
    // pvalloc rounds the block up to whole pages; like valgrind, count the size asked for.
    recorder::alloc(p, size, page_size(), AllocKind::Pvalloc);
    p
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

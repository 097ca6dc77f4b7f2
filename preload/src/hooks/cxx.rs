//! libstdc++'s `operator new`, `new[]`, `delete`, `delete[]` in every form (plain,
//! nothrow, sized, `align_val_t`): 20 symbols. Each records its family so that
//! mismatched releases can be found later.
//!
//! Fast path: the allocation comes straight from the allocator in use (`real`: glibc's
//! `malloc`, or the one that replaces it). Only when that fails, or for an aligned `new`
//! when that allocator has no `memalign`, does the hook call libstdc++'s own operator (guard held, so its inner `malloc` is not counted),
//! which runs the `new_handler` loop and throws `std::bad_alloc` exactly as the program
//! expects; that is why these hooks use the `C-unwind` ABI.

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};

use memscope_recorder::{on_alloc, on_free_with_args};

use crate::front_end::Guard;
use crate::real::{self, next_fn, usable_size};

type NewFn = unsafe extern "C-unwind" fn(usize) -> *mut c_void;
type NewAlignedFn = unsafe extern "C-unwind" fn(usize, usize) -> *mut c_void;
type NewNothrowFn = unsafe extern "C-unwind" fn(usize, *const c_void) -> *mut c_void;
type NewAlignedNothrowFn = unsafe extern "C-unwind" fn(usize, usize, *const c_void) -> *mut c_void;

next_fn!(real_new, c"_Znwm", NewFn);
next_fn!(real_new_array, c"_Znam", NewFn);
next_fn!(real_new_nothrow, c"_ZnwmRKSt9nothrow_t", NewNothrowFn);
next_fn!(real_new_array_nothrow, c"_ZnamRKSt9nothrow_t", NewNothrowFn);
next_fn!(real_new_aligned, c"_ZnwmSt11align_val_t", NewAlignedFn);
next_fn!(
    real_new_array_aligned,
    c"_ZnamSt11align_val_t",
    NewAlignedFn
);
next_fn!(
    real_new_aligned_nothrow,
    c"_ZnwmSt11align_val_tRKSt9nothrow_t",
    NewAlignedNothrowFn
);
next_fn!(
    real_new_array_aligned_nothrow,
    c"_ZnamSt11align_val_tRKSt9nothrow_t",
    NewAlignedNothrowFn
);

/// One `operator new` variant: fast path through glibc, slow path through libstdc++.
#[inline(always)]
fn new_impl(
    size: usize,
    align: usize,
    kind: AllocKind,
    slow: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let fast = || {
        // SAFETY: plain allocation calls of the allocator in use.
        unsafe {
            if align == 0 {
                real::malloc()(size.max(1))
            } else {
                match real::same_allocator_memalign() {
                    Some(memalign) => memalign(align, size.max(1)),
                    None => std::ptr::null_mut(),
                }
            }
        }
    };
    let Some(g) = Guard::enter() else {
        let p = fast();
        return if p.is_null() { slow() } else { p };
    };
    let mut p = fast();
    if p.is_null() {
        // May throw std::bad_alloc through this frame; the guard is released on unwind.
        p = slow();
    }
    on_alloc(&g, p, size, align, kind, || usable_size(p));
    drop(g);
    p
}

#[inline(always)]
fn delete_impl(p: *mut c_void, kind: FreeKind, size: usize, align: usize) {
    if let Some(g) = Guard::enter() {
        on_free_with_args(&g, p, kind, size, align);
    }
    // SAFETY: releasing the caller's block through the allocator in use, which allocated it.
    unsafe { real::free()(p) }
}

fn call_or_null<F>(f: Option<F>, call: impl FnOnce(F) -> *mut c_void) -> *mut c_void {
    f.map_or(std::ptr::null_mut(), call)
}

macro_rules! new_hooks {
    ($($sym:ident($size:ident: usize $(, $arg:ident: $ty:ty)*) => align $align:expr, $kind:ident, $slow:ident($($sarg:expr),*);)*) => {$(
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C-unwind" fn $sym($size: usize $(, $arg: $ty)*) -> *mut c_void {
            // SAFETY: the slow path calls libstdc++'s operator with the caller's arguments.
            new_impl($size, $align, AllocKind::$kind, || call_or_null($slow(), |f| unsafe { f($($sarg),*) }))
        }
    )*};
}

new_hooks! {
    _Znwm(size: usize) => align 0, New, real_new(size);
    _Znam(size: usize) => align 0, NewArray, real_new_array(size);
    _ZnwmRKSt9nothrow_t(size: usize, nt: *const c_void) => align 0, New, real_new_nothrow(size, nt);
    _ZnamRKSt9nothrow_t(size: usize, nt: *const c_void) => align 0, NewArray, real_new_array_nothrow(size, nt);
    _ZnwmSt11align_val_t(size: usize, al: usize) => align al, New, real_new_aligned(size, al);
    _ZnamSt11align_val_t(size: usize, al: usize) => align al, NewArray, real_new_array_aligned(size, al);
    _ZnwmSt11align_val_tRKSt9nothrow_t(size: usize, al: usize, nt: *const c_void) => align al, New, real_new_aligned_nothrow(size, al, nt);
    _ZnamSt11align_val_tRKSt9nothrow_t(size: usize, al: usize, nt: *const c_void) => align al, NewArray, real_new_array_aligned_nothrow(size, al, nt);
}

macro_rules! delete_hooks {
    ($($sym:ident($($arg:ident: $ty:ty),*) => $kind:ident, size $size:expr, align $align:expr;)*) => {$(
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C-unwind" fn $sym(p: *mut c_void $(, $arg: $ty)*) {
            $(let _ = $arg;)*
            delete_impl(p, FreeKind::$kind, $size, $align)
        }
    )*};
}

// The size and alignment arguments are recorded as given, for the mismatch detector
// (a sized delete whose size is not the allocation's; aligned new, unaligned delete).
delete_hooks! {
    _ZdlPv() => Delete, size 0, align 0;
    _ZdaPv() => DeleteArray, size 0, align 0;
    _ZdlPvm(size: usize) => Delete, size size, align 0;
    _ZdaPvm(size: usize) => DeleteArray, size size, align 0;
    _ZdlPvRKSt9nothrow_t(nt: *const c_void) => Delete, size 0, align 0;
    _ZdaPvRKSt9nothrow_t(nt: *const c_void) => DeleteArray, size 0, align 0;
    _ZdlPvSt11align_val_t(al: usize) => Delete, size 0, align al;
    _ZdaPvSt11align_val_t(al: usize) => DeleteArray, size 0, align al;
    _ZdlPvmSt11align_val_t(size: usize, al: usize) => Delete, size size, align al;
    _ZdaPvmSt11align_val_t(size: usize, al: usize) => DeleteArray, size size, align al;
    _ZdlPvSt11align_val_tRKSt9nothrow_t(al: usize, nt: *const c_void) => Delete, size 0, align al;
    _ZdaPvSt11align_val_tRKSt9nothrow_t(al: usize, nt: *const c_void) => DeleteArray, size 0, align al;
}

//! libstdc++'s `operator new`/`delete` (mingw's `libstdc++-6.dll`, Itanium names with
//! `y` for `size_t`): plain, array, `nothrow` and sized forms, recorded with their C++
//! kinds so that a `new[]` released by `free` is reported as a mismatch. They allocate
//! through the C runtime's `malloc`, whose hook sees the guard held and records
//! nothing; `operator new` throws through the hook as it would without it (the hook
//! adds no frame that must unwind: it is a plain Rust frame of the system ABI with
//! unwind tables).

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};
use memscope_recorder::{on_alloc, on_free_with_args};

use super::{passing_through, Real};
use crate::front_end::Guard;

type NewFn = unsafe extern "C-unwind" fn(usize) -> *mut c_void;
type NewNothrowFn = unsafe extern "C" fn(usize, *const c_void) -> *mut c_void;
type DeleteFn = unsafe extern "C" fn(*mut c_void);
type DeleteSizedFn = unsafe extern "C" fn(*mut c_void, usize);

/// Real functions, in the order of [`NAMES`].
pub static REAL: [Real; 8] = [const { Real::new() }; 8];

/// The exports hooked, with their hooks.
pub const NAMES: [(&str, usize); 8] = [
    ("_Znwy", 0),
    ("_Znay", 1),
    ("_ZnwyRKSt9nothrow_t", 2),
    ("_ZnayRKSt9nothrow_t", 3),
    ("_ZdlPv", 4),
    ("_ZdaPv", 5),
    ("_ZdlPvy", 6),
    ("_ZdaPvy", 7),
];

/// The hook of each entry of [`NAMES`].
pub fn hook(i: usize) -> *mut c_void {
    match i {
        0 => new as *mut c_void,
        1 => new_array as *mut c_void,
        2 => new_nothrow as *mut c_void,
        3 => new_array_nothrow as *mut c_void,
        4 => delete as *mut c_void,
        5 => delete_array as *mut c_void,
        6 => delete_sized as *mut c_void,
        _ => delete_array_sized as *mut c_void,
    }
}

fn allocating(
    i: usize,
    size: usize,
    kind: AllocKind,
    real: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let _ = i;
    let Some(g) = Guard::enter().filter(|_| !passing_through()) else {
        return real();
    };
    let p = real();
    on_alloc(&g, p, size, 0, kind, || size);
    p
}

fn releasing(p: *mut c_void, kind: FreeKind, size: usize, real: impl FnOnce()) {
    let Some(g) = Guard::enter().filter(|_| !passing_through() && !crate::preexisting::take(p))
    else {
        return real();
    };
    on_free_with_args(&g, p, kind, size, 0);
    real()
}

unsafe extern "C-unwind" fn new(size: usize) -> *mut c_void {
    // SAFETY: libstdc++'s own operator with the caller's argument.
    allocating(0, size, AllocKind::New, || unsafe {
        REAL[0].get::<NewFn>()(size)
    })
}

unsafe extern "C-unwind" fn new_array(size: usize) -> *mut c_void {
    // SAFETY: as above.
    allocating(1, size, AllocKind::NewArray, || unsafe {
        REAL[1].get::<NewFn>()(size)
    })
}

unsafe extern "C" fn new_nothrow(size: usize, tag: *const c_void) -> *mut c_void {
    // SAFETY: as above.
    allocating(2, size, AllocKind::New, || unsafe {
        REAL[2].get::<NewNothrowFn>()(size, tag)
    })
}

unsafe extern "C" fn new_array_nothrow(size: usize, tag: *const c_void) -> *mut c_void {
    // SAFETY: as above.
    allocating(3, size, AllocKind::NewArray, || unsafe {
        REAL[3].get::<NewNothrowFn>()(size, tag)
    })
}

unsafe extern "C" fn delete(p: *mut c_void) {
    // SAFETY: libstdc++'s own operator with the caller's pointer.
    releasing(p, FreeKind::Delete, 0, || unsafe {
        REAL[4].get::<DeleteFn>()(p)
    })
}

unsafe extern "C" fn delete_array(p: *mut c_void) {
    // SAFETY: as above.
    releasing(p, FreeKind::DeleteArray, 0, || unsafe {
        REAL[5].get::<DeleteFn>()(p)
    })
}

unsafe extern "C" fn delete_sized(p: *mut c_void, size: usize) {
    // SAFETY: as above.
    releasing(p, FreeKind::Delete, size, || unsafe {
        REAL[6].get::<DeleteSizedFn>()(p, size)
    })
}

unsafe extern "C" fn delete_array_sized(p: *mut c_void, size: usize) {
    // SAFETY: as above.
    releasing(p, FreeKind::DeleteArray, size, || unsafe {
        REAL[7].get::<DeleteSizedFn>()(p, size)
    })
}

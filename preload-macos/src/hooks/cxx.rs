//! libc++'s `operator new`, `new[]`, `delete`, `delete[]` in every form (plain, nothrow,
//! sized, `align_val_t`): 20 symbols, as on Linux (`size_t` is `unsigned long` on both
//! Apple architectures, so the mangled names are the same). Each records its family so
//! that mismatched releases can be found later.
//!
//! A replacement calls libc++'s own operator with the guard held (its inner `malloc` is
//! then not counted), so the `new_handler` loop and `std::bad_alloc` behave exactly as
//! without memscope; that is why these use the `C-unwind` ABI.

use std::ffi::c_void;

use memscope_format::{AllocKind, FreeKind};

use super::{alloc, release};

/// libc++'s operators (`libc++.1.dylib`).
pub mod sys {
    use std::ffi::c_void;

    #[link(name = "c++")]
    extern "C-unwind" {
        #[link_name = "_Znwm"]
        pub fn new(size: usize) -> *mut c_void;
        #[link_name = "_Znam"]
        pub fn new_array(size: usize) -> *mut c_void;
        #[link_name = "_ZnwmRKSt9nothrow_t"]
        pub fn new_nothrow(size: usize, nt: *const c_void) -> *mut c_void;
        #[link_name = "_ZnamRKSt9nothrow_t"]
        pub fn new_array_nothrow(size: usize, nt: *const c_void) -> *mut c_void;
        #[link_name = "_ZnwmSt11align_val_t"]
        pub fn new_aligned(size: usize, al: usize) -> *mut c_void;
        #[link_name = "_ZnamSt11align_val_t"]
        pub fn new_array_aligned(size: usize, al: usize) -> *mut c_void;
        #[link_name = "_ZnwmSt11align_val_tRKSt9nothrow_t"]
        pub fn new_aligned_nothrow(size: usize, al: usize, nt: *const c_void) -> *mut c_void;
        #[link_name = "_ZnamSt11align_val_tRKSt9nothrow_t"]
        pub fn new_array_aligned_nothrow(size: usize, al: usize, nt: *const c_void) -> *mut c_void;
        #[link_name = "_ZdlPv"]
        pub fn delete(p: *mut c_void);
        #[link_name = "_ZdaPv"]
        pub fn delete_array(p: *mut c_void);
        #[link_name = "_ZdlPvm"]
        pub fn delete_sized(p: *mut c_void, size: usize);
        #[link_name = "_ZdaPvm"]
        pub fn delete_array_sized(p: *mut c_void, size: usize);
        #[link_name = "_ZdlPvRKSt9nothrow_t"]
        pub fn delete_nothrow(p: *mut c_void, nt: *const c_void);
        #[link_name = "_ZdaPvRKSt9nothrow_t"]
        pub fn delete_array_nothrow(p: *mut c_void, nt: *const c_void);
        #[link_name = "_ZdlPvSt11align_val_t"]
        pub fn delete_aligned(p: *mut c_void, al: usize);
        #[link_name = "_ZdaPvSt11align_val_t"]
        pub fn delete_array_aligned(p: *mut c_void, al: usize);
        #[link_name = "_ZdlPvmSt11align_val_t"]
        pub fn delete_sized_aligned(p: *mut c_void, size: usize, al: usize);
        #[link_name = "_ZdaPvmSt11align_val_t"]
        pub fn delete_array_sized_aligned(p: *mut c_void, size: usize, al: usize);
        #[link_name = "_ZdlPvSt11align_val_tRKSt9nothrow_t"]
        pub fn delete_aligned_nothrow(p: *mut c_void, al: usize, nt: *const c_void);
        #[link_name = "_ZdaPvSt11align_val_tRKSt9nothrow_t"]
        pub fn delete_array_aligned_nothrow(p: *mut c_void, al: usize, nt: *const c_void);
    }
}

macro_rules! new_hooks {
    ($($name:ident($size:ident $(, $arg:ident: $ty:ty)*) => align $align:expr, $kind:ident;)*) => {$(
        pub unsafe extern "C-unwind" fn $name($size: usize $(, $arg: $ty)*) -> *mut c_void {
            // SAFETY: libc++'s operator with the caller's arguments.
            alloc($size, $align, AllocKind::$kind, || unsafe { sys::$name($size $(, $arg)*) })
        }
    )*};
}

new_hooks! {
    new(size) => align 0, New;
    new_array(size) => align 0, NewArray;
    new_nothrow(size, nt: *const c_void) => align 0, New;
    new_array_nothrow(size, nt: *const c_void) => align 0, NewArray;
    new_aligned(size, al: usize) => align al, New;
    new_array_aligned(size, al: usize) => align al, NewArray;
    new_aligned_nothrow(size, al: usize, nt: *const c_void) => align al, New;
    new_array_aligned_nothrow(size, al: usize, nt: *const c_void) => align al, NewArray;
}

macro_rules! delete_hooks {
    ($($name:ident($($arg:ident: $ty:ty),*) => $kind:ident, size $size:expr, align $align:expr;)*) => {$(
        pub unsafe extern "C-unwind" fn $name(p: *mut c_void $(, $arg: $ty)*) {
            // SAFETY: libc++'s operator with the caller's arguments.
            release(p, FreeKind::$kind, $size, $align, || unsafe { sys::$name(p $(, $arg)*) })
        }
    )*};
}

// The size and alignment arguments are recorded as given, for the mismatch detector.
delete_hooks! {
    delete() => Delete, size 0, align 0;
    delete_array() => DeleteArray, size 0, align 0;
    delete_sized(size: usize) => Delete, size size, align 0;
    delete_array_sized(size: usize) => DeleteArray, size size, align 0;
    delete_nothrow(nt: *const c_void) => Delete, size 0, align 0;
    delete_array_nothrow(nt: *const c_void) => DeleteArray, size 0, align 0;
    delete_aligned(al: usize) => Delete, size 0, align al;
    delete_array_aligned(al: usize) => DeleteArray, size 0, align al;
    delete_sized_aligned(size: usize, al: usize) => Delete, size size, align al;
    delete_array_sized_aligned(size: usize, al: usize) => DeleteArray, size size, align al;
    delete_aligned_nothrow(al: usize, nt: *const c_void) => Delete, size 0, align al;
    delete_array_aligned_nothrow(al: usize, nt: *const c_void) => DeleteArray, size 0, align al;
}

//! The real allocator functions that the hooks forward to.
//!
//! The core ones are glibc's exported `__libc_*` entry points, called directly: they need
//! no `dlsym` (which itself calls `calloc`, a bootstrap recursion) and work from the very
//! first call. The price: an allocator preloaded *after* libmemscope is bypassed (one
//! preloaded *before* it takes the calls anyway and libmemscope sees none of them).
//! The rest are looked up once with `dlsym(RTLD_NEXT)`, with the guard held.

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};

extern "C" {
    pub fn __libc_malloc(size: usize) -> *mut c_void;
    pub fn __libc_calloc(n: usize, size: usize) -> *mut c_void;
    pub fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    pub fn __libc_free(p: *mut c_void);
    pub fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    pub fn __libc_valloc(size: usize) -> *mut c_void;
    pub fn __libc_pvalloc(size: usize) -> *mut c_void;
}

/// A function found by `dlsym(RTLD_NEXT, name)` on first use.
pub struct NextFn {
    name: &'static CStr,
    addr: AtomicUsize,
}

impl NextFn {
    pub const fn new(name: &'static CStr) -> Self {
        NextFn {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The address, or 0 if no later object defines it.
    pub fn get(&self) -> usize {
        let a = self.addr.load(Ordering::Relaxed);
        if a != 0 {
            return a;
        }
        let _g = crate::front_end::Guard::force();
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name; the guard makes any
        // allocation inside dlsym pass through untracked.
        let a = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        self.addr.store(a, Ordering::Relaxed);
        a
    }
}

/// Declares a lazily resolved next function with its C signature and a typed getter.
macro_rules! next_fn {
    ($vis:vis $getter:ident, $sym:literal, $ty:ty) => {
        $vis fn $getter() -> Option<$ty> {
            static F: $crate::real::NextFn = $crate::real::NextFn::new($sym);
            let a = F.get();
            // SAFETY: `a` is the address of the C function named `$sym`, whose signature is `$ty`.
            (a != 0).then(|| unsafe { std::mem::transmute::<usize, $ty>(a) })
        }
    };
}
pub(crate) use next_fn;

next_fn!(pub posix_memalign, c"posix_memalign", unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> i32);
next_fn!(pub aligned_alloc, c"aligned_alloc", unsafe extern "C" fn(usize, usize) -> *mut c_void);
next_fn!(pub reallocarray, c"reallocarray", unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void);
next_fn!(pub malloc_usable_size, c"malloc_usable_size", unsafe extern "C" fn(*mut c_void) -> usize);

/// What the allocator really reserved for `ptr` (0 if unknown), for the allocation's
/// slack. `ptr` must be null or a live block of glibc's allocator.
#[inline(always)]
pub fn usable_size(ptr: *mut c_void) -> usize {
    match malloc_usable_size() {
        // SAFETY: per the contract, `ptr` was just returned by glibc's allocator and is live.
        Some(f) if !ptr.is_null() => unsafe { f(ptr) },
        _ => 0,
    }
}

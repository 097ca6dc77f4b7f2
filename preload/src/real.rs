//! The real allocator functions that the hooks forward to: for each entry point, the
//! function the program would call if libmemscope were not loaded. That is the first
//! definition in the loader's lookup order other than libmemscope's own: the next one
//! after it (glibc's, or jemalloc's/tcmalloc's/a library's preloaded or linked after
//! libmemscope), or one that comes before it (the executable's own `malloc`, an
//! allocator preloaded before libmemscope), whose calls then never reach memscope.
//! Every entry point is resolved the same way, so the program never meets a mix of two
//! allocators through memscope; the trace says which allocator served the program and
//! which entry points bypassed memscope ([`AllocatorInUse`]).
//!
//! Resolution happens once, on the first call of any hook (`dlsym` allocates: the
//! tracer's own work, served from its private heap). Helpers that only make sense
//! within one allocator (`malloc_usable_size` for the slack, `memalign` for the aligned
//! `operator new`, `reallocarray`) are used only when they come from the object that
//! defines `malloc`; otherwise the hooks do without (slack 0) or build on `realloc`.
//! If `dlsym` finds nothing (it cannot happen with glibc), glibc's `__libc_*` entry
//! points are the fallback.

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use memscope_format::entry_points as ep;

use memscope_recorder::AllocatorInUse;

use crate::front_end::Guard;

extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(n: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_free(p: *mut c_void);
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    fn __libc_valloc(size: usize) -> *mut c_void;
    fn __libc_pvalloc(size: usize) -> *mut c_void;
}

pub type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
pub type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
pub type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
pub type FreeFn = unsafe extern "C" fn(*mut c_void);
pub type MemalignFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
pub type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> i32;
pub type ReallocArrayFn = unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void;
pub type UsableSizeFn = unsafe extern "C" fn(*mut c_void) -> usize;

/// The entry points, in the order of the table (`ep` bit `1 << index`, see
/// `memscope_format::entry_points`).
const NAMES: [&CStr; ep::COUNT] = [
    c"malloc",
    c"calloc",
    c"realloc",
    c"free",
    c"memalign",
    c"posix_memalign",
    c"aligned_alloc",
    c"valloc",
    c"pvalloc",
    c"reallocarray",
    c"_Znwm",
    c"_ZdlPv",
];
const MALLOC: usize = 0;
const CALLOC: usize = 1;
const REALLOC: usize = 2;
const FREE: usize = 3;
const MEMALIGN: usize = 4;
const POSIX_MEMALIGN: usize = 5;
const ALIGNED_ALLOC: usize = 6;
const VALLOC: usize = 7;
const PVALLOC: usize = 8;
const REALLOCARRAY: usize = 9;
/// `operator new` and `operator delete`: checked for bypass only.
const OPERATOR_NEW: usize = 10;

static TABLE: [AtomicUsize; ep::COUNT] = [const { AtomicUsize::new(0) }; ep::COUNT];
/// `malloc_usable_size`, `memalign` and `reallocarray` of the object that defines
/// `malloc` (0: that object has none).
static USABLE_SIZE: AtomicUsize = AtomicUsize::new(0);
static SAME_MEMALIGN: AtomicUsize = AtomicUsize::new(0);
static SAME_REALLOCARRAY: AtomicUsize = AtomicUsize::new(0);
static RESOLVED: AtomicBool = AtomicBool::new(false);
/// What [`allocator_in_use`] reports: the path of the object that defines the `malloc`
/// in use (the loader's string, valid while the object is loaded) and the entry points
/// whose calls bypass memscope.
static SERVED_BY: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());
static BYPASSED: AtomicU32 = AtomicU32::new(0);

/// The object (its load address) that defines the code at `addr`; 0 if none.
fn object_of(addr: usize) -> usize {
    // SAFETY: Dl_info is plain data (pointers and integers): all zeroes is valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables and fills `info`.
    if addr == 0 || unsafe { libc::dladdr(addr as *const c_void, &mut info) } == 0 {
        return 0;
    }
    info.dli_fbase as usize
}

/// Whether a defined symbol starts at `addr`. `dlsym` also returns an executable's
/// canonical PLT entry of a function it only uses (a non-PIE program that takes the
/// function's address): that is no definition, and calling it would call us again.
fn is_definition(addr: usize) -> bool {
    /// <dlfcn.h>: dladdr1 returns the matched symbol table entry.
    const RTLD_DL_SYMENT: i32 = 1;
    /// <elf.h>: the section index of an undefined symbol.
    const SHN_UNDEF: u16 = 0;
    // SAFETY: Dl_info is plain data (pointers and integers): all zeroes is valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let mut sym: *mut c_void = std::ptr::null_mut();
    // SAFETY: dladdr1 only reads the loader's tables, fills `info` and points `sym` at
    // the symbol table entry it matched.
    let found = addr != 0
        && unsafe { libc::dladdr1(addr as *const c_void, &mut info, &mut sym, RTLD_DL_SYMENT) }
            != 0;
    if !found || sym.is_null() || info.dli_saddr as usize != addr {
        return false;
    }
    // SAFETY: with RTLD_DL_SYMENT, `sym` points at the matched ELF symbol.
    let sym = unsafe { &*(sym as *const libc::Elf64_Sym) };
    sym.st_shndx != SHN_UNDEF
}

fn lookup(handle: *mut c_void, name: &CStr) -> usize {
    // SAFETY: dlsym with a pseudo-handle and a NUL-terminated name.
    unsafe { libc::dlsym(handle, name.as_ptr()) as usize }
}

#[cold]
#[inline(never)]
fn resolve_all() {
    // dlsym allocates: the tracer's own work, from its private heap.
    let _own_work = Guard::force();
    let ours = object_of(resolve_all as *const () as usize);
    // The first definition other than ours, and whether it comes before ours (the
    // program's calls then go to it directly).
    let first_other = |name: &CStr| {
        let first = lookup(libc::RTLD_DEFAULT, name);
        if is_definition(first) && object_of(first) != ours {
            (first, true)
        } else {
            (lookup(libc::RTLD_NEXT, name), false)
        }
    };
    let mut bypassed = 0;
    for (i, name) in NAMES.iter().enumerate() {
        if i >= OPERATOR_NEW {
            // Only whether the program's calls reach us: the hooks forward to `malloc` and
            // `free`. (A `dlsym` that finds nothing allocates its error message, through
            // whatever `malloc` comes first: the program's own, maybe. In a C program no
            // object but ours defines these.)
            let first = lookup(libc::RTLD_DEFAULT, name);
            if is_definition(first) && object_of(first) != ours {
                bypassed |= 1 << i;
            }
            continue;
        }
        let (addr, before_us) = first_other(name);
        if before_us {
            bypassed |= 1 << i;
        }
        TABLE[i].store(addr, Ordering::Relaxed);
    }
    let malloc_object = object_of(TABLE[MALLOC].load(Ordering::Relaxed));
    let keep_if_from_malloc_object = |slot: &AtomicUsize, addr: usize| {
        if addr != 0 && object_of(addr) == malloc_object {
            slot.store(addr, Ordering::Relaxed);
        }
    };
    keep_if_from_malloc_object(&USABLE_SIZE, first_other(c"malloc_usable_size").0);
    keep_if_from_malloc_object(&SAME_MEMALIGN, TABLE[MEMALIGN].load(Ordering::Relaxed));
    keep_if_from_malloc_object(
        &SAME_REALLOCARRAY,
        TABLE[REALLOCARRAY].load(Ordering::Relaxed),
    );
    // SAFETY: as in `object_of`.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let malloc = TABLE[MALLOC].load(Ordering::Relaxed);
    // SAFETY: as in `object_of`.
    if malloc != 0 && unsafe { libc::dladdr(malloc as *const c_void, &mut info) } != 0 {
        SERVED_BY.store(info.dli_fname as *mut libc::c_char, Ordering::Relaxed);
    }
    BYPASSED.store(bypassed, Ordering::Relaxed);
    RESOLVED.store(true, Ordering::Release);
}

/// The address of entry point `i` (0 if no object defines it).
#[inline(always)]
fn entry(i: usize) -> usize {
    if !RESOLVED.load(Ordering::Acquire) {
        resolve_all();
    }
    TABLE[i].load(Ordering::Relaxed)
}

/// `addr` as a function pointer of type `T`; `None` for 0.
///
/// # Safety
/// `addr` is 0 or the address of a C function whose signature is `T`.
#[inline(always)]
unsafe fn function<T: Copy>(addr: usize) -> Option<T> {
    const { assert!(std::mem::size_of::<T>() == std::mem::size_of::<usize>()) };
    // SAFETY: per the contract, a function pointer of type `T` (same size as `usize`).
    (addr != 0).then(|| unsafe { std::mem::transmute_copy::<usize, T>(&addr) })
}

/// Declares a typed getter of entry point `$i`, with glibc's `__libc_*` as the fallback.
macro_rules! getter {
    ($name:ident, $i:expr, $ty:ty, $fallback:expr) => {
        #[inline(always)]
        pub fn $name() -> $ty {
            // SAFETY: the table holds the address of the C function of that name.
            unsafe { function::<$ty>(entry($i)) }.unwrap_or($fallback)
        }
    };
}

getter!(malloc, MALLOC, MallocFn, __libc_malloc);
getter!(calloc, CALLOC, CallocFn, __libc_calloc);
getter!(realloc, REALLOC, ReallocFn, __libc_realloc);
getter!(free, FREE, FreeFn, __libc_free);
getter!(memalign, MEMALIGN, MemalignFn, __libc_memalign);
getter!(valloc, VALLOC, MallocFn, __libc_valloc);
getter!(pvalloc, PVALLOC, MallocFn, __libc_pvalloc);

/// `posix_memalign`, `aligned_alloc`: `None` if no object defines them.
pub fn posix_memalign() -> Option<PosixMemalignFn> {
    // SAFETY: the table holds the address of `posix_memalign`.
    unsafe { function(entry(POSIX_MEMALIGN)) }
}

pub fn aligned_alloc() -> Option<MemalignFn> {
    // SAFETY: the table holds the address of `aligned_alloc`.
    unsafe { function(entry(ALIGNED_ALLOC)) }
}

/// Resolves first, then reads `slot` (one of the addresses kept from `malloc`'s object).
fn from_malloc_object(slot: &AtomicUsize) -> usize {
    let _ = entry(MALLOC);
    slot.load(Ordering::Relaxed)
}

/// `reallocarray` if the allocator that defines `malloc` has one (else the hook builds
/// it on that allocator's `realloc`).
pub fn reallocarray() -> Option<ReallocArrayFn> {
    // SAFETY: the address of that object's `reallocarray`.
    unsafe { function(from_malloc_object(&SAME_REALLOCARRAY)) }
}

/// `memalign` if the allocator that defines `malloc` has one (for the aligned
/// `operator new`'s fast path).
pub fn same_allocator_memalign() -> Option<MemalignFn> {
    // SAFETY: the address of that object's `memalign`.
    unsafe { function(from_malloc_object(&SAME_MEMALIGN)) }
}

/// That object's `malloc_usable_size` (for the program's own calls of it, and the slack).
pub fn malloc_usable_size() -> Option<UsableSizeFn> {
    // SAFETY: the address of that object's `malloc_usable_size`.
    unsafe { function(from_malloc_object(&USABLE_SIZE)) }
}

/// What the allocator really reserved for `ptr` (0 if unknown), for the allocation's
/// slack. `ptr` must be null or a live block of the allocator in use.
#[inline(always)]
pub fn usable_size(ptr: *mut c_void) -> usize {
    match malloc_usable_size() {
        // SAFETY: per the contract, `ptr` was just returned by that allocator and is live.
        Some(f) if !ptr.is_null() => unsafe { f(ptr) },
        _ => 0,
    }
}

/// The allocator that serves the program, as the trace reports it.
pub fn allocator_in_use() -> AllocatorInUse {
    let _ = entry(MALLOC);
    let p = SERVED_BY.load(Ordering::Relaxed);
    let path = if p.is_null() {
        &[][..]
    } else {
        // SAFETY: the loader's NUL-terminated path of a loaded object (the one defining
        // the `malloc` in use, never unloaded while the program runs).
        unsafe { CStr::from_ptr(p) }.to_bytes()
    };
    AllocatorInUse {
        path,
        bypassed: BYPASSED.load(Ordering::Relaxed),
    }
}

/// A function found by `dlsym(RTLD_NEXT, name)` on first use (the process and loader
/// entry points: `fork`, `exit`, `dlopen`, ...).
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
        let _own_work = Guard::force();
        let a = lookup(libc::RTLD_NEXT, self.name);
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

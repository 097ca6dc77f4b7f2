//! The `__DATA,__interpose` table: for each entry point memscope replaces, the pair
//! (replacement, replacee) that dyld reads from an inserted image and applies to every
//! other image's calls (`dyld_interpose_tuple` of `<mach-o/dyld-interposing.h>`: two
//! pointers, replacement first).
//!
//! The table's layout is checked on Linux from the compiled object for the Apple targets
//! (`tests/interpose_table.rs`): one 16-byte pair per row of [`NAMES`], each slot
//! relocated to the symbol named there.

use std::ffi::c_void;

use crate::hooks::{cxx, malloc, process, typed, zone};

/// One `dyld_interpose_tuple`.
#[repr(C)]
pub struct Interpose {
    pub replacement: *const c_void,
    pub replacee: *const c_void,
}

// SAFETY: the table is immutable data (function addresses) that dyld reads.
unsafe impl Sync for Interpose {}

macro_rules! table {
    ($($replacement:path => $replacee:path, $name:literal;)*) => {
        /// The replaced entry points, by their C (or mangled C++) names, in table order.
        pub const NAMES: &[&str] = &[$($name),*];

        #[used]
        #[link_section = "__DATA,__interpose"]
        static TABLE: [Interpose; NAMES.len()] = [$(Interpose {
            replacement: $replacement as *const c_void,
            replacee: $replacee as *const c_void,
        }),*];
    };
}

table! {
    malloc::malloc => libc::malloc, "malloc";
    malloc::calloc => libc::calloc, "calloc";
    malloc::realloc => libc::realloc, "realloc";
    malloc::reallocf => malloc::sys::reallocf, "reallocf";
    malloc::free => libc::free, "free";
    malloc::valloc => malloc::sys::valloc, "valloc";
    malloc::posix_memalign => libc::posix_memalign, "posix_memalign";
    malloc::aligned_alloc => malloc::sys::aligned_alloc, "aligned_alloc";
    malloc::malloc_size => libc::malloc_size, "malloc_size";
    zone::malloc_zone_malloc => zone::sys::malloc_zone_malloc, "malloc_zone_malloc";
    zone::malloc_zone_calloc => zone::sys::malloc_zone_calloc, "malloc_zone_calloc";
    zone::malloc_zone_realloc => zone::sys::malloc_zone_realloc, "malloc_zone_realloc";
    zone::malloc_zone_free => zone::sys::malloc_zone_free, "malloc_zone_free";
    zone::malloc_zone_memalign => zone::sys::malloc_zone_memalign, "malloc_zone_memalign";
    typed::malloc_type_malloc => typed::sys::malloc_type_malloc, "malloc_type_malloc";
    typed::malloc_type_calloc => typed::sys::malloc_type_calloc, "malloc_type_calloc";
    typed::malloc_type_realloc => typed::sys::malloc_type_realloc, "malloc_type_realloc";
    typed::malloc_type_free => typed::sys::malloc_type_free, "malloc_type_free";
    typed::malloc_type_valloc => typed::sys::malloc_type_valloc, "malloc_type_valloc";
    typed::malloc_type_aligned_alloc => typed::sys::malloc_type_aligned_alloc, "malloc_type_aligned_alloc";
    typed::malloc_type_posix_memalign => typed::sys::malloc_type_posix_memalign, "malloc_type_posix_memalign";
    typed::malloc_type_zone_malloc => typed::sys::malloc_type_zone_malloc, "malloc_type_zone_malloc";
    typed::malloc_type_zone_calloc => typed::sys::malloc_type_zone_calloc, "malloc_type_zone_calloc";
    typed::malloc_type_zone_realloc => typed::sys::malloc_type_zone_realloc, "malloc_type_zone_realloc";
    typed::malloc_type_zone_free => typed::sys::malloc_type_zone_free, "malloc_type_zone_free";
    typed::malloc_type_zone_memalign => typed::sys::malloc_type_zone_memalign, "malloc_type_zone_memalign";
    cxx::new => cxx::sys::new, "_Znwm";
    cxx::new_array => cxx::sys::new_array, "_Znam";
    cxx::new_nothrow => cxx::sys::new_nothrow, "_ZnwmRKSt9nothrow_t";
    cxx::new_array_nothrow => cxx::sys::new_array_nothrow, "_ZnamRKSt9nothrow_t";
    cxx::new_aligned => cxx::sys::new_aligned, "_ZnwmSt11align_val_t";
    cxx::new_array_aligned => cxx::sys::new_array_aligned, "_ZnamSt11align_val_t";
    cxx::new_aligned_nothrow => cxx::sys::new_aligned_nothrow, "_ZnwmSt11align_val_tRKSt9nothrow_t";
    cxx::new_array_aligned_nothrow => cxx::sys::new_array_aligned_nothrow, "_ZnamSt11align_val_tRKSt9nothrow_t";
    cxx::delete => cxx::sys::delete, "_ZdlPv";
    cxx::delete_array => cxx::sys::delete_array, "_ZdaPv";
    cxx::delete_sized => cxx::sys::delete_sized, "_ZdlPvm";
    cxx::delete_array_sized => cxx::sys::delete_array_sized, "_ZdaPvm";
    cxx::delete_nothrow => cxx::sys::delete_nothrow, "_ZdlPvRKSt9nothrow_t";
    cxx::delete_array_nothrow => cxx::sys::delete_array_nothrow, "_ZdaPvRKSt9nothrow_t";
    cxx::delete_aligned => cxx::sys::delete_aligned, "_ZdlPvSt11align_val_t";
    cxx::delete_array_aligned => cxx::sys::delete_array_aligned, "_ZdaPvSt11align_val_t";
    cxx::delete_sized_aligned => cxx::sys::delete_sized_aligned, "_ZdlPvmSt11align_val_t";
    cxx::delete_array_sized_aligned => cxx::sys::delete_array_sized_aligned, "_ZdaPvmSt11align_val_t";
    cxx::delete_aligned_nothrow => cxx::sys::delete_aligned_nothrow, "_ZdlPvSt11align_val_tRKSt9nothrow_t";
    cxx::delete_array_aligned_nothrow => cxx::sys::delete_array_aligned_nothrow, "_ZdaPvSt11align_val_tRKSt9nothrow_t";
    process::fork => libc::fork, "fork";
    process::exit => libc::exit, "exit";
    process::underscore_exit => libc::_exit, "_exit";
    process::execve => libc::execve, "execve";
}

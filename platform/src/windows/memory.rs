//! Memory straight from the system on Windows: zeroed, private, committed pages from
//! `VirtualAlloc`, for buffers the tracer must not take from the traced program's
//! allocator (docs/architecture.md, invariant 7).

use std::ptr::NonNull;

use windows_sys::Win32::System::Memory::{
    VirtualAlloc, VirtualFree, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE,
};

/// Maps `bytes` of zeroed, readable and writable memory (charged to the commit limit
/// now, backed by physical pages when first touched). `None` if the system refuses.
pub fn map_zeroed(bytes: usize) -> Option<NonNull<u8>> {
    // SAFETY: a fresh allocation with no address hint touches no existing memory.
    let p = unsafe {
        VirtualAlloc(
            std::ptr::null(),
            bytes,
            MEM_RESERVE | MEM_COMMIT,
            PAGE_READWRITE,
        )
    };
    NonNull::new(p.cast())
}

/// Unmaps memory from [`map_zeroed`].
///
/// # Safety
/// `at` and `bytes` must be those of one [`map_zeroed`] call, and nothing may use the
/// memory afterwards.
pub unsafe fn unmap(at: NonNull<u8>, bytes: usize) {
    let _ = bytes; // MEM_RELEASE frees the whole allocation and wants size 0.
                   // SAFETY: the caller passes a whole allocation of ours that nothing uses any more.
    unsafe { VirtualFree(at.as_ptr().cast(), 0, MEM_RELEASE) };
}

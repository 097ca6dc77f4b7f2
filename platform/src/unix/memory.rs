//! Memory straight from the kernel on Unix-like systems (Linux, macOS): zeroed, private, anonymous mappings, for
//! buffers the tracer must not take from the traced program's allocator
//! (docs/architecture.md, invariant 7).

use std::ptr::NonNull;

/// Maps `bytes` of zeroed, readable and writable memory; pages are committed when first
/// touched. `None` if the kernel refuses.
pub fn map_zeroed(bytes: usize) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping with no address hint touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANON,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(p.cast())
}

/// Unmaps memory from [`map_zeroed`].
///
/// # Safety
/// `at` and `bytes` must be those of one [`map_zeroed`] call, and nothing may use the
/// memory afterwards.
pub unsafe fn unmap(at: NonNull<u8>, bytes: usize) {
    // SAFETY: the caller passes a whole mapping of ours that nothing uses any more.
    unsafe { libc::munmap(at.as_ptr().cast(), bytes) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_zeroed_writable_memory() {
        let bytes = 3 * 4096;
        let p = super::map_zeroed(bytes).expect("mapped");
        // SAFETY: the mapping is ours, `bytes` long, and unmapped only below.
        let s = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), bytes) };
        assert!(s.iter().all(|&b| b == 0));
        s[bytes - 1] = 7;
        // SAFETY: the whole mapping, used no more.
        unsafe { super::unmap(p, bytes) };
    }
}

//! Memory straight from the kernel on Unix-like systems (Linux, macOS): zeroed, private, anonymous mappings, for
//! buffers the tracer must not take from the traced program's allocator
//! (docs/architecture.md, invariant 7).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// The mappings made here that are still mapped, as (start, length) pairs (0: a free
/// place): the tracer's own memory, which the leak check must never scan as a root
/// (it holds the program's addresses: rings, the live-block map). Lock-free, so that
/// mapping stays async-signal-safe; a mapping made while all places are taken is not
/// listed (there are far more places than the tracer's rings and buffers).
static OWN: [(AtomicU64, AtomicU64); 4096] =
    [const { (AtomicU64::new(0), AtomicU64::new(0)) }; 4096];

/// Calls `f(start, end)` for every mapping of [`map_zeroed`] still mapped.
pub fn for_each_own_mapping(mut f: impl FnMut(u64, u64)) {
    for (start, len) in &OWN {
        let (s, l) = (start.load(Ordering::Acquire), len.load(Ordering::Acquire));
        if s != 0 && l != 0 {
            f(s, s + l);
        }
    }
}

fn remember(at: u64, bytes: usize) {
    for (start, len) in &OWN {
        if start
            .compare_exchange(0, at, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            len.store(bytes as u64, Ordering::Release);
            return;
        }
    }
}

fn forget(at: u64) {
    for (start, len) in &OWN {
        if start.load(Ordering::Acquire) == at {
            len.store(0, Ordering::Release);
            start.store(0, Ordering::Release);
            return;
        }
    }
}

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
    remember(p as u64, bytes);
    NonNull::new(p.cast())
}

/// Reserves `bytes` of address space that nothing can use yet (no access, no memory
/// committed; [`commit`] opens parts of it), listed with the tracer's own mappings.
/// `None` if the kernel refuses (e.g. an address-space limit).
pub fn reserve(bytes: usize) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping with no address hint touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANON | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    remember(p as u64, bytes);
    NonNull::new(p.cast())
}

/// Makes `bytes` at `at` (page-aligned, inside one [`reserve`]d range) readable and
/// writable; the pages read as zero until written. False if the kernel refuses.
///
/// # Safety
/// `at..at + bytes` must lie inside a range from [`reserve`].
pub unsafe fn commit(at: NonNull<u8>, bytes: usize) -> bool {
    // SAFETY: the caller passes part of a reservation of ours, which nothing else maps.
    unsafe {
        libc::mprotect(
            at.as_ptr().cast(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
        ) == 0
    }
}

/// Unmaps memory from [`map_zeroed`].
///
/// # Safety
/// `at` and `bytes` must be those of one [`map_zeroed`] call, and nothing may use the
/// memory afterwards.
pub unsafe fn unmap(at: NonNull<u8>, bytes: usize) {
    forget(at.as_ptr() as u64);
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

    #[test]
    fn reserved_space_is_listed_and_commits_in_parts() {
        let bytes = 1 << 30;
        let p = super::reserve(bytes).expect("reserved");
        let start = p.as_ptr() as u64;
        let mut listed = false;
        super::for_each_own_mapping(|s, e| listed |= s == start && e == start + bytes as u64);
        assert!(listed);
        // SAFETY: the first two pages of our reservation.
        assert!(unsafe { super::commit(p, 8192) });
        // SAFETY: just committed, ours alone.
        let s = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), 8192) };
        assert!(s.iter().all(|&b| b == 0));
        s[8191] = 1;
        // SAFETY: the whole reservation, used no more.
        unsafe { super::unmap(p, bytes) };
    }
}

//! Blocks that were allocated before the hooks were installed. The DLL is injected
//! after the process's loader has run the C runtimes' start-up (and Wine's own system
//! DLLs allocate through `ucrtbase.dll`), so some blocks live before tracing starts;
//! their later release would read as a free of an unknown address (an inconsistency
//! that is not there). At attach, every busy block of every heap of the process is
//! noted (`HeapWalk`, the other threads suspended); a free or realloc of one of them
//! passes through unrecorded and forgets it.
//!
//! The cost, while any such block is alive: a binary search of a sorted array of their
//! addresses per release (a few hundred at most in a fresh process), behind one relaxed
//! load when there are none.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::Memory::{
    GetProcessHeaps, HeapLock, HeapUnlock, HeapWalk, PROCESS_HEAP_ENTRY,
};
use windows_sys::Win32::System::SystemServices::PROCESS_HEAP_ENTRY_BUSY;

/// The sorted addresses (a leaked slice from the private heap) and how many remain.
static BLOCKS: AtomicUsize = AtomicUsize::new(0);
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Whether any noted block may still be alive.
static ANY: AtomicBool = AtomicBool::new(false);

/// Notes every busy block of every heap (at attach, before the hooks are enabled).
pub fn snapshot() {
    let mut heaps: Vec<HANDLE> = vec![std::ptr::null_mut(); 256];
    // SAFETY: `heaps` has room for its length.
    let n = unsafe { GetProcessHeaps(heaps.len() as u32, heaps.as_mut_ptr()) } as usize;
    heaps.truncate(n.min(256));
    let own = crate::heap::handle();
    let mut blocks: Vec<usize> = Vec::new();
    for heap in heaps.into_iter().filter(|&h| h != own) {
        // SAFETY: a heap of the process, locked while walked.
        if unsafe { HeapLock(heap) } == 0 {
            continue;
        }
        let mut entry = PROCESS_HEAP_ENTRY::default();
        // SAFETY: the walk's state lives in `entry`, zeroed to start.
        while unsafe { HeapWalk(heap, &mut entry) } != 0 {
            if entry.wFlags as u32 & PROCESS_HEAP_ENTRY_BUSY != 0 {
                blocks.push(entry.lpData as usize);
            }
        }
        // SAFETY: locked above.
        unsafe { HeapUnlock(heap) };
    }
    blocks.sort_unstable();
    blocks.dedup();
    let len = blocks.len();
    let leaked = Box::leak(blocks.into_boxed_slice());
    BLOCKS.store(leaked.as_mut_ptr() as usize, Ordering::Release);
    LEN.store(len, Ordering::Release);
    ANY.store(len != 0, Ordering::Release);
}

/// Whether `p` was allocated before the hooks (and is forgotten now: it is being
/// released). Called with the guard held, so concurrent callers are other threads: a
/// slot is cleared with a compare-and-swap, never moved.
#[inline(always)]
pub fn take(p: *mut c_void) -> bool {
    if !ANY.load(Ordering::Relaxed) || p.is_null() {
        return false;
    }
    take_slow(p as usize)
}

#[cold]
fn take_slow(p: usize) -> bool {
    let base = BLOCKS.load(Ordering::Acquire) as *const AtomicUsize;
    let len = LEN.load(Ordering::Acquire);
    if base.is_null() {
        return false;
    }
    // SAFETY: the leaked array of `len` words published by `snapshot`; words are only
    // ever read and cleared atomically (an AtomicUsize has the layout of a usize).
    let blocks = unsafe { std::slice::from_raw_parts(base, len) };
    // Cleared slots keep their address with the low bit set (addresses are 16-aligned),
    // so the array stays sorted by `addr & !1`.
    let i = blocks.partition_point(|b| b.load(Ordering::Relaxed) & !1 < p);
    match blocks.get(i) {
        Some(b) => b
            .compare_exchange(p, p | 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok(),
        None => false,
    }
}

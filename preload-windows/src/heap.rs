//! The tracer's private heap: a heap of its own (`HeapCreate`) for every Rust
//! allocation of the DLL and for the per-thread state blocks, so that the tracer never
//! takes memory from the program's C runtime or from the process heap, whose hooks
//! would see it (docs/architecture.md, invariants 1 and 7).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, Ordering};

use windows_sys::Win32::System::Memory::{
    HeapAlloc, HeapCreate, HeapDestroy, HeapFree, HeapReAlloc, HEAP_ZERO_MEMORY,
};

/// `HeapAlloc`'s alignment on x64 (`MEMORY_ALLOCATION_ALIGNMENT`).
const HEAP_ALIGN: usize = 16;

static HEAP: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// The private heap, created on first use.
fn heap() -> *mut c_void {
    let h = HEAP.load(Ordering::Acquire);
    if !h.is_null() {
        return h;
    }
    // SAFETY: a growable heap with default options.
    let fresh = unsafe { HeapCreate(0, 0, 0) };
    match HEAP.compare_exchange(
        std::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => fresh,
        Err(winner) => {
            // SAFETY: our heap, never used.
            unsafe { HeapDestroy(fresh) };
            winner
        }
    }
}

/// The private heap's handle (left out of the snapshot of blocks that predate tracing).
pub fn handle() -> *mut c_void {
    heap()
}

/// `bytes` of zeroed memory from the private heap (null if it is exhausted).
pub fn alloc_zeroed(bytes: usize) -> *mut u8 {
    // SAFETY: the private heap is valid for the process's life.
    unsafe { HeapAlloc(heap(), HEAP_ZERO_MEMORY, bytes) }.cast()
}

/// The global allocator over the private heap. Alignments above 16 are served by
/// over-allocating and storing the heap block's address just below the aligned one.
pub struct PrivateHeap;

// SAFETY: every block comes from the private heap with at least the asked alignment and
// size, and goes back to it (through the stored address for over-aligned blocks).
unsafe impl GlobalAlloc for PrivateHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.alloc_with(layout, 0)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.alloc_with(layout, HEAP_ZERO_MEMORY)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let block = if layout.align() <= HEAP_ALIGN {
            ptr
        } else {
            // SAFETY: an over-aligned block stores its heap block's address just below.
            unsafe { *(ptr as *const *mut u8).sub(1) }
        };
        // SAFETY: a block of the private heap.
        unsafe { HeapFree(heap(), 0, block.cast()) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= HEAP_ALIGN {
            // SAFETY: a block of the private heap with the default alignment.
            return unsafe { HeapReAlloc(heap(), 0, ptr.cast(), new_size) }.cast();
        }
        // SAFETY: the caller's contract for GlobalAlloc::realloc.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = self.alloc_with(new_layout, 0);
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size; they do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

impl PrivateHeap {
    fn alloc_with(&self, layout: Layout, flags: u32) -> *mut u8 {
        if layout.align() <= HEAP_ALIGN {
            // SAFETY: the private heap is valid.
            return unsafe { HeapAlloc(heap(), flags, layout.size()) }.cast();
        }
        let extra = layout.align() + std::mem::size_of::<usize>();
        // SAFETY: the private heap is valid.
        let block: *mut u8 = unsafe { HeapAlloc(heap(), flags, layout.size() + extra) }.cast();
        if block.is_null() {
            return block;
        }
        let start = block as usize + std::mem::size_of::<usize>();
        let aligned = (start + layout.align() - 1) & !(layout.align() - 1);
        // SAFETY: `aligned - 8` lies inside the block (at least one word after its start).
        unsafe { *(aligned as *mut *mut u8).sub(1) = block };
        aligned as *mut u8
    }
}

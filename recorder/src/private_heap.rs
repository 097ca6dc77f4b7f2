//! The tracer's own heap: every allocation the tracer makes (its Rust code as the front
//! end's `#[global_allocator]`, and the C library's allocations on the tracer's behalf,
//! which the front end's hooks send here while the tracer runs on the thread) comes from
//! this heap, never from the program's allocator. So `mallinfo`, `malloc_stats`, the
//! heap layout and `sbrk` are what they would be without memscope, and a program that
//! brings its own `malloc` never meets the tracer's blocks (docs/architecture.md,
//! invariant 7).
//!
//! dlmalloc manages the blocks; its memory comes from one range of address space
//! reserved at first use and committed piece by piece, so that "is this block the
//! tracer's?" is two compares ([`contains`]): the hooks ask it on every `free`. The range
//! is listed with the tracer's own mappings (the leak check never scans it as a root).
//! One lock serializes the heap (the tracer allocates little and rarely on the program's
//! threads); fork handlers hold it across `fork` so that a child never inherits it held.
//!
//! The tracer's large Rust buffers ([`LARGE`] bytes and more: chunk buffers, interning
//! tables) get a mapping each instead, as glibc's `malloc` does above its mmap
//! threshold: their pages are touched only as they are used, and go back to the kernel
//! when the buffer is dropped. From dlmalloc, a zeroed buffer is cleared by hand (it
//! cannot tell fresh memory from reused) and so touches every page: 5 MB for the
//! writer's chunk buffers of every process, which made each forked child ~3 ms slower.
//! The C library never sees these buffers, so [`contains`] need not know them; they are
//! listed with the tracer's own mappings like the range.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr::{null_mut, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};

use dlmalloc::{Allocator, Dlmalloc};
use memscope_platform::memory::{commit, map_zeroed, reserve, unmap};

/// Address space to reserve, largest first: the first the kernel grants is the heap's
/// limit (an address-space limit such as `ulimit -v` may refuse the larger ones).
const RESERVATIONS: [usize; 4] = [64 << 30, 8 << 30, 1 << 30, 256 << 20];
const PAGE: usize = 4096;
/// Committed at a time at least (dlmalloc asks for what it needs, rounded up to this).
const COMMIT_STEP: usize = 1 << 20;

/// Rust allocations of this size or more get a mapping of their own (see the module
/// comment).
const LARGE: usize = 256 << 10;

/// Whether a Rust allocation of `layout` gets a mapping of its own (mappings are
/// page-aligned, so a larger alignment stays with dlmalloc).
#[inline]
fn is_large(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= PAGE
}

/// A mapping for a large Rust allocation: zeroed; null if the kernel refuses.
fn map_large(size: usize) -> *mut u8 {
    map_zeroed(size).map_or(null_mut(), NonNull::as_ptr)
}

/// The reserved range `[START, END)` (0, 0 until reserved) and how far it is committed.
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
static COMMITTED: AtomicUsize = AtomicUsize::new(0);

/// Whether `ptr` is a block of the tracer's heap.
#[inline(always)]
pub fn contains(ptr: *const u8) -> bool {
    let p = ptr as usize;
    p >= START.load(Ordering::Relaxed) && p < END.load(Ordering::Relaxed)
}

/// dlmalloc's source of memory: the reserved range, handed out front to back and never
/// given back (dlmalloc reuses what it has).
struct Range;

// SAFETY: `alloc` returns committed, zeroed, exclusively owned memory of the length it
// says, and the release methods never claim to have released anything.
unsafe impl Allocator for Range {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        // Called with the heap lock held.
        if START.load(Ordering::Relaxed) == 0 {
            let Some((at, len)) = RESERVATIONS
                .iter()
                .find_map(|&len| reserve(len).map(|p| (p.as_ptr() as usize, len)))
            else {
                return (null_mut(), 0, 0);
            };
            COMMITTED.store(at, Ordering::Relaxed);
            END.store(at + len, Ordering::Relaxed);
            START.store(at, Ordering::Relaxed);
        }
        let at = COMMITTED.load(Ordering::Relaxed);
        let len = size.div_ceil(COMMIT_STEP) * COMMIT_STEP;
        if len > END.load(Ordering::Relaxed) - at {
            return (null_mut(), 0, 0);
        }
        let Some(p) = NonNull::new(at as *mut u8) else {
            return (null_mut(), 0, 0);
        };
        // SAFETY: `at..at + len` lies inside the reservation, past everything committed.
        if !unsafe { commit(p, len) } {
            return (null_mut(), 0, 0);
        }
        COMMITTED.store(at + len, Ordering::Relaxed);
        (p.as_ptr(), len, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

/// The heap and its lock (a pthread mutex: it never allocates and, unlike a spin lock,
/// does not burn a core while the writer holds it).
struct Heap {
    lock: UnsafeCell<libc::pthread_mutex_t>,
    dl: UnsafeCell<Dlmalloc<Range>>,
}

// SAFETY: `dl` is only touched with `lock` held (see `with`).
unsafe impl Sync for Heap {}

static HEAP: Heap = Heap {
    lock: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
    dl: UnsafeCell::new(Dlmalloc::new_with_allocator(Range)),
};

fn lock() {
    // SAFETY: a statically initialized mutex that lives for the whole process.
    unsafe { libc::pthread_mutex_lock(HEAP.lock.get()) };
}

fn unlock() {
    // SAFETY: as in `lock`; called only by the thread that locked it.
    unsafe { libc::pthread_mutex_unlock(HEAP.lock.get()) };
}

/// Runs `f` on the heap with its lock held.
#[inline]
fn with<R>(f: impl FnOnce(&mut Dlmalloc<Range>) -> R) -> R {
    lock();
    // SAFETY: the lock is held, so this is the only reference to the heap.
    let r = f(unsafe { &mut *HEAP.dl.get() });
    unlock();
    r
}

/// Before `fork`: hold the lock, so that no other thread is inside the heap when the
/// child's copy is taken. Register [`prepare_fork`], [`after_fork`], [`after_fork`] with
/// `pthread_atfork` before any other fork handler of the tracer: the child's handlers
/// run in registration order and may allocate.
pub extern "C" fn prepare_fork() {
    lock();
}

/// After `fork`, in the parent and in the child: release the lock taken before it.
pub extern "C" fn after_fork() {
    unlock();
}

/// `malloc` for the C library's allocations on the tracer's behalf.
pub fn malloc(size: usize) -> *mut u8 {
    // SAFETY: any size is accepted; the block is released only through this module.
    with(|h| unsafe { h.c_malloc(size) })
}

/// `calloc`: zeroed, null on overflow.
pub fn calloc(n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        return null_mut();
    };
    // SAFETY: as in `malloc`; dlmalloc's calloc zeroes what it hands out.
    with(|h| unsafe { h.calloc(total, 16) })
}

/// `memalign`/`posix_memalign`/`aligned_alloc`: `align` must be a power of two.
pub fn memalign(align: usize, size: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        return null_mut();
    }
    // SAFETY: a power-of-two alignment, as c_memalign requires.
    with(|h| unsafe { h.c_memalign(align, size) })
}

/// `realloc` of a block of this heap (or null).
///
/// # Safety
/// `ptr` is null or a live block of this heap.
pub unsafe fn realloc(ptr: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: per the contract.
    with(|h| unsafe { h.c_realloc(ptr, size) })
}

/// `free` of a block of this heap (or null).
///
/// # Safety
/// `ptr` is null or a live block of this heap.
pub unsafe fn free(ptr: *mut u8) {
    // SAFETY: per the contract.
    with(|h| unsafe { h.c_free(ptr) })
}

/// The tracer's heap as a Rust global allocator (the front end declares it:
/// `#[global_allocator] static HEAP: PrivateHeap = PrivateHeap;`).
pub struct PrivateHeap;

// SAFETY: every method forwards to dlmalloc with the lock held and the layout's own size
// and alignment, which is dlmalloc's contract for its layout-carrying API.
unsafe impl GlobalAlloc for PrivateHeap {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            return map_large(layout.size());
        }
        // SAFETY: see the impl's comment.
        with(|h| unsafe { h.malloc(layout.size(), layout.align()) })
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            return map_large(layout.size());
        }
        // SAFETY: see the impl's comment.
        with(|h| unsafe { h.calloc(layout.size(), layout.align()) })
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(&layout) {
            if let Some(p) = NonNull::new(ptr) {
                // SAFETY: a mapping of `map_large` of this size (the caller's layout is
                // the allocation's), used no more.
                unsafe { unmap(p, layout.size()) };
            }
            return;
        }
        // SAFETY: see the impl's comment.
        with(|h| unsafe { h.free(ptr, layout.size(), layout.align()) })
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid new size for this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if is_large(&layout) || is_large(&new_layout) {
            // SAFETY: `new_layout` is valid (above); the old block is live, of `layout`.
            unsafe {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                return new;
            }
        }
        // SAFETY: see the impl's comment.
        with(|h| unsafe { h.realloc(ptr, layout.size(), layout.align(), new_size) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_blocks_come_from_the_reserved_range_and_are_reused() {
        let a = malloc(100);
        assert!(contains(a));
        // SAFETY: `a` is a live block of this heap, 100 bytes long.
        unsafe { a.write_bytes(0xab, 100) };
        let z = calloc(10, 10);
        // SAFETY: 100 zeroed bytes of ours.
        assert!(unsafe { std::slice::from_raw_parts(z, 100) }
            .iter()
            .all(|&b| b == 0));
        // SAFETY: live blocks of this heap.
        let b = unsafe { realloc(a, 5000) };
        assert!(contains(b));
        // SAFETY: realloc kept the first 100 bytes.
        assert_eq!(unsafe { *b.add(99) }, 0xab);
        let c = memalign(4096, 10);
        assert_eq!(c as usize % 4096, 0);
        assert!(!contains(&START as *const AtomicUsize as *const u8));
        assert!(calloc(usize::MAX, 2).is_null());
        // SAFETY: live blocks of this heap, freed once.
        unsafe {
            free(b);
            free(z);
            free(c);
        }
    }

    #[test]
    fn rust_allocations_work_through_the_global_allocator_interface() {
        let layout = Layout::from_size_align(1 << 20, 64).unwrap();
        // SAFETY: a valid non-zero layout; the block is freed with the same layout.
        unsafe {
            let small = Layout::from_size_align(1000, 64).unwrap();
            let s = PrivateHeap.alloc_zeroed(small);
            assert!(contains(s) && (s as usize).is_multiple_of(64));
            assert_eq!(*s.add(999), 0);
            s.write_bytes(0xcd, 1000);
            // Grown past the large size: a mapping of its own, listed as the tracer's.
            let p = PrivateHeap.realloc(s, small, 1 << 20);
            assert!(!p.is_null() && !contains(p) && (p as usize).is_multiple_of(4096));
            assert_eq!(*p.add(999), 0xcd);
            let mut listed = false;
            memscope_platform::memory::for_each_own_mapping(|a, e| {
                listed |= a == p as u64 && e >= p as u64 + (1 << 20)
            });
            assert!(listed);
            let z = PrivateHeap.alloc_zeroed(layout);
            assert_eq!(*z.add((1 << 20) - 1), 0);
            let q = PrivateHeap.realloc(p, layout, 3 << 20);
            assert_eq!(*q.add(999), 0xcd);
            PrivateHeap.dealloc(q, Layout::from_size_align(3 << 20, 64).unwrap());
            PrivateHeap.dealloc(z, layout);
        }
    }
}

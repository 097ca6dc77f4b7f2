//! Where each thread's `ThreadState` lives on macOS: a pthread key's value, pointing into
//! blocks handed out from a static pool (then from anonymous mappings), never from the
//! allocator. macOS keeps pthread key values in a fixed array of the thread
//! (`pthread_getspecific` is a load through the thread pointer), so reading the state
//! neither allocates nor enters a hook (docs/architecture.md, invariant 1); Rust's
//! `thread_local!` would (dyld's thread-local variables allocate on a thread's first
//! use, through `malloc`).
//!
//! The key's destructor is how a thread's exit is seen. A block is never reused: a
//! thread that still allocates after its destructor ran gets a fresh one (its state is
//! then empty, as for a new thread).

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use memscope_recorder::ThreadState;

/// Blocks in the static pool (16 bytes each): threads beyond it take mapped chunks.
const POOL: usize = 4096;
/// Blocks per mapped chunk.
const CHUNK: usize = 4096;

struct Block(UnsafeCell<ThreadState>);

// SAFETY: each block is handed to one thread only (`take_block`), which alone uses it.
unsafe impl Sync for Block {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Block = Block(UnsafeCell::new(ThreadState {
    slot: std::ptr::null_mut(),
    guard: 0,
    busy: 0,
}));

static BLOCKS: [Block; POOL] = [EMPTY; POOL];
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// The mapped chunk blocks are taken from past the pool, and how many of it are taken.
static CHUNK_AT: AtomicPtr<ThreadState> = AtomicPtr::new(std::ptr::null_mut());
static CHUNK_USED: AtomicUsize = AtomicUsize::new(CHUNK);

/// `pthread_key_t + 1` of the key, 0 until created.
static KEY: AtomicUsize = AtomicUsize::new(0);

/// The calling thread's state block (created on its first call).
#[inline(always)]
pub fn current() -> NonNull<ThreadState> {
    let key = key();
    if key == libc::pthread_key_t::MAX {
        return NonNull::from(&STUCK).cast();
    }
    // SAFETY: reading this thread's value of a key we created.
    let p = unsafe { libc::pthread_getspecific(key) }.cast::<ThreadState>();
    if let Some(p) = NonNull::new(p) {
        return p;
    }
    let block = take_block();
    // SAFETY: setting this thread's value of our key; macOS stores it in the thread's
    // fixed key array (no allocation).
    unsafe { libc::pthread_setspecific(key, block.as_ptr().cast()) };
    block
}

/// The key, created on first use (the first hook may run before this image's
/// initializer: libSystem allocates while it starts).
#[inline(always)]
fn key() -> libc::pthread_key_t {
    let k = KEY.load(Ordering::Acquire);
    if k != 0 {
        return (k - 1) as libc::pthread_key_t;
    }
    create_key()
}

#[cold]
fn create_key() -> libc::pthread_key_t {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: creates a key with our destructor (an extern "C" function that never
    // unwinds).
    if unsafe { libc::pthread_key_create(&mut key, Some(crate::front_end::on_thread_exit)) } != 0 {
        // Out of keys: the program used every one. Nothing can be traced; the state then
        // lives in one shared block whose guard stays set (see `stuck`).
        return stuck_key();
    }
    match KEY.compare_exchange(0, key as usize + 1, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => key,
        Err(other) => {
            // Another thread created one first: use that one.
            // SAFETY: our key was never handed out.
            unsafe { libc::pthread_key_delete(key) };
            (other - 1) as libc::pthread_key_t
        }
    }
}

/// No key could be made: every hook passes straight through (a state whose guard is
/// held says so), so the program runs untraced.
fn stuck_key() -> libc::pthread_key_t {
    // SAFETY: STUCK is only ever read after this store; a nonzero guard means "inside a
    // hook" to the recorder (`ThreadState::guard`), so every hook passes through.
    unsafe { (*STUCK.0.get()).guard = 1 };
    libc::pthread_key_t::MAX
}

/// The shared state of a process that got no key (see `stuck_key`).
static STUCK: Block = EMPTY;

/// A fresh, zeroed block for the calling thread.
fn take_block() -> NonNull<ThreadState> {
    let i = NEXT.fetch_add(1, Ordering::AcqRel);
    if i < POOL {
        return NonNull::from(&BLOCKS[i]).cast();
    }
    loop {
        let used = CHUNK_USED.fetch_add(1, Ordering::AcqRel);
        let chunk = CHUNK_AT.load(Ordering::Acquire);
        if used < CHUNK && !chunk.is_null() {
            // SAFETY: index `used` of a chunk of CHUNK blocks, handed out once.
            return unsafe { NonNull::new_unchecked(chunk.add(used)) };
        }
        // Map a new chunk; the loser of a race unmaps nothing (a chunk is small and
        // such races are rare), it just retries on the winner's.
        let bytes = CHUNK * std::mem::size_of::<ThreadState>();
        let Some(fresh) = memscope_platform::memory::map_zeroed(bytes) else {
            return NonNull::from(&STUCK).cast();
        };
        if CHUNK_AT
            .compare_exchange(
                chunk,
                fresh.as_ptr().cast(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            CHUNK_USED.store(1, Ordering::Release);
            return fresh.cast();
        }
    }
}

//! Per-thread tracer state ("slots") and the lock-free registry the writer walks.
//!
//! A thread gets a slot on its first traced event and keeps it (through the front end's
//! [`ThreadState`](crate::ThreadState)) until it dies. Slots are never freed: when the writer has seen a thread gone and its
//! ring drained, the slot goes back to `FREE` and the next new thread reuses it, so memory
//! is bounded by the most threads alive at once. The registry is a push-only linked list:
//! `next` is written before a slot is published and never changes (except in a forked
//! child, which has one thread).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crossbeam_utils::CachePadded;

use memscope_platform::thread::{current_tid, AtomicThreadId};
#[cfg(stack_capture)]
use memscope_platform::unwind::MEMO_WALKS;

#[cfg(stack_capture)]
use crate::capture::ThreadCapture;
use crate::config::Config;
use crate::entry::{HEADER_WORDS, MAX_FRAMES};
use crate::ring::Ring;

pub const FREE: u8 = 0;
pub const ACTIVE: u8 = 1;
pub const EXITING: u8 = 2;

pub struct ThreadSlot {
    pub ring: Ring,
    pub state: AtomicU8,
    pub tid: AtomicThreadId,
    next: AtomicPtr<ThreadSlot>,
    /// Owner-only: the state of the thread using the slot. On cache lines of its own, as
    /// is the writer's part: each side writes its part on every event, on its own core.
    owner: CachePadded<UnsafeCell<Owner>>,
    pub writer: CachePadded<WriterOnly>,
}

/// The part of a slot only the writer thread touches.
pub struct WriterOnly {
    /// The stream the slot's events currently go to.
    pub stream: UnsafeCell<u32>,
    /// The stack id of each memoized walk of the thread, as last sent (see `entry`).
    #[cfg(stack_capture)]
    pub walks: UnsafeCell<[u64; MEMO_WALKS]>,
}

pub struct Owner {
    /// Unwind caches, stack bounds and the walks the writer has (see `capture`).
    #[cfg(stack_capture)]
    pub capture: ThreadCapture,
    /// Where an entry is assembled before it is pushed (header, then frames); padded so
    /// that no block of the writer shares its cache lines.
    pub scratch: Box<CachePadded<[u64; HEADER_WORDS + MAX_FRAMES]>>,
    /// Frames per stack and whether frees carry one: the trace's settings, copied here so
    /// that an event reads them from the thread's own slot.
    pub stack_depth: usize,
    pub free_stacks: bool,
}

impl Owner {
    /// Makes the next stack of every walk go to the writer in full (after events were
    /// lost, or for a new writer).
    pub fn forget_sent_walks(&mut self) {
        #[cfg(stack_capture)]
        self.capture.forget_sent_walks();
    }

    /// Captures the calling thread's stack, at most `depth` frames, into the scratch
    /// buffer after a header of `header` words: how many frames to send and the memoized
    /// walk they are (see `capture`). None where the platform captures no stacks.
    #[inline(always)]
    pub fn capture_stack(&mut self, header: usize, depth: usize) -> (usize, Option<usize>) {
        #[cfg(stack_capture)]
        return self
            .capture
            .capture(&mut self.scratch[header..header + depth.min(MAX_FRAMES)]);
        #[cfg(not(stack_capture))]
        {
            let _ = (header, depth);
            (0, None)
        }
    }

    fn configure(&mut self, config: &Config) {
        self.stack_depth = config.stack_depth as usize;
        self.free_stacks = config.free_stacks;
    }
}

// SAFETY: `owner` is only touched by the thread that owns the slot, `writer` only by the
// writer thread; everything else is atomic or the Sync ring.
unsafe impl Sync for ThreadSlot {}

static HEAD: AtomicPtr<ThreadSlot> = AtomicPtr::new(std::ptr::null_mut());
static NEXT_STREAM: AtomicU32 = AtomicU32::new(1);

/// The event clock (ticks) when a second thread of the process opened a stream;
/// `u64::MAX` while one thread has recorded everything. See [`solo_until`].
static SECOND_STREAM_AT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Called by a thread opening stream `stream` at `ticks`, before it records anything
/// stamped later.
pub fn note_stream_start(stream: u32, ticks: u64) {
    if stream > 1 {
        // A locked instruction: the store is visible to every core before this thread
        // reads the clock again.
        SECOND_STREAM_AT.fetch_min(ticks, Ordering::SeqCst);
    }
}

/// Events stamped before this tick were recorded while the process had one recording
/// thread: nothing needs their times to order them against another thread's events.
///
/// Read by the writer after it read an event from a ring. Every allocation-side event
/// of a thread with stream > 1 is stamped after its [`note_stream_start`] completed (its
/// `ThreadStart`, stamped just before, orders no address; realloc stamps its start only
/// once the thread is attached): on x86-64 the locked instruction is globally visible
/// before the fenced clock read that follows it, and the event clock needs TSCs that
/// agree across cores anyway. So if another thread's event is stamped at or before the
/// writer's event, the mark was lowered before the writer's event was stamped, hence
/// before the writer read it: the writer then sees the new mark and keeps that event's
/// time exact.
pub fn solo_until() -> u64 {
    SECOND_STREAM_AT.load(Ordering::Acquire)
}

impl ThreadSlot {
    /// Owner-only state.
    ///
    /// # Safety
    /// Only the thread that owns the slot may call this, and not re-entrantly.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn owner(&self) -> &mut Owner {
        // SAFETY: per the contract, no other reference exists.
        unsafe { &mut *self.owner.get() }
    }

    pub fn next(&self) -> *mut ThreadSlot {
        self.next.load(Ordering::Acquire)
    }
}

/// Iterates over every slot ever registered.
pub fn for_each_slot(mut f: impl FnMut(&'static ThreadSlot)) {
    let mut p = HEAD.load(Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: slots are leaked, never freed: every registered pointer stays valid.
        let s: &'static ThreadSlot = unsafe { &*p };
        f(s);
        p = s.next();
    }
}

/// Gives the calling thread a slot (a free one, or a new one) and returns it with a fresh
/// stream number. Allocates: call with the guard held.
pub fn acquire(config: &Config) -> Option<(&'static ThreadSlot, u32)> {
    let tid = current_tid();
    let stream = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
    let mut reused = None;
    for_each_slot(|s| {
        if reused.is_none()
            && s.state
                .compare_exchange(FREE, ACTIVE, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            reused = Some(s);
        }
    });
    let slot = match reused {
        Some(s) => {
            // SAFETY: we just became the owner (FREE -> ACTIVE).
            let owner = unsafe { s.owner() };
            #[cfg(stack_capture)]
            {
                owner.capture.stack = ThreadCapture::current_stack();
            }
            owner.configure(config);
            s
        }
        None => {
            let ring = Ring::new(config.ring_words as usize)?;
            let s: &'static ThreadSlot = Box::leak(Box::new(ThreadSlot {
                ring,
                state: AtomicU8::new(ACTIVE),
                tid: AtomicThreadId::new(tid),
                next: AtomicPtr::new(std::ptr::null_mut()),
                owner: CachePadded::new(UnsafeCell::new(Owner {
                    #[cfg(stack_capture)]
                    capture: ThreadCapture::new(config),
                    scratch: Box::new(CachePadded::new([0; HEADER_WORDS + MAX_FRAMES])),
                    stack_depth: config.stack_depth as usize,
                    free_stacks: config.free_stacks,
                })),
                writer: CachePadded::new(WriterOnly {
                    stream: UnsafeCell::new(0),
                    #[cfg(stack_capture)]
                    walks: UnsafeCell::new([0; MEMO_WALKS]),
                }),
            }));
            publish(s);
            s
        }
    };
    slot.tid.store(tid, Ordering::Relaxed);
    Some((slot, stream))
}

fn publish(s: &'static ThreadSlot) {
    let p = s as *const ThreadSlot as *mut ThreadSlot;
    let mut head = HEAD.load(Ordering::Relaxed);
    loop {
        s.next.store(head, Ordering::Relaxed);
        match HEAD.compare_exchange_weak(head, p, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

/// In a forked child: forget every slot (their threads do not exist here) except the
/// calling thread's, which is emptied and given stream 1 (returned). A thread without a
/// slot takes stream 1 when it first records. `config`: the child's settings.
pub fn reset_after_fork(current: Option<&'static ThreadSlot>, config: &Config) -> u32 {
    HEAD.store(std::ptr::null_mut(), Ordering::Release);
    NEXT_STREAM.store(1, Ordering::Relaxed);
    SECOND_STREAM_AT.store(u64::MAX, Ordering::Relaxed);
    let Some(s) = current else { return 0 };
    let stream = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
    {
        s.ring.clear();
        // The child's writer starts with no stacks: send every walk again.
        // SAFETY: the calling thread owns `s` and is not inside a hook (fork returned);
        // the child has no writer thread yet.
        unsafe {
            let owner = s.owner();
            owner.forget_sent_walks();
            owner.configure(config);
            #[cfg(stack_capture)]
            {
                *s.writer.walks.get() = [0; MEMO_WALKS];
            }
        }
        s.state.store(ACTIVE, Ordering::Relaxed);
        s.tid.store(current_tid(), Ordering::Relaxed);
        publish(s);
    }
    stream
}

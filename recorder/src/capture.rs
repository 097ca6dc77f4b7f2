//! Stack capture into a thread's slot, built where the platform crate captures stacks
//! (the `stack_capture` configuration set by build.rs): the thread's unwind caches and
//! stack bounds, and which version of each memoized walk the writer was last sent, so
//! that a walk it already has goes as a reference instead of its frames (see `entry`).

use memscope_platform::thread::current_stack_bounds;
use memscope_platform::unwind::{UnwindCache, MEMO_WALKS};

use crate::config::Config;
use crate::handoff::HANDOFF;

// Word 0 of a ring entry has 7 bits for the walk (see `entry`).
const _: () = assert!(MEMO_WALKS < 127);

/// What a thread keeps to capture its stacks (owner-only, in its slot).
pub struct ThreadCapture {
    pub cache: Box<UnwindCache>,
    /// The thread's stack mapping, `[low, high)` (see `StackUnwinder::capture`).
    pub stack: (u64, u64),
    /// The version of each memoized walk whose frames the writer was last sent
    /// ([`ThreadCapture::NOT_SENT`]: none).
    pub sent_walks: [u64; MEMO_WALKS],
}

impl ThreadCapture {
    pub const NOT_SENT: u64 = u64::MAX;

    /// The capture state of the calling thread, new to its slot.
    pub fn new(config: &Config) -> ThreadCapture {
        ThreadCapture {
            cache: UnwindCache::new(config.stack_memo),
            stack: Self::current_stack(),
            sent_walks: [Self::NOT_SENT; MEMO_WALKS],
        }
    }

    /// The calling thread's stack, `(0, 0)` if unknown (then nothing unwinds).
    pub fn current_stack() -> (u64, u64) {
        current_stack_bounds().unwrap_or((0, 0))
    }

    /// Makes the next stack of every walk go to the writer in full (after events were
    /// lost, or for a new writer).
    pub fn forget_sent_walks(&mut self) {
        self.sent_walks = [Self::NOT_SENT; MEMO_WALKS];
    }

    /// Captures the calling thread's stack into `frames`: how many frames to send and
    /// the memoized walk they are, if any (no frames to send: the writer has this
    /// version of the walk already).
    #[inline(always)]
    pub fn capture(&mut self, frames: &mut [u64]) -> (usize, Option<usize>) {
        let Some(u) = HANDOFF.unwinder() else {
            return (0, None);
        };
        let mut captured = u.capture(&mut self.cache, self.stack, frames);
        // A library was loaded since the unwinder was built: have the writer read the
        // module list again (rate-limited) and unwind once more.
        if captured.cut_short && HANDOFF.refresh_modules_now(u) {
            if let Some(fresh) = HANDOFF.unwinder() {
                captured = fresh.capture(&mut self.cache, self.stack, frames);
            }
        }
        let mut n = captured.frames;
        // The stack is a memoized walk: send its frames only if the writer does not have
        // this version yet (see `entry`).
        let walk = captured.walk.map(|(slot, version)| {
            if self.sent_walks[slot] == version as u64 {
                n = 0;
            } else {
                self.sent_walks[slot] = version as u64;
            }
            slot
        });
        (n, walk)
    }
}

//! A thread's memo of its recent stack walks, so that a stack seen before costs a load
//! and a compare per frame instead of an unwind-rule lookup and execution.
//!
//! framehop's step from a frame to its caller is a pure function of the frame's
//! (ip, sp, bp), the module list and the stack words the step reads. So a walk is kept
//! under its first program frame (return address and stack pointer, plus the frame
//! pointer when a step used it before any step restored it) together with every word
//! each step read. Replaying it re-reads those words and compares them: while they are
//! equal the frames are exactly what unwinding would give; at the first difference real
//! unwinding resumes from that frame. A memoized stack is never a guess.
//!
//! A saved frame pointer that a step restores only has to hold if a later step uses the
//! frame pointer (most code here does not: its `rbp` is an ordinary register whose saved
//! value changes from call to call). Which step used it is read off its reads (see
//! [`ReadLog::used_bp`] and [`ReadLog::restore_index`]), which fits framehop 0.16's
//! x86_64 rules: recheck both against `UnwindRuleX86_64::exec` when framehop changes.
//! `tests/tests/stack_memo.rs` checks real programs traced with and without the memo.
//!
//! Hand-written rather than a crate: it lives on the allocation hot path, where nothing
//! may allocate or lock, and its layout is tied to framehop's x86_64 rules (at most two
//! stack reads per step for the rules `.eh_frame` produces).

/// Walks kept per thread (direct-mapped by their first frame; ≈ 6 KB each, committed
/// only when used).
pub const MEMO_WALKS: usize = 64;
/// Longest walk kept; deeper stack limits are unwound without the memo.
pub const MEMO_FRAMES: usize = 64;

/// `Step::nreads` of a step that cannot be replayed (too many or failed reads).
pub const UNREPLAYABLE: u8 = u8::MAX;

/// One frame of a walk and the step from it to its caller (or to the end of the walk).
#[derive(Clone, Copy, Default)]
pub struct Step {
    /// The frame's return address (its `ip`) and stack pointer.
    pub ra: u64,
    pub sp: u64,
    /// Stack words the step read, as (address, value); [`UNREPLAYABLE`] if unknown.
    pub nreads: u8,
    pub reads: [(u64, u64); 2],
    /// Which read (1-based; 0: none) gave the caller's frame pointer: a saved register,
    /// whose value matters only if a later step uses the frame pointer.
    pub restores_bp: u8,
    /// Whether the step used this frame's frame pointer (a frame-pointer rule).
    pub uses_bp: bool,
    /// Reads that must hold for the step to replay (bit i: `reads[i]`), set by
    /// [`Walk::settle`].
    pub must_hold: u8,
    /// Whether a step from this frame on uses this frame's frame pointer before another
    /// restores it (set by [`Walk::settle`]): then the frames from here on depend on it.
    pub bp_needed: bool,
}

impl Step {
    /// A frame before its step is taken.
    pub fn at(ra: u64, sp: u64) -> Step {
        Step { ra, sp, ..Step::default() }
    }

    /// Whether the step would read the same words now, as far as they matter. `[lo, hi)`
    /// is the readable stack.
    #[inline(always)]
    pub fn replays(&self, lo: u64, hi: u64) -> bool {
        if self.nreads == UNREPLAYABLE {
            return false;
        }
        for (i, &(addr, value)) in self.reads.iter().enumerate().take(self.nreads as usize) {
            if self.must_hold & (1 << i) != 0 {
                if addr < lo || addr + 8 > hi {
                    return false;
                }
                // SAFETY: the address is 8-aligned (it was read successfully before, and
                // the reader checks alignment) and inside this thread's own mapped stack.
                if unsafe { *(addr as *const u64) } != value {
                    return false;
                }
            }
        }
        true
    }
}

/// A memoized walk: `steps[..len]` are its frames, innermost first.
pub struct Walk {
    /// Identity of the unwinder that made it (0: empty).
    pub unwinder: usize,
    /// The top of the stack it was made on (part of the key: a slot's next thread has
    /// another stack).
    pub hi: u64,
    /// The frame limit it was made under (a shorter walk ended on its own).
    pub limit: usize,
    /// The frame pointer it started with, and whether a step used it (then it is part of
    /// the key).
    pub bp: u64,
    pub bp_keyed: bool,
    pub len: usize,
    /// Its last frame is in no module the unwinder knows.
    pub cut_short: bool,
    /// Bumped on every change of its frames (never reused while the walk lives).
    pub version: u32,
    pub steps: [Step; MEMO_FRAMES],
    /// Every word that must hold, in one list (`reads[..reads_len]`), when all of them
    /// lie between the first frame's stack pointer and `hi` and every step is
    /// replayable (`reads_usable`). Checking it is a tight loop with no bounds checks and
    /// no branch per frame. Gathered on the first replay after a change (`gathered`).
    pub gathered: bool,
    pub reads_usable: bool,
    pub reads_len: usize,
    pub reads: [(u64, u64); 2 * MEMO_FRAMES],
}

impl Walk {
    /// Whether this walk starts at the frame (`ra`, `sp`, `bp`) under the same unwinder,
    /// stack and limit.
    #[inline(always)]
    pub fn starts_at(&self, unwinder: usize, limit: usize, hi: u64, ra: u64, sp: u64, bp: u64) -> bool {
        let first = &self.steps[0];
        self.unwinder == unwinder
            && self.limit == limit
            && self.hi == hi
            && first.ra == ra
            && first.sp == sp
            && (!self.bp_keyed || self.bp == bp)
    }

    /// Starts over at the frame (`ra`, `sp`, `bp`).
    pub fn restart(&mut self, unwinder: usize, limit: usize, hi: u64, ra: u64, sp: u64, bp: u64) {
        self.unwinder = unwinder;
        self.limit = limit;
        self.hi = hi;
        self.bp = bp;
        self.gathered = false;
        self.bp_keyed = false;
        self.len = 1;
        self.steps[0] = Step::at(ra, sp);
    }

    /// Whether the walk can lend its frames to another one (see `StackUnwinder`).
    pub fn lends_to(&self, unwinder: usize, hi: u64) -> bool {
        self.unwinder == unwinder && self.hi == hi && self.len > 0
    }

    /// After the walk changed: decides which reads must hold (a saved frame pointer only
    /// if a later step uses it before another restores it; every other read always) and
    /// whether the incoming frame pointer is part of the key.
    pub fn settle(&mut self) {
        // A walk cut by the limit never took a step from its last frame.
        let stepped = if self.len == self.limit { self.len - 1 } else { self.len };
        let mut bp_used_later = false;
        for (k, step) in self.steps[..stepped].iter_mut().enumerate().rev() {
            let all = (1u8 << step.nreads.min(2)) - 1;
            let terminal = k + 1 == self.len;
            step.must_hold = match step.restores_bp {
                r if r != 0 && !terminal && !bp_used_later && !step.uses_bp => all & !(1 << (r - 1)),
                _ => all,
            };
            bp_used_later = step.uses_bp || (step.restores_bp == 0 && bp_used_later);
            step.bp_needed = bp_used_later;
        }
        if stepped < self.len {
            self.steps[stepped].bp_needed = true; // its step was never taken: unknown
        }
        self.bp_keyed = bp_used_later;
        self.gathered = false;
    }

    /// Gathers the reads that must hold into one list (once per change of the walk, when
    /// it is about to be replayed).
    pub fn gather(&mut self) {
        self.gathered = true;
        self.reads_usable = false;
        let stepped = if self.len == self.limit { self.len - 1 } else { self.len };
        let (lo, hi) = (self.steps[0].sp, self.hi);
        let mut n = 0;
        for step in &self.steps[..stepped] {
            if step.nreads == UNREPLAYABLE {
                return;
            }
            for (i, &(addr, value)) in step.reads[..step.nreads as usize].iter().enumerate() {
                if step.must_hold & (1 << i) == 0 {
                    continue;
                }
                if addr < lo || addr + 8 > hi {
                    return;
                }
                self.reads[n] = (addr, value);
                n += 1;
            }
        }
        self.reads_len = n;
        self.reads_usable = true;
    }

    /// Whether every word that must hold is unchanged, by the gathered list; `None` if
    /// there is no list.
    #[inline(always)]
    pub fn all_reads_hold(&mut self) -> Option<bool> {
        if !self.gathered {
            self.gather();
        }
        if !self.reads_usable {
            return None;
        }
        let mut diff = 0;
        for &(addr, value) in &self.reads[..self.reads_len] {
            // SAFETY: `settle` kept only 8-aligned addresses (they were read before)
            // between the first frame's stack pointer and the top of this thread's
            // stack, and the walk matched this frame and stack (`starts_at`).
            diff |= unsafe { *(addr as *const u64) } ^ value;
        }
        Some(diff == 0)
    }
}

/// The frame pointer at the frame after `steps`, whose first frame had `bp`, for steps
/// that replayed: the saved register the last of them restored it from, as it is now
/// (its address is relative to the replayed stack pointers), or `bp`.
pub fn bp_after(steps: &[Step], bp: u64, bounds: (u64, u64)) -> Option<u64> {
    match steps.iter().rev().find(|s| s.restores_bp != 0) {
        Some(s) => read_word(bounds, s.reads[s.restores_bp as usize - 1].0),
        None => Some(bp),
    }
}

/// Reads the stack word at `addr` if it is 8-aligned and inside `[lo, hi)`.
#[inline(always)]
pub fn read_word((lo, hi): (u64, u64), addr: u64) -> Option<u64> {
    if addr >= lo && addr.checked_add(8).is_some_and(|end| end <= hi) && addr.is_multiple_of(8) {
        // SAFETY: the address is 8-aligned and inside this thread's own mapped stack.
        Some(unsafe { *(addr as *const u64) })
    } else {
        None
    }
}

/// A thread's walks, and which ones its last two captures used (latest first).
pub struct WalkMemo(Box<[Walk; MEMO_WALKS]>, [usize; 2]);

impl WalkMemo {
    pub fn new() -> Self {
        // Zeroed memory: a thread touches (and the kernel commits) only the walks it
        // uses. SAFETY: every field of `Walk` and `Step` is an integer, a bool or an
        // array of them, for which all zero bits are valid (an empty walk: unwinder 0).
        let walks = unsafe { Box::<[Walk; MEMO_WALKS]>::new_zeroed().assume_init() };
        WalkMemo(walks, [0, 0])
    }

    /// The walk slot for a first frame at (`ra`, `sp`) and its index, and the other
    /// walks the last two captures used (they may share outer frames with this one).
    #[inline(always)]
    pub fn slot(&mut self, ra: u64, sp: u64) -> (usize, &mut Walk, [Option<&Walk>; 2]) {
        let h = (ra ^ sp.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let i = (h >> 57) as usize % MEMO_WALKS;
        let [a, b] = self.1;
        if a != i {
            self.1 = [i, a];
        }
        let base = self.0.as_mut_ptr();
        // SAFETY: `i`, `a` and `b` are slot indices (below MEMO_WALKS); the walk handed
        // out mutably is `i`, and the shared ones are only others than `i`.
        let lend = |j: usize| (j != i).then(|| unsafe { &*base.add(j) });
        let donors = [lend(a), if b != a { lend(b) } else { None }];
        // SAFETY: as above; no other reference to walk `i` exists.
        (i, unsafe { &mut *base.add(i) }, donors)
    }
}

impl Default for WalkMemo {
    fn default() -> Self {
        Self::new()
    }
}

/// Collects the stack words one step reads.
pub struct ReadLog {
    pub n: usize,
    pub reads: [(u64, u64); 2],
    pub failed: bool,
}

impl ReadLog {
    pub fn new() -> Self {
        ReadLog { n: 0, reads: [(0, 0); 2], failed: false }
    }

    #[inline(always)]
    pub fn note(&mut self, addr: u64, value: Option<u64>) {
        match value {
            Some(v) if self.n < 2 => self.reads[self.n] = (addr, v),
            Some(_) => {}
            None => self.failed = true,
        }
        self.n += 1;
    }

    /// The log as a step's `(nreads, reads)`.
    pub fn finish(&self) -> (u8, [(u64, u64); 2]) {
        if self.failed || self.n > 2 {
            (UNREPLAYABLE, self.reads)
        } else {
            (self.n as u8, self.reads)
        }
    }

    /// Which read (1-based; 0: none) gave the caller's frame pointer, for a step that
    /// left the caller's stack pointer at `sp_after`: the one that is not the return
    /// address (read just below `sp_after`).
    pub fn restore_index(&self, sp_after: u64) -> u8 {
        match self.reads[..self.n.min(2)].iter().position(|&(a, _)| a != sp_after.wrapping_sub(8)) {
            Some(i) => i as u8 + 1,
            None => 0,
        }
    }

    /// Whether the step may have used the incoming frame pointer `bp`: it read at `bp`
    /// or `bp + 8` (a frame-pointer rule), or read nothing (a frame-pointer rule stops
    /// without reading when `bp` is 0).
    pub fn used_bp(&self, bp: u64) -> bool {
        self.n == 0 || self.reads[..self.n.min(2)].iter().any(|&(a, _)| a == bp || a == bp.wrapping_add(8))
    }
}

impl Default for ReadLog {
    fn default() -> Self {
        Self::new()
    }
}

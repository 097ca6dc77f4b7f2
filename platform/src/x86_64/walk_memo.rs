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
//! [`ReadLog::used_bp`]), and which read restored it off their order ([`Step::took`]),
//! which fits framehop 0.16's x86_64 rules: recheck both against
//! `UnwindRuleX86_64::exec` when framehop changes.
//! `tests/tests/stack_memo.rs` checks real programs traced with and without the memo.
//!
//! Hand-written rather than a crate: it lives on the allocation hot path, where nothing
//! may allocate or lock, and its layout is tied to framehop's x86_64 rules (at most two
//! stack reads per step for the rules `.eh_frame` produces).

/// Walks kept per thread (direct-mapped by their first frame; ≈ 2 KB each, committed
/// only when used).
pub const MEMO_WALKS: usize = 64;
/// Longest walk kept; deeper stack limits are unwound without the memo.
pub const MEMO_FRAMES: usize = 64;

/// `Step::kind` (and `EndReads::n`) of a step that cannot be replayed (its reads were
/// not of the usual shape, or failed).
pub const UNREPLAYABLE: u8 = u8::MAX;
/// `Step::kind` of a step that read only its caller's return address.
const RA_ONLY: u8 = 0;
/// `Step::kind` of a step that also restored the caller's frame pointer from the stack.
const RESTORES_BP: u8 = 1;

/// One frame of a walk and the step from it to its caller (32 bytes: walks are copied
/// and re-read on every capture that is not a whole replay).
///
/// Every x86_64 rule reads the caller's return address just below the caller's stack
/// pointer, so that read is the next frame's (`ra`, `sp`) and is not stored again; the
/// one other word a rule may read is the saved frame pointer.
#[derive(Clone, Copy, Default)]
pub struct Step {
    /// The frame's return address (its `ip`) and stack pointer.
    pub ra: u64,
    pub sp: u64,
    /// The saved frame pointer the step restored (`kind == RESTORES_BP`): its value and
    /// its address relative to `sp`.
    pub saved_bp: u64,
    pub saved_bp_offset: i32,
    /// [`RA_ONLY`], [`RESTORES_BP`] or [`UNREPLAYABLE`]. The step out of a walk's last
    /// frame, which ended the walk, keeps its reads in [`Walk::end`] instead.
    pub kind: u8,
    /// Whether the step used this frame's frame pointer (a frame-pointer rule).
    pub uses_bp: bool,
    /// Whether the saved frame pointer must hold for the step to replay (set by
    /// [`Walk::settle`]): only if a later step uses the frame pointer before another
    /// restores it.
    pub saved_bp_must_hold: bool,
    /// Whether a step from this frame on uses this frame's frame pointer before another
    /// restores it (set by [`Walk::settle`]): then the frames from here on depend on it.
    pub bp_needed: bool,
}

impl Step {
    /// A frame before its step is taken.
    pub fn at(ra: u64, sp: u64) -> Step {
        Step {
            ra,
            sp,
            ..Step::default()
        }
    }

    /// Notes the step this frame took to its caller at `sp_after` with return address
    /// `ra`, which read `log` (and used the frame pointer if `uses_bp`).
    pub fn took(&mut self, log: &ReadLog, uses_bp: bool, sp_after: u64, ra: u64) {
        self.uses_bp = uses_bp;
        self.kind = UNREPLAYABLE;
        if log.failed
            || log.n == 0
            || log.n > 2
            || log.reads[log.n - 1] != (sp_after.wrapping_sub(8), ra)
        {
            return;
        }
        if log.n == 1 {
            self.kind = RA_ONLY;
        } else if let Ok(offset) = i32::try_from(log.reads[0].0.wrapping_sub(self.sp) as i64) {
            (self.kind, self.saved_bp, self.saved_bp_offset) =
                (RESTORES_BP, log.reads[0].1, offset);
        }
    }

    /// Where the saved frame pointer was read.
    #[inline(always)]
    pub fn saved_bp_addr(&self) -> u64 {
        self.sp.wrapping_add(self.saved_bp_offset as i64 as u64)
    }
}

/// The reads of the step that ended a walk on its own (the stack's end: a zero return
/// address or an end-of-stack rule); all of them must hold for it to end there again.
#[derive(Clone, Copy, Default)]
pub struct EndReads {
    /// Reads made, or [`UNREPLAYABLE`].
    pub n: u8,
    pub reads: [(u64, u64); 2],
}

impl EndReads {
    pub fn of(log: &ReadLog) -> EndReads {
        let n = if log.failed || log.n > 2 {
            UNREPLAYABLE
        } else {
            log.n as u8
        };
        EndReads {
            n,
            reads: log.reads,
        }
    }

    fn replays(&self, bounds: (u64, u64)) -> bool {
        self.n != UNREPLAYABLE
            && self.reads[..self.n as usize]
                .iter()
                .all(|&(addr, value)| read_word(bounds, addr) == Some(value))
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
    /// Every word that must hold lies between the first frame's stack pointer and `hi`,
    /// and every step is replayable (set by [`Walk::settle`]): then a whole replay reads
    /// them with no bounds checks (`all_reads_hold`).
    pub reads_in_frame: bool,
    /// The reads of the step out of the last frame, if that step ended the walk.
    pub end: EndReads,
    pub steps: [Step; MEMO_FRAMES],
}

impl Walk {
    /// Whether this walk starts at the frame (`ra`, `sp`, `bp`) under the same unwinder,
    /// stack and limit.
    #[inline(always)]
    pub fn starts_at(
        &self,
        unwinder: usize,
        limit: usize,
        hi: u64,
        ra: u64,
        sp: u64,
        bp: u64,
    ) -> bool {
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
        self.bp_keyed = false;
        self.len = 1;
        self.steps[0] = Step::at(ra, sp);
    }

    /// Whether the walk can lend its frames to another one (see `StackUnwinder`).
    pub fn lends_to(&self, unwinder: usize, hi: u64) -> bool {
        self.unwinder == unwinder && self.hi == hi && self.len > 0
    }

    /// Steps taken: a walk cut by the limit never took a step from its last frame.
    #[inline(always)]
    fn stepped(&self) -> usize {
        if self.len == self.limit {
            self.len - 1
        } else {
            self.len
        }
    }

    /// Whether the step out of frame `k` would read the same words now, as far as they
    /// matter (it leads to frame `k + 1`, or ends the walk again). `bounds` is the
    /// readable stack.
    #[inline(always)]
    pub fn step_replays(&self, k: usize, bounds: (u64, u64)) -> bool {
        let step = &self.steps[k];
        if k + 1 < self.len {
            let next = &self.steps[k + 1];
            step.kind != UNREPLAYABLE
                && read_word(bounds, next.sp.wrapping_sub(8)) == Some(next.ra)
                && !(step.kind == RESTORES_BP
                    && step.saved_bp_must_hold
                    && read_word(bounds, step.saved_bp_addr()) != Some(step.saved_bp))
        } else {
            self.len < self.limit && self.end.replays(bounds)
        }
    }

    /// After the walk changed: decides which saved frame pointers must hold (only those
    /// a later step uses before another restores it), whether the incoming frame pointer
    /// is part of the key, and whether a whole replay may skip bounds checks.
    pub fn settle(&mut self) {
        let stepped = self.stepped();
        let (lo, hi) = (self.steps[0].sp, self.hi);
        let in_frame = |addr: u64| addr >= lo && addr.checked_add(8).is_some_and(|end| end <= hi);
        let mut all_in_frame = stepped < self.len
            || (self.end.n != UNREPLAYABLE
                && self.end.reads[..self.end.n as usize]
                    .iter()
                    .all(|&(addr, _)| in_frame(addr)));
        let mut bp_used_later = false;
        for k in (0..stepped).rev() {
            let terminal = k + 1 == self.len;
            let next_sp = self.steps.get(k + 1).map_or(0, |next| next.sp);
            let step = &mut self.steps[k];
            let restores = step.kind == RESTORES_BP && !terminal;
            step.saved_bp_must_hold = !restores || bp_used_later || step.uses_bp;
            bp_used_later = step.uses_bp || (!restores && bp_used_later);
            step.bp_needed = bp_used_later;
            if !terminal {
                all_in_frame &= step.kind != UNREPLAYABLE && in_frame(next_sp.wrapping_sub(8));
                all_in_frame &=
                    !(restores && step.saved_bp_must_hold) || in_frame(step.saved_bp_addr());
            }
        }
        if stepped < self.len {
            self.steps[stepped].bp_needed = true; // its step was never taken: unknown
        }
        self.bp_keyed = bp_used_later;
        self.reads_in_frame = all_in_frame;
    }

    /// Whether every word that must hold is unchanged; `None` if that cannot be checked
    /// without bounds checks (then replay step by step).
    #[inline(always)]
    pub fn all_reads_hold(&self) -> Option<bool> {
        if !self.reads_in_frame {
            return None;
        }
        let stepped = self.stepped();
        let mut diff = 0;
        // SAFETY: for every read below, `settle` checked that each address lies between the
        // first frame's stack pointer and the top of this thread's stack, and the walk
        // matched this frame and stack (`starts_at`); all were read before, so they are
        // 8-aligned.
        let word = |addr: u64| unsafe { *(addr as *const u64) };
        for k in 0..stepped.min(self.len - 1) {
            let (step, next) = (&self.steps[k], &self.steps[k + 1]);
            diff |= word(next.sp - 8) ^ next.ra;
            if step.kind == RESTORES_BP && step.saved_bp_must_hold {
                diff |= word(step.saved_bp_addr()) ^ step.saved_bp;
            }
        }
        if stepped == self.len {
            for &(addr, value) in &self.end.reads[..self.end.n as usize] {
                diff |= word(addr) ^ value;
            }
        }
        Some(diff == 0)
    }
}

/// The frame pointer at the frame after `steps`, whose first frame had `bp`, for steps
/// that replayed: the saved register the last of them restored it from, as it is now
/// (its address is relative to the replayed stack pointers), or `bp`.
pub fn bp_after(steps: &[Step], bp: u64, bounds: (u64, u64)) -> Option<u64> {
    match steps.iter().rev().find(|s| s.kind == RESTORES_BP) {
        Some(s) => read_word(bounds, s.saved_bp_addr()),
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
        ReadLog {
            n: 0,
            reads: [(0, 0); 2],
            failed: false,
        }
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

    /// Whether the step may have used the incoming frame pointer `bp`: it read at `bp`
    /// or `bp + 8` (a frame-pointer rule), or read nothing (a frame-pointer rule stops
    /// without reading when `bp` is 0).
    pub fn used_bp(&self, bp: u64) -> bool {
        self.n == 0
            || self.reads[..self.n.min(2)]
                .iter()
                .any(|&(a, _)| a == bp || a == bp.wrapping_add(8))
    }
}

impl Default for ReadLog {
    fn default() -> Self {
        Self::new()
    }
}

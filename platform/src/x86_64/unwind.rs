//! Stack capture of the calling thread on x86-64 from DWARF CFI, because Debian's
//! libraries and Rust release builds have no frame pointers.
//!
//! The unwinder is framehop's: the module list and unwind tables are built off the hot
//! path (by the writer thread, with tracking suspended) and published read-only; each
//! thread owns rule caches keyed by return address, so a stack seen before unwinds with a
//! table lookup per frame and no allocation (each thread has [`CACHE_WAYS`] of framehop's
//! 509-rule caches, every frame picking one by its address). In front of them, a thread
//! steps by the shapes it learned from framehop's steps (`step_shapes`: two stack reads,
//! no rule lookup, and a table large enough for a compiler's code), and on top of that it
//! replays the walks it made before instead of stepping again (`walk_memo`). Stack memory
//! is read only inside the thread's own stack bounds, so a bad rule can end a stack early
//! but never fault.
//!
//! Which modules exist and where their unwind sections are is the OS's business: the OS
//! part hands each module's code span and framehop module to [`StackUnwinder::add_code`]
//! (on Linux, `linux/unwind.rs` from the ELF sections `modules` copied).

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{FrameAddress, Module, Unwinder};

use super::step_shapes::{ShapeCache, StepShape};
pub use super::walk_memo::MEMO_WALKS;
use super::walk_memo::{bp_after, read_word, EndReads, ReadLog, Step, Walk, WalkMemo, MEMO_FRAMES};

/// A read-only unwinder over a snapshot of the module list.
#[derive(Clone)]
pub struct StackUnwinder {
    unwinder: UnwinderX86_64<Vec<u8>>,
    /// Runtime span of the module this code is in: its frames are the tracer's own and
    /// are left out of every stack.
    own: (u64, u64),
    /// Executable spans of every known module, sorted by start.
    code: Vec<(u64, u64)>,
}

/// What [`StackUnwinder::capture`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    /// Frames written.
    pub frames: usize,
    /// The last frame is in no known module: the stack ran into a library loaded after
    /// this unwinder was built and was probably cut short there (a complete stack ends in
    /// `_start` or `clone`).
    pub cut_short: bool,
    /// The frames are those of the thread's memoized walk in this slot
    /// (`0..MEMO_WALKS`) at this version: the same slot and version again mean the same
    /// frames, so a consumer may remember them by that pair instead of comparing them.
    pub walk: Option<(usize, u32)>,
}

/// What a capture that ended on memoized walk `walk` (in `slot`) wrote: `frames` of its
/// frames.
#[inline(always)]
fn memoized(slot: usize, walk: &Walk, frames: usize) -> Captured {
    Captured {
        frames,
        cut_short: walk.cut_short,
        walk: Some((slot, walk.version)),
    }
}

/// Moves `regs` to the frame at (`ip`, `sp`, `bp`). framehop's x86_64 rules read no
/// other register, and setting three is cheaper than a fresh `UnwindRegsX86_64` (17
/// words).
#[inline(always)]
fn set_frame(regs: &mut UnwindRegsX86_64, ip: u64, sp: u64, bp: u64) {
    regs.set_ip(ip);
    regs.set_sp(sp);
    regs.set_bp(bp);
}

/// How many framehop rule caches a thread spreads its frames over.
pub const CACHE_WAYS: usize = 8;

/// A thread's unwind-rule caches and its memo of recent walks. Aligned to whole cache
/// line pairs (the adjacent-line prefetch of x86-64 cores pairs them), so that no block
/// another thread writes (the tracer's writer allocates from the same heap) shares its
/// lines: every stack capture reads and writes it.
#[repr(align(128))]
pub struct UnwindCache {
    rules: Rules,
    memo: WalkMemo,
}

/// How a thread takes one step: by the step's learned shape (when `memo_on`), else by
/// framehop's rules.
struct Rules {
    shapes: ShapeCache,
    /// Whether walks are memoized and steps shaped (off: every stack is unwound from
    /// scratch by framehop's rules alone, the reference the memo is tested against).
    memo_on: bool,
    ways: [CacheX86_64; CACHE_WAYS],
}

impl UnwindCache {
    pub fn new(memoize: bool) -> Box<Self> {
        Box::new(UnwindCache {
            rules: Rules {
                shapes: ShapeCache::new(),
                memo_on: memoize,
                ways: std::array::from_fn(|_| CacheX86_64::new()),
            },
            memo: WalkMemo::new(),
        })
    }
}

/// The rule cache a frame address uses: bits above the low ones that framehop's own
/// slot index mostly uses.
#[inline(always)]
fn way_index(lookup: u64) -> usize {
    ((lookup >> 3) ^ (lookup >> 11)) as usize % CACHE_WAYS
}

impl Default for StackUnwinder {
    fn default() -> Self {
        Self::new()
    }
}

impl StackUnwinder {
    pub fn new() -> Self {
        StackUnwinder {
            unwinder: UnwinderX86_64::new(),
            own: (0, 0),
            code: Vec::new(),
        }
    }

    /// Adds a module: its runtime span `(start, end)`, the span of its executable
    /// segments `text`, and framehop's module for its unwind sections if it has them
    /// (built by the OS part, which knows the object format).
    pub(crate) fn add_code(
        &mut self,
        span: (u64, u64),
        text: (u64, u64),
        unwind: Option<Module<Vec<u8>>>,
    ) {
        let own_code = Self::capture as *const () as u64;
        if (text.0..text.1).contains(&own_code) {
            self.own = span;
        }
        let at = self.code.partition_point(|&(start, _)| start < text.0);
        self.code.insert(at, text);
        if let Some(module) = unwind {
            self.unwinder.add_module(module);
        }
    }

    /// Keeps the frames of the module this code is in, for benchmarks and tests whose
    /// own code is linked into the same executable as the unwinder.
    pub fn keep_own_frames(&mut self) {
        self.own = (0, 0);
    }

    /// Removes the module whose executable span starts at `text_start`.
    pub fn remove_module(&mut self, text_start: u64) {
        self.unwinder.remove_module(text_start);
        self.code.retain(|&(start, _)| start != text_start);
    }

    /// Whether `addr` lies in the code of a known module. A stack whose last frame is
    /// unknown ran into a library loaded after this unwinder was built and was probably
    /// cut short there (a complete stack ends in `_start` or `clone`).
    pub fn knows(&self, addr: u64) -> bool {
        let i = self.code.partition_point(|&(start, _)| start <= addr);
        i > 0 && addr < self.code[i - 1].1
    }

    /// Captures the caller's stack (return addresses, innermost first, the tracer's own
    /// frames left out) into `out`; returns what it wrote (see [`Captured`]).
    /// `stack` is the calling thread's stack mapping as `[low, high)`; memory is read
    /// only between the current stack pointer and `high`, and nothing is captured when the
    /// stack pointer is elsewhere (a signal stack, a coroutine): no stack beats a fault.
    /// `low` may be `high - 1` and less for a stack that grows (the main thread's).
    ///
    /// The tracer's own frames are stepped over by shapes learned from their first real
    /// step; from the first program frame on, a walk the thread made before from the same
    /// frame is replayed as far as it holds (see `walk_memo`).
    #[inline(never)]
    pub fn capture(&self, cache: &mut UnwindCache, stack: (u64, u64), out: &mut [u64]) -> Captured {
        const NONE: Captured = Captured {
            frames: 0,
            cut_short: false,
            walk: None,
        };
        if out.is_empty() {
            return NONE;
        }
        let (ip, sp, bp): (u64, u64, u64);
        // SAFETY: reads three registers into locals; touches no memory and no flags.
        unsafe {
            core::arch::asm!(
                "lea {ip}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                ip = out(reg) ip, sp = out(reg) sp, bp = out(reg) bp,
                options(nomem, nostack, preserves_flags)
            );
        }
        if !(stack.0..stack.1).contains(&sp) {
            return NONE;
        }
        let bounds = (sp, stack.1);
        let mut regs = UnwindRegsX86_64::new(ip, sp, bp);
        let mut frame = FrameAddress::from_instruction_pointer(ip);
        cache.rules.shapes.use_for(self as *const Self as usize);
        // The tracer's own frames, up to the first program frame.
        loop {
            let Some(ra) = self.step(
                &mut cache.rules,
                bounds,
                frame,
                &mut regs,
                &mut ReadLog::new(),
            ) else {
                return NONE;
            };
            if !(self.own.0..self.own.1).contains(&ra) {
                return self.walk_from(cache, bounds, ra, &mut regs, out);
            }
            let Some(next) = FrameAddress::from_return_address(ra) else {
                return NONE;
            };
            frame = next;
        }
    }

    /// Writes the program frames from the first one, `ra` with `regs` (its caller's
    /// registers as the step to it left them), into `out`, replaying the memoized walk
    /// from this frame as far as it still holds.
    #[inline(always)]
    fn walk_from(
        &self,
        cache: &mut UnwindCache,
        bounds: (u64, u64),
        ra: u64,
        regs: &mut UnwindRegsX86_64,
        out: &mut [u64],
    ) -> Captured {
        let limit = out.len();
        let (sp, bp) = (regs.sp(), regs.bp());
        if limit > MEMO_FRAMES || !cache.rules.memo_on {
            out[0] = ra;
            let n = self.unwind_rest(&mut cache.rules, bounds, regs, out, 0, None, [None, None]);
            return Captured {
                frames: n,
                cut_short: !self.knows(out[n - 1]),
                walk: None,
            };
        }
        let id = self as *const Self as usize;
        let hi = bounds.1;
        let (slot, walk, recent) = cache.memo.slot(ra, sp);
        // Walks that may lend outer frames; looked at only when this one does not replay.
        let donors = || {
            [
                recent[0].filter(|d| d.lends_to(id, hi)),
                recent[1].filter(|d| d.lends_to(id, hi)),
            ]
        };
        let mut i = 0;
        if walk.starts_at(id, limit, hi, ra, sp, bp) {
            if walk.all_reads_hold() == Some(true) {
                for (slot, step) in out.iter_mut().zip(&walk.steps[..walk.len]) {
                    *slot = step.ra;
                }
                return memoized(slot, walk, walk.len);
            }
            loop {
                out[i] = walk.steps[i].ra;
                if i + 1 == walk.len && walk.len == limit {
                    return memoized(slot, walk, limit);
                }
                if !walk.step_replays(i, bounds) {
                    break;
                }
                if i + 1 == walk.len {
                    // The walk's last step ended it, and still does.
                    return memoized(slot, walk, walk.len);
                }
                i += 1;
            }
            // Frames 0..=i still hold; unwind on from frame i with its frame pointer as
            // it is now.
            let Some(frame_bp) = bp_after(&walk.steps[..i], bp, bounds) else {
                walk.unwinder = 0;
                return Captured {
                    frames: i + 1,
                    cut_short: false,
                    walk: None,
                };
            };
            walk.bp = bp;
            let step = walk.steps[i];
            set_frame(regs, step.ra, step.sp, frame_bp);
            walk.len = self.unwind_rest(
                &mut cache.rules,
                bounds,
                regs,
                out,
                i,
                Some(&mut *walk),
                donors(),
            );
        } else {
            walk.restart(id, limit, hi, ra, sp, bp);
            out[0] = ra;
            walk.len = self.unwind_rest(
                &mut cache.rules,
                bounds,
                regs,
                out,
                0,
                Some(&mut *walk),
                donors(),
            );
        }
        let n = walk.len;
        walk.cut_short = !self.knows(out[n - 1]);
        walk.settle();
        walk.version = walk.version.wrapping_add(1);
        memoized(slot, walk, n)
    }

    /// Takes the step from `frame` (its registers in `regs`) to its caller, by the
    /// step's learned shape or else by framehop's rules (then learning its shape), and
    /// notes the stack words it read in `log`. Returns the caller's return address, or
    /// `None` where the stack ends or cannot be read.
    #[inline(always)]
    fn step(
        &self,
        rules: &mut Rules,
        bounds: (u64, u64),
        frame: FrameAddress,
        regs: &mut UnwindRegsX86_64,
        log: &mut ReadLog,
    ) -> Option<u64> {
        let key = StepShape::key(frame.address(), frame.is_return_address());
        let (sp, bp) = (regs.sp(), regs.bp());
        if let Some(shape) = rules.shapes.get(key).filter(|_| rules.memo_on) {
            let (ra, sp_after, bp_after) = shape.step(sp, bp, log, |a| read_word(bounds, a))?;
            // As framehop's rules: a zero return address ends the stack.
            if ra == 0 {
                return None;
            }
            set_frame(regs, ra, sp_after, bp_after);
            return Some(ra);
        }
        let way = &mut rules.ways[way_index(frame.address_for_lookup())];
        let next = self.unwinder.unwind_frame(frame, regs, way, &mut |a| {
            let r = read_word(bounds, a);
            log.note(a, r);
            r.ok_or(())
        });
        let Ok(Some(ra)) = next else { return None };
        if let Some(shape) = StepShape::learn(key, (sp, bp), log, (regs.sp(), regs.bp()), ra) {
            rules.shapes.insert(shape);
        }
        Some(ra)
    }

    /// Unwinds from frame `i` (already in `out[i]`, its registers in `regs`) to the end
    /// of the stack or of `out`, noting every frame and the words each step read in
    /// `steps` if given. When a frame turns out to be one of a donor's (same return
    /// address and stack pointer, and the donor's frames from there on do not depend on
    /// the frame pointer), the donor's steps are replayed from there as far as they hold:
    /// a thread's recent stacks share their outer frames. Returns the number of frames
    /// in `out`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn unwind_rest(
        &self,
        rules: &mut Rules,
        bounds: (u64, u64),
        regs: &mut UnwindRegsX86_64,
        out: &mut [u64],
        mut i: usize,
        mut walk: Option<&mut Walk>,
        donors: [Option<&Walk>; 2],
    ) -> usize {
        let mut cursors = [0; 2];
        loop {
            if i + 1 == out.len() {
                return out.len();
            }
            let Some(frame) = FrameAddress::from_return_address(regs.ip()) else {
                return i + 1;
            };
            let bp_before = regs.bp();
            let mut log = ReadLog::new();
            let next = self.step(rules, bounds, frame, regs, &mut log);
            if let Some(walk) = walk.as_deref_mut() {
                let uses_bp = log.used_bp(bp_before);
                match next {
                    Some(ra) => walk.steps[i].took(&log, uses_bp, regs.sp(), ra),
                    None => (walk.steps[i].uses_bp, walk.end) = (uses_bp, EndReads::of(&log)),
                }
            }
            let Some(ra) = next else { return i + 1 };
            i += 1;
            out[i] = ra;
            let Some(walk) = walk.as_deref_mut() else {
                continue;
            };
            let steps = &mut walk.steps;
            steps[i] = Step::at(ra, regs.sp());
            let Some((d, mut cursor)) = donors.iter().zip(&mut cursors).find_map(|(d, cursor)| {
                let d = (*d)?;
                while *cursor < d.len && d.steps[*cursor].sp < regs.sp() {
                    *cursor += 1;
                }
                let first = d.steps[..d.len].get(*cursor)?;
                (first.sp == regs.sp() && first.ra == ra && !first.bp_needed)
                    .then_some((d, *cursor))
            }) else {
                continue;
            };
            // Frame i is the donor's frame `cursor`: replay the donor from there.
            #[cfg(test)]
            tests::SPLICES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (start, bp_start) = (i, regs.bp());
            let end = loop {
                let step = d.steps[cursor];
                steps[i] = step;
                out[i] = step.ra;
                if i + 1 == out.len() {
                    return out.len();
                }
                let last = cursor + 1 == d.len;
                if !d.step_replays(cursor, bounds) {
                    break None; // unwind on from frame i
                }
                if last {
                    walk.end = d.end;
                    break Some(i + 1); // the donor's last step ended it, and still does
                }
                cursor += 1;
                i += 1;
            };
            if let Some(n) = end {
                return n;
            }
            let Some(bp) = bp_after(&steps[start..i], bp_start, bounds) else {
                return i + 1;
            };
            set_frame(regs, steps[i].ra, steps[i].sp, bp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captures that replayed another walk's outer frames.
    pub static SPLICES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    use crate::modules::loaded_modules;
    use crate::thread::{mapping_of, stack_pointer};

    #[inline(never)]
    fn depth_n(u: &StackUnwinder, c: &mut UnwindCache, n: u32, out: &mut [u64]) -> usize {
        if n == 0 {
            return u
                .capture(c, mapping_of(stack_pointer()).unwrap(), out)
                .frames;
        }
        let r = depth_n(u, c, n - 1, out);
        std::hint::black_box(r)
    }

    #[test]
    fn captures_deep_recursion() {
        let mut u = StackUnwinder::new();
        for m in loaded_modules(&mut |_, _| true) {
            u.add_module(&m);
        }
        // The test binary is the "own" module here, so frames are kept only after it:
        // clear the own range to see everything.
        u.keep_own_frames();
        let mut c = UnwindCache::new(true);
        // The second capture hits the cache and must give the same frames down to the
        // outermost depth_n (the loop may be unrolled, so the caller's site can differ).
        let stacks: Vec<Vec<u64>> = (0..2)
            .map(|_| {
                let mut out = [0u64; 128];
                let n = depth_n(&u, &mut c, 30, &mut out);
                out[..n].to_vec()
            })
            .collect();
        assert!(stacks[0].len() > 30, "only {} frames", stacks[0].len());
        let same = stacks[0]
            .iter()
            .zip(&stacks[1])
            .take_while(|(a, b)| a == b)
            .count();
        assert!(
            same >= 30,
            "the stacks differ at frame {same}: {:x?} vs {:x?}",
            stacks[0],
            stacks[1]
        );
    }

    /// A capture's frames and the walk it named.
    type WarmAndCold = (Vec<u64>, Option<(usize, u32)>);

    /// Recurses `depth` frames through one of two call sites picked by `pattern`'s bits,
    /// then captures with a memoizing cache and without memo from the same call site.
    #[inline(never)]
    fn branchy(
        u: &StackUnwinder,
        warm: &mut UnwindCache,
        depth: u32,
        pattern: u64,
        stacks: &mut Vec<WarmAndCold>,
    ) -> u64 {
        if depth == 0 {
            let stack = mapping_of(stack_pointer()).unwrap();
            let mut cold = UnwindCache::new(false);
            for c in [warm, &mut *cold] {
                let mut out = [0u64; 48];
                let got = std::hint::black_box(u).capture(c, stack, &mut out);
                stacks.push((out[..got.frames].to_vec(), got.walk));
            }
            return 1;
        }
        let r = if pattern & 1 == 0 {
            branchy(u, warm, depth - 1, pattern >> 1, stacks)
        } else {
            let mut pad = [0u8; 40];
            std::hint::black_box(&mut pad);
            branchy(u, warm, depth - 1, pattern >> 1, stacks) + pad[3] as u64
        };
        std::hint::black_box(r + 1)
    }

    #[test]
    fn memoized_walks_equal_fresh_ones() {
        let mut u = StackUnwinder::new();
        for m in loaded_modules(&mut |_, _| true) {
            u.add_module(&m);
        }
        u.keep_own_frames();
        let mut warm = UnwindCache::new(true);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut longest = 0;
        let mut by_walk = std::collections::HashMap::new();
        let mut replays = 0;
        for round in 0..600 {
            // The first 100 rounds: each of 5 straight recursions 20 times in a row (all
            // but the first capture of each replay the walk). Then random shapes from few
            // patterns, so that walks are replayed whole, in part, lent to other stacks,
            // and some stacks are cut by the 48-frame limit.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let depths = [3, 10, 17, 25, 60];
            let (depth, pattern) = if round < 100 {
                (depths[round / 20], 0)
            } else {
                (
                    depths[(seed % 5) as usize],
                    (seed >> 8) & [0, 1, 0x5a5a, u64::MAX][round % 4],
                )
            };
            let mut stacks = Vec::new();
            branchy(&u, &mut warm, depth, pattern, &mut stacks);
            // Frame 0 is the capture's call site, which loop unrolling may duplicate.
            let (warm_frames, walk) = &stacks[0];
            assert_eq!(
                warm_frames[1..],
                stacks[1].0[1..],
                "round {round}: memoized vs fresh walk (depth {depth}, pattern {pattern:x})"
            );
            // The same walk slot and version always stand for the same frames.
            let walk = walk.expect("a memoized capture names its walk");
            match by_walk.entry(walk) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    assert_eq!(
                        first.get(),
                        warm_frames,
                        "round {round}: walk {walk:?} changed without a new version"
                    );
                    replays += (round < 100) as u32;
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(warm_frames.clone());
                }
            }
            longest = longest.max(warm_frames.len());
        }
        assert_eq!(
            replays, 95,
            "of 5 × 20 captures of the same stack, all but the first of each must replay"
        );
        assert!(
            SPLICES.load(std::sync::atomic::Ordering::Relaxed) > 50,
            "stacks that share outer frames did not share walks"
        );
        assert_eq!(longest, 48, "no capture reached the frame limit");
    }
}

//! Stack capture on macOS: the frame-pointer walk of `frame_walk` from the caller's
//! frame, over the calling thread's own stack (bounds from `thread`). The arm64 Apple
//! ABI always keeps frame pointers and x86-64 macOS code keeps them by default, so no
//! unwind tables are read and nothing is cached per thread. The tracer's own frames
//! (those inside the image this code is linked into) are left out of every stack.
//!
//! Same names as the Linux unwinder (`x86_64/unwind.rs`) so that the recorder core uses
//! either alike; there is no walk memo here (`MEMO_WALKS` is 1 and no capture names a
//! walk).

use super::modules::ModuleInfo;
use crate::frame_walk::walk;

/// Memoized walks per thread: none are memoized on macOS (the recorder's arrays need a
/// length of at least one).
pub const MEMO_WALKS: usize = 1;

/// Frames walked at most in one capture, the tracer's own included.
const MAX_CAPTURE: usize = 256;

/// A read-only view of the module list for stack capture.
#[derive(Clone, Default)]
pub struct StackUnwinder {
    /// Runtime span of the image this code is in (the tracer's own frames).
    own: (u64, u64),
    /// `__TEXT` spans of every known image, sorted by start.
    code: Vec<(u64, u64)>,
}

/// What [`StackUnwinder::capture`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    /// Frames written.
    pub frames: usize,
    /// Always false here: a frame-pointer walk needs no module list of ours.
    pub cut_short: bool,
    /// Always `None`: no walk memo on macOS.
    pub walk: Option<(usize, u32)>,
}

/// A thread's unwind state: nothing on macOS (kept for the recorder's shape).
#[derive(Debug, Default)]
pub struct UnwindCache;

impl UnwindCache {
    pub fn new(_memoize: bool) -> Box<Self> {
        Box::new(UnwindCache)
    }
}

impl StackUnwinder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a loaded image (the tracer's own is recognized by holding this code).
    pub fn add_module(&mut self, m: &ModuleInfo) {
        let here = Self::capture as *const () as u64;
        if (m.text_start..m.text_end).contains(&here) {
            self.own = (m.text_start, m.text_end);
        }
        let at = self
            .code
            .partition_point(|&(start, _)| start < m.text_start);
        self.code.insert(at, (m.text_start, m.text_end));
    }

    /// Keeps the tracer's own frames (tests).
    pub fn keep_own_frames(&mut self) {
        self.own = (0, 0);
    }

    /// Removes the image whose `__TEXT` starts at `text_start`.
    pub fn remove_module(&mut self, text_start: u64) {
        self.code.retain(|&(start, _)| start != text_start);
    }

    /// Whether `addr` lies in the code of a known image.
    pub fn knows(&self, addr: u64) -> bool {
        let i = self.code.partition_point(|&(start, _)| start <= addr);
        i > 0 && addr < self.code[i - 1].1
    }

    /// Captures the caller's stack (return addresses, innermost first, the tracer's own
    /// frames left out) into `out`; `stack` is the calling thread's stack as
    /// `[low, high)`. No frames when the stack pointer is outside it (a signal stack):
    /// no stack beats a fault.
    #[inline(never)]
    pub fn capture(
        &self,
        _cache: &mut UnwindCache,
        stack: (u64, u64),
        out: &mut [u64],
    ) -> Captured {
        let mut raw = [0u64; MAX_CAPTURE];
        let want = (out.len() + 16).min(MAX_CAPTURE);
        let n = capture(stack, &mut raw[..want]);
        let (own_start, own_end) = self.own;
        let program = raw[..n]
            .iter()
            .copied()
            .skip_while(|&a| own_end != 0 && (own_start..own_end).contains(&a));
        let mut frames = 0;
        for (slot, addr) in out.iter_mut().zip(program) {
            *slot = addr;
            frames += 1;
        }
        Captured {
            frames,
            cut_short: false,
            walk: None,
        }
    }
}

/// Captures the caller's return addresses, innermost first, into `out`; `stack` is the
/// calling thread's stack as `[low, high)`. Returns how many were written; none when the
/// stack pointer is not in `stack` (a signal stack): no stack beats a fault.
#[inline(never)]
pub fn capture(stack: (u64, u64), out: &mut [u64]) -> usize {
    let (fp, sp): (u64, u64);
    // SAFETY: reads the frame-pointer and stack-pointer registers; touches no memory.
    unsafe {
        #[cfg(target_arch = "aarch64")]
        core::arch::asm!("mov {fp}, x29", "mov {sp}, sp", fp = out(reg) fp, sp = out(reg) sp,
            options(nomem, nostack, preserves_flags));
        #[cfg(target_arch = "x86_64")]
        core::arch::asm!("mov {fp}, rbp", "mov {sp}, rsp", fp = out(reg) fp, sp = out(reg) sp,
            options(nomem, nostack, preserves_flags));
    }
    if !(stack.0..stack.1).contains(&sp) {
        return 0;
    }
    // SAFETY: `walk` reads only aligned words inside [sp, high), this thread's live stack.
    let read = |addr: u64| unsafe { (addr as *const u64).read() };
    walk(fp, sp, stack.1, read, out)
}

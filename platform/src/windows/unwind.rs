//! Stack capture on Windows: `RtlCaptureStackBackTrace`, which walks the stack with
//! `RtlVirtualUnwind` over each image's own unwind tables (`.pdata`/`.xdata`, which
//! MSVC and mingw-w64 emit for every x64 function), so no module's unwind data is
//! copied and nothing is cached per thread. The tracer's own frames (those inside the
//! module this code is linked into, `memscope.dll`) are left out of every stack.
//!
//! Same names as the Linux unwinder (`x86_64/unwind.rs`) so that the recorder core uses
//! either alike; there is no walk memo here (`MEMO_WALKS` is 1 and no capture names a
//! walk).

use std::ffi::c_void;

use windows_sys::Win32::System::Diagnostics::Debug::RtlCaptureStackBackTrace;

use super::modules::ModuleInfo;

/// Memoized walks per thread: none are memoized on Windows (the recorder's arrays need
/// a length of at least one).
pub const MEMO_WALKS: usize = 1;

/// Frames captured at most in one call, the tracer's own included.
const MAX_CAPTURE: usize = 256;

/// A read-only view of the module list for stack capture.
#[derive(Clone, Default)]
pub struct StackUnwinder {
    /// Runtime span of the module this code is in (the tracer's own frames).
    own: (u64, u64),
    /// Code spans of every known module, sorted by start.
    code: Vec<(u64, u64)>,
}

/// What [`StackUnwinder::capture`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    /// Frames written.
    pub frames: usize,
    /// Always false here: the system unwinder needs no module list of ours.
    pub cut_short: bool,
    /// Always `None`: no walk memo on Windows.
    pub walk: Option<(usize, u32)>,
}

/// A thread's unwind state: nothing on Windows (kept for the recorder's shape).
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

    /// Adds a loaded module (the tracer's own is recognized by holding this code).
    pub fn add_module(&mut self, m: &ModuleInfo) {
        let here = Self::capture as *const () as u64;
        if (m.start..m.end).contains(&here) {
            self.own = (m.start, m.end);
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

    /// Removes the module whose code starts at `text_start`.
    pub fn remove_module(&mut self, text_start: u64) {
        self.code.retain(|&(start, _)| start != text_start);
    }

    /// Whether `addr` lies in the code of a known module.
    pub fn knows(&self, addr: u64) -> bool {
        let i = self.code.partition_point(|&(start, _)| start <= addr);
        i > 0 && addr < self.code[i - 1].1
    }

    /// Captures the caller's stack (return addresses, innermost first, the tracer's own
    /// frames left out) into `out`. `_cache` and `_stack` serve the Linux unwinder.
    #[inline(never)]
    pub fn capture(
        &self,
        _cache: &mut UnwindCache,
        _stack: (u64, u64),
        out: &mut [u64],
    ) -> Captured {
        let mut raw = [std::ptr::null_mut::<c_void>(); MAX_CAPTURE];
        let want = (out.len() + 16).min(MAX_CAPTURE) as u32;
        // SAFETY: `raw` has room for `want` frames; no hash is asked for.
        let n = unsafe { RtlCaptureStackBackTrace(0, want, raw.as_mut_ptr(), std::ptr::null_mut()) }
            as usize;
        let (own_start, own_end) = self.own;
        let program = raw[..n]
            .iter()
            .map(|&p| p as u64)
            .skip_while(|&a| own_end != 0 && (own_start..own_end).contains(&a))
            // Wine's unwinder goes on past a thread's start routine with what it finds
            // there; a complete stack ends before the first null.
            .take_while(|&a| a != 0);
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

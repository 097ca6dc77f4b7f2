//! Stack capture of the calling thread from DWARF CFI (`.eh_frame`), because Debian's
//! libraries and Rust release builds have no frame pointers.
//!
//! The unwinder is framehop's: the module list and unwind tables are built off the hot
//! path (by the writer thread, with tracking suspended) and published read-only; each
//! thread owns rule caches keyed by return address, so a stack seen before unwinds with a
//! table lookup per frame and no allocation. framehop's cache holds a fixed 509 rules,
//! which large programs (a compiler) overflow into constant CFI re-parsing, so each thread
//! has [`CACHE_WAYS`] of them and every frame picks one by its address. Stack memory is read only inside the
//! thread's own stack bounds, so a bad rule can end a stack early but never fault.

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, FrameAddress, Module, Unwinder};

use super::modules::ModuleInfo;

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

/// How many framehop rule caches a thread spreads its frames over.
pub const CACHE_WAYS: usize = 8;

/// A thread's unwind-rule caches.
pub struct UnwindCache([CacheX86_64; CACHE_WAYS]);

impl UnwindCache {
    pub fn new() -> Box<Self> {
        Box::new(UnwindCache(std::array::from_fn(|_| CacheX86_64::new())))
    }

    #[inline(always)]
    fn way(&mut self, lookup: u64) -> &mut CacheX86_64 {
        // Bits above the low ones that framehop's own slot index mostly uses.
        &mut self.0[((lookup >> 3) ^ (lookup >> 11)) as usize % CACHE_WAYS]
    }
}

impl Default for StackUnwinder {
    fn default() -> Self {
        Self::new()
    }
}

impl StackUnwinder {
    pub fn new() -> Self {
        StackUnwinder { unwinder: UnwinderX86_64::new(), own: (0, 0), code: Vec::new() }
    }

    /// Adds a module that carries unwind sections (others are ignored).
    pub fn add_module(&mut self, m: &ModuleInfo) {
        let own_code = Self::capture as *const () as u64;
        if (m.text_start..m.text_end).contains(&own_code) {
            self.own = (m.start, m.end);
        }
        let at = self.code.partition_point(|&(start, _)| start < m.text_start);
        self.code.insert(at, (m.text_start, m.text_end));
        let Some(u) = &m.unwind else { return };
        let svma = |avma: u64, len: usize| (avma - m.bias)..(avma - m.bias + len as u64);
        let info = ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: Some((m.text_start - m.bias)..(m.text_end - m.bias)),
            eh_frame_svma: Some(svma(u.eh_frame_addr, u.eh_frame.len())),
            eh_frame: Some(u.eh_frame.clone()),
            eh_frame_hdr_svma: Some(svma(u.eh_frame_hdr_addr, u.eh_frame_hdr.len())),
            eh_frame_hdr: Some(u.eh_frame_hdr.clone()),
            ..Default::default()
        };
        let name = String::from_utf8_lossy(&m.path).into_owned();
        self.unwinder.add_module(Module::new(name, m.text_start..m.text_end, m.bias, info));
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
    /// frames left out) into `out`; returns how many frames were written.
    /// `stack` is the calling thread's stack mapping as `[low, high)`; memory is read
    /// only between the current stack pointer and `high`, and nothing is captured when the
    /// stack pointer is elsewhere (a signal stack, a coroutine): no stack beats a fault.
    /// `low` may be `high - 1` and less for a stack that grows (the main thread's).
    #[inline(never)]
    pub fn capture(&self, cache: &mut UnwindCache, stack: (u64, u64), out: &mut [u64]) -> usize {
        if out.is_empty() {
            return 0;
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
            return 0;
        }
        let (lo, hi) = (sp, stack.1);
        let mut read_stack = |addr: u64| {
            if addr >= lo && addr.checked_add(8).is_some_and(|end| end <= hi) && addr.is_multiple_of(8) {
                // SAFETY: the address is 8-aligned and inside this thread's own mapped stack.
                Ok(unsafe { *(addr as *const u64) })
            } else {
                Err(())
            }
        };
        let mut regs = UnwindRegsX86_64::new(ip, sp, bp);
        let mut frame = FrameAddress::from_instruction_pointer(ip);
        let mut n = 0;
        let mut in_own = true;
        // The same walk as framehop's iter_frames, one frame at a time so that each frame
        // can use the cache way its address picks.
        while let Ok(Some(ra)) = self.unwinder.unwind_frame(frame, &mut regs, cache.way(frame.address_for_lookup()), &mut read_stack) {
            let Some(next) = FrameAddress::from_return_address(ra) else { break };
            frame = next;
            if in_own && (self.own.0..self.own.1).contains(&ra) {
                continue;
            }
            in_own = false;
            out[n] = ra;
            n += 1;
            if n == out.len() {
                break;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::loaded_modules;
    use crate::thread::{mapping_of, stack_pointer};

    #[inline(never)]
    fn depth_n(u: &StackUnwinder, c: &mut UnwindCache, n: u32, out: &mut [u64]) -> usize {
        if n == 0 {
            return u.capture(c, mapping_of(stack_pointer()).unwrap(), out);
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
        u.own = (0, 0);
        let mut c = UnwindCache::new();
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
        let same = stacks[0].iter().zip(&stacks[1]).take_while(|(a, b)| a == b).count();
        assert!(same >= 30, "the stacks differ at frame {same}: {:x?} vs {:x?}", stacks[0], stacks[1]);
    }
}

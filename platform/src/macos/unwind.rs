//! Stack capture on macOS: the frame-pointer walk of `frame_walk` from the caller's
//! frame, over the calling thread's own stack (bounds from `thread`). Not yet used by
//! the recorder (its `stack_capture` configuration is Linux's so far: docs/macos.md).

use crate::frame_walk::walk;

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

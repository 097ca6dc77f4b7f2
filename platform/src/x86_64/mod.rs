//! x86-64 specifics: reading the stack pointer and the time-stamp counter, and stack
//! capture by x86-64 CFI (`unwind`, with the walk memo and the step shapes it keeps per
//! thread). Nothing here asks the OS anything; which modules exist and whether the TSC
//! may serve as the event clock are the OS part's to say.

#[cfg(target_os = "linux")]
mod step_shapes;
#[cfg(target_os = "linux")]
pub mod unwind;
#[cfg(target_os = "linux")]
mod walk_memo;

/// The calling thread's current stack pointer (approximately: this function's frame).
#[inline(always)]
pub fn stack_pointer() -> u64 {
    let sp: u64;
    // SAFETY: reads the stack pointer register only.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// The calling thread's callee-saved registers (`rbx`, `rbp`, `r12`-`r15`): what its
/// callers may keep there across the call. The leak check scans them as roots of the
/// thread that ends the process.
#[inline(always)]
pub fn callee_saved_registers() -> [u64; 6] {
    let (rbx, rbp, r12, r13, r14, r15): (u64, u64, u64, u64, u64, u64);
    // SAFETY: copies registers into outputs; touches no memory.
    unsafe {
        core::arch::asm!(
            "mov {0}, rbx", "mov {1}, rbp", "mov {2}, r12",
            "mov {3}, r13", "mov {4}, r14", "mov {5}, r15",
            out(reg) rbx, out(reg) rbp, out(reg) r12,
            out(reg) r13, out(reg) r14, out(reg) r15,
            options(nomem, nostack, preserves_flags)
        )
    };
    [rbx, rbp, r12, r13, r14, r15]
}

/// Makes the next clock read wait until every earlier instruction, loads included, has
/// completed, so that a time stamp comes after the loads that led to it
/// (docs/architecture.md, invariant 2).
#[inline(always)]
pub fn fence_before_clock_read() {
    // SAFETY: lfence exists on every x86-64 CPU and touches no memory.
    unsafe { core::arch::x86_64::_mm_lfence() }
}

/// The time-stamp counter, read after [`fence_before_clock_read`] (`lfence; rdtsc`).
#[inline(always)]
pub fn read_tsc_ordered() -> u64 {
    fence_before_clock_read();
    // SAFETY: rdtsc exists on every x86-64 CPU and touches no memory.
    unsafe { core::arch::x86_64::_rdtsc() }
}

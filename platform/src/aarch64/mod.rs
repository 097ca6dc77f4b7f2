//! AArch64 specifics: the barrier that orders a clock read after earlier loads. Stack
//! capture on AArch64 comes with the macOS front end (issue 18).

/// Makes the next clock read wait until every earlier load has completed, so that a time
/// stamp comes after the loads that led to it (docs/architecture.md, invariant 2; the
/// role `lfence` plays on x86-64): `dsb ishld` lets no later instruction execute, the
/// counter read included, before the earlier loads are done.
#[inline(always)]
pub fn fence_before_clock_read() {
    // SAFETY: a data synchronization barrier; it reads and writes no memory of ours.
    unsafe { core::arch::asm!("dsb ishld", options(nostack, preserves_flags)) }
}

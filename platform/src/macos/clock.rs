//! Clocks on macOS: the event clock is `mach_absolute_time`, read after a barrier that
//! orders it with the loads before it (docs/architecture.md, invariant 2: an allocation
//! is stamped after the allocator returned the block, a free after the thread got hold
//! of the pointer), and converted to nanoseconds by the kernel's fixed timebase ratio.
//! The monotonic clock of the trace is the same counter (`CLOCK_UPTIME_RAW`: it stops
//! while the machine sleeps).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub use crate::unix::clock::{realtime_ns, sleep_ns};

#[cfg(target_arch = "aarch64")]
use crate::aarch64::fence_before_clock_read;
#[cfg(target_arch = "x86_64")]
use crate::x86_64::fence_before_clock_read;

/// `mach_timebase_info_data_t` of `<mach/mach_time.h>`.
#[repr(C)]
struct MachTimebaseInfo {
    numer: u32,
    denom: u32,
}

// `<mach/mach_time.h>`, in libSystem (the `libc` crate has them only as deprecated
// items, pointing to another crate for two functions).
extern "C" {
    fn mach_absolute_time() -> u64;
    fn mach_timebase_info(info: *mut MachTimebaseInfo) -> libc::c_int;
}

/// The timebase as `numer << 32 | denom`; 0 until read.
static TIMEBASE: AtomicU64 = AtomicU64::new(0);

/// The kernel's ratio of nanoseconds to `mach_absolute_time` ticks, `(numer, denom)`.
fn timebase() -> (u64, u64) {
    let packed = TIMEBASE.load(Relaxed);
    if packed != 0 {
        return (packed >> 32, packed & 0xffff_ffff);
    }
    let mut info = MachTimebaseInfo { numer: 0, denom: 0 };
    // SAFETY: `info` is a valid, writable mach_timebase_info.
    let status = unsafe { mach_timebase_info(&mut info) };
    let (numer, denom) = if status == 0 && info.numer != 0 && info.denom != 0 {
        (info.numer as u64, info.denom as u64)
    } else {
        (1, 1)
    };
    TIMEBASE.store(numer << 32 | denom, Relaxed);
    (numer, denom)
}

/// Nanoseconds on the monotonic clock.
#[inline]
pub fn now_ns() -> u64 {
    // SAFETY: mach_absolute_time has no preconditions.
    ticks_to_ns(unsafe { mach_absolute_time() })
}

/// Reads the timebase and returns the monotonic nanoseconds now (the trace's start).
/// Call once per process image, before the first event.
pub fn start_event_clock() -> u64 {
    timebase();
    now_ns()
}

/// The event clock: `mach_absolute_time` ticks, read after the earlier loads completed.
#[inline(always)]
pub fn event_ticks() -> u64 {
    fence_before_clock_read();
    // SAFETY: mach_absolute_time has no preconditions.
    unsafe { mach_absolute_time() }
}

/// The monotonic nanoseconds of an [`event_ticks`] value.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    let (numer, denom) = timebase();
    (ticks as u128 * numer as u128 / denom as u128) as u64
}

/// The event clock now, in monotonic nanoseconds.
pub fn event_ns() -> u64 {
    ticks_to_ns(event_ticks())
}

//! Clocks on Windows: the event clock is `QueryPerformanceCounter`, which Windows keeps
//! monotonic and consistent across processors, read after a fence that orders it with
//! the loads before it (docs/architecture.md, invariant 2: an allocation is stamped after
//! the allocator returned the block, a free after the thread got hold of the pointer),
//! whichever counter Windows reads underneath. Ticks convert to nanoseconds by the fixed
//! frequency of `QueryPerformanceFrequency`; the monotonic clock of the trace is the same
//! counter.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use windows_sys::Win32::Foundation::FILETIME;
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::SystemInformation::GetSystemTimePreciseAsFileTime;
use windows_sys::Win32::System::Threading::Sleep;

#[cfg(target_arch = "aarch64")]
use crate::aarch64::fence_before_clock_read;
#[cfg(target_arch = "x86_64")]
use crate::x86_64::fence_before_clock_read;

/// Counter ticks per second; 0 until read.
static FREQUENCY: AtomicU64 = AtomicU64::new(0);

/// 100-ns intervals from 1601-01-01 (the FILETIME epoch) to 1970-01-01.
const FILETIME_TO_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// The performance counter's ticks per second (fixed at boot).
fn frequency() -> u64 {
    let known = FREQUENCY.load(Relaxed);
    if known != 0 {
        return known;
    }
    let mut f = 0i64;
    // SAFETY: `f` is writable; the call cannot fail on Windows XP and later.
    unsafe { QueryPerformanceFrequency(&mut f) };
    let f = (f as u64).max(1);
    FREQUENCY.store(f, Relaxed);
    f
}

/// The performance counter now.
#[inline(always)]
fn counter() -> u64 {
    let mut ticks = 0i64;
    // SAFETY: `ticks` is writable; the call cannot fail on Windows XP and later.
    unsafe { QueryPerformanceCounter(&mut ticks) };
    ticks as u64
}

/// Nanoseconds on the monotonic clock.
#[inline]
pub fn now_ns() -> u64 {
    ticks_to_ns(counter())
}

/// Nanoseconds since the Unix epoch (wall clock), for the trace header.
pub fn realtime_ns() -> u64 {
    let mut ft = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    // SAFETY: `ft` is writable.
    unsafe { GetSystemTimePreciseAsFileTime(&mut ft) };
    let intervals = (ft.dwHighDateTime as u64) << 32 | ft.dwLowDateTime as u64;
    intervals.saturating_sub(FILETIME_TO_UNIX_EPOCH) * 100
}

/// Sleeps for at least `ns` nanoseconds (Windows sleeps in whole milliseconds).
pub fn sleep_ns(ns: u64) {
    let ms = ns.div_ceil(1_000_000).min(u32::MAX as u64 - 1) as u32;
    // SAFETY: Sleep has no preconditions (a finite time).
    unsafe { Sleep(ms) };
}

/// Reads the counter's frequency and returns the monotonic nanoseconds now (the trace's
/// start). Call once per process image, before the first event.
pub fn start_event_clock() -> u64 {
    frequency();
    now_ns()
}

/// The event clock: performance-counter ticks, read after the earlier loads completed.
#[inline(always)]
pub fn event_ticks() -> u64 {
    fence_before_clock_read();
    counter()
}

/// The monotonic nanoseconds of an [`event_ticks`] value.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (ticks as u128 * 1_000_000_000 / frequency() as u128) as u64
}

/// The event clock now, in monotonic nanoseconds.
pub fn event_ns() -> u64 {
    ticks_to_ns(event_ticks())
}

//! Clocks on Linux: the event clock the hooks stamp events with, and its conversion to
//! `CLOCK_MONOTONIC` nanoseconds for the trace.
//!
//! When the kernel itself keeps time with the TSC (its clocksource is `tsc`: constant
//! rate and synchronized across CPUs, or the kernel would have switched away from it),
//! an event costs one `lfence; rdtsc` instead of a vDSO `clock_gettime`, and the writer
//! thread converts ticks to nanoseconds with one fixed linear map (`tick_map`). A tick is
//! shorter than a nanosecond, so two readings can map to the same nanosecond; the
//! analyzer's merge then puts releases first, the order a reused address needs
//! (docs/architecture.md, invariant 2). The `lfence` makes the read wait for everything
//! before it, as the vDSO's own read does: an allocation is stamped after the allocator
//! returned the block (which another thread may have freed), and a free after the thread
//! got hold of the pointer (which another thread may have allocated and handed over). A
//! bare `rdtsc` may run before those loads and stamp a free before the allocation it
//! frees: a 300-thread test saw exactly that. Elsewhere the event clock is
//! `CLOCK_MONOTONIC` itself and the conversion is the identity.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

pub use crate::unix::clock::{realtime_ns, sleep_ns};

use super::file::read_small_file;
use crate::tick_map::TickMap;
use crate::x86_64::read_tsc_ordered;

/// Whether events are stamped with the TSC.
static TSC: AtomicBool = AtomicBool::new(false);
/// TSC ticks to monotonic nanoseconds.
static TSC_MAP: TickMap = TickMap::new();

/// Nanoseconds on the monotonic clock.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Chooses the event clock and anchors it; returns the anchor's monotonic nanoseconds
/// (the trace's start). Call once per process image, before the first event; a forked
/// child keeps its parent's clock and calls [`event_ns`] instead.
pub fn start_event_clock() -> u64 {
    let tsc_is_kernel_clock =
        read_small_file(c"/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_some_and(|s| s.trim_ascii() == b"tsc");
    if !tsc_is_kernel_clock {
        TSC.store(false, Relaxed);
        return now_ns();
    }
    let (ticks, ns) = paired_reading();
    TSC_MAP.anchor((ticks, ns));
    TSC.store(true, Relaxed);
    ns
}

/// A TSC reading and the monotonic nanoseconds at (nearly) the same moment: the ticks
/// are the midpoint of two reads around the clock read.
fn paired_reading() -> (u64, u64) {
    let before = read_tsc_ordered();
    let ns = now_ns();
    let after = read_tsc_ordered();
    (before + (after - before) / 2, ns)
}

/// The event clock: TSC ticks, or monotonic nanoseconds (see the module comment).
#[inline(always)]
pub fn event_ticks() -> u64 {
    if TSC.load(Relaxed) {
        read_tsc_ordered()
    } else {
        now_ns()
    }
}

/// The monotonic nanoseconds of an [`event_ticks`] value. The first call may wait until
/// the rate can be measured (at most 2 ms after the anchor).
pub fn ticks_to_ns(ticks: u64) -> u64 {
    if !TSC.load(Relaxed) {
        return ticks;
    }
    TSC_MAP.to_ns(ticks, paired_reading, sleep_ns)
}

/// The event clock now, in monotonic nanoseconds.
pub fn event_ns() -> u64 {
    ticks_to_ns(event_ticks())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_clock_tracks_the_monotonic_clock() {
        let start = start_event_clock();
        assert!(start.abs_diff(now_ns()) < 1_000_000);
        let mut last = 0;
        for _ in 0..1000 {
            let t = event_ns();
            assert!(t >= last, "the event clock went backwards");
            last = t;
        }
        sleep_ns(20_000_000);
        let (event, mono) = (event_ns(), now_ns());
        // The rate was measured over ≥ 2 ms: after 20 ms the two clocks agree to well
        // within 1 % of the elapsed time.
        assert!(
            event.abs_diff(mono) < 200_000,
            "event clock {event} vs monotonic {mono}"
        );
    }
}

//! A fixed linear map from a hardware counter's ticks to monotonic nanoseconds: an anchor
//! pair (ticks, ns) read at start and a rate measured once, [`RATE_INTERVAL_NS`] later.
//!
//! An event clock that reads a counter directly (the TSC on Linux) is converted by the
//! writer thread with this map. A fixed map never reverses the order of two readings, so
//! the order of events across threads is the counter's (docs/architecture.md, invariant
//! 2); the nanoseconds are off from the monotonic clock by the rate's error (a few ppm)
//! times the run's length. The counter and the monotonic clock themselves belong to the
//! OS and the architecture: the caller passes a paired reading and a sleep.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// How long after the anchor the rate is measured (longer: more exact, but a program
/// that ends sooner waits for the rest of it at exit).
pub const RATE_INTERVAL_NS: u64 = 2_000_000;

/// The map: anchor and rate, shared by every thread.
pub struct TickMap {
    /// The anchor: a counter reading and the monotonic nanoseconds at the same moment.
    anchor_ticks: AtomicU64,
    anchor_ns: AtomicU64,
    /// Nanoseconds per tick as a 32.32 fixed-point number; 0 until measured.
    ns_per_tick_q32: AtomicU64,
}

impl TickMap {
    pub const fn new() -> TickMap {
        TickMap {
            anchor_ticks: AtomicU64::new(0),
            anchor_ns: AtomicU64::new(0),
            ns_per_tick_q32: AtomicU64::new(0),
        }
    }

    /// Anchors the map at the paired reading `(ticks, ns)`; the rate is measured again.
    pub fn anchor(&self, (ticks, ns): (u64, u64)) {
        self.anchor_ticks.store(ticks, Relaxed);
        self.anchor_ns.store(ns, Relaxed);
        self.ns_per_tick_q32.store(0, Relaxed);
    }

    /// The monotonic nanoseconds of `ticks`. The first call measures the rate with
    /// `paired_reading` (ticks and nanoseconds at one moment), sleeping with `sleep_ns`
    /// until [`RATE_INTERVAL_NS`] passed since the anchor.
    pub fn to_ns(
        &self,
        ticks: u64,
        paired_reading: impl Fn() -> (u64, u64),
        sleep_ns: impl Fn(u64),
    ) -> u64 {
        let mut rate = self.ns_per_tick_q32.load(Relaxed);
        if rate == 0 {
            rate = self.measure_rate(paired_reading, sleep_ns);
        }
        let elapsed = ticks.saturating_sub(self.anchor_ticks.load(Relaxed)) as u128;
        self.anchor_ns.load(Relaxed) + ((elapsed * rate as u128) >> 32) as u64
    }

    /// Measures nanoseconds per tick against the anchor, once; every caller gets the same.
    #[cold]
    fn measure_rate(&self, paired_reading: impl Fn() -> (u64, u64), sleep_ns: impl Fn(u64)) -> u64 {
        let (ticks0, ns0) = (
            self.anchor_ticks.load(Relaxed),
            self.anchor_ns.load(Relaxed),
        );
        let (ticks, ns) = loop {
            let (ticks, ns) = paired_reading();
            let elapsed = ns.saturating_sub(ns0);
            if elapsed >= RATE_INTERVAL_NS {
                break (ticks, ns);
            }
            sleep_ns(RATE_INTERVAL_NS - elapsed);
        };
        let rate = ((((ns - ns0) as u128) << 32) / (ticks.saturating_sub(ticks0).max(1)) as u128)
            .max(1) as u64;
        match self
            .ns_per_tick_q32
            .compare_exchange(0, rate, Relaxed, Relaxed)
        {
            Ok(_) => rate,
            Err(first) => first,
        }
    }
}

impl Default for TickMap {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::TickMap;

    #[test]
    fn maps_a_counter_at_a_measured_rate() {
        // A counter that runs at 3 ticks per nanosecond and "sleeps" by jumping ahead.
        let now = std::cell::Cell::new(1_000_000u64);
        let map = TickMap::new();
        map.anchor((3 * now.get(), now.get()));
        let paired = || (3 * now.get(), now.get());
        let sleep = |ns: u64| now.set(now.get() + ns);
        let ns = map.to_ns(3 * 5_000_000, paired, sleep);
        assert!(ns.abs_diff(5_000_000) <= 1, "{ns}");
        assert!(
            now.get() >= 3_000_000,
            "the rate was measured after the interval"
        );
    }
}

//! The hand-off between the program's threads (producers) and the writer thread: the one
//! owner of everything they share besides the rings themselves.
//!
//! - the doorbell: a futex the writer naps on, rung by flush requests and full rings;
//! - flush requests: a producer asks for everything pushed so far to be written and
//!   waits for the writer's answer (exit paths, fatal signals, module refreshes), and the
//!   end request that makes the writer write the end marker;
//! - final mode: after the final flush every later event is flushed at once;
//! - full-ring waits and lost events: a producer whose ring is full waits for the writer
//!   ([`FullRingWait`]), and drops the event only when the writer made no room for the
//!   configured time (docs/architecture.md, invariant 3);
//! - the published unwinder (where the platform captures stacks: the `stack_capture`
//!   configuration of build.rs): the writer rebuilds it when the module list changes,
//!   the producers capture stacks with the latest one.
//!
//! All of it is async-signal-safe and allocation-free on the producer side.

#[cfg(stack_capture)]
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use memscope_platform::clock::{now_ns, sleep_ns};
#[cfg(stack_capture)]
use memscope_platform::modules::load_generation;
use memscope_platform::thread::{current_tid, futex_wait, futex_wake, AtomicThreadId};
#[cfg(stack_capture)]
use memscope_platform::unwind::StackUnwinder;

use crate::config::{Config, DEFAULT_FULL_RING_WAIT_NS};

/// The shared state of the hand-off; the one instance is [`HANDOFF`].
pub struct Handoff {
    doorbell: AtomicU32,
    /// Set while the writer waits for work (see [`Handoff::writer_idle_wait`]).
    writer_sleeping: AtomicBool,
    flush_requested: AtomicU32,
    flush_done: AtomicU32,
    end_wanted: AtomicBool,
    final_mode: AtomicBool,
    lost_events: AtomicU64,
    /// Set when a producer gave up waiting for the writer, cleared by the writer's next
    /// round: while set, a full ring drops its event at once instead of waiting again.
    writer_stalled: AtomicBool,
    /// How long a producer waits on a full ring before it drops the event.
    full_ring_wait_ns: AtomicU64,
    writer_tid: AtomicThreadId,
    /// Set while the writer runs the leak check: a flush waits for it past its usual
    /// limit (the check's time grows with the heap).
    checking: AtomicBool,
    #[cfg(stack_capture)]
    unwinder: AtomicPtr<StackUnwinder>,
    /// When the last rate-limited module refresh was asked for, and the loader's
    /// counters then (see [`Handoff::refresh_modules_now`]).
    #[cfg(stack_capture)]
    last_refresh_ns: AtomicU64,
    #[cfg(stack_capture)]
    last_refresh_loads: AtomicU64,
}

pub static HANDOFF: Handoff = Handoff {
    doorbell: AtomicU32::new(0),
    writer_sleeping: AtomicBool::new(false),
    flush_requested: AtomicU32::new(0),
    flush_done: AtomicU32::new(0),
    end_wanted: AtomicBool::new(false),
    final_mode: AtomicBool::new(false),
    lost_events: AtomicU64::new(0),
    writer_stalled: AtomicBool::new(false),
    full_ring_wait_ns: AtomicU64::new(DEFAULT_FULL_RING_WAIT_NS),
    writer_tid: AtomicThreadId::new(0),
    checking: AtomicBool::new(false),
    #[cfg(stack_capture)]
    unwinder: AtomicPtr::new(std::ptr::null_mut()),
    #[cfg(stack_capture)]
    last_refresh_ns: AtomicU64::new(0),
    #[cfg(stack_capture)]
    last_refresh_loads: AtomicU64::new(u64::MAX),
};

impl Handoff {
    /// Takes the settings of a new trace.
    pub fn configure(&self, config: &Config) {
        self.full_ring_wait_ns
            .store(config.full_ring_wait_ns, Ordering::Relaxed);
    }

    /// In a forked child, before its own trace starts: no flush is pending, the end is not
    /// wanted, and the parent's dropped events are in the parent's trace.
    pub fn reset_after_fork(&self) {
        self.flush_requested.store(0, Ordering::Relaxed);
        self.flush_done.store(0, Ordering::Relaxed);
        self.end_wanted.store(false, Ordering::Relaxed);
        self.final_mode.store(false, Ordering::Relaxed);
        self.lost_events.store(0, Ordering::Relaxed);
        self.writer_stalled.store(false, Ordering::Relaxed);
    }

    fn on_writer_thread(&self) -> bool {
        self.writer_tid.load(Ordering::Relaxed) == current_tid()
    }

    fn ring_doorbell(&self) {
        self.doorbell.fetch_add(1, Ordering::Release);
        futex_wake(&self.doorbell);
    }
}

// ---- the unwinder -------------------------------------------------------------------

#[cfg(stack_capture)]
impl Handoff {
    /// The unwinder producers capture with now.
    #[inline(always)]
    pub fn unwinder(&self) -> Option<&'static StackUnwinder> {
        let p = self.unwinder.load(Ordering::Acquire);
        // SAFETY: published unwinders are leaked, never freed, so the pointer stays valid.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Makes `u` the unwinder for new captures. The previous one is leaked on purpose: a
    /// producer on another thread may still be walking it (one per module-list change).
    pub fn publish_unwinder(&self, u: StackUnwinder) {
        self.unwinder
            .store(Box::into_raw(Box::new(u)), Ordering::Release);
    }

    /// Asks the writer to re-read the module list now and waits for it (it re-reads when
    /// the loader's counters moved, as in every round): a stack ran into code outside
    /// every module the unwinder knows. Right away when the loader loaded or unloaded
    /// something since the last such request (a library a program calls just after
    /// `dlopen`), otherwise at most once per two milliseconds, so that code outside any
    /// module (JIT compilers) costs little. True if the unwinder now published is another
    /// than `used` (the one the cut stack came from).
    pub fn refresh_modules_now(&self, used: &StackUnwinder) -> bool {
        let now = now_ns();
        let last = self.last_refresh_ns.load(Ordering::Relaxed);
        let (adds, subs) = load_generation();
        let loads = adds.wrapping_add(subs.rotate_left(32));
        let loader_moved = self.last_refresh_loads.swap(loads, Ordering::Relaxed) != loads;
        if !loader_moved
            && (now.saturating_sub(last) < 2_000_000
                || self
                    .last_refresh_ns
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err())
        {
            return false;
        }
        self.last_refresh_ns.store(now, Ordering::Relaxed);
        self.flush_all();
        !std::ptr::eq(self.unwinder.load(Ordering::Acquire), used)
    }
}

impl Handoff {
    // ---- producers ------------------------------------------------------------------

    /// Waits until the writer has written every event pushed before this call (at most
    /// five seconds). Call only while a writer runs. Async-signal-safe.
    pub fn flush_all(&self) {
        if self.on_writer_thread() {
            return;
        }
        let target = self
            .flush_requested
            .fetch_add(1, Ordering::AcqRel)
            .wrapping_add(1);
        self.ring_doorbell();
        let deadline = now_ns() + 5_000_000_000;
        loop {
            let done = self.flush_done.load(Ordering::Acquire);
            let late = now_ns() > deadline && !self.checking.load(Ordering::Acquire);
            if (done.wrapping_sub(target) as i32) >= 0 || late {
                return;
            }
            futex_wait(&self.flush_done, done, 10_000_000);
        }
    }

    /// Asks the writer to write the end marker after everything pushed so far (the next
    /// [`Handoff::flush_all`] waits for it); `final_mode`: from now on flush every event
    /// at once.
    pub fn request_end(&self, final_mode: bool) {
        self.end_wanted.store(true, Ordering::Release);
        if final_mode {
            self.final_mode.store(true, Ordering::Release);
        }
    }

    /// Whether every event is flushed as it is pushed (after the final flush).
    #[inline(always)]
    pub fn final_mode(&self) -> bool {
        self.final_mode.load(Ordering::Relaxed)
    }

    /// An `exec` returned: the image lives on, so leave final mode.
    pub fn leave_final_mode(&self) {
        self.final_mode.store(false, Ordering::Release);
    }

    /// A producer dropped an event (see [`FullRingWait::wait`]).
    pub fn note_lost_event(&self) {
        self.lost_events.fetch_add(1, Ordering::Relaxed);
    }

    // ---- the writer -----------------------------------------------------------------

    /// Called on the writer thread as it starts: producers never wait for themselves.
    pub fn writer_started(&self) {
        self.writer_tid.store(current_tid(), Ordering::Relaxed);
    }

    /// The latest flush request.
    pub fn flush_requested(&self) -> u32 {
        self.flush_requested.load(Ordering::Acquire)
    }

    /// Everything pushed before flush request `requested` is written.
    pub fn flush_done(&self, requested: u32) {
        if self.flush_done.load(Ordering::Relaxed) != requested {
            self.flush_done.store(requested, Ordering::Release);
            futex_wake(&self.flush_done);
        }
    }

    /// Whether the end marker is wanted (once per request).
    pub fn take_end_request(&self) -> bool {
        self.end_wanted.swap(false, Ordering::AcqRel)
    }

    /// The writer's idle wait: until a flush request or a full ring rings the doorbell,
    /// at most a millisecond.
    pub fn writer_idle_wait(&self) {
        self.writer_sleeping.store(true, Ordering::Relaxed);
        let v = self.doorbell.load(Ordering::Acquire);
        futex_wait(&self.doorbell, v, 1_000_000);
        self.writer_sleeping.store(false, Ordering::Relaxed);
    }

    /// Events dropped so far.
    pub fn lost_events(&self) -> u64 {
        self.lost_events.load(Ordering::Relaxed)
    }

    /// The writer starts (true) or ends (false) the leak check.
    #[cfg_attr(not(leak_check), allow(dead_code))]
    pub fn set_checking(&self, on: bool) {
        self.checking.store(on, Ordering::Release);
    }

    /// The writer completed a round: producers wait for it again.
    pub fn writer_alive(&self) {
        if self.writer_stalled.load(Ordering::Relaxed) {
            self.writer_stalled.store(false, Ordering::Relaxed);
        }
    }
}

/// A producer's wait for room in its full ring.
#[derive(Default)]
pub struct FullRingWait {
    tries: u32,
    /// When to give up (monotonic ns), set when the naps start.
    deadline: u64,
}

impl FullRingWait {
    /// Wakes the writer and waits a little — spinning first (the writer, on another core,
    /// frees space within microseconds), then yielding (it may need this core), then
    /// napping. Returns false when the writer has not made room within the configured
    /// wait (`MEMSCOPE_FULL_RING_WAIT_MS`, ten seconds by default: it is stuck or gone):
    /// the event is then dropped rather than hanging the program, and until the writer
    /// completes another round every thread drops on a full ring at once. `patient`: a
    /// process-wide record (exit, fork), which waits even when the setting is 0.
    pub fn wait(&mut self, patient: bool) -> bool {
        let h = &HANDOFF;
        if h.on_writer_thread() {
            return false;
        }
        let mut limit = h.full_ring_wait_ns.load(Ordering::Relaxed);
        if limit == 0 && patient {
            limit = DEFAULT_FULL_RING_WAIT_NS;
        }
        if limit == 0 || h.writer_stalled.load(Ordering::Relaxed) {
            // Dropping: no syscall unless the writer sleeps through a full ring.
            if h.writer_sleeping.load(Ordering::Relaxed) {
                h.ring_doorbell();
            }
            return false;
        }
        if self.tries.is_multiple_of(256) {
            h.ring_doorbell(); // a futex wake: not on every spin
        }
        self.tries += 1;
        match self.tries {
            0..1024 => std::hint::spin_loop(),
            1024..2048 => std::thread::yield_now(),
            _ => {
                // A deadline, not a count of naps: timer slack makes a 20 µs nap last
                // several times longer.
                let now = now_ns();
                if self.deadline == 0 {
                    self.deadline = now.saturating_add(limit);
                } else if now >= self.deadline {
                    h.writer_stalled.store(true, Ordering::Relaxed);
                    return false;
                }
                sleep_ns(20_000);
            }
        }
        true
    }
}

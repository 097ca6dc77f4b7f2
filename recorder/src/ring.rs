//! A single-producer, single-consumer ring of 64-bit words: one per traced thread, filled
//! by that thread's hooks and drained by the writer thread.
//!
//! Written here rather than taken from a crate because the producer side runs inside
//! `malloc`: it must not allocate, lock, or make a syscall per event, and entries are of
//! variable length (a stack is inline). Indices grow without bound and are reduced modulo
//! the power-of-two capacity; the producer publishes `head` with Release after writing the
//! words, the consumer publishes `tail` with Release after reading them. A full ring makes
//! the producer wait for the writer (back-pressure); only a writer that makes no room
//! for `MEMSCOPE_FULL_RING_WAIT_MS` (it is stuck or gone) makes the producer drop events,
//! which the trace then counts (see `handoff`; docs/architecture.md, invariant 3).
//!
//! The two ends live on cache lines of their own, and the producer keeps the consumer's
//! index as it last read it: it reads the writer's `tail` again only when that old value
//! says the ring is full. Otherwise every push would miss in its cache (the writer, on
//! another core, moves `tail` as it drains), and so would every drain.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use memscope_platform::memory::map_zeroed;

pub struct Ring {
    buf: *mut u64,
    mask: u64,
    producer: CachePadded<ProducerEnd>,
    /// The consumer's index: written by the consumer only.
    tail: CachePadded<AtomicU64>,
}

/// The producer's end: written by the producer only.
struct ProducerEnd {
    head: AtomicU64,
    /// `tail` as the producer last read it (never ahead of `tail`: it only grows).
    seen_tail: AtomicU64,
}

// SAFETY: the buffer is only written by the single producer in [tail+cap.., head) order and
// only read by the single consumer in [tail, head); the atomics order the hand-over.
unsafe impl Sync for Ring {}
// SAFETY: as above; the mapping is owned by the ring.
unsafe impl Send for Ring {}

impl Ring {
    /// Maps a ring of `words` (rounded up to a power of two) without touching the heap.
    pub fn new(words: usize) -> Option<Ring> {
        let words = words.next_power_of_two().max(1024);
        let p = map_zeroed(words * 8)?;
        Some(Ring {
            buf: p.as_ptr().cast(),
            mask: words as u64 - 1,
            producer: CachePadded::new(ProducerEnd {
                head: AtomicU64::new(0),
                seen_tail: AtomicU64::new(0),
            }),
            tail: CachePadded::new(AtomicU64::new(0)),
        })
    }

    pub fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// Producer: appends `words` if there is room; false if the ring is too full.
    #[inline]
    pub fn try_push(&self, words: &[u64]) -> bool {
        let p = &*self.producer;
        let head = p.head.load(Ordering::Relaxed);
        let needed = words.len() as u64;
        if self.capacity() - (head - p.seen_tail.load(Ordering::Relaxed)) < needed {
            let tail = self.tail.load(Ordering::Acquire);
            p.seen_tail.store(tail, Ordering::Relaxed);
            if self.capacity() - (head - tail) < needed {
                return false;
            }
        }
        for (i, &w) in words.iter().enumerate() {
            // SAFETY: the index is reduced into the mapping; these words are free (checked above).
            unsafe { *self.buf.add(((head + i as u64) & self.mask) as usize) = w };
        }
        p.head.store(head + needed, Ordering::Release);
        true
    }

    /// Consumer: the readable index range `[tail, head)`.
    #[inline]
    pub fn readable(&self) -> (u64, u64) {
        (
            self.tail.load(Ordering::Relaxed),
            self.producer.head.load(Ordering::Acquire),
        )
    }

    /// Consumer: the word at absolute index `i` (which must be readable).
    #[inline]
    pub fn word(&self, i: u64) -> u64 {
        // SAFETY: the index is reduced into the mapping; the caller only reads published words.
        unsafe { *self.buf.add((i & self.mask) as usize) }
    }

    /// Consumer: gives the words before `new_tail` back to the producer.
    #[inline]
    pub fn release(&self, new_tail: u64) {
        self.tail.store(new_tail, Ordering::Release);
    }

    /// Empties the ring (the forked child's copy of its parent's unwritten events
    /// belongs to the parent's trace).
    pub fn clear(&self) {
        self.tail.store(
            self.producer.head.load(Ordering::Relaxed),
            Ordering::Release,
        );
    }

    /// Fraction of the ring in use, 0..=100.
    pub fn fill_percent(&self) -> u64 {
        let (t, h) = self.readable();
        (h - t) * 100 / self.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn wraps_and_applies_back_pressure() {
        let r = Ring::new(1024).unwrap();
        let entry = [7u64; 100];
        let mut pushed = 0u64;
        while r.try_push(&entry) {
            pushed += 100;
        }
        assert_eq!(pushed, 1000, "ten entries fit, the eleventh waits");
        let (t, h) = r.readable();
        assert_eq!(h - t, 1000);
        r.release(t + 500);
        assert!(r.try_push(&entry), "room again after the consumer released");
        let (t, h) = r.readable();
        assert!((t..h).all(|i| r.word(i) == 7));
    }
}

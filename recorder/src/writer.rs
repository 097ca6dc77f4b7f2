//! The writer thread: the only thread that encodes and does file I/O.
//!
//! Each round it notes how far every thread's ring is filled, refreshes the module list
//! if the loader's counters moved (so every module an event's stack can name is recorded
//! before that stack), then drains the rings: stacks are interned (each distinct stack is
//! written once, as a `Stack` record in stream 0) and events are encoded into chunks of the
//! thread's stream. It also answers flush requests and reclaims the slots of dead threads.
//!
//! Stream 0's chunk is closed and written every round. A thread's chunk stays open
//! across rounds until it is full, another thread's events come, a flush is requested
//! (exit paths, fatal signals, fork, module refreshes) or it is [`MAX_CHUNK_AGE_NS`] old:
//! a chunk starts its prediction model from scratch, and the rounds of a busy program
//! are a fraction of a millisecond apart, and chunks of one round code markedly worse
//! than those of a few milliseconds (BENCHMARKS.md). A process killed by SIGKILL loses at
//! most that much more than what its rings held.
//!
//! Each ring entry is read back as an [`Entry`] and mapped to one [`Record`]: the format
//! crate's record type is the only thing handed to the encoder.

use std::sync::atomic::Ordering;

use memscope_format::{Record, StackId, StackIds, GLOBAL_STREAM};
use memscope_platform::clock::{event_ns, ticks_to_ns};
use memscope_platform::file::RawFile;
use memscope_platform::thread::thread_alive;
#[cfg(stack_capture)]
use memscope_platform::unwind::StackUnwinder;

use crate::chunk_builder::ChunkBuilder;
use crate::entry::{Entry, Event};
use crate::front_end::AllocatorInUse;
use crate::handoff::HANDOFF;
use crate::live_map::LiveMap;
#[cfg(stack_capture)]
use crate::module_list::ModuleList;
use crate::slot::{for_each_slot, ThreadSlot, EXITING, FREE};

/// Resolution of the times of events recorded while the process has one recording thread
/// ([`crate::slot::solo_until`]): their order is the order of their stream, so their times
/// only serve timelines and lifetimes, which need no finer grain than the tracer's own
/// cost per event. Rounding the nanoseconds down to it makes time deltas, most of a
/// single-threaded trace's bytes, about six bits shorter. Rounding down keeps every
/// such event before any event of a thread that started after it.
const SOLO_GRAIN_NS: u64 = 64;

/// How long a thread's chunk may stay open across rounds.
pub const MAX_CHUNK_AGE_NS: u64 = 20_000_000;

pub struct Writer {
    file: RawFile,
    /// Encoded bytes waiting for the next `write(2)`; stream 0 first, so a module is in
    /// the file before the stacks that point into it.
    out_global: Vec<u8>,
    out_threads: Vec<u8>,
    global: ChunkBuilder,
    thread: ChunkBuilder,
    stacks: StackIds,
    frames: Vec<u64>,
    /// The modules recorded so far and the unwinder over them.
    #[cfg(stack_capture)]
    modules: ModuleList,
    pending: Vec<(&'static ThreadSlot, u64)>,
    write_failed: bool,
    /// The last flush request answered.
    flushed: u32,
    /// Dropped events already written in `Lost` records.
    lost_written: u64,
    /// The blocks live now, for the leak check at the end (`None`: not kept, the check is
    /// off).
    live: Option<Box<LiveMap>>,
}

impl Writer {
    /// A writer for an open trace file whose header is already written; `allocator`: what
    /// serves the program (the first record); `inherited`: a forked child's live blocks
    /// at the fork (see `inherit`).
    pub fn new(
        file: RawFile,
        leak_check: bool,
        allocator: AllocatorInUse,
        inherited: Option<Box<LiveMap>>,
    ) -> Writer {
        #[cfg_attr(not(stack_capture), allow(unused_mut))]
        let mut w = Writer {
            file,
            out_global: Vec::with_capacity(1 << 20),
            out_threads: Vec::with_capacity(1 << 20),
            global: ChunkBuilder::new(GLOBAL_STREAM),
            thread: ChunkBuilder::new(0),
            stacks: StackIds::new(),
            frames: Vec::with_capacity(256),
            #[cfg(stack_capture)]
            modules: ModuleList::new(),
            pending: Vec::new(),
            write_failed: false,
            flushed: HANDOFF.flush_requested(),
            lost_written: 0,
            // Only where the check runs (it needs the platform's memory map and thread
            // stopping: the `leak_check` configuration).
            live: (leak_check && cfg!(leak_check))
                .then(|| inherited.unwrap_or_else(|| Box::new(LiveMap::new()))),
        };
        if let Some(live) = w.live.as_mut() {
            crate::inherit::publish(live);
        }
        let record = Record::Allocator {
            path: allocator.path,
            bypassed: allocator.bypassed,
        };
        w.global.put(&mut w.out_global, 0, &record);
        #[cfg(stack_capture)]
        w.modules.refresh(&mut w.global, &mut w.out_global);
        w
    }

    /// The unwinder over the modules known now (published by the caller).
    #[cfg(stack_capture)]
    pub fn unwinder(&self) -> StackUnwinder {
        self.modules.unwinder()
    }

    /// Runs rounds until the process ends. Called on the writer thread, guard held.
    pub fn run(mut self) -> ! {
        loop {
            let requested = HANDOFF.flush_requested();
            let busy = crate::inherit::round(|| self.round(requested != self.flushed));
            if HANDOFF.take_end_request() {
                // Everything first (the request may have come after this round read the
                // rings, and a thread's chunk may still be open): the end marker must
                // follow every event recorded before it, or a trace cut just before a
                // later chunk would read as complete.
                self.round(true);
                #[cfg(leak_check)]
                {
                    self.leak_check();
                    // The check also used the events the stopped threads had pushed
                    // since: write them before the end marker, or the trace would lack
                    // what the check saw (a free the check applied, missing from the
                    // trace, leaves a live block the check did not judge).
                    self.round(true);
                }
                let now = event_ns();
                self.global
                    .put(&mut self.out_global, now, &Record::End { time: now });
                self.write_out(true);
            }
            HANDOFF.flush_done(requested);
            self.flushed = requested;
            if !busy && HANDOFF.flush_requested() == requested {
                HANDOFF.writer_idle_wait();
            }
        }
    }

    /// Runs the leak check if the thread ending the process asked for it, and writes its
    /// records (see `leak_check`).
    #[cfg(leak_check)]
    fn leak_check(&mut self) {
        if !crate::leak_check::take_request() {
            return;
        }
        let Some(live) = self.live.as_mut() else {
            return;
        };
        HANDOFF.set_checking(true);
        // The stopped threads' latest events, read without taking them off the rings
        // (the next round writes them as usual).
        let outcome = crate::leak_check::run(live, follow_unread);
        match outcome {
            Some(o) => {
                let (global, out) = (&mut self.global, &mut self.out_global);
                o.records(|r| global.put(out, 0, r));
                self.write_out(true);
            }
            None => memscope_platform::file::write_stderr(
                b"memscope: the leak check could not run (no memory or no memory map)\n",
            ),
        }
        HANDOFF.set_checking(false);
    }

    /// One pass over every ring; `flush`: a flush is requested, close every chunk.
    /// Returns whether a ring was more than a quarter full (then the next round starts at
    /// once).
    fn round(&mut self, flush: bool) -> bool {
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        let mut busy = false;
        for_each_slot(|s| {
            let (tail, head) = s.ring.readable();
            if head != tail || s.state.load(Ordering::Acquire) == EXITING {
                busy |= s.ring.fill_percent() > 25;
                pending.push((s, head));
            }
        });
        // After reading the heads: any module an event's stack points into was loaded
        // before that event, so it is in this list.
        #[cfg(stack_capture)]
        if self.modules.loader_moved() {
            self.modules.refresh(&mut self.global, &mut self.out_global);
            HANDOFF.publish_unwinder(self.modules.unwinder());
        }
        for &(s, head) in &pending {
            self.drain(s, head);
            if s.state.load(Ordering::Acquire) == EXITING
                && !thread_alive(s.tid.load(Ordering::Relaxed))
            {
                // The thread can run no more code: take what it left, then free the slot.
                let (_, head) = s.ring.readable();
                self.drain(s, head);
                s.state.store(FREE, Ordering::Release);
            }
        }
        self.pending = pending;
        if let Some(live) = self.live.as_mut() {
            let now = crate::producer::now();
            live.end_round(ticks_to_ns(now), now);
        }
        let lost = HANDOFF.lost_events();
        if lost > self.lost_written {
            let (time, events) = (event_ns(), lost - self.lost_written);
            self.global
                .put(&mut self.out_global, time, &Record::Lost { time, events });
            self.lost_written = lost;
        }
        self.write_out(flush);
        HANDOFF.writer_alive();
        busy
    }

    /// Closes stream 0's chunk, and the thread chunk if `all` or if it is old enough, and
    /// writes what was closed.
    fn write_out(&mut self, all: bool) {
        self.global.finish(&mut self.out_global);
        if all || self.thread.is_older_than(event_ns(), MAX_CHUNK_AGE_NS) {
            self.thread.finish(&mut self.out_threads);
        }
        if self.out_global.is_empty() && self.out_threads.is_empty() {
            return;
        }
        if !self.write_failed {
            let r = self
                .file
                .write_all(&self.out_global)
                .and_then(|_| self.file.write_all(&self.out_threads));
            if r.is_err() {
                self.write_failed = true;
                memscope_platform::file::write_stderr(
                    b"memscope: cannot write the trace file; tracing stops\n",
                );
            }
        }
        self.out_global.clear();
        self.out_threads.clear();
    }

    /// Encodes the entries of `s` up to `head` and gives the space back.
    fn drain(&mut self, s: &'static ThreadSlot, head: u64) {
        let (mut i, _) = s.ring.readable();
        // SAFETY: the slot's writer part is only touched by the writer thread.
        let stream = unsafe { &mut *s.writer.stream.get() };
        if self.thread.stream() != *stream {
            self.thread.switch_stream(*stream, &mut self.out_threads);
        }
        while i < head {
            let entry = Entry::read(&s.ring, i);
            self.frames.clear();
            let frames_at = i + entry.header as u64;
            self.frames
                .extend((frames_at..frames_at + entry.frames as u64).map(|k| s.ring.word(k)));
            i += entry.len();
            let Some(event) = entry.event else {
                continue;
            };
            if let Event::ThreadStart { stream: new, .. } = event {
                *stream = new;
                self.thread.switch_stream(new, &mut self.out_threads);
            }
            let stack = self.stack_of(s, &entry);
            if let Some(live) = self.live.as_mut() {
                follow(live, &event);
            }
            self.write_event(event, stack);
            // Hand space back as it is read, not only at the end: a producer waiting on
            // a full ring goes on after a few microseconds instead of a whole round.
            if i & 0xfff < entry.len() {
                s.ring.release(i);
            }
        }
        s.ring.release(head);
    }

    /// The id of the stack of `entry` of `s`'s ring, whose frames are in `self.frames`:
    /// those frames interned, or the memoized walk the entry names (see `entry`; walks
    /// exist only where stacks are captured).
    #[inline]
    #[cfg_attr(not(stack_capture), allow(unused_variables))]
    fn stack_of(&mut self, s: &ThreadSlot, entry: &Entry) -> StackId {
        #[cfg(stack_capture)]
        if let Some(w) = entry.walk {
            // SAFETY: the slot's writer part is only touched by the writer thread.
            let walks = unsafe { &mut *s.writer.walks.get() };
            if entry.frames == 0 {
                return StackId(walks[w]);
            }
            let id = self.intern();
            walks[w] = id.0;
            return id;
        }
        self.intern()
    }

    /// The id of the stack in `self.frames`, writing its record the first time.
    fn intern(&mut self) -> StackId {
        let (id, new) = self.stacks.intern(&self.frames);
        if new {
            // The record borrows the frame buffer and gives it back: no allocation.
            let frames = std::mem::take(&mut self.frames);
            let record = Record::Stack { id, frames };
            self.global.put(&mut self.out_global, 0, &record);
            if let Record::Stack { frames, .. } = record {
                self.frames = frames;
            }
        }
        id
    }

    /// Writes one event as its record: thread events to the thread's chunk, process-wide
    /// ones to stream 0. Each arm hands its own record to the encoder, so that the
    /// encoder's match is resolved where the record is built.
    #[inline(always)]
    fn write_event(&mut self, event: Event, stack: StackId) {
        let solo_until = crate::slot::solo_until();
        let event_time = |ticks: u64| {
            let ns = ticks_to_ns(ticks);
            if ticks < solo_until {
                ns & !(SOLO_GRAIN_NS - 1)
            } else {
                ns
            }
        };
        let (thread, out) = (&mut self.thread, &mut self.out_threads);
        match event {
            Event::Alloc {
                time,
                ptr,
                size,
                align,
                kind,
                slack,
            } => {
                let time = event_time(time);
                let record = Record::Alloc {
                    time,
                    ptr,
                    size,
                    align,
                    kind,
                    stack,
                    slack,
                };
                thread.put(out, time, &record);
            }
            Event::Free {
                time,
                ptr,
                kind,
                size,
                align,
            } => {
                let time = event_time(time);
                let record = Record::Free {
                    time,
                    ptr,
                    kind,
                    stack,
                    size,
                    align,
                };
                thread.put(out, time, &record);
            }
            Event::Realloc {
                time_before,
                time,
                old,
                new,
                size,
                kind,
                slack,
            } => {
                let time = event_time(time);
                let record_time_before = event_time(time_before);
                let record = Record::Realloc {
                    time_before: record_time_before,
                    time,
                    old,
                    new,
                    size,
                    kind,
                    stack,
                    slack,
                };
                // The chunk's base time is the earliest time of its first record: a realloc's
                // time before the call (the stream's time deltas cannot go back).
                thread.put(out, record_time_before, &record);
            }
            Event::AllocFailed { time, size, kind } => {
                let time = event_time(time);
                let record = Record::AllocFailed {
                    time,
                    size,
                    kind,
                    stack,
                };
                thread.put(out, time, &record);
            }
            Event::ThreadStart { time, tid, .. } => {
                let time = event_time(time);
                thread.put(out, time, &Record::ThreadStart { time, tid });
            }
            Event::ThreadExit { time } => {
                let time = event_time(time);
                thread.put(out, time, &Record::ThreadExit { time });
            }
            Event::Fork { time, child_pid } => {
                let time = event_time(time);
                let record = Record::Fork { time, child_pid };
                self.global.put(&mut self.out_global, time, &record);
            }
            Event::ProcessExit { time, how, code } => {
                let time = event_time(time);
                let record = Record::ProcessExit { time, how, code };
                self.global.put(&mut self.out_global, time, &record);
            }
        }
    }
}

/// Applies to `live` the events every ring holds that no round has read yet (without
/// taking them off the rings).
pub fn follow_unread(live: &mut LiveMap) {
    for_each_slot(|s| {
        let (mut i, head) = s.ring.readable();
        while i < head {
            let entry = Entry::read(&s.ring, i);
            i += entry.len();
            if let Some(e) = entry.event {
                follow(live, &e);
            }
        }
    });
}

/// Keeps `live` up to date with one event.
#[inline(always)]
fn follow(live: &mut LiveMap, event: &Event) {
    match *event {
        Event::Alloc {
            time, ptr, size, ..
        } => live.alloc(ptr, size, time),
        Event::Free { time, ptr, .. } => live.free(ptr, time),
        Event::Realloc {
            time_before,
            time,
            old,
            new,
            size,
            ..
        } => {
            if new == 0 && size > 0 {
                return; // failed: the old block stays
            }
            live.free(old, time_before);
            live.alloc(new, size, time);
        }
        _ => {}
    }
}

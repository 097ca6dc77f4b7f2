//! The typed event every pass-2 stage shares: what one thread did at one time, after a
//! `Realloc` record is split into its release and allocation halves. [`split_record`]
//! turns a decoded record into events; the prefetch helper runs it while decoding ahead,
//! the merge orders the results.

use memscope_format::{AllocKind, FreeKind, Record};

use crate::ids::{StackId, StreamId};

/// What happened, after realloc splitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Alloc {
        ptr: u64,
        size: u64,
        align: u64,
        kind: AllocKind,
        stack: StackId,
        /// Usable minus requested size.
        slack: u64,
    },
    Free {
        ptr: u64,
        kind: FreeKind,
        stack: StackId,
        /// The size a sized `operator delete` was given (0: the form called takes none).
        size: u64,
        /// The alignment an aligned `operator delete` was given (0: the form called
        /// takes none).
        align: u64,
    },
    /// A realloc gave up `old` (moved, or freed by `realloc(p, 0)`).
    ReallocRelease {
        old: u64,
        kind: AllocKind,
        stack: StackId,
    },
    /// A realloc produced block `new` of `size` bytes (`old` is 0 for `realloc(NULL, n)`).
    ReallocAlloc {
        old: u64,
        new: u64,
        size: u64,
        kind: AllocKind,
        stack: StackId,
        slack: u64,
    },
    /// A realloc returned null for a non-zero size: `old` stays live.
    ReallocFailed {
        old: u64,
        size: u64,
        kind: AllocKind,
        stack: StackId,
    },
    AllocFailed {
        size: u64,
        kind: AllocKind,
        stack: StackId,
    },
    ThreadStart {
        tid: u32,
    },
    ThreadExit,
}

impl EventKind {
    /// Whether this event gives a block up (sorted first at equal times).
    pub fn is_release(&self) -> bool {
        matches!(self, Self::Free { .. } | Self::ReallocRelease { .. })
    }
}

/// One event in global order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub time: u64,
    pub stream: StreamId,
    pub kind: EventKind,
}

/// Appends the events one record stands for to `out` (none for process-wide records).
#[inline]
pub fn split_record(rec: &Record<'_>, stream: StreamId, out: &mut Vec<Event>) {
    let mut push = |time, kind| out.push(Event { time, stream, kind });
    match *rec {
        Record::Alloc {
            time,
            ptr,
            size,
            align,
            kind,
            stack,
            slack,
        } => push(
            time,
            EventKind::Alloc {
                ptr,
                size,
                align,
                kind,
                stack,
                slack,
            },
        ),
        Record::Free {
            time,
            ptr,
            kind,
            stack,
            size,
            align,
        } => push(
            time,
            EventKind::Free {
                ptr,
                kind,
                stack,
                size,
                align,
            },
        ),
        Record::Realloc {
            time_before,
            time,
            old,
            new,
            size,
            kind,
            stack,
            slack,
        } => {
            if new == 0 && size > 0 {
                push(
                    time,
                    EventKind::ReallocFailed {
                        old,
                        size,
                        kind,
                        stack,
                    },
                );
                return;
            }
            if old != 0 {
                push(time_before, EventKind::ReallocRelease { old, kind, stack });
            }
            if new != 0 {
                push(
                    time,
                    EventKind::ReallocAlloc {
                        old,
                        new,
                        size,
                        kind,
                        stack,
                        slack,
                    },
                );
            }
        }
        Record::AllocFailed {
            time,
            size,
            kind,
            stack,
        } => push(time, EventKind::AllocFailed { size, kind, stack }),
        Record::ThreadStart { time, tid } => push(time, EventKind::ThreadStart { tid }),
        Record::ThreadExit { time } => push(time, EventKind::ThreadExit),
        Record::Module { .. }
        | Record::Allocator { .. }
        | Record::ModuleUnload { .. }
        | Record::Stack { .. }
        | Record::ProcessExit { .. }
        | Record::Fork { .. }
        | Record::Lost { .. }
        | Record::Root { .. }
        | Record::Reach { .. }
        | Record::ReachEnd { .. }
        | Record::End { .. } => {}
    }
}

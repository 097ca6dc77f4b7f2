//! The layout of one event in a thread's ring: a header of three to six words (by tag:
//! the common entries carry only what they need, so that the program writes and the
//! writer reads fewer bytes per event), then the stack frames inline. The producer builds
//! headers with the constructors here ([`alloc`], [`free`], ...); the writer reads an
//! entry back as an [`Entry`] with named fields. Nothing else knows the word positions.
//!
//! ```text
//! word 0: tag (bits 0..8) | kind (8..16) | frame count (16..25) | walk (25..32: 0, or
//!         1 + the slot of the thread's memoized walk the stack is; see below) |
//!         slack (32..64: the allocator's usable size minus the requested one, for
//!         allocations)
//! word 1: time (event-clock ticks, which the writer converts to ns; read after the
//!         allocator returned, before it for frees)
//! words 2..: by tag
//!   Alloc         ptr, size
//!   AllocAligned  ptr, size, alignment
//!   AllocFailed   0, size
//!   Free          ptr
//!   FreeArgs      ptr, size, alignment (a sized or aligned operator delete)
//!   Realloc       old, size, new, time before the call
//!   ThreadStart   kernel tid, stream, 0, 0
//!   ThreadExit    0, 0, 0, 0
//!   ProcessExit   how (ExitHow), code, 0, 0
//!   Fork          child pid, 0, 0, 0
//! ```
//!
//! Walk references save copying and interning a stack the writer already has: an entry
//! that names a walk *and* carries frames tells the writer "these are the frames of walk
//! w from now on"; one that names a walk and carries no frames means "the frames of walk
//! w, as last sent". The ring is FIFO per thread, so the writer always has them.

use memscope_format::{AllocKind, ExitHow, FreeKind};
use memscope_platform::thread::ThreadId;

use crate::ring::Ring;

/// The longest header.
pub const HEADER_WORDS: usize = 6;
/// Deepest stack a ring entry carries.
pub const MAX_FRAMES: usize = 256;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    Alloc = 1,
    Free = 2,
    Realloc = 3,
    AllocFailed = 4,
    ThreadStart = 5,
    ThreadExit = 6,
    ProcessExit = 7,
    Fork = 8,
    AllocAligned = 9,
    FreeArgs = 10,
}

impl Tag {
    pub fn from_u8(v: u8) -> Option<Tag> {
        use Tag::*;
        [
            Alloc,
            Free,
            Realloc,
            AllocFailed,
            ThreadStart,
            ThreadExit,
            ProcessExit,
            Fork,
            AllocAligned,
            FreeArgs,
        ]
        .into_iter()
        .find(|t| *t as u8 == v)
    }
}

/// Header words (word 0, the time and the fields) of an entry with this tag byte.
#[inline(always)]
pub const fn header_words(tag: u8) -> usize {
    match tag {
        t if t == Tag::Free as u8 => 3,
        t if t == Tag::Alloc as u8 || t == Tag::AllocFailed as u8 => 4,
        t if t == Tag::AllocAligned as u8 || t == Tag::FreeArgs as u8 => 5,
        _ => HEADER_WORDS,
    }
}

#[inline(always)]
fn word0(tag: Tag, kind: u8) -> u64 {
    tag as u64 | (kind as u64) << 8
}

/// Word 0 of an allocation entry, with its slack.
#[inline(always)]
fn word0_with_slack(tag: Tag, kind: AllocKind, slack: usize) -> u64 {
    word0(tag, kind as u8) | (slack.min(u32::MAX as usize) as u64) << 32
}

/// The bits of word 0 that carry `frames` frames of memoized walk `walk` (`None`: a
/// stack that is no memoized walk); or them into a header's word 0.
#[inline(always)]
pub fn stack_bits(frames: usize, walk: Option<usize>) -> u64 {
    let walk = walk.map_or(0, |slot| ((slot as u64 + 1) & 0x7f) << 25);
    (frames as u64) << 16 | walk
}

// Word 0 has 9 bits for the frame count (and 7 for the walk: checked in `capture`).
const _: () = assert!(MAX_FRAMES < 512);

/// An allocation with no alignment asked for; `slack`: usable minus requested size.
#[inline(always)]
pub fn alloc(kind: AllocKind, slack: usize, time: u64, ptr: u64, size: u64) -> [u64; 4] {
    [word0_with_slack(Tag::Alloc, kind, slack), time, ptr, size]
}

/// An allocation with an alignment.
#[inline(always)]
pub fn alloc_aligned(
    kind: AllocKind,
    slack: usize,
    time: u64,
    ptr: u64,
    size: u64,
    align: u64,
) -> [u64; 5] {
    [
        word0_with_slack(Tag::AllocAligned, kind, slack),
        time,
        ptr,
        size,
        align,
    ]
}

/// An allocation call that returned null.
#[inline(always)]
pub fn alloc_failed(kind: AllocKind, time: u64, size: u64) -> [u64; 4] {
    [word0(Tag::AllocFailed, kind as u8), time, 0, size]
}

/// A release, stamped before the real call.
#[inline(always)]
pub fn free(kind: FreeKind, time: u64, ptr: u64) -> [u64; 3] {
    [word0(Tag::Free, kind as u8), time, ptr]
}

/// A release by a sized or aligned `operator delete`, with the size and alignment it was
/// given (0: that argument is not part of the form called).
#[inline(always)]
pub fn free_args(kind: FreeKind, time: u64, ptr: u64, size: u64, align: u64) -> [u64; 5] {
    [word0(Tag::FreeArgs, kind as u8), time, ptr, size, align]
}

/// A realloc-like call: `before` stamped before the real call, `time` after it.
#[inline(always)]
pub fn realloc(
    kind: AllocKind,
    slack: usize,
    times: (u64, u64),
    old: u64,
    new: u64,
    size: u64,
) -> [u64; 6] {
    let (before, time) = times;
    [
        word0_with_slack(Tag::Realloc, kind, slack),
        time,
        old,
        size,
        new,
        before,
    ]
}

/// The first entry of a stream: thread `tid` now writes to `stream`.
// A thread id is a u64 already on macOS, a u32 elsewhere.
#[allow(clippy::useless_conversion)]
pub fn thread_start(time: u64, tid: ThreadId, stream: u32) -> [u64; 6] {
    [
        word0(Tag::ThreadStart, 0),
        time,
        u64::from(tid),
        stream as u64,
        0,
        0,
    ]
}

/// The thread is going away.
pub fn thread_exit(time: u64) -> [u64; 6] {
    [word0(Tag::ThreadExit, 0), time, 0, 0, 0, 0]
}

/// The process ends (or replaces its image) in the way `how` says.
pub fn process_exit(time: u64, how: ExitHow, code: i32) -> [u64; 6] {
    [
        word0(Tag::ProcessExit, 0),
        time,
        how as u64,
        code as u32 as u64,
        0,
        0,
    ]
}

/// This process forked child `pid`.
pub fn fork(time: u64, pid: i32) -> [u64; 6] {
    [word0(Tag::Fork, 0), time, pid as u32 as u64, 0, 0, 0]
}

/// What an entry records, with its fields named; times are event-clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Alloc {
        time: u64,
        ptr: u64,
        size: u64,
        /// 0: no alignment asked for.
        align: u64,
        kind: AllocKind,
        slack: u64,
    },
    Free {
        time: u64,
        ptr: u64,
        kind: FreeKind,
        /// The size and alignment a sized or aligned `operator delete` was given (0: none).
        size: u64,
        align: u64,
    },
    Realloc {
        time_before: u64,
        time: u64,
        old: u64,
        new: u64,
        size: u64,
        kind: AllocKind,
        slack: u64,
    },
    AllocFailed {
        time: u64,
        size: u64,
        kind: AllocKind,
    },
    ThreadStart {
        time: u64,
        tid: u32,
        stream: u32,
    },
    ThreadExit {
        time: u64,
    },
    ProcessExit {
        time: u64,
        how: ExitHow,
        code: i32,
    },
    Fork {
        time: u64,
        child_pid: u32,
    },
}

/// One entry read back from a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `None` for an unknown tag (skipped).
    pub event: Option<Event>,
    /// Frames that follow the header.
    pub frames: usize,
    /// The memoized walk the stack is, if any (see the module comment).
    pub walk: Option<usize>,
    /// Header words.
    pub header: usize,
}

impl Entry {
    /// Words of the whole entry, frames included.
    pub fn len(&self) -> u64 {
        (self.header + self.frames) as u64
    }

    /// Reads the header of the entry at absolute index `i` of `ring` (which must be
    /// readable, with the whole entry).
    #[inline]
    pub fn read(ring: &Ring, i: u64) -> Entry {
        let w0 = ring.word(i);
        let (tag, kind) = (w0 as u8, (w0 >> 8) as u8);
        let frames = ((w0 >> 16) & 0x1ff) as usize;
        let walk = match (w0 >> 25) & 0x7f {
            0 => None,
            v => Some(v as usize - 1),
        };
        let slack = w0 >> 32;
        let header = header_words(tag);
        let mut w = [0u64; HEADER_WORDS];
        for (k, word) in w.iter_mut().enumerate().take(header).skip(1) {
            *word = ring.word(i + k as u64);
        }
        let alloc_kind = || AllocKind::from_u8(kind).unwrap_or(AllocKind::Malloc);
        let time = w[1];
        let event = Tag::from_u8(tag).map(|tag| match tag {
            Tag::Alloc | Tag::AllocAligned => Event::Alloc {
                time,
                ptr: w[2],
                size: w[3],
                align: if tag == Tag::AllocAligned { w[4] } else { 0 },
                kind: alloc_kind(),
                slack,
            },
            Tag::Free | Tag::FreeArgs => Event::Free {
                time,
                ptr: w[2],
                kind: FreeKind::from_u8(kind).unwrap_or(FreeKind::Free),
                size: if tag == Tag::FreeArgs { w[3] } else { 0 },
                align: if tag == Tag::FreeArgs { w[4] } else { 0 },
            },
            Tag::Realloc => Event::Realloc {
                time_before: w[5],
                time,
                old: w[2],
                new: w[4],
                size: w[3],
                kind: alloc_kind(),
                slack,
            },
            Tag::AllocFailed => Event::AllocFailed {
                time,
                size: w[3],
                kind: alloc_kind(),
            },
            Tag::ThreadStart => Event::ThreadStart {
                time,
                tid: w[2] as u32,
                stream: w[3] as u32,
            },
            Tag::ThreadExit => Event::ThreadExit { time },
            Tag::ProcessExit => Event::ProcessExit {
                time,
                how: u8::try_from(w[2])
                    .ok()
                    .and_then(ExitHow::from_u8)
                    .unwrap_or(ExitHow::Shutdown),
                code: w[3] as u32 as i32,
            },
            Tag::Fork => Event::Fork {
                time,
                child_pid: w[2] as u32,
            },
        });
        Entry {
            event,
            frames,
            walk,
            header,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(header: &[u64], frames: &[u64], walk: Option<usize>) -> Entry {
        let ring = Ring::new(1024).unwrap();
        let mut words = header.to_vec();
        words[0] |= stack_bits(frames.len(), walk);
        words.extend_from_slice(frames);
        assert!(ring.try_push(&words));
        let e = Entry::read(&ring, 0);
        assert_eq!(e.len(), words.len() as u64);
        e
    }

    #[test]
    fn every_entry_reads_back_with_its_fields() {
        let e = round_trip(&alloc(AllocKind::New, 8, 10, 0x1000, 24), &[1, 2], Some(3));
        assert_eq!((e.frames, e.walk), (2, Some(3)));
        assert_eq!(
            e.event,
            Some(Event::Alloc {
                time: 10,
                ptr: 0x1000,
                size: 24,
                align: 0,
                kind: AllocKind::New,
                slack: 8
            })
        );
        let e = round_trip(
            &alloc_aligned(AllocKind::Memalign, usize::MAX, 11, 0x40, 5, 64),
            &[],
            None,
        );
        assert_eq!(
            e.event,
            Some(Event::Alloc {
                time: 11,
                ptr: 0x40,
                size: 5,
                align: 64,
                kind: AllocKind::Memalign,
                slack: u32::MAX as u64
            })
        );
        let e = round_trip(
            &realloc(AllocKind::ReallocArray, 0, (12, 13), 0x10, 0x20, 7),
            &[9],
            None,
        );
        assert_eq!(
            e.event,
            Some(Event::Realloc {
                time_before: 12,
                time: 13,
                old: 0x10,
                new: 0x20,
                size: 7,
                kind: AllocKind::ReallocArray,
                slack: 0
            })
        );
        let cases: [(&[u64], Event); 7] = [
            (
                &free(FreeKind::DeleteArray, 14, 0x30),
                Event::Free {
                    time: 14,
                    ptr: 0x30,
                    kind: FreeKind::DeleteArray,
                    size: 0,
                    align: 0,
                },
            ),
            (
                &free_args(FreeKind::Delete, 15, 0x40, 24, 64),
                Event::Free {
                    time: 15,
                    ptr: 0x40,
                    kind: FreeKind::Delete,
                    size: 24,
                    align: 64,
                },
            ),
            (
                &alloc_failed(AllocKind::Calloc, 15, u64::MAX),
                Event::AllocFailed {
                    time: 15,
                    size: u64::MAX,
                    kind: AllocKind::Calloc,
                },
            ),
            (
                &thread_start(16, 4242, 3),
                Event::ThreadStart {
                    time: 16,
                    tid: 4242,
                    stream: 3,
                },
            ),
            (&thread_exit(17), Event::ThreadExit { time: 17 }),
            (
                &process_exit(18, ExitHow::Signal, -6),
                Event::ProcessExit {
                    time: 18,
                    how: ExitHow::Signal,
                    code: -6,
                },
            ),
            (
                &fork(19, 777),
                Event::Fork {
                    time: 19,
                    child_pid: 777,
                },
            ),
        ];
        for (header, event) in cases {
            assert_eq!(round_trip(header, &[], None).event, Some(event));
        }
    }
}

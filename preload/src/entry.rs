//! The layout of one event in a thread's ring: a header of three to six words (by tag:
//! the common entries carry only what they need, so that the program writes and the
//! writer reads fewer bytes per event), then the stack frames inline. Shared by the
//! recorder (hooks) and the writer.
//!
//! word 0: tag (bits 0..8) | kind (8..16) | frame count (16..25) | walk (25..32: 0, or
//!         1 + the slot of the thread's memoized walk the stack is; see below) |
//!         slack (32..64: the allocator's usable size minus the requested one, for
//!         allocations)
//! word 1: time (event-clock ticks, which the writer converts to ns; read after the
//!         allocator returned, before it for frees)
//! words 2..: tag-specific fields, see [`Tag`] and [`header_words`].
//!
//! Walk references save copying and interning a stack the writer already has: an entry
//! that names a walk *and* carries frames tells the writer "these are the frames of walk
//! w from now on"; one that names a walk and carries no frames means "the frames of walk
//! w, as last sent". The ring is FIFO per thread, so the writer always has them.

/// The longest header.
pub const HEADER_WORDS: usize = 6;
/// Deepest stack a ring entry carries.
pub const MAX_FRAMES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// a = ptr, b = size (an allocation with no alignment asked for).
    Alloc = 1,
    /// a = ptr.
    Free = 2,
    /// a = old, b = size, c = new, d = time before the call.
    Realloc = 3,
    /// b = size.
    AllocFailed = 4,
    /// a = kernel tid, b = stream number.
    ThreadStart = 5,
    ThreadExit = 6,
    /// a = ExitHow, b = code.
    ProcessExit = 7,
    /// a = child pid.
    Fork = 8,
    /// a = ptr, b = size, c = alignment.
    AllocAligned = 9,
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
        t if t == Tag::AllocAligned as u8 => 5,
        _ => HEADER_WORDS,
    }
}

#[inline(always)]
pub fn word0(tag: Tag, kind: u8, frames: usize) -> u64 {
    tag as u64 | (kind as u64) << 8 | (frames as u64) << 16
}

/// Word 0 of an allocation entry, with its slack.
#[inline(always)]
pub fn word0_with_slack(tag: Tag, kind: u8, slack: usize) -> u64 {
    word0(tag, kind, 0) | (slack.min(u32::MAX as usize) as u64) << 32
}

#[inline(always)]
pub fn split_word0(w: u64) -> (u8, u8, usize) {
    (w as u8, (w >> 8) as u8, ((w >> 16) & 0x1ff) as usize)
}

// Word 0 has 9 bits for the frame count and 7 for the walk.
const _: () = assert!(MAX_FRAMES < 512 && memscope_platform::unwind::MEMO_WALKS < 127);

/// The bits of word 0 that name memoized walk `slot` (see the module comment).
#[inline(always)]
pub fn walk_bits(slot: usize) -> u64 {
    ((slot as u64 + 1) & 0x7f) << 25
}

/// The memoized walk an entry names, if any.
#[inline(always)]
pub fn walk_of(w: u64) -> Option<usize> {
    match (w >> 25) & 0x7f {
        0 => None,
        v => Some(v as usize - 1),
    }
}

/// The slack stored in word 0.
#[inline(always)]
pub fn slack_of(w: u64) -> u64 {
    w >> 32
}

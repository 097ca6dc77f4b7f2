//! Marking: which live blocks the roots reach, and how, with valgrind memcheck's rules.
//!
//! Every aligned word of the roots and of the blocks marked is read as a possible
//! pointer. A word equal to a block's start reaches it; a word inside it reaches it only
//! "possibly", unless one of the interior-pointer heuristics (stdstring, length64,
//! newarray, multipleinheritance, all on, as valgrind's default) recognises the layout.
//! A block reached only possibly passes on no more than "possibly" to what it points at.
//! A block can be upgraded once, from possibly to reachable; each upgrade rescans it.
//!
//! Then the lost blocks are sorted into cliques: in address order, each block still
//! unreached leads a clique of every unreached block it reaches (start or interior
//! pointer alike), which become indirectly lost; a former leader swallowed by a later
//! clique becomes indirectly lost too. The leaders left are definitely lost.
//!
//! Each block remembers what marked it last (a root or a block): the holders the report
//! names and the chains it draws.

use memscope_format::{Heuristic, LeakKind};

use super::mmap_vec::MmapVec;
use super::roots::MemoryMap;

const UNREACHED: u8 = 0;
const POSSIBLE: u8 = 1;
const REACHABLE: u8 = 2;
const INDIRECT: u8 = 3;

/// Holder kinds (0: none).
const HOLDER_ROOT: u8 = 1;
const HOLDER_BLOCK: u8 = 2;

/// A live block: start and requested size.
#[derive(Clone, Copy, Default)]
pub struct Block {
    pub ptr: u64,
    pub size: u64,
}

/// What the marking knows of one block.
#[derive(Clone, Copy, Default)]
pub struct Mark {
    state: u8,
    heuristic: u8,
    holder_kind: u8,
    /// A root id or a block index.
    holder: u32,
}

/// Who is marking: a root (with the id the caller gives it on first use) or a block.
#[derive(Clone, Copy)]
pub enum From {
    Root,
    Block(u32),
}

/// The marking state over the sorted live blocks.
pub struct Marker<'a> {
    pub blocks: &'a [Block],
    pub marks: MmapVec<Mark>,
    stack: MmapVec<u32>,
    map: &'a MemoryMap,
    lo: u64,
    hi: u64,
    /// Bytes of blocks scanned.
    pub scanned: u64,
}

impl<'a> Marker<'a> {
    pub fn new(blocks: &'a [Block], map: &'a MemoryMap) -> Option<Marker<'a>> {
        let lo = blocks.first().map_or(u64::MAX, |b| b.ptr);
        let hi = blocks.last().map_or(0, |b| b.ptr + b.size.max(1));
        Some(Marker {
            blocks,
            marks: MmapVec::zeroed(blocks.len())?,
            stack: MmapVec::with_capacity(blocks.len().min(1 << 20))?,
            map,
            lo,
            hi,
            scanned: 0,
        })
    }

    /// The block `v` points into (valgrind counts a pointer to a zero-sized block's
    /// start).
    #[inline]
    fn find(&self, v: u64) -> Option<usize> {
        if v < self.lo || v >= self.hi {
            return None;
        }
        let i = self.blocks.partition_point(|b| b.ptr <= v).checked_sub(1)?;
        let b = self.blocks[i];
        (v < b.ptr + b.size.max(1)).then_some(i)
    }

    /// Whether `v` can be `malloc`'s pointer to the header of the chunk after a block:
    /// 16-aligned, in the last eight bytes of the block (the next chunk's header begins
    /// there when the block uses its whole usable size).
    pub fn is_chunk_header(&self, v: u64) -> bool {
        self.find(v).is_some_and(|i| {
            let b = self.blocks[i];
            v.is_multiple_of(16) && v > b.ptr && v + 8 >= b.ptr + b.size
        })
    }

    /// A root word holding `v`. `root_id` gives the root's id, called only when the word
    /// marks a block (roots that mark nothing get no record).
    #[inline]
    pub fn root_word(&mut self, v: u64, root_id: impl FnOnce() -> u32) {
        if let Some(i) = self.find(v) {
            self.reach(i, v, true, From::Root, root_id);
        }
    }

    /// Valgrind's upgrade rule for block `i` reached through pointer `v`.
    fn reach(
        &mut self,
        i: usize,
        v: u64,
        prior_definite: bool,
        from: From,
        root_id: impl FnOnce() -> u32,
    ) {
        let b = self.blocks[i];
        let m = self.marks[i];
        if m.state == REACHABLE {
            if m.heuristic != 0 && v == b.ptr {
                self.marks[i].heuristic = 0;
            }
            return;
        }
        let via_start = if v == b.ptr {
            true
        } else {
            let h = self.heuristic(b, v);
            self.marks[i].heuristic = h as u8;
            h != Heuristic::None
        };
        let new_state = if via_start && prior_definite {
            REACHABLE
        } else if m.state == UNREACHED {
            POSSIBLE
        } else {
            return;
        };
        let (holder_kind, holder) = match from {
            From::Root => (HOLDER_ROOT, root_id()),
            From::Block(j) => (HOLDER_BLOCK, j),
        };
        let mark = &mut self.marks[i];
        mark.state = new_state;
        mark.holder_kind = holder_kind;
        mark.holder = holder;
        self.stack.push(i as u32);
    }

    /// Marks everything reachable from what the roots reached.
    pub fn propagate(&mut self) {
        while let Some(i) = self.stack.pop() {
            let prior_definite = self.marks[i as usize].state != POSSIBLE;
            self.scan_block(i as usize, |m, v| {
                if let Some(j) = m.find(v) {
                    m.reach(j, v, prior_definite, From::Block(i), || 0);
                }
            });
        }
    }

    /// Sorts the unreached blocks into cliques (see the module comment).
    pub fn cliques(&mut self) {
        for leader in 0..self.blocks.len() {
            if self.marks[leader].state != UNREACHED {
                continue;
            }
            self.stack.push(leader as u32);
            while let Some(i) = self.stack.pop() {
                self.scan_block(i as usize, |m, v| {
                    let Some(j) = m.find(v) else {
                        return;
                    };
                    if m.marks[j].state == UNREACHED && j != leader {
                        let mark = &mut m.marks[j];
                        mark.state = INDIRECT;
                        mark.holder_kind = HOLDER_BLOCK;
                        mark.holder = i;
                        m.stack.push(j as u32);
                    }
                });
            }
        }
    }

    /// Calls `f` with every aligned word of block `i` (if its memory is still mapped).
    fn scan_block(&mut self, i: usize, mut f: impl FnMut(&mut Self, u64)) {
        let b = self.blocks[i];
        let (start, end) = ((b.ptr + 7) & !7, (b.ptr + b.size) & !7);
        if start >= end || !self.map.readable(start, end) {
            return;
        }
        self.scanned += end - start;
        let mut at = start;
        while at < end {
            // SAFETY: [start, end) is readable memory (checked above against the memory
            // map read while the program's threads are stopped); aligned word reads.
            let v = unsafe { (at as *const u64).read_volatile() };
            f(self, v);
            at += 8;
        }
    }

    /// The heuristic that accepts interior pointer `v` to block `b`, if any.
    fn heuristic(&self, b: Block, v: u64) -> Heuristic {
        let word = |at: u64| -> Option<u64> {
            let inside = at.is_multiple_of(8) && at >= b.ptr && at + 8 <= b.ptr + b.size;
            if !inside || !self.map.readable(at, at + 8) {
                return None;
            }
            // SAFETY: a whole aligned word inside a live block, in readable memory.
            Some(unsafe { (at as *const u64).read_volatile() })
        };
        if v == b.ptr + 24 {
            if let (Some(capacity), Some(length)) = (word(b.ptr + 8), word(b.ptr)) {
                if capacity.checked_add(25) == Some(b.size) && length <= capacity {
                    return Heuristic::StdString;
                }
            }
        }
        if v == b.ptr + 8 {
            if let Some(n) = word(b.ptr) {
                if n > 0 && b.size - 8 == n {
                    return Heuristic::Length64;
                }
                if n > 0 && (b.size - 8).is_multiple_of(n) {
                    return Heuristic::NewArray;
                }
            }
        }
        if let (Some(inner), Some(first)) = (word(v), word(b.ptr)) {
            if inner % 8 == 0
                && inner >= 4096
                && first % 8 == 0
                && first >= 4096
                && self.is_vtable(inner)
                && self.is_vtable(first)
            {
                return Heuristic::MultipleInheritance;
            }
        }
        Heuristic::None
    }

    /// Whether `p` looks like a vtable: in a file mapping, and among its first twenty
    /// words at least two code addresses before anything that is neither null nor code.
    fn is_vtable(&self, p: u64) -> bool {
        let Some(r) = self.map.find(p).filter(|r| r.file && r.readable) else {
            return false;
        };
        let last = (p + 19 * 8).min(r.end - 8);
        let mut functions = 0;
        let mut at = p;
        while at <= last {
            // SAFETY: inside a readable file mapping.
            let w = unsafe { (at as *const u64).read_volatile() };
            at += 8;
            if w == 0 {
                continue;
            }
            if !self.map.find(w).is_some_and(|r| r.code) {
                return false;
            }
            functions += 1;
            if functions == 2 {
                return true;
            }
        }
        false
    }

    /// The marks, one per block.
    pub fn into_marks(self) -> MmapVec<Mark> {
        self.marks
    }
}

impl Mark {
    /// The verdict: kind, heuristic and holder.
    pub fn verdict(&self) -> (LeakKind, Heuristic, Holder) {
        let m = *self;
        let kind = match m.state {
            REACHABLE => LeakKind::StillReachable,
            POSSIBLE => LeakKind::PossiblyLost,
            INDIRECT => LeakKind::IndirectlyLost,
            _ => LeakKind::DefinitelyLost,
        };
        let holder = match m.holder_kind {
            HOLDER_ROOT => Holder::Root(m.holder),
            HOLDER_BLOCK => Holder::Block(m.holder),
            _ => Holder::None,
        };
        let heuristic = if kind == LeakKind::StillReachable {
            Heuristic::from_u8(m.heuristic).unwrap_or(Heuristic::None)
        } else {
            Heuristic::None
        };
        (kind, heuristic, holder)
    }
}

/// What holds a block: a root id or a block index (the caller maps it to an address).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Holder {
    None,
    Root(u32),
    Block(u32),
}

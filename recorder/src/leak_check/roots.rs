//! The root set of the leak check: the writable memory that is not heap, and what kind
//! of memory each part is.
//!
//! From the memory map: every module's writable data (file-backed private mappings and
//! the anonymous `.bss` right after them) is global; each known thread's stack is
//! scanned from its stack pointer up (below it lies dead data, which would keep freed
//! structures alive), and the words near its thread pointer are its TLS and control
//! block; other anonymous writable memory is scanned whole, unless it holds heap blocks
//! (`[heap]`, `malloc`'s other arenas, its `mmap`ed large blocks, tracked or not) or is
//! the tracer's own (its mappings, its module's data, the writer thread's stack).
//! Device mappings are never read.

use memscope_format::RootKind;
use memscope_platform::memory::for_each_own_mapping;
use memscope_platform::memory_map::{MappingKind, MapsText};
use memscope_platform::stop_world::GP_REGS;

use super::mmap_vec::MmapVec;

/// A mapping of the memory map, as the check needs it.
#[derive(Clone, Copy, Default)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    pub writable: bool,
    /// Backed by a file (not a device) and executable: code.
    pub code: bool,
    /// Backed by a file (not a device).
    pub file: bool,
    kind: u8,
    /// A hash of the path (0: none), to tell which mappings are one module's.
    path: u64,
}

const ANON: u8 = 0;
const FILE: u8 = 1;
const HEAP: u8 = 2;
const MAIN_STACK: u8 = 3;
const SKIP: u8 = 4;

/// The memory map, in address order.
pub struct MemoryMap {
    pub regions: MmapVec<Region>,
    /// Kept mapped: it is listed in itself, and a root range must never be unmapped.
    _text: MapsText,
}

impl MemoryMap {
    pub fn read() -> Option<MemoryMap> {
        let text = MapsText::read()?;
        let mut regions = MmapVec::with_capacity(4096)?;
        let mut ok = true;
        text.for_each_mapping(|m, path| {
            let kind = match m.kind {
                MappingKind::Anonymous => ANON,
                MappingKind::File => FILE,
                MappingKind::Heap => HEAP,
                MappingKind::Stack => MAIN_STACK,
                MappingKind::Device | MappingKind::Special => SKIP,
            };
            ok &= regions.push(Region {
                start: m.start,
                end: m.end,
                readable: m.readable,
                writable: m.writable,
                code: kind == FILE && m.executable,
                file: kind == FILE,
                kind,
                path: hash(path),
            });
        });
        ok.then_some(MemoryMap {
            regions,
            _text: text,
        })
    }

    /// The region holding `addr`.
    pub fn find(&self, addr: u64) -> Option<&Region> {
        let i = self.regions.partition_point(|r| r.start <= addr);
        let r = self.regions.get(i.checked_sub(1)?)?;
        (addr < r.end).then_some(r)
    }

    /// Whether `[start, end)` is readable memory (over one or more adjacent regions).
    pub fn readable(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.find(at) {
                Some(r) if r.readable => at = r.end,
                _ => return false,
            }
        }
        true
    }
}

/// FNV-1a of a path; 0 for none.
fn hash(path: &[u8]) -> u64 {
    if path.is_empty() {
        return 0;
    }
    path.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) | 1
}

/// A thread whose stack and registers are roots.
#[derive(Clone, Copy)]
pub struct ThreadRoots {
    pub tid: u32,
    /// 0: unknown (the thread did not answer): its stack is scanned whole, as anonymous
    /// memory.
    pub sp: u64,
    /// Where it was stopped (0: unknown).
    pub pc: u64,
    pub thread_pointer: u64,
    pub regs: [u64; GP_REGS],
    pub n_regs: usize,
}

/// A range of root words and what they are.
#[derive(Clone, Copy)]
pub struct RootRange {
    pub start: u64,
    pub end: u64,
    pub kind: RootKind,
    /// Index into the thread list for a stack range.
    pub thread: usize,
    /// The C library's own data, where `malloc` keeps its state: its pointers to the
    /// headers of free chunks fall inside the last bytes of the block before them and
    /// must not count (under valgrind that state does not exist).
    pub malloc_state: bool,
}

/// What the check must never scan: the tracer's own memory.
pub struct Exclusions {
    /// An address inside the tracer's module (its data is not a root).
    pub own_module_addr: u64,
    /// The writer thread's stack pointer (its whole stack is the tracer's).
    pub writer_sp: u64,
    /// An address inside the C library's code (to find its data).
    pub libc_addr: u64,
}

/// Lists the root ranges, address order. `holds_block(start, end)`: whether a live block
/// starts in `[start, end)`.
pub fn root_ranges(
    map: &MemoryMap,
    threads: &[ThreadRoots],
    exclude: &Exclusions,
    holds_block: impl Fn(u64, u64) -> bool,
) -> Option<MmapVec<RootRange>> {
    let mut out = MmapVec::with_capacity(map.regions.len() * 2)?;
    let own_path = map.find(exclude.own_module_addr).map_or(0, |r| r.path);
    let writer_stack = map.find(exclude.writer_sp).map(|r| (r.start, r.end));
    let libc_path = map.find(exclude.libc_addr).map_or(0, |r| r.path);
    let mut prev: Option<Region> = None;
    for r in map.regions.iter() {
        let after = prev.replace(*r);
        if !(r.readable && r.writable) || r.kind == SKIP || r.kind == HEAP {
            continue;
        }
        if own_path != 0 && r.path == own_path {
            continue;
        }
        if writer_stack == Some((r.start, r.end)) {
            continue;
        }
        let follows_file = after.is_some_and(|p| p.end == r.start && p.kind == FILE);
        let follows_own = after.is_some_and(|p| p.end == r.start && p.path == own_path);
        let libc = libc_path != 0
            && (r.path == libc_path
                || after.is_some_and(|p| p.end == r.start && p.path == libc_path));
        let stack_here = threads
            .iter()
            .enumerate()
            .find(|(_, t)| t.sp != 0 && (r.start..r.end).contains(&t.sp));
        if let Some((i, t)) = stack_here {
            push_minus_own(&mut out, (t.sp & !7, r.end), RootKind::Stack, i, false);
            continue;
        }
        let range = (r.start, r.end);
        match r.kind {
            FILE => push_minus_own(&mut out, range, RootKind::Global, 0, libc),
            MAIN_STACK => push_minus_own(&mut out, range, RootKind::Stack, usize::MAX, false),
            _ if follows_own && own_path != 0 => {} // the tracer's .bss
            _ if holds_block(r.start, r.end) || is_malloc_memory(r) => {}
            _ if follows_file => push_minus_own(&mut out, range, RootKind::Global, 0, libc),
            _ => push_minus_own(&mut out, range, RootKind::Anonymous, 0, false),
        }
    }
    Some(out)
}

/// Pushes `[start, end)` without the tracer's own mappings.
fn push_minus_own(
    out: &mut MmapVec<RootRange>,
    (start, end): (u64, u64),
    kind: RootKind,
    thread: usize,
    malloc_state: bool,
) {
    let mut cuts = [(0u64, 0u64); 64];
    let mut n = 0;
    for_each_own_mapping(|s, e| {
        if s < end && e > start && n < cuts.len() {
            cuts[n] = (s.max(start), e.min(end));
            n += 1;
        }
    });
    cuts[..n].sort_unstable();
    let mut push = |start, end| {
        out.push(RootRange {
            start,
            end,
            kind,
            thread,
            malloc_state,
        })
    };
    let mut at = start;
    for &(s, e) in &cuts[..n] {
        if s > at {
            push(at, s);
        }
        at = at.max(e);
    }
    if at < end {
        push(at, end);
    }
}

/// Anonymous memory that is `malloc`'s although no tracked block starts in it: another
/// arena's heap (aligned to its 64 MiB reservation, starting with its `heap_info`,
/// whose first word points at the arena's state) or a block `malloc` mapped on its own
/// (its chunk header at the start says "mmapped" and the mapping's length). Blocks the
/// tracer itself allocated live in such memory.
fn is_malloc_memory(r: &Region) -> bool {
    const ARENA_HEAP: u64 = 64 << 20;
    // SAFETY: the region is readable and at least a page long; two words at its start.
    let (w0, w1) = unsafe { (*(r.start as *const u64), *((r.start + 8) as *const u64)) };
    let arena_heap =
        r.start.is_multiple_of(ARENA_HEAP) && w0 >= r.start && w0 < r.start + ARENA_HEAP;
    let arena_heap_more = r.start.is_multiple_of(ARENA_HEAP) && w0 % ARENA_HEAP < 4096 && w0 != 0;
    let mmapped_chunk = w0 == 0 && w1 & 2 != 0 && w1 & !7 == r.end - r.start;
    arena_heap || arena_heap_more || mmapped_chunk
}

/// Where each thread's static TLS blocks lie, below its thread pointer.
pub struct StaticTls {
    /// (offset below the thread pointer, size).
    blocks: [(u64, u64); 64],
    n: usize,
}

impl Default for StaticTls {
    fn default() -> Self {
        StaticTls {
            blocks: [(0, 0); 64],
            n: 0,
        }
    }
}

impl StaticTls {
    pub fn add(&mut self, offset: u64, size: u64) {
        if self.n < self.blocks.len() {
            self.blocks[self.n] = (offset, size);
            self.n += 1;
        }
    }
}

/// About the size of glibc's thread control block above the thread pointer (`struct
/// pthread`, where `pthread_setspecific` values and the DTV pointer live).
const THREAD_CONTROL_BLOCK: u64 = 2304;

/// What a root word at `addr` in `range` is, and of which thread: TLS when inside a
/// known thread's static TLS blocks or control block.
pub fn classify(
    addr: u64,
    range: &RootRange,
    threads: &[ThreadRoots],
    tls: &StaticTls,
) -> (RootKind, u32) {
    for t in threads.iter().filter(|t| t.thread_pointer != 0) {
        let tp = t.thread_pointer;
        let in_block = tls.blocks[..tls.n]
            .iter()
            .any(|&(off, size)| addr >= tp.wrapping_sub(off) && addr < tp.wrapping_sub(off) + size);
        if in_block || (tp..tp + THREAD_CONTROL_BLOCK).contains(&addr) {
            return (RootKind::Tls, t.tid);
        }
    }
    match range.kind {
        RootKind::Stack => {
            let tid = threads.get(range.thread).map_or(0, |t| t.tid);
            (RootKind::Stack, tid)
        }
        k => (k, 0),
    }
}

//! The leak check at the end of the process: which live blocks are definitely,
//! indirectly or possibly lost and which are still reachable (valgrind memcheck's four
//! kinds), and what holds each; the writer writes the verdicts into the trace as
//! `Root`, `Reach` and `ReachEnd` records before the end marker.
//!
//! Why in the process, at exit: only then is the memory there to scan, and scanning it
//! here costs what the scan costs, where an offline check would first have to copy
//! every root and heap word into the trace (hundreds of megabytes for a large heap). The
//! writer knows the live blocks without asking the allocator: it keeps them in its
//! [`LiveMap`] while it drains the rings.
//!
//! Steps, on the writer thread once the last events are written: stop the program's
//! other threads (their stacks from their stack pointers and their registers are
//! roots), take in the events they pushed meanwhile, read the memory map, sort the live
//! blocks, scan the roots ([`roots`]), mark ([`mark`]), find the frame of each stack
//! root, let the threads go. Nothing allocates from the program's heap in between (a
//! stopped thread may hold its locks): everything lives in [`mmap_vec`] arrays.

mod mark;
mod mmap_vec;
mod roots;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use memscope_format::{Holder, Record, RootKind};
use memscope_platform::clock::now_ns;
use memscope_platform::stop_world::{
    callee_saved_registers, for_each_static_tls_block, thread_pointer, StoppedWorld, GP_REGS,
};
use memscope_platform::thread::{current_tid, stack_pointer};

use crate::live_map::LiveMap;
use mark::{Block, Marker};
use mmap_vec::MmapVec;
use roots::{classify, root_ranges, Exclusions, MemoryMap, StaticTls, ThreadRoots};

/// How long the check waits for the other threads to stop.
const STOP_TIMEOUT_NS: u64 = 500_000_000;

/// The thread that ends the process, as it was when it asked for the end: its stack
/// from there up and its callee-saved registers are roots.
struct ExitThread {
    wanted: AtomicBool,
    /// Set by the first request of this process image: the check runs once (a fatal
    /// signal's handler may ask again after `abort` asked).
    requested: AtomicBool,
    tid: AtomicU32,
    sp: AtomicU64,
    thread_pointer: AtomicU64,
    regs: [AtomicU64; 6],
}

static EXIT_THREAD: ExitThread = ExitThread {
    wanted: AtomicBool::new(false),
    requested: AtomicBool::new(false),
    tid: AtomicU32::new(0),
    sp: AtomicU64::new(0),
    thread_pointer: AtomicU64::new(0),
    regs: [const { AtomicU64::new(0) }; 6],
};

/// Called by the thread that ends the process, before it asks for the end: the check
/// is to run (once per process image), with this thread's stack from `sp` up and its
/// registers among the roots. Async-signal-safe.
#[inline(never)]
pub fn request(sp: u64) {
    if EXIT_THREAD.requested.swap(true, Ordering::AcqRel) {
        return;
    }
    let regs = callee_saved_registers();
    for (slot, r) in EXIT_THREAD.regs.iter().zip(regs) {
        slot.store(r, Ordering::Relaxed);
    }
    EXIT_THREAD.tid.store(current_tid(), Ordering::Relaxed);
    EXIT_THREAD.sp.store(sp, Ordering::Relaxed);
    EXIT_THREAD
        .thread_pointer
        .store(thread_pointer(), Ordering::Relaxed);
    EXIT_THREAD.wanted.store(true, Ordering::Release);
}

/// A forked child checks its own image at its end.
pub fn reset_after_fork() {
    EXIT_THREAD.requested.store(false, Ordering::Release);
    EXIT_THREAD.wanted.store(false, Ordering::Release);
}

/// Overwrites the dead part of the calling thread's stack below `sp` (down to 32 KiB,
/// within its mapping) with zeros, so that the frames the tracer is about to push on
/// its way out hold no stale copies of the program's pointers where they leave slots
/// unwritten: the check scans them (valgrind sees such slots as undefined and skips
/// them).
#[inline(never)]
pub fn clear_dead_stack(sp: u64) {
    let Some((low, _)) = memscope_platform::thread::mapping_of(sp) else {
        return;
    };
    let from = sp.saturating_sub(32 << 10).max(low + 4096) & !7;
    // Below the red zone of this very function.
    let to = stack_pointer().saturating_sub(256).min(sp) & !7;
    let mut at = from;
    while at < to {
        // SAFETY: dead stack of this thread below its stack pointer and its red zone,
        // inside its mapping: no live frame or object is there.
        unsafe { (at as *mut u64).write_volatile(0) };
        at += 8;
    }
}

/// Whether a check was requested since the last one (and forgets the request).
pub fn take_request() -> bool {
    EXIT_THREAD.wanted.swap(false, Ordering::AcqRel)
}

/// A root that marked at least one block.
#[derive(Clone, Copy)]
struct Root {
    kind: RootKind,
    addr: u64,
    tid: u32,
    pc: u64,
}

/// What the check found, ready to be written.
pub struct Outcome {
    blocks: MmapVec<Block>,
    marks: MmapVec<mark::Mark>,
    roots: MmapVec<Root>,
    scanned_bytes: u64,
    ns: u64,
    threads: u32,
    unresponsive: u32,
}

impl Outcome {
    /// Calls `put` with every record of the check, in order: roots, one `Reach` per live
    /// block (address order), `ReachEnd`.
    pub fn records(&self, mut put: impl FnMut(&Record<'_>)) {
        for (id, r) in self.roots.iter().enumerate() {
            put(&Record::Root {
                id: id as u32,
                kind: r.kind,
                addr: r.addr,
                tid: r.tid,
                pc: r.pc,
            });
        }
        for (b, m) in self.blocks.iter().zip(self.marks.iter()) {
            let (kind, heuristic, holder) = m.verdict();
            let holder = match holder {
                mark::Holder::None => Holder::None,
                mark::Holder::Root(id) => Holder::Root(id),
                mark::Holder::Block(j) => Holder::Block(self.blocks[j as usize].ptr),
            };
            put(&Record::Reach {
                ptr: b.ptr,
                kind,
                heuristic,
                holder,
            });
        }
        put(&Record::ReachEnd {
            blocks: self.blocks.len() as u64,
            roots: self.roots.len() as u64,
            scanned_bytes: self.scanned_bytes,
            ns: self.ns,
            threads: self.threads,
            unresponsive: self.unresponsive,
        });
    }
}

/// Runs the check over the blocks of `live`; `catch_up` takes into `live` the events
/// pushed since the last drain, once the other threads are stopped. `None` if the
/// memory for it cannot be had or the memory map cannot be read.
pub fn run(live: &mut LiveMap, catch_up: impl FnOnce(&mut LiveMap)) -> Option<Outcome> {
    let started = now_ns();
    let mut tls = StaticTls::default();
    for_each_static_tls_block(|offset, size| tls.add(offset, size));
    let exiting = ThreadRoots {
        tid: EXIT_THREAD.tid.load(Ordering::Relaxed),
        sp: EXIT_THREAD.sp.load(Ordering::Relaxed),
        pc: 0,
        thread_pointer: EXIT_THREAD.thread_pointer.load(Ordering::Relaxed),
        regs: std::array::from_fn(|i| {
            EXIT_THREAD
                .regs
                .get(i)
                .map_or(0, |r| r.load(Ordering::Relaxed))
        }),
        n_regs: 6,
    };
    let world = StoppedWorld::stop(&[exiting.tid], STOP_TIMEOUT_NS);
    catch_up(live);

    let mut threads: MmapVec<ThreadRoots> = MmapVec::with_capacity(64)?;
    threads.push(exiting);
    let (mut stopped, mut unresponsive) = (0u32, 0u32);
    if let Some(w) = &world {
        for t in w.threads() {
            stopped += 1;
            unresponsive += !t.answered as u32;
            threads.push(ThreadRoots {
                tid: t.tid,
                sp: t.sp,
                pc: t.pc,
                thread_pointer: t.thread_pointer,
                regs: t.regs,
                n_regs: if t.answered { GP_REGS } else { 0 },
            });
        }
    }

    let map = MemoryMap::read()?;
    let mut blocks: MmapVec<Block> = MmapVec::with_capacity(live.len())?;
    live.for_each(|ptr, size| {
        blocks.push(Block { ptr, size });
    });
    blocks.sort_unstable_by_key(|b| b.ptr);
    let holds_block = |start: u64, end: u64| {
        let i = blocks.partition_point(|b| b.ptr < start);
        blocks.get(i).is_some_and(|b| b.ptr < end)
    };
    let exclude = Exclusions {
        own_module_addr: frame_below as *const () as u64,
        writer_sp: stack_pointer(),
        libc_addr: libc::mallopt as *const () as u64,
    };
    let ranges = root_ranges(&map, &threads, &exclude, holds_block)?;

    let mut marker = Marker::new(&blocks, &map)?;
    let mut roots: MmapVec<Root> = MmapVec::with_capacity(1024)?;
    let mut scanned = 0u64;
    for range in ranges.iter() {
        let (start, end) = ((range.start + 7) & !7, range.end & !7);
        scanned += end.saturating_sub(start);
        let mut at = start;
        while at < end {
            // SAFETY: root ranges are readable mappings of the memory map read while the
            // program's threads are stopped; aligned word reads.
            let v = unsafe { (at as *const u64).read_volatile() };
            if range.malloc_state && marker.is_chunk_header(v) {
                at += 8;
                continue;
            }
            marker.root_word(v, || {
                let (kind, tid) = classify(at, range, &threads, &tls);
                roots.push(Root {
                    kind,
                    addr: at,
                    tid,
                    pc: 0,
                });
                roots.len() as u32 - 1
            });
            at += 8;
        }
    }
    for t in threads.iter() {
        for (k, &v) in t.regs[..t.n_regs].iter().enumerate() {
            marker.root_word(v, || {
                roots.push(Root {
                    kind: RootKind::Register,
                    addr: k as u64,
                    tid: t.tid,
                    pc: 0,
                });
                roots.len() as u32 - 1
            });
        }
    }
    marker.propagate();
    marker.cliques();
    name_stack_root_frames(&mut roots, &threads, &map);
    drop(world);

    let scanned_bytes = scanned + marker.scanned;
    let marks = marker.into_marks();
    Some(Outcome {
        blocks,
        marks,
        roots,
        scanned_bytes,
        ns: now_ns() - started,
        threads: stopped,
        unresponsive,
    })
}

/// Sets the `pc` of every stack root: the function whose frame holds it (see
/// [`frame_below`]), or the thread's pc when no return address is found.
///
/// Roots are taken in address order per thread, and a search stops at the previous
/// root: below it the answer is that root's. A large array of pointers on a stack (a
/// forked child inherits its parent's) then costs one pass over the stack instead of a
/// search per element through all the elements below it.
fn name_stack_root_frames(roots: &mut [Root], threads: &[ThreadRoots], map: &MemoryMap) {
    let Some(mut order) = MmapVec::<u32>::with_capacity(roots.len().max(1)) else {
        return;
    };
    for (i, r) in roots.iter().enumerate() {
        if r.kind == RootKind::Stack {
            order.push(i as u32);
        }
    }
    order.sort_unstable_by_key(|&i| (roots[i as usize].tid, roots[i as usize].addr));
    // The previous root of the same thread: its address and what was found below it.
    let mut previous: Option<(u32, u64, Option<FrameHit>)> = None;
    for &i in order.iter() {
        let r = &roots[i as usize];
        let t = threads.iter().find(|t| t.tid == r.tid);
        let (sp, thread_pc) = t.map_or((0, 0), |t| (t.sp, t.pc));
        let floor = sp.max(r.addr.saturating_sub(64 << 10));
        let below = match previous {
            Some((tid, addr, hit)) if tid == r.tid && addr >= floor => {
                match frame_below(r.addr, addr, map) {
                    Search::Found(h) => Some(h),
                    Search::Unreadable => None,
                    Search::NotFound => hit.filter(|h| h.at >= floor),
                }
            }
            _ => match frame_below(r.addr, floor, map) {
                Search::Found(h) => Some(h),
                Search::Unreadable | Search::NotFound => None,
            },
        };
        previous = Some((r.tid, r.addr, below));
        roots[i as usize].pc = below.map_or(thread_pc, |h| h.pc);
    }
}

/// A return address found on a stack: where, and its value.
#[derive(Clone, Copy)]
struct FrameHit {
    at: u64,
    pc: u64,
}

enum Search {
    Found(FrameHit),
    /// An unreadable word came first.
    Unreadable,
    /// Nothing down to the floor.
    NotFound,
}

/// The function whose frame holds stack word `addr`: the nearest return address below
/// it (pushed by that function's last call), looking down to `floor` (inclusive).
fn frame_below(addr: u64, floor: u64, map: &MemoryMap) -> Search {
    let Some(mut at) = addr.checked_sub(8) else {
        return Search::NotFound;
    };
    while at >= floor && at != 0 {
        if !map.readable(at, at + 8) {
            return Search::Unreadable;
        }
        // SAFETY: a readable word of a stopped (or waiting) thread's stack.
        let w = unsafe { (at as *const u64).read_volatile() };
        if map.find(w).is_some_and(|r| r.code) {
            return Search::Found(FrameHit { at, pc: w });
        }
        at -= 8;
    }
    Search::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass naming gives every root the frame a search from that root alone gives:
    /// a "stack" of data words with return addresses (code addresses) here and there,
    /// roots in runs (an array of pointers) and alone, one run longer than the 64 KiB
    /// search window.
    #[test]
    fn one_pass_names_the_frames_a_search_per_root_names() {
        let code = frame_below as *const () as u64;
        let mut stack = vec![0x1234_5678u64; 24 << 10];
        for (i, w) in stack.iter_mut().enumerate() {
            if i % 997 == 5 || (i > 12_000 && i < 12_010) {
                *w = code + i as u64 % 64;
            }
        }
        let base = stack.as_ptr() as u64;
        let map = MemoryMap::read().expect("memory map");
        let thread = ThreadRoots {
            tid: 7,
            sp: base + 16,
            pc: 0xdead,
            thread_pointer: 0,
            regs: [0; memscope_platform::stop_world::GP_REGS],
            n_regs: 0,
        };
        let picks = (0..24 << 10).filter(|i| i % 13 == 0 || (300..10_000).contains(i));
        let mut roots: Vec<Root> = picks
            .map(|i| Root {
                kind: RootKind::Stack,
                addr: base + 8 * i as u64,
                tid: 7,
                pc: 0,
            })
            .collect();
        roots.reverse(); // any order in, per-thread address order inside
        name_stack_root_frames(&mut roots, &[thread], &map);
        for r in &roots {
            let floor = thread.sp.max(r.addr.saturating_sub(64 << 10));
            let expected = match frame_below(r.addr, floor, &map) {
                Search::Found(h) => h.pc,
                Search::Unreadable | Search::NotFound => thread.pc,
            };
            assert_eq!(r.pc, expected, "root at word {}", (r.addr - base) / 8);
        }
        assert!(
            roots.iter().any(|r| r.pc == thread.pc),
            "some roots have none"
        );
        assert!(
            roots.iter().any(|r| r.pc != thread.pc),
            "some roots have one"
        );
    }
}

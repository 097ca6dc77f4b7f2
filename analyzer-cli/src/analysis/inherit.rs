//! What a forked child inherited: its parent's live blocks at the fork, from the
//! parent's trace.
//!
//! A fork child's trace (header origin `ForkChild`) starts with the parent's heap
//! already in place. The parent's trace is looked for among the traces of the process
//! tree ([`Family`]: the run's traces, the traces given to `check`, else the `.msl` files
//! beside the child's): written by the child's parent pid, started before the child, and
//! holding a `Fork` record that names the child. Pids are reused, so among such records
//! the one closest in time to the child's start is taken. (The tracer stamps `Fork`
//! after `fork()` returns in the parent, so it usually comes slightly *after* the child's
//! start; "before the child's start" would miss most forks.) The parent is replayed up to
//! the fork — events up to the earlier of that record and the child's start — a parent
//! that is itself a fork child seeded the same way (up to [`MAX_DEPTH`] generations), and
//! its live blocks are handed to the child's replay, their allocation stacks interned
//! into the child's trace under fresh ids (the two traces number stacks separately), with
//! the parent's modules added where the child has no identical one (at the fork the two
//! processes map the same modules, so the parent's bind the addresses correctly).
//!
//! Valgrind 3.19 (`--trace-children=yes --child-silent-after-fork=no`) on a parent that
//! allocates 1337 B (kept), 200 B, and 50 B (freed), then forks a child that frees the
//! 200 B block, allocates and frees 10 B and exits: the child's summary says "in use at
//! exit: 1,337 bytes in 1 blocks; total heap usage: 4 allocs, 3 frees, 1,597 bytes
//! allocated": the tool's counts are copied at the fork, so the child's totals are the
//! parent's at the fork plus its own. The seeded replay counts the same way.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use memscope_format::Origin;

use crate::error::CliError;
use crate::ids::{ModuleIdx, StackId};
use crate::replay::{Counters, LiveBlock, Replay};
use crate::trace::family::Family;
use crate::trace::merge::Merger;
use crate::trace::reader::{read_index, ModuleInfo, StackFrame, TraceIndex};

/// Generations of fork children seeded from their parents, at most.
pub const MAX_DEPTH: usize = 16;

/// The parent's heap at the fork, ready to seed a child's replay.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// The parent's trace.
    pub parent: PathBuf,
    pub parent_pid: u32,
    /// The replay cut: events of the parent up to this time.
    pub fork_time: u64,
    /// Live in the parent at the fork; stacks in the child's namespace.
    pub blocks: Vec<(u64, LiveBlock)>,
    /// The parent's counts at the fork.
    pub counters: Counters,
    /// The child's stack ids that came from the parent.
    pub stacks: HashSet<StackId>,
}

/// What is known of a trace's inherited blocks.
#[derive(Debug, Clone, Default)]
pub enum Inheritance {
    /// Not a fork child: nothing inherited.
    #[default]
    None,
    /// A fork child whose parent's trace was found (boxed: a seed is much larger than
    /// the other variants).
    Known(Box<Seed>),
    /// A fork child whose parent's trace was not found: its inherited blocks are unknown.
    Unknown,
}

impl Inheritance {
    /// Whether stack `id` of the child came from the parent.
    pub fn is_inherited_stack(&self, id: StackId) -> bool {
        matches!(self, Inheritance::Known(s) if s.stacks.contains(&id))
    }
}

/// Finds and replays the parent of the fork child `index` in `family`, interning the
/// inherited blocks' stacks and modules into `index`.
pub fn inheritance(index: &mut TraceIndex, family: &Family) -> Inheritance {
    if index.header.origin != Origin::ForkChild {
        return Inheritance::None;
    }
    match parent_heap(&index.header, family, 0) {
        Ok(Some((parent, heap))) => Inheritance::Known(Box::new(import(index, parent, heap))),
        _ => Inheritance::Unknown,
    }
}

/// The parent's live blocks and counts at the fork of the child with `child`'s header.
struct ParentHeap {
    fork_time: u64,
    blocks: Vec<(u64, LiveBlock)>,
    counters: Counters,
}

fn parent_heap(
    child: &memscope_format::Header,
    family: &Family,
    depth: usize,
) -> Result<Option<(TraceIndex, ParentHeap)>, CliError> {
    if depth >= MAX_DEPTH {
        return Ok(None);
    }
    // The candidate whose Fork record naming the child is closest to the child's start.
    let mut best: Option<(u64, PathBuf, u64)> = None;
    for m in family.parent_candidates(child) {
        let Ok(idx) = read_index(&m.path) else {
            continue;
        };
        for f in idx.forks.iter().filter(|f| f.child_pid == child.pid) {
            let distance = f.time.abs_diff(child.start_clock_ns);
            if best.as_ref().is_none_or(|b| distance < b.0) {
                best = Some((distance, m.path.clone(), f.time));
            }
        }
    }
    let Some((_, path, fork_time)) = best else {
        return Ok(None);
    };
    let mut parent = read_index(&path)?;
    let cut = fork_time.min(child.start_clock_ns);
    let mut replay = Replay::new(parent.header.origin);
    if parent.header.origin == Origin::ForkChild {
        let header = parent.header.clone();
        if let Some((grand, heap)) = parent_heap(&header, family, depth + 1)? {
            let seed = import(&mut parent, grand, heap);
            replay.seed_inherited(&seed.blocks, &seed.counters, seed.fork_time);
        }
    }
    let mut merger = Merger::new(&parent)?;
    'replay: while let Some(run) = merger.next_run()? {
        for ev in run {
            if ev.time > cut {
                break 'replay;
            }
            replay.apply(ev);
        }
    }
    drop(merger);
    let counters = *replay.counters();
    let mut blocks: Vec<(u64, LiveBlock)> = replay.live().iter().collect();
    blocks.sort_by_key(|&(p, _)| p);
    Ok(Some((
        parent,
        ParentHeap {
            fork_time: cut,
            blocks,
            counters,
        },
    )))
}

/// Interns the stacks of `heap`'s blocks (and their modules) from `parent` into `child`.
fn import(child: &mut TraceIndex, parent: TraceIndex, heap: ParentHeap) -> Seed {
    let mut next = child.stacks.keys().map(|s| s.0).max().unwrap_or(0) + 1;
    let mut stacks: HashMap<StackId, StackId> = HashMap::new();
    let mut modules: HashMap<usize, ModuleIdx> = HashMap::new();
    let mut blocks = Vec::with_capacity(heap.blocks.len());
    for (ptr, block) in heap.blocks {
        let id = match stacks.get(&block.stack) {
            Some(&id) => id,
            None => {
                let frames: Vec<StackFrame> = parent
                    .stack(block.stack)
                    .iter()
                    .map(|f| StackFrame {
                        addr: f.addr,
                        module: f
                            .module
                            .and_then(|m| module_in_child(child, &parent, m, &mut modules)),
                    })
                    .collect();
                let id = StackId(next);
                next += 1;
                child.stacks.insert(id, frames);
                stacks.insert(block.stack, id);
                id
            }
        };
        blocks.push((ptr, LiveBlock { stack: id, ..block }));
    }
    Seed {
        parent: parent.path.clone(),
        parent_pid: parent.header.pid,
        fork_time: heap.fork_time,
        blocks,
        counters: heap.counters,
        stacks: stacks.into_values().collect(),
    }
}

/// The child's module identical to the parent's module `m` (path, load address), else
/// the parent's module appended to the child's list.
fn module_in_child(
    child: &mut TraceIndex,
    parent: &TraceIndex,
    m: ModuleIdx,
    done: &mut HashMap<usize, ModuleIdx>,
) -> Option<ModuleIdx> {
    if let Some(&idx) = done.get(&m.0) {
        return Some(idx);
    }
    let info: &ModuleInfo = parent.module(m)?;
    let idx = match child.modules.iter().position(|c| {
        c.path == info.path && c.base == info.base && c.start == info.start && c.end == info.end
    }) {
        Some(i) => ModuleIdx(i),
        None => {
            child.modules.push(info.clone());
            ModuleIdx(child.modules.len() - 1)
        }
    };
    done.insert(m.0, idx);
    Some(idx)
}

//! Records: the facts a trace holds, and how a chunk payload lays them out (format
//! version 3).
//!
//! Process-wide records (modules, stacks, exit) live in stream 0; allocation events in
//! the stream of the thread that made them. A chunk payload is:
//!
//! ```text
//! base time (varint)
//! directory: tag 7, then u32 LE lengths of the main stream and of ten side streams
//! main stream: one opcode byte per record, then the record's rare fields
//! side streams: time deltas, pointer ring indices, pointer deltas, sizes, stack ids,
//!               each as the heads and the tails of split varints (see `varint`)
//! ```
//!
//! Splitting fields by kind lets zstd code each with its own statistics (the writer
//! flushes a zstd block at every stream boundary); the model and the streams together
//! take well under half the bytes per event of version 2 (BENCHMARKS.md). The directory may be left out (then the rest of the
//! payload is the main stream and the side streams are empty), and every side stream
//! must be read to its end by the chunk's last record.
//!
//! Opcodes (explicit values, never reorder):
//!
//! | opcode | record | main stream after it | side streams |
//! |---|---|---|---|
//! | `0x01` | Module | id, base, start, end, path, build-id | |
//! | `0x02` | ModuleUnload | id | |
//! | `0x03` | Stack | id, count, outer frames shared with the previous stack, the other frames' deltas | |
//! | `0x04` | ProcessExit | how (u8), code | time |
//! | `0x05` | Fork | child pid | time |
//! | `0x06` | End | | time |
//! | `0x07` | (directory) | the stream lengths | |
//! | `0x08` | Lost | events | time |
//! | `0x09` | Root | kind (u8), id, address, tid, pc | |
//! | `0x0a` | Reach | kind \| heuristic << 2 \| holder << 5 (u8), pointer delta, holder | |
//! | `0x0b` | ReachEnd | blocks, roots, scanned bytes, nanoseconds, threads, unresponsive threads | |
//! | `0x10` | ThreadStart | tid | time |
//! | `0x11` | ThreadExit | | time |
//! | `0x12` | AllocFailed | kind, stack mode | time, stack, size |
//! | `0x13` | Alloc, any kind and alignment | kind, mode | time, ptr, stack, size, slack, align |
//! | `0x14`, `0x15`, `0x16` | Realloc (realloc, reallocarray, any kind: kind follows) | mode | 2 times, old, new, stack, size, slack |
//! | `0x20..=0x37` | Free: `0x20 \| kind << 3 \| ptr hit << 2 \| stack mode` | | time, ptr, stack |
//! | `0x80..=0xff` | Alloc (malloc, calloc, new, new[]; alignment 0): `0x80 \| kind << 5 \| mode` | | time, ptr, stack, size, slack |
//!
//! An allocation's mode (five bits) says whether its pointer is a ring index (`0x10`),
//! its size is the predicted one (`0x08`), its slack the predicted one (`0x04`), and its
//! stack mode (`0x03`); a field that is predicted is not stored. A realloc's mode byte:
//! stack mode (bits 0-1), old pointer (bits 2-3: null, ring index, delta), new pointer
//! (bits 4-5: null, same as old, ring index, delta), size predicted (`0x40`), slack
//! predicted (`0x80`). What is predicted and how is in `model`: the same rules run in
//! the encoder and the decoder, from a fresh state at every chunk start, so a chunk can
//! be decoded alone.

use crate::header::lossy;

pub use crate::decode::RecordDecoder;
pub use crate::encode::ChunkEnc;

/// Opcode values (see the module table).
pub(crate) mod op {
    pub const MODULE: u8 = 0x01;
    pub const MODULE_UNLOAD: u8 = 0x02;
    pub const STACK: u8 = 0x03;
    pub const PROCESS_EXIT: u8 = 0x04;
    pub const FORK: u8 = 0x05;
    pub const END: u8 = 0x06;
    pub const LOST: u8 = 0x08;
    pub const ROOT: u8 = 0x09;
    pub const REACH: u8 = 0x0a;
    pub const REACH_END: u8 = 0x0b;
    pub const ALLOCATOR: u8 = 0x0c;
    pub const THREAD_START: u8 = 0x10;
    pub const THREAD_EXIT: u8 = 0x11;
    pub const ALLOC_FAILED: u8 = 0x12;
    pub const ALLOC_ANY: u8 = 0x13;
    pub const REALLOC: u8 = 0x14;
    pub const REALLOC_ARRAY: u8 = 0x15;
    pub const REALLOC_ANY: u8 = 0x16;
    /// Free with the arguments of a sized or aligned `operator delete`: then the free
    /// opcode byte, the free's fields, `S` size, `S` align.
    pub const FREE_ARGS: u8 = 0x17;
    /// Free: `FREE | kind << 3 | hit << 2 | stack mode`, kind 0..=2.
    pub const FREE: u8 = 0x20;
    pub const FREE_LAST: u8 = 0x37;
    /// Common allocation: `ALLOC | fast kind << 5 | mode`.
    pub const ALLOC: u8 = 0x80;

    /// Allocation mode bits (also the mode byte of `ALLOC_ANY`).
    pub const PTR_HIT: u8 = 0x10;
    pub const SIZE_HIT: u8 = 0x08;
    pub const SLACK_HIT: u8 = 0x04;
    /// Free mode bit.
    pub const FREE_PTR_HIT: u8 = 0x04;
    /// Realloc mode bits.
    pub const RE_SIZE_HIT: u8 = 0x40;
    pub const RE_SLACK_HIT: u8 = 0x80;
    pub const OLD_NULL: u8 = 0;
    pub const OLD_HIT: u8 = 1;
    pub const OLD_DELTA: u8 = 2;
    pub const NEW_NULL: u8 = 0;
    pub const NEW_SAME: u8 = 1;
    pub const NEW_HIT: u8 = 2;
    pub const NEW_DELTA: u8 = 3;

    use super::AllocKind;
    /// The allocation kinds with opcodes of their own, by their two-bit number.
    pub const FAST_KINDS: [AllocKind; 4] = [
        AllocKind::Malloc,
        AllocKind::Calloc,
        AllocKind::New,
        AllocKind::NewArray,
    ];

    pub fn fast_kind(kind: AllocKind) -> Option<u8> {
        FAST_KINDS.iter().position(|&k| k == kind).map(|i| i as u8)
    }
}

/// Identifies an interned stack; 0 means "no stack recorded".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StackId(pub u64);

impl StackId {
    pub const NONE: StackId = StackId(0);
}

/// The entry point that allocated a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AllocKind {
    Malloc = 0,
    Calloc = 1,
    Realloc = 2,
    ReallocArray = 3,
    PosixMemalign = 4,
    AlignedAlloc = 5,
    Memalign = 6,
    Valloc = 7,
    Pvalloc = 8,
    New = 9,
    NewArray = 10,
}

impl AllocKind {
    pub const ALL: [AllocKind; 11] = [
        Self::Malloc,
        Self::Calloc,
        Self::Realloc,
        Self::ReallocArray,
        Self::PosixMemalign,
        Self::AlignedAlloc,
        Self::Memalign,
        Self::Valloc,
        Self::Pvalloc,
        Self::New,
        Self::NewArray,
    ];

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(v as usize).copied()
    }

    /// The C/C++ function name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Malloc => "malloc",
            Self::Calloc => "calloc",
            Self::Realloc => "realloc",
            Self::ReallocArray => "reallocarray",
            Self::PosixMemalign => "posix_memalign",
            Self::AlignedAlloc => "aligned_alloc",
            Self::Memalign => "memalign",
            Self::Valloc => "valloc",
            Self::Pvalloc => "pvalloc",
            Self::New => "operator new",
            Self::NewArray => "operator new[]",
        }
    }

    /// The release function that matches this allocation.
    pub fn matching_free(self) -> FreeKind {
        match self {
            Self::New => FreeKind::Delete,
            Self::NewArray => FreeKind::DeleteArray,
            _ => FreeKind::Free,
        }
    }
}

/// The entry point that released a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FreeKind {
    Free = 0,
    Delete = 1,
    DeleteArray = 2,
}

impl FreeKind {
    pub fn from_u8(v: u8) -> Option<Self> {
        [Self::Free, Self::Delete, Self::DeleteArray]
            .get(v as usize)
            .copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Delete => "operator delete",
            Self::DeleteArray => "operator delete[]",
        }
    }
}

/// How the process ended (or stopped being this trace's process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitHow {
    /// `exit(code)` called.
    Exit = 0,
    /// `_exit(code)` or `_Exit(code)` called.
    QuickExit = 1,
    /// Killed by signal `code` (the tracer flushed from its handler).
    Signal = 2,
    /// The image was replaced by `exec`; a new trace continues.
    Exec = 3,
    /// Library destructors ran with no `exit` seen before (a program whose `main` is not
    /// started through `__libc_start_main`): status unknown here. A return from `main`
    /// is recorded as [`ExitHow::Exit`] with the value returned.
    Shutdown = 4,
}

impl ExitHow {
    pub fn from_u8(v: u8) -> Option<Self> {
        [
            Self::Exit,
            Self::QuickExit,
            Self::Signal,
            Self::Exec,
            Self::Shutdown,
        ]
        .get(v as usize)
        .copied()
    }
}

/// What the leak check at the end of the process found a live block to be (valgrind
/// memcheck's four kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum LeakKind {
    /// No pointer to it anywhere in the roots or in reachable or lost blocks' clique
    /// leaders: the start of a lost structure.
    DefinitelyLost = 0,
    /// Reachable only through lost blocks.
    IndirectlyLost = 1,
    /// Reachable from the roots only through pointers into its interior.
    PossiblyLost = 2,
    /// Reachable from the roots through a pointer to its start (or an interior pointer a
    /// heuristic accepts).
    StillReachable = 3,
}

impl LeakKind {
    pub const ALL: [LeakKind; 4] = [
        Self::DefinitelyLost,
        Self::IndirectlyLost,
        Self::PossiblyLost,
        Self::StillReachable,
    ];

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(v as usize).copied()
    }
}

/// The valgrind heuristic that accepted an interior pointer as keeping a block
/// reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Heuristic {
    None = 0,
    /// Points at the characters of a libstdc++ (pre-C++11 ABI) string: the block starts
    /// with length, capacity and reference count.
    StdString = 1,
    /// Points 8 bytes in, and the first 8 bytes hold the length of the rest.
    Length64 = 2,
    /// Points 8 bytes in, at the elements of a `new[]` array whose first word counts them.
    NewArray = 3,
    /// Points at a secondary vtable pointer of a C++ object with multiple inheritance.
    MultipleInheritance = 4,
}

impl Heuristic {
    pub fn from_u8(v: u8) -> Option<Self> {
        [
            Self::None,
            Self::StdString,
            Self::Length64,
            Self::NewArray,
            Self::MultipleInheritance,
        ]
        .get(v as usize)
        .copied()
    }
}

/// What kind of memory a root word lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RootKind {
    /// A module's writable data (`.data`, `.bss`, relocated read-only data).
    Global = 0,
    /// A thread's stack, at or above its stack pointer.
    Stack = 1,
    /// A thread's thread-local storage block.
    Tls = 2,
    /// A register of a thread (the record's address is the register number).
    Register = 3,
    /// Other writable memory that is neither heap nor a module's (e.g. `mmap`ed).
    Anonymous = 4,
}

impl RootKind {
    pub fn from_u8(v: u8) -> Option<Self> {
        [
            Self::Global,
            Self::Stack,
            Self::Tls,
            Self::Register,
            Self::Anonymous,
        ]
        .get(v as usize)
        .copied()
    }
}

/// What keeps a block where the leak check found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// Nothing (a definitely lost block).
    None,
    /// The root word of the `Root` record with this id.
    Root(u32),
    /// The live block starting at this address (the one the marking came from).
    Block(u64),
}

/// One decoded record. Byte strings borrow from the chunk payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// A loaded module (executable or shared object): `[start, end)` is the address range
    /// it spans, `base` the load bias (runtime address minus file address).
    Module {
        id: u32,
        base: u64,
        start: u64,
        end: u64,
        path: &'a [u8],
        build_id: &'a [u8],
    },
    ModuleUnload {
        id: u32,
    },
    /// An interned stack, innermost frame first. Every frame is a return address (the
    /// tracer leaves out its own frames, so the innermost is the allocation call's return
    /// address): symbolize `address - 1` to name the call.
    Stack {
        id: StackId,
        frames: Vec<u64>,
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
    /// The tracer closed the trace cleanly; its absence means a torn trace.
    End {
        time: u64,
    },
    /// The tracer dropped `events` events since its previous `Lost` record: a thread's
    /// ring stayed full longer than it was allowed to wait for the writer.
    Lost {
        time: u64,
        events: u64,
    },
    /// A root word that holds a pointer to a live block at the end of the process (only
    /// those that the `Reach` records name). `tid`: the thread of a stack, register or
    /// TLS root (0 otherwise); `pc`: for a stack word, the return address of the frame
    /// it lies in (0 if unknown).
    Root {
        id: u32,
        kind: RootKind,
        addr: u64,
        tid: u32,
        pc: u64,
    },
    /// The leak check's verdict on the live block at `ptr`, and what holds it: the root or
    /// block its marking came from (the clique leader's chain for an indirectly lost
    /// block; `Holder::None` for a definitely lost one).
    Reach {
        ptr: u64,
        kind: LeakKind,
        heuristic: Heuristic,
        holder: Holder,
    },
    /// The end of the leak check: `blocks` `Reach` records and `roots` `Root` records came
    /// before it; it scanned `scanned_bytes` of roots and blocks in `ns` nanoseconds and
    /// stopped `threads` other threads (`unresponsive` of them did not answer, so their
    /// registers are missing and their whole stack was scanned).
    ReachEnd {
        blocks: u64,
        roots: u64,
        scanned_bytes: u64,
        ns: u64,
        threads: u32,
        unresponsive: u32,
    },
    /// The allocator that serves the program: `path` is the object that defines the
    /// `malloc` in use (empty if unknown), `bypassed` the entry points
    /// ([`crate::entry_points`]) whose calls go to another object's definition ahead of
    /// the tracer's, so the trace does not see them.
    Allocator {
        path: &'a [u8],
        bypassed: u32,
    },
    ThreadStart {
        time: u64,
        tid: u32,
    },
    ThreadExit {
        time: u64,
    },
    /// A successful allocation, stamped after the allocator returned. `slack` is the
    /// allocator's rounding: usable size (`malloc_usable_size`) minus `size`.
    Alloc {
        time: u64,
        ptr: u64,
        size: u64,
        align: u64,
        kind: AllocKind,
        stack: StackId,
        slack: u64,
    },
    /// A release of a non-null pointer, stamped before the allocator saw it. `size` and
    /// `align` are the arguments of a sized or aligned `operator delete` (0: the form
    /// called takes none).
    Free {
        time: u64,
        ptr: u64,
        kind: FreeKind,
        stack: StackId,
        size: u64,
        align: u64,
    },
    /// `realloc`/`reallocarray`: `time_before` is stamped before the call (when `old` is
    /// given up, if it moves), `time` after it. `new == 0` with `size > 0` is a failed
    /// realloc (old stays live); `new == 0` with `size == 0` freed `old`.
    Realloc {
        time_before: u64,
        time: u64,
        old: u64,
        new: u64,
        size: u64,
        kind: AllocKind,
        stack: StackId,
        slack: u64,
    },
    /// An allocation call that returned null.
    AllocFailed {
        time: u64,
        size: u64,
        kind: AllocKind,
        stack: StackId,
    },
}

/// The bytes of a module path as text (lossy), for readers.
pub fn path_text(path: &[u8]) -> String {
    lossy(path)
}

#[cfg(test)]
mod tests;

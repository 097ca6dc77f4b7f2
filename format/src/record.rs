//! Records: the facts a trace holds, their tags and their encoding.
//!
//! Every record starts with a one-byte tag (`Tag`, explicit values: never reorder).
//! Inside a chunk, times are deltas from the previous time (the chunk's base time for the
//! first) and pointers are zigzag deltas from the previous pointer, which keeps the
//! common record near ten bytes. Process-wide records (modules, stacks, exit) live in
//! stream 0; allocation events in the stream of the thread that made them.

use crate::error::{FormatError, FormatErrorKind};
use crate::header::lossy;
use crate::varint::{Dec, Enc, Full};

/// Identifies an interned stack; 0 means "no stack recorded".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StackId(pub u64);

impl StackId {
    pub const NONE: StackId = StackId(0);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Tag {
    Module = 1,
    ModuleUnload = 2,
    Stack = 3,
    ProcessExit = 4,
    Fork = 5,
    End = 6,
    ThreadStart = 16,
    ThreadExit = 17,
    Alloc = 20,
    Free = 21,
    Realloc = 22,
    AllocFailed = 23,
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
        [Self::Free, Self::Delete, Self::DeleteArray].get(v as usize).copied()
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
    /// Library destructors ran (return from `main` or `exit`): status unknown here.
    Shutdown = 4,
}

impl ExitHow {
    fn from_u8(v: u8) -> Option<Self> {
        [Self::Exit, Self::QuickExit, Self::Signal, Self::Exec, Self::Shutdown].get(v as usize).copied()
    }
}

/// One decoded record. Byte strings borrow from the chunk payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// A loaded module (executable or shared object): `[start, end)` is the address range
    /// it spans, `base` the load bias (runtime address minus file address).
    Module { id: u32, base: u64, start: u64, end: u64, path: &'a [u8], build_id: &'a [u8] },
    ModuleUnload { id: u32 },
    /// An interned stack, innermost frame first. Every frame is a return address (the
    /// tracer leaves out its own frames, so the innermost is the allocation call's return
    /// address): symbolize `address - 1` to name the call.
    Stack { id: StackId, frames: Vec<u64> },
    ProcessExit { time: u64, how: ExitHow, code: i32 },
    Fork { time: u64, child_pid: u32 },
    /// The tracer closed the trace cleanly; its absence means a torn trace.
    End { time: u64 },
    ThreadStart { time: u64, tid: u32 },
    ThreadExit { time: u64 },
    /// A successful allocation, stamped after the allocator returned. `slack` is the
    /// allocator's rounding: usable size (`malloc_usable_size`) minus `size`.
    Alloc { time: u64, ptr: u64, size: u64, align: u64, kind: AllocKind, stack: StackId, slack: u64 },
    /// A release of a non-null pointer, stamped before the allocator saw it.
    Free { time: u64, ptr: u64, kind: FreeKind, stack: StackId },
    /// `realloc`/`reallocarray`: `time_before` is stamped before the call (when `old` is
    /// given up, if it moves), `time` after it. `new == 0` with `size > 0` is a failed
    /// realloc (old stays live); `new == 0` with `size == 0` freed `old`.
    Realloc { time_before: u64, time: u64, old: u64, new: u64, size: u64, kind: AllocKind, stack: StackId, slack: u64 },
    /// An allocation call that returned null.
    AllocFailed { time: u64, size: u64, kind: AllocKind, stack: StackId },
}

/// Encoder state for one chunk (the delta bases).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkEnc {
    time: u64,
    ptr: u64,
}

impl ChunkEnc {
    /// Starts a chunk payload: writes the base time.
    pub fn begin(e: &mut Enc<'_>, base_time: u64) -> Result<Self, Full> {
        e.var(base_time)?;
        Ok(Self { time: base_time, ptr: 0 })
    }

    fn time(&mut self, e: &mut Enc<'_>, t: u64) -> Result<(), Full> {
        // Times within a stream are monotonic; a clock that steps back encodes as 0.
        let dt = t.saturating_sub(self.time);
        self.time = self.time.max(t);
        e.var(dt)
    }

    fn ptr(&mut self, e: &mut Enc<'_>, p: u64) -> Result<(), Full> {
        let d = p.wrapping_sub(self.ptr) as i64;
        self.ptr = p;
        e.svar(d)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn module(&mut self, e: &mut Enc<'_>, id: u32, base: u64, start: u64, end: u64, path: &[u8], build_id: &[u8]) -> Result<(), Full> {
        e.u8(Tag::Module as u8)?;
        e.var(id as u64)?;
        e.var(base)?;
        e.var(start)?;
        e.var(end)?;
        e.blob(path)?;
        e.blob(build_id)
    }

    pub fn module_unload(&mut self, e: &mut Enc<'_>, id: u32) -> Result<(), Full> {
        e.u8(Tag::ModuleUnload as u8)?;
        e.var(id as u64)
    }

    pub fn stack(&mut self, e: &mut Enc<'_>, id: StackId, frames: &[u64]) -> Result<(), Full> {
        e.u8(Tag::Stack as u8)?;
        e.var(id.0)?;
        e.var(frames.len() as u64)?;
        let mut prev = 0u64;
        for &f in frames {
            e.svar(f.wrapping_sub(prev) as i64)?;
            prev = f;
        }
        Ok(())
    }

    pub fn process_exit(&mut self, e: &mut Enc<'_>, time: u64, how: ExitHow, code: i32) -> Result<(), Full> {
        e.u8(Tag::ProcessExit as u8)?;
        self.time(e, time)?;
        e.u8(how as u8)?;
        e.svar(code as i64)
    }

    pub fn fork(&mut self, e: &mut Enc<'_>, time: u64, child_pid: u32) -> Result<(), Full> {
        e.u8(Tag::Fork as u8)?;
        self.time(e, time)?;
        e.var(child_pid as u64)
    }

    pub fn end(&mut self, e: &mut Enc<'_>, time: u64) -> Result<(), Full> {
        e.u8(Tag::End as u8)?;
        self.time(e, time)
    }

    pub fn thread_start(&mut self, e: &mut Enc<'_>, time: u64, tid: u32) -> Result<(), Full> {
        e.u8(Tag::ThreadStart as u8)?;
        self.time(e, time)?;
        e.var(tid as u64)
    }

    pub fn thread_exit(&mut self, e: &mut Enc<'_>, time: u64) -> Result<(), Full> {
        e.u8(Tag::ThreadExit as u8)?;
        self.time(e, time)
    }

    /// An allocation whose slack is unknown (0).
    #[allow(clippy::too_many_arguments)]
    pub fn alloc(&mut self, e: &mut Enc<'_>, time: u64, ptr: u64, size: u64, align: u64, kind: AllocKind, stack: StackId) -> Result<(), Full> {
        self.alloc_with_slack(e, time, ptr, size, align, kind, stack, 0)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn alloc_with_slack(&mut self, e: &mut Enc<'_>, time: u64, ptr: u64, size: u64, align: u64, kind: AllocKind, stack: StackId, slack: u64) -> Result<(), Full> {
        e.u8(Tag::Alloc as u8)?;
        self.time(e, time)?;
        self.ptr(e, ptr)?;
        e.var(size)?;
        e.u8(kind as u8)?;
        e.var(align)?;
        e.var(stack.0)?;
        e.var(slack)
    }

    pub fn free(&mut self, e: &mut Enc<'_>, time: u64, ptr: u64, kind: FreeKind, stack: StackId) -> Result<(), Full> {
        e.u8(Tag::Free as u8)?;
        self.time(e, time)?;
        self.ptr(e, ptr)?;
        e.u8(kind as u8)?;
        e.var(stack.0)
    }

    /// A realloc whose slack is unknown (0).
    #[allow(clippy::too_many_arguments)]
    pub fn realloc(&mut self, e: &mut Enc<'_>, time_before: u64, time: u64, old: u64, new: u64, size: u64, kind: AllocKind, stack: StackId) -> Result<(), Full> {
        self.realloc_with_slack(e, time_before, time, old, new, size, kind, stack, 0)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn realloc_with_slack(&mut self, e: &mut Enc<'_>, time_before: u64, time: u64, old: u64, new: u64, size: u64, kind: AllocKind, stack: StackId, slack: u64) -> Result<(), Full> {
        e.u8(Tag::Realloc as u8)?;
        self.time(e, time_before)?;
        self.time(e, time)?;
        self.ptr(e, old)?;
        self.ptr(e, new)?;
        e.var(size)?;
        e.u8(kind as u8)?;
        e.var(stack.0)?;
        e.var(slack)
    }

    pub fn alloc_failed(&mut self, e: &mut Enc<'_>, time: u64, size: u64, kind: AllocKind, stack: StackId) -> Result<(), Full> {
        e.u8(Tag::AllocFailed as u8)?;
        self.time(e, time)?;
        e.var(size)?;
        e.u8(kind as u8)?;
        e.var(stack.0)
    }
}

/// Decodes the records of one chunk payload. Error offsets are relative to the payload.
pub struct RecordDecoder<'a> {
    d: Dec<'a>,
    time: u64,
    ptr: u64,
    failed: bool,
}

impl<'a> RecordDecoder<'a> {
    pub fn new(payload: &'a [u8]) -> Result<Self, FormatError> {
        let mut d = Dec::new(payload);
        let time = d.var()?;
        Ok(Self { d, time, ptr: 0, failed: false })
    }

    /// The chunk's base time.
    pub fn base_time(&self) -> u64 {
        self.time
    }

    fn time(&mut self) -> Result<u64, FormatError> {
        let dt = self.d.var()?;
        self.time = self.time.saturating_add(dt);
        Ok(self.time)
    }

    fn ptr(&mut self) -> Result<u64, FormatError> {
        let d = self.d.svar()?;
        self.ptr = self.ptr.wrapping_add(d as u64);
        Ok(self.ptr)
    }

    fn alloc_kind(&mut self) -> Result<AllocKind, FormatError> {
        let at = self.d.pos();
        AllocKind::from_u8(self.d.u8()?).ok_or(FormatError::new(at as u64, FormatErrorKind::BadValue("allocation kind")))
    }

    fn record(&mut self) -> Result<Record<'a>, FormatError> {
        let at = self.d.pos() as u64;
        let tag = self.d.u8()?;
        Ok(match tag {
            t if t == Tag::Module as u8 => Record::Module {
                id: self.d.var_u32()?,
                base: self.d.var()?,
                start: self.d.var()?,
                end: self.d.var()?,
                path: self.d.blob()?,
                build_id: self.d.blob()?,
            },
            t if t == Tag::ModuleUnload as u8 => Record::ModuleUnload { id: self.d.var_u32()? },
            t if t == Tag::Stack as u8 => {
                let id = StackId(self.d.var()?);
                let n = self.d.count(1)?;
                let mut frames = Vec::with_capacity(n);
                let mut prev = 0u64;
                for _ in 0..n {
                    prev = prev.wrapping_add(self.d.svar()? as u64);
                    frames.push(prev);
                }
                Record::Stack { id, frames }
            }
            t if t == Tag::ProcessExit as u8 => {
                let time = self.time()?;
                let how_at = self.d.pos() as u64;
                let how = ExitHow::from_u8(self.d.u8()?).ok_or(FormatError::new(how_at, FormatErrorKind::BadValue("exit kind")))?;
                let code = self.d.svar()? as i32;
                Record::ProcessExit { time, how, code }
            }
            t if t == Tag::Fork as u8 => Record::Fork { time: self.time()?, child_pid: self.d.var_u32()? },
            t if t == Tag::End as u8 => Record::End { time: self.time()? },
            t if t == Tag::ThreadStart as u8 => Record::ThreadStart { time: self.time()?, tid: self.d.var_u32()? },
            t if t == Tag::ThreadExit as u8 => Record::ThreadExit { time: self.time()? },
            t if t == Tag::Alloc as u8 => Record::Alloc {
                time: self.time()?,
                ptr: self.ptr()?,
                size: self.d.var()?,
                kind: self.alloc_kind()?,
                align: self.d.var()?,
                stack: StackId(self.d.var()?),
                slack: self.d.var()?,
            },
            t if t == Tag::Free as u8 => {
                let time = self.time()?;
                let ptr = self.ptr()?;
                let kind_at = self.d.pos() as u64;
                let kind = FreeKind::from_u8(self.d.u8()?).ok_or(FormatError::new(kind_at, FormatErrorKind::BadValue("free kind")))?;
                Record::Free { time, ptr, kind, stack: StackId(self.d.var()?) }
            }
            t if t == Tag::Realloc as u8 => Record::Realloc {
                time_before: self.time()?,
                time: self.time()?,
                old: self.ptr()?,
                new: self.ptr()?,
                size: self.d.var()?,
                kind: self.alloc_kind()?,
                stack: StackId(self.d.var()?),
                slack: self.d.var()?,
            },
            t if t == Tag::AllocFailed as u8 => Record::AllocFailed {
                time: self.time()?,
                size: self.d.var()?,
                kind: self.alloc_kind()?,
                stack: StackId(self.d.var()?),
            },
            other => return Err(FormatError::new(at, FormatErrorKind::UnknownRecord(other))),
        })
    }
}

impl<'a> Iterator for RecordDecoder<'a> {
    type Item = Result<Record<'a>, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.d.at_end() {
            return None;
        }
        let r = self.record();
        self.failed = r.is_err();
        Some(r)
    }
}

/// The bytes of a module path as text (lossy), for readers.
pub fn path_text(path: &[u8]) -> String {
    lossy(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_round_trips() {
        let mut buf = vec![0u8; 4096];
        let mut e = Enc::new(&mut buf);
        let mut c = ChunkEnc::begin(&mut e, 1000).unwrap();
        c.module(&mut e, 1, 0x1000, 0x1000, 0x9000, b"/bin/x", &[1, 2, 3]).unwrap();
        c.stack(&mut e, StackId(7), &[0x401136, 0x401000, 0x7fff_0000_1234]).unwrap();
        c.thread_start(&mut e, 1001, 77).unwrap();
        c.alloc_with_slack(&mut e, 1002, 0x5555_0000, 16, 0, AllocKind::Malloc, StackId(7), 8).unwrap();
        c.realloc(&mut e, 1003, 1005, 0x5555_0000, 0x5555_1000, 64, AllocKind::Realloc, StackId(7)).unwrap();
        c.free(&mut e, 1006, 0x5555_1000, FreeKind::Delete, StackId::NONE).unwrap();
        c.alloc_failed(&mut e, 1007, u64::MAX, AllocKind::Calloc, StackId(7)).unwrap();
        c.thread_exit(&mut e, 1008).unwrap();
        c.process_exit(&mut e, 1009, ExitHow::Signal, 11).unwrap();
        c.fork(&mut e, 1010, 99).unwrap();
        c.module_unload(&mut e, 1).unwrap();
        c.end(&mut e, 1011).unwrap();
        let n = e.len();
        let recs: Vec<_> = RecordDecoder::new(&buf[..n]).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 12);
        assert_eq!(recs[3], Record::Alloc { time: 1002, ptr: 0x5555_0000, size: 16, align: 0, kind: AllocKind::Malloc, stack: StackId(7), slack: 8 });
        assert_eq!(recs[1], Record::Stack { id: StackId(7), frames: vec![0x401136, 0x401000, 0x7fff_0000_1234] });
        assert_eq!(
            recs[4],
            Record::Realloc { time_before: 1003, time: 1005, old: 0x5555_0000, new: 0x5555_1000, size: 64, kind: AllocKind::Realloc, stack: StackId(7), slack: 0 }
        );
        assert_eq!(recs[5], Record::Free { time: 1006, ptr: 0x5555_1000, kind: FreeKind::Delete, stack: StackId::NONE });
        assert_eq!(recs[6], Record::AllocFailed { time: 1007, size: u64::MAX, kind: AllocKind::Calloc, stack: StackId(7) });
        assert_eq!(recs[8], Record::ProcessExit { time: 1009, how: ExitHow::Signal, code: 11 });
        assert_eq!(recs[11], Record::End { time: 1011 });
    }

    #[test]
    fn truncation_at_every_byte_never_panics() {
        let mut buf = vec![0u8; 512];
        let mut e = Enc::new(&mut buf);
        let mut c = ChunkEnc::begin(&mut e, 5).unwrap();
        c.stack(&mut e, StackId(1), &[1, 2, 3, 4]).unwrap();
        c.alloc(&mut e, 6, 0x10, 16, 0, AllocKind::New, StackId(1)).unwrap();
        let n = e.len();
        for cut in 0..n {
            if let Ok(dec) = RecordDecoder::new(&buf[..cut]) {
                for _ in dec {}
            }
        }
    }
}

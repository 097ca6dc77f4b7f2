//! The decoder of one chunk payload ([`RecordDecoder`]), as laid out in `record`.
//!
//! It reads opcodes from the main stream and fields from the side streams, and runs the
//! same [`Model`] as the encoder so that it can fill in what the encoder left out. It
//! trusts nothing: a directory whose lengths do not add up to the payload, a ring index
//! or a prediction the model cannot answer, a side stream left unread when the main one
//! ends, are all errors with the payload offset where they were found.

use crate::error::{FormatError, FormatErrorKind};
use crate::model::{
    predicted_slack, Model, CLASS_ALLOC, CLASS_FREE, DIRECTORY_LEN, DIRECTORY_TAG, F_DELTA,
    F_INDEX, F_SIZE, F_STACK, F_TIME, SHARED_FRAMES_MAX, SIDE_STREAMS, STACK_EXPLICIT,
};
use crate::record::{
    op, AllocKind, ExitHow, FreeKind, Heuristic, Holder, LeakKind, Record, RootKind, StackId,
};
use crate::varint::{unzigzag, Dec};

/// Decodes the records of one chunk payload. Error offsets are relative to the payload.
pub struct RecordDecoder<'a> {
    main: Dec<'a>,
    sides: [Dec<'a>; SIDE_STREAMS],
    m: Model,
    /// The frames of the chunk's previous `Stack` record (empty if it had too many).
    prev_frames: Vec<u64>,
    base_time: u64,
    done: bool,
}

fn bad(at: usize, what: &'static str) -> FormatError {
    FormatError::new(at as u64, FormatErrorKind::BadValue(what))
}

impl<'a> RecordDecoder<'a> {
    pub fn new(payload: &'a [u8]) -> Result<Self, FormatError> {
        let mut d = Dec::new(payload);
        let base_time = d.var()?;
        let at = d.pos();
        let end = payload.len();
        let (main, sides) = if payload.get(at) == Some(&DIRECTORY_TAG) {
            let dir = d.bytes(DIRECTORY_LEN)?;
            let len = |i: usize| {
                u32::from_le_bytes([
                    dir[1 + 4 * i],
                    dir[2 + 4 * i],
                    dir[3 + 4 * i],
                    dir[4 + 4 * i],
                ]) as usize
            };
            let mut start = at + DIRECTORY_LEN;
            let total: u64 = (0..=SIDE_STREAMS).map(|i| len(i) as u64).sum();
            if total != (end - start) as u64 {
                return Err(FormatError::new(at as u64, FormatErrorKind::BadLength));
            }
            let mut next = |n: usize| {
                let s = Dec::range(payload, start, start + n);
                start += n;
                s
            };
            let main = next(len(0));
            let sides: [Dec<'a>; SIDE_STREAMS] = std::array::from_fn(|i| next(len(i + 1)));
            (main, sides)
        } else {
            (
                Dec::range(payload, at, end),
                std::array::from_fn(|_| Dec::range(payload, end, end)),
            )
        };
        Ok(Self {
            main,
            sides,
            m: Model::new(base_time),
            prev_frames: Vec::new(),
            base_time,
            done: false,
        })
    }

    /// The chunk's base time.
    pub fn base_time(&self) -> u64 {
        self.base_time
    }

    /// The next value of `field` (a split varint in its head and tail streams).
    #[inline]
    fn field(&mut self, field: usize) -> Result<u64, FormatError> {
        let (heads, tails) = self.sides.split_at_mut(2 * field + 1);
        heads[2 * field].split_var(&mut tails[0])
    }

    #[inline]
    fn time(&mut self) -> Result<u64, FormatError> {
        let dt = self.field(F_TIME)?;
        Ok(self.m.time_from_delta(dt))
    }

    /// A pointer coded as an index into the ring of allocated (`freed` false) or freed
    /// pointers.
    #[inline]
    fn ring_ptr(&mut self, freed: bool) -> Result<u64, FormatError> {
        let at = self.sides[2 * F_INDEX].pos();
        let back = self.field(F_INDEX)?;
        let ring = if freed {
            &self.m.freed
        } else {
            &self.m.allocated
        };
        ring.get(back).ok_or_else(|| bad(at, "pointer ring index"))
    }

    /// A pointer coded as a delta from `base`.
    #[inline]
    fn delta_ptr(&mut self, base: u64) -> Result<u64, FormatError> {
        Ok(base.wrapping_add(unzigzag(self.field(F_DELTA)?) as u64))
    }

    #[inline]
    fn stack(&mut self, mode: u8, class: usize) -> Result<StackId, FormatError> {
        let at = self.sides[2 * F_STACK].pos();
        let explicit = if mode & 3 == STACK_EXPLICIT {
            self.field(F_STACK)?
        } else {
            0
        };
        let stack = self
            .m
            .stack_from(mode, class, explicit)
            .ok_or_else(|| bad(at, "stack prediction"))?;
        self.m.saw_stack(stack, class);
        Ok(StackId(stack))
    }

    /// A size: predicted for `stack` when `hit`, else the next size field.
    #[inline]
    fn size(&mut self, hit: bool, stack: StackId) -> Result<u64, FormatError> {
        if hit {
            let at = self.sides[2 * F_SIZE].pos();
            self.m
                .predicted_size(stack.0)
                .ok_or_else(|| bad(at, "size prediction"))
        } else {
            self.field(F_SIZE)
        }
    }

    #[inline]
    fn slack(&mut self, hit: bool, size: u64) -> Result<u64, FormatError> {
        if hit {
            Ok(predicted_slack(size))
        } else {
            self.field(F_SIZE)
        }
    }

    fn alloc_kind(&mut self) -> Result<AllocKind, FormatError> {
        let at = self.main.pos();
        AllocKind::from_u8(self.main.u8()?).ok_or_else(|| bad(at, "allocation kind"))
    }

    #[inline]
    fn alloc(&mut self, mode: u8, kind: AllocKind, any: bool) -> Result<Record<'a>, FormatError> {
        let time = self.time()?;
        let ptr = if mode & op::PTR_HIT != 0 {
            self.ring_ptr(true)?
        } else {
            self.delta_ptr(self.m.alloc_end)?
        };
        let stack = self.stack(mode, CLASS_ALLOC)?;
        let size = self.size(mode & op::SIZE_HIT != 0, stack)?;
        let slack = self.slack(mode & op::SLACK_HIT != 0, size)?;
        let align = if any { self.field(F_SIZE)? } else { 0 };
        self.m.saw_alloc(ptr, size, slack, stack.0);
        Ok(Record::Alloc {
            time,
            ptr,
            size,
            align,
            kind,
            stack,
            slack,
        })
    }

    #[inline]
    /// A free of opcode `code`; `args`: the sized/aligned delete's arguments follow.
    fn free(&mut self, code: u8, args: bool) -> Result<Record<'a>, FormatError> {
        let kind = FreeKind::from_u8((code >> 3) & 3)
            .ok_or_else(|| bad(self.main.pos() - 1, "free kind"))?;
        let time = self.time()?;
        let ptr = if code & op::FREE_PTR_HIT != 0 {
            self.ring_ptr(false)?
        } else {
            self.delta_ptr(self.m.last_ptr)?
        };
        let stack = self.stack(code, CLASS_FREE)?;
        self.m.saw_free(ptr);
        let (size, align) = if args {
            (self.field(F_SIZE)?, self.field(F_SIZE)?)
        } else {
            (0, 0)
        };
        Ok(Record::Free {
            time,
            ptr,
            kind,
            stack,
            size,
            align,
        })
    }

    fn realloc(&mut self, kind: AllocKind) -> Result<Record<'a>, FormatError> {
        let mode = self.main.u8()?;
        let time_before = self.time()?;
        let time = self.time()?;
        let old = match (mode >> 2) & 3 {
            op::OLD_NULL => 0,
            op::OLD_HIT => self.ring_ptr(false)?,
            op::OLD_DELTA => self.delta_ptr(self.m.last_ptr)?,
            _ => return Err(bad(self.main.pos() - 1, "realloc mode")),
        };
        let new = match (mode >> 4) & 3 {
            op::NEW_NULL => 0,
            op::NEW_SAME => old,
            op::NEW_HIT => self.ring_ptr(true)?,
            _ => self.delta_ptr(self.m.alloc_end)?,
        };
        let stack = self.stack(mode, CLASS_ALLOC)?;
        let size = self.size(mode & op::RE_SIZE_HIT != 0, stack)?;
        let slack = self.slack(mode & op::RE_SLACK_HIT != 0, size)?;
        self.m.saw_realloc(old, new, size, slack, stack.0);
        Ok(Record::Realloc {
            time_before,
            time,
            old,
            new,
            size,
            kind,
            stack,
            slack,
        })
    }

    fn record(&mut self) -> Result<Record<'a>, FormatError> {
        let at = self.main.pos();
        let code = self.main.u8()?;
        if code >= op::ALLOC {
            return self.alloc(code, op::FAST_KINDS[(code >> 5) as usize & 3], false);
        }
        if (op::FREE..=op::FREE_LAST).contains(&code) {
            return self.free(code, false);
        }
        let d = &mut self.main;
        Ok(match code {
            op::MODULE => Record::Module {
                id: d.var_u32()?,
                base: d.var()?,
                start: d.var()?,
                end: d.var()?,
                path: d.blob()?,
                build_id: d.blob()?,
            },
            op::MODULE_UNLOAD => Record::ModuleUnload { id: d.var_u32()? },
            op::STACK => {
                let id = StackId(d.var()?);
                let n_at = d.pos();
                let n = d.var()?;
                let shared = d.var()?;
                // Each coded frame takes a byte at least; shared ones come from the last stack.
                if shared > n
                    || shared > self.prev_frames.len() as u64
                    || n - shared > d.remaining() as u64
                {
                    return Err(FormatError::new(n_at as u64, FormatErrorKind::BadLength));
                }
                let (n, shared) = (n as usize, shared as usize);
                let mut frames = Vec::with_capacity(n);
                let mut prev = 0u64;
                for _ in 0..n - shared {
                    prev = prev.wrapping_add(d.svar()? as u64);
                    frames.push(prev);
                }
                frames.extend_from_slice(&self.prev_frames[self.prev_frames.len() - shared..]);
                self.prev_frames.clear();
                if n <= SHARED_FRAMES_MAX {
                    self.prev_frames.extend_from_slice(&frames);
                }
                Record::Stack { id, frames }
            }
            op::PROCESS_EXIT => {
                let how_at = d.pos();
                let how = ExitHow::from_u8(d.u8()?).ok_or_else(|| bad(how_at, "exit kind"))?;
                let code = d.svar()? as i32;
                Record::ProcessExit {
                    time: self.time()?,
                    how,
                    code,
                }
            }
            op::FORK => {
                let child_pid = d.var_u32()?;
                Record::Fork {
                    time: self.time()?,
                    child_pid,
                }
            }
            op::END => Record::End { time: self.time()? },
            op::ALLOCATOR => Record::Allocator {
                path: d.blob()?,
                bypassed: d.var_u32()?,
            },
            op::LOST => {
                let events = d.var()?;
                Record::Lost {
                    time: self.time()?,
                    events,
                }
            }
            op::ROOT => {
                let kind_at = d.pos();
                let kind = RootKind::from_u8(d.u8()?).ok_or_else(|| bad(kind_at, "root kind"))?;
                Record::Root {
                    kind,
                    id: d.var_u32()?,
                    addr: d.var()?,
                    tid: d.var_u32()?,
                    pc: d.var()?,
                }
            }
            op::REACH => {
                let at = d.pos();
                let b = d.u8()?;
                let kind = LeakKind::from_u8(b & 3).ok_or_else(|| bad(at, "leak kind"))?;
                let heuristic =
                    Heuristic::from_u8((b >> 2) & 7).ok_or_else(|| bad(at, "heuristic"))?;
                let ptr = self.m.reach_ptr.wrapping_add(d.svar()? as u64);
                let holder = match b >> 5 {
                    0 => Holder::None,
                    1 => Holder::Root(d.var_u32()?),
                    2 => Holder::Block(ptr.wrapping_add(d.svar()? as u64)),
                    _ => return Err(bad(at, "holder")),
                };
                self.m.reach_ptr = ptr;
                Record::Reach {
                    ptr,
                    kind,
                    heuristic,
                    holder,
                }
            }
            op::REACH_END => Record::ReachEnd {
                blocks: d.var()?,
                roots: d.var()?,
                scanned_bytes: d.var()?,
                ns: d.var()?,
                threads: d.var_u32()?,
                unresponsive: d.var_u32()?,
            },
            op::THREAD_START => {
                let tid = d.var_u32()?;
                Record::ThreadStart {
                    time: self.time()?,
                    tid,
                }
            }
            op::THREAD_EXIT => Record::ThreadExit { time: self.time()? },
            op::ALLOC_ANY => {
                let kind = self.alloc_kind()?;
                let mode_at = self.main.pos();
                let mode = self.main.u8()?;
                if mode & !0x1f != 0 {
                    return Err(bad(mode_at, "allocation mode"));
                }
                self.alloc(mode, kind, true)?
            }
            op::FREE_ARGS => {
                let code_at = self.main.pos();
                let code = self.main.u8()?;
                if !(op::FREE..=op::FREE_LAST).contains(&code) {
                    return Err(bad(code_at, "free opcode after FREE_ARGS"));
                }
                self.free(code, true)?
            }
            op::REALLOC => self.realloc(AllocKind::Realloc)?,
            op::REALLOC_ARRAY => self.realloc(AllocKind::ReallocArray)?,
            op::REALLOC_ANY => {
                let kind = self.alloc_kind()?;
                self.realloc(kind)?
            }
            op::ALLOC_FAILED => {
                let kind = self.alloc_kind()?;
                let mode = self.main.u8()?;
                let time = self.time()?;
                let stack = self.stack(mode, CLASS_ALLOC)?;
                Record::AllocFailed {
                    time,
                    size: self.field(F_SIZE)?,
                    kind,
                    stack,
                }
            }
            DIRECTORY_TAG => return Err(bad(at, "stream directory (not at the chunk start)")),
            other => {
                return Err(FormatError::new(
                    at as u64,
                    FormatErrorKind::UnknownRecord(other),
                ))
            }
        })
    }
}

impl<'a> Iterator for RecordDecoder<'a> {
    type Item = Result<Record<'a>, FormatError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.main.at_end() {
            self.done = true;
            // The encoder ends every side stream with the chunk's last record.
            let left = self.sides.iter().find(|s| !s.at_end())?;
            return Some(Err(FormatError::new(
                left.pos() as u64,
                FormatErrorKind::BadLength,
            )));
        }
        let r = self.record();
        self.done = r.is_err();
        Some(r)
    }
}

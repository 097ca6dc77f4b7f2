//! The encoder of one chunk payload ([`ChunkEnc`]), as laid out in `record`.
//!
//! Opcodes and rare fields go to the main stream, which is the caller's [`Enc`]; the
//! frequent fields go to ten side streams the encoder keeps, and [`ChunkEnc::finish`]
//! appends them and fills in the directory. The side streams are regions of one buffer
//! allocated with the encoder ([`ChunkEnc::new`]; untouched pages cost no memory) and
//! reused by [`ChunkEnc::restart`] for every later chunk: recording never allocates.
//!
//! Every event record first checks that the payload still has room for everything the
//! encoder holds plus the largest event, and returns `Err(Full)` before it changes any
//! state if not; past that check no write can fail, so a record is written whole or not
//! at all, and `finish` always fits.

use crate::model::{
    predicted_slack, Model, CLASS_ALLOC, CLASS_FREE, DIRECTORY_LEN, DIRECTORY_TAG, F_DELTA,
    F_INDEX, F_SIZE, F_STACK, F_TIME, SHARED_FRAMES_MAX, SIDE_STREAMS, STACK_EXPLICIT,
};
use crate::record::{op, AllocKind, Holder, Record, StackId};
use crate::varint::{put_split, zigzag, Enc, Full};

/// Bytes one event record can add to the main and side streams together, at most
/// (a realloc: two times, two pointers, a stack, size and slack as ten-byte varints).
const EVENT_MAX: usize = 96;

/// The side streams: stream `i` is `buf[i * cap..pos[i]]`.
struct Sides {
    buf: Box<[u8]>,
    pos: [usize; SIDE_STREAMS],
    cap: usize,
    /// Bytes in all streams together.
    used: usize,
}

impl Sides {
    fn new(cap: usize) -> Self {
        Sides {
            buf: vec![0; cap * SIDE_STREAMS].into_boxed_slice(),
            pos: std::array::from_fn(|i| i * cap),
            cap,
            used: 0,
        }
    }

    fn clear(&mut self) {
        self.pos = std::array::from_fn(|i| i * self.cap);
        self.used = 0;
    }

    fn stream(&self, i: usize) -> &[u8] {
        &self.buf[i * self.cap..self.pos[i]]
    }

    /// Appends `v` to `field` as a split varint. Room was checked (a stream holds at
    /// most `used` bytes, and `used` stays an event short of `cap`).
    #[inline(always)]
    fn put(&mut self, field: usize, v: u64) {
        let (heads, tails) = self.pos.split_at_mut(2 * field + 1);
        self.used += put_split(&mut self.buf, &mut heads[2 * field], &mut tails[0], v);
    }
}

/// Encoder state for one chunk: the prediction model and the side streams.
pub struct ChunkEnc {
    m: Model,
    sides: Sides,
    /// The frames of the chunk's previous `Stack` record (empty if it had too many).
    prev_frames: Vec<u64>,
    /// Payload offset of the directory and of the main stream.
    dir_at: usize,
    main_at: usize,
}

impl ChunkEnc {
    /// An encoder for chunk payloads of at most `capacity` bytes. Allocates its tables
    /// and side streams; call [`ChunkEnc::restart`] to start each chunk.
    pub fn new(capacity: usize) -> Self {
        ChunkEnc {
            m: Model::for_encoder(0),
            sides: Sides::new(capacity),
            prev_frames: Vec::with_capacity(SHARED_FRAMES_MAX),
            dir_at: 0,
            main_at: 0,
        }
    }

    /// A new encoder (sized for what `e` can hold) that has started a chunk payload in `e`.
    pub fn begin(e: &mut Enc<'_>, base_time: u64) -> Result<Self, Full> {
        let mut c = Self::new(e.remaining());
        c.restart(e, base_time)?;
        Ok(c)
    }

    /// Starts a chunk payload at the start of `e`: writes the base time and room for the
    /// directory, and forgets everything about the previous chunk.
    pub fn restart(&mut self, e: &mut Enc<'_>, base_time: u64) -> Result<(), Full> {
        self.m.reset(base_time);
        self.sides.clear();
        self.prev_frames.clear();
        e.var(base_time)?;
        self.dir_at = e.len();
        e.u8(DIRECTORY_TAG)?;
        e.bytes(&[0; DIRECTORY_LEN - 1])?;
        self.main_at = e.len();
        Ok(())
    }

    /// Completes the payload: `e` is the whole payload so far (as given to `restart`, or
    /// resumed over the same bytes). Appends the side streams and fills in the directory.
    pub fn finish(&mut self, e: &mut Enc<'_>) -> Result<(), Full> {
        let main_len = e.len().checked_sub(self.main_at).ok_or(Full)?;
        let mut dir = [0u8; DIRECTORY_LEN - 1];
        dir[..4].copy_from_slice(&(main_len as u32).to_le_bytes());
        for i in 0..SIDE_STREAMS {
            let len = self.sides.stream(i).len() as u32;
            dir[4 + 4 * i..8 + 4 * i].copy_from_slice(&len.to_le_bytes());
        }
        e.patch(self.dir_at + 1, &dir)?;
        for i in 0..SIDE_STREAMS {
            e.bytes(self.sides.stream(i))?;
        }
        Ok(())
    }

    /// Whether an event record fits (see the module comment).
    #[inline(always)]
    fn room(&self, e: &Enc<'_>) -> Result<(), Full> {
        let need = self.sides.used + EVENT_MAX;
        if e.remaining() < need || self.sides.cap < need {
            return Err(Full);
        }
        Ok(())
    }

    /// After a record written to the main stream only: whether the side streams still fit.
    fn fits(&self, e: &Enc<'_>) -> Result<(), Full> {
        if e.remaining() < self.sides.used {
            return Err(Full);
        }
        Ok(())
    }

    #[inline(always)]
    fn put_side(&mut self, field: usize, v: u64) {
        self.sides.put(field, v);
    }

    #[inline(always)]
    fn time(&mut self, t: u64) {
        let dt = self.m.time_delta(t);
        self.put_side(F_TIME, dt);
    }

    /// Codes `stack` for a record of `class`; returns its mode.
    #[inline(always)]
    fn stack_mode(&mut self, stack: StackId, class: usize) -> u8 {
        let mode = self.m.stack_mode(stack.0, class);
        if mode == STACK_EXPLICIT {
            let v = self.m.stack_delta(stack.0);
            self.put_side(F_STACK, v);
        }
        self.m.saw_stack(stack.0, class);
        mode
    }

    /// Writes one record: the one way into a chunk. A record that does not fit returns
    /// `Err(Full)` and leaves the encoder as it was.
    #[inline]
    pub fn put(&mut self, e: &mut Enc<'_>, r: &Record<'_>) -> Result<(), Full> {
        match *r {
            Record::Module {
                id,
                base,
                start,
                end,
                path,
                build_id,
            } => {
                e.u8(op::MODULE)?;
                e.var(id as u64)?;
                e.var(base)?;
                e.var(start)?;
                e.var(end)?;
                e.blob(path)?;
                e.blob(build_id)?;
                self.fits(e)
            }
            Record::Allocator { path, bypassed } => {
                e.u8(op::ALLOCATOR)?;
                e.blob(path)?;
                e.var(bypassed as u64)?;
                self.fits(e)
            }
            Record::ModuleUnload { id } => {
                e.u8(op::MODULE_UNLOAD)?;
                e.var(id as u64)?;
                self.fits(e)
            }
            Record::Stack { id, ref frames } => self.stack(e, id, frames),
            Record::ProcessExit { time, how, code } => {
                self.room(e)?;
                e.u8(op::PROCESS_EXIT)?;
                e.u8(how as u8)?;
                e.svar(code as i64)?;
                self.time(time);
                Ok(())
            }
            Record::Fork { time, child_pid } => {
                self.room(e)?;
                e.u8(op::FORK)?;
                e.var(child_pid as u64)?;
                self.time(time);
                Ok(())
            }
            Record::End { time } => {
                self.room(e)?;
                e.u8(op::END)?;
                self.time(time);
                Ok(())
            }
            Record::Lost { time, events } => {
                self.room(e)?;
                e.u8(op::LOST)?;
                e.var(events)?;
                self.time(time);
                Ok(())
            }
            Record::Root {
                id,
                kind,
                addr,
                tid,
                pc,
            } => {
                e.u8(op::ROOT)?;
                e.u8(kind as u8)?;
                e.var(id as u64)?;
                e.var(addr)?;
                e.var(tid as u64)?;
                e.var(pc)?;
                self.fits(e)
            }
            Record::Reach {
                ptr,
                kind,
                heuristic,
                holder,
            } => {
                e.u8(op::REACH)?;
                let tag = match holder {
                    Holder::None => 0,
                    Holder::Root(_) => 1,
                    Holder::Block(_) => 2,
                };
                e.u8(kind as u8 | (heuristic as u8) << 2 | tag << 5)?;
                e.svar(ptr.wrapping_sub(self.m.reach_ptr) as i64)?;
                match holder {
                    Holder::None => {}
                    Holder::Root(id) => e.var(id as u64)?,
                    Holder::Block(b) => e.svar(b.wrapping_sub(ptr) as i64)?,
                }
                self.fits(e)?;
                self.m.reach_ptr = ptr;
                Ok(())
            }
            Record::ReachEnd {
                blocks,
                roots,
                scanned_bytes,
                ns,
                threads,
                unresponsive,
            } => {
                e.u8(op::REACH_END)?;
                e.var(blocks)?;
                e.var(roots)?;
                e.var(scanned_bytes)?;
                e.var(ns)?;
                e.var(threads as u64)?;
                e.var(unresponsive as u64)?;
                self.fits(e)
            }
            Record::ThreadStart { time, tid } => {
                self.room(e)?;
                e.u8(op::THREAD_START)?;
                e.var(tid as u64)?;
                self.time(time);
                Ok(())
            }
            Record::ThreadExit { time } => {
                self.room(e)?;
                e.u8(op::THREAD_EXIT)?;
                self.time(time);
                Ok(())
            }
            Record::Alloc {
                time,
                ptr,
                size,
                align,
                kind,
                stack,
                slack,
            } => {
                self.room(e)?;
                self.time(time);
                let mut mode = match self.m.freed.find(ptr) {
                    Some(back) => {
                        self.put_side(F_INDEX, back);
                        op::PTR_HIT
                    }
                    None => {
                        let d = zigzag(ptr.wrapping_sub(self.m.alloc_end) as i64);
                        self.put_side(F_DELTA, d);
                        0
                    }
                };
                mode |= self.stack_mode(stack, CLASS_ALLOC);
                let (size_hit, slack_hit) = self.size_and_slack(stack, size, slack);
                mode |= if size_hit { op::SIZE_HIT } else { 0 };
                mode |= if slack_hit { op::SLACK_HIT } else { 0 };
                match if align == 0 {
                    op::fast_kind(kind)
                } else {
                    None
                } {
                    Some(k) => e.u8(op::ALLOC | k << 5 | mode)?,
                    None => {
                        e.u8(op::ALLOC_ANY)?;
                        e.u8(kind as u8)?;
                        e.u8(mode)?;
                        self.put_side(F_SIZE, align);
                    }
                }
                self.m.saw_alloc(ptr, size, slack, stack.0);
                Ok(())
            }
            Record::Free {
                time,
                ptr,
                kind,
                stack,
                size,
                align,
            } => {
                self.room(e)?;
                self.time(time);
                let mut mode = match self.m.allocated.find(ptr) {
                    Some(back) => {
                        self.put_side(F_INDEX, back);
                        op::FREE_PTR_HIT
                    }
                    None => {
                        let d = zigzag(ptr.wrapping_sub(self.m.last_ptr) as i64);
                        self.put_side(F_DELTA, d);
                        0
                    }
                };
                mode |= self.stack_mode(stack, CLASS_FREE);
                if size != 0 || align != 0 {
                    e.u8(op::FREE_ARGS)?;
                    self.put_side(F_SIZE, size);
                    self.put_side(F_SIZE, align);
                }
                e.u8(op::FREE | (kind as u8) << 3 | mode)?;
                self.m.saw_free(ptr);
                Ok(())
            }
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
                self.room(e)?;
                self.time(time_before);
                self.time(time);
                let old_mode = if old == 0 {
                    op::OLD_NULL
                } else if let Some(back) = self.m.allocated.find(old) {
                    self.put_side(F_INDEX, back);
                    op::OLD_HIT
                } else {
                    let d = zigzag(old.wrapping_sub(self.m.last_ptr) as i64);
                    self.put_side(F_DELTA, d);
                    op::OLD_DELTA
                };
                let new_mode = if new == 0 {
                    op::NEW_NULL
                } else if new == old {
                    op::NEW_SAME
                } else if let Some(back) = self.m.freed.find(new) {
                    self.put_side(F_INDEX, back);
                    op::NEW_HIT
                } else {
                    let d = zigzag(new.wrapping_sub(self.m.alloc_end) as i64);
                    self.put_side(F_DELTA, d);
                    op::NEW_DELTA
                };
                let mut mode = self.stack_mode(stack, CLASS_ALLOC) | old_mode << 2 | new_mode << 4;
                let (size_hit, slack_hit) = self.size_and_slack(stack, size, slack);
                mode |= if size_hit { op::RE_SIZE_HIT } else { 0 };
                mode |= if slack_hit { op::RE_SLACK_HIT } else { 0 };
                match kind {
                    AllocKind::Realloc => e.u8(op::REALLOC)?,
                    AllocKind::ReallocArray => e.u8(op::REALLOC_ARRAY)?,
                    other => {
                        e.u8(op::REALLOC_ANY)?;
                        e.u8(other as u8)?;
                    }
                }
                e.u8(mode)?;
                self.m.saw_realloc(old, new, size, slack, stack.0);
                Ok(())
            }
            Record::AllocFailed {
                time,
                size,
                kind,
                stack,
            } => {
                self.room(e)?;
                self.time(time);
                let mode = self.stack_mode(stack, CLASS_ALLOC);
                self.put_side(F_SIZE, size);
                e.u8(op::ALLOC_FAILED)?;
                e.u8(kind as u8)?;
                e.u8(mode)?;
                Ok(())
            }
        }
    }

    /// Codes an allocation's size and slack against the model's predictions (a predicted
    /// field is not stored); returns which were predicted.
    #[inline(always)]
    fn size_and_slack(&mut self, stack: StackId, size: u64, slack: u64) -> (bool, bool) {
        let size_hit = self.m.predicted_size(stack.0) == Some(size);
        if !size_hit {
            self.put_side(F_SIZE, size);
        }
        let slack_hit = predicted_slack(size) == slack;
        if !slack_hit {
            self.put_side(F_SIZE, slack);
        }
        (size_hit, slack_hit)
    }

    /// A `Stack` record: its outermost frames that equal the previous stack's are only
    /// counted, the others coded as deltas.
    fn stack(&mut self, e: &mut Enc<'_>, id: StackId, frames: &[u64]) -> Result<(), Full> {
        let shared = frames
            .iter()
            .rev()
            .zip(self.prev_frames.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        e.u8(op::STACK)?;
        e.var(id.0)?;
        e.var(frames.len() as u64)?;
        e.var(shared as u64)?;
        let mut prev = 0u64;
        for &f in &frames[..frames.len() - shared] {
            e.svar(f.wrapping_sub(prev) as i64)?;
            prev = f;
        }
        self.fits(e)?;
        self.prev_frames.clear();
        if frames.len() <= SHARED_FRAMES_MAX {
            self.prev_frames.extend_from_slice(frames);
        }
        Ok(())
    }
}

//! A thread's cache of step shapes: how the step from a frame to its caller moves the
//! registers, learned once per code address from a real framehop step, so that later
//! steps from the same address cost two stack reads instead of a rule lookup, and never
//! a CFI parse.
//!
//! Code built without frame pointers (Debian's libraries, most release builds) unwinds
//! by rules of one shape: the caller's stack pointer is `sp + k`, its return address the
//! word below that, and its frame pointer either unchanged or restored from `sp + m`.
//! Such a step depends only on the code address (the rule) and the stack pointer, so its
//! shape `(k, m)` learned from one step holds for every later step from that address
//! while the module list stays the same. Rules that use the frame pointer are not
//! learned; they, and addresses not seen yet, go through framehop.
//!
//! framehop's own cache holds 509 rules (the unwinder keeps a few of them per thread),
//! which a compiler's code overflows into constant CFI re-parsing (BENCHMARKS.md: what
//! it cost `cc1`); this table holds [`SHAPES`] compact entries, committed only where used.
//! Hand-written rather than a crate: it sits on the allocation hot path, where nothing
//! may allocate or lock.

use super::walk_memo::ReadLog;

/// Entries in a thread's shape table (16 bytes each; a power of two). A compiler's code
/// outgrows any size; the steps `cc1` still took through framehop at 8 K, 16 K and 32 K
/// entries are in BENCHMARKS.md.
pub const SHAPES: usize = 16384;

/// No saved frame pointer: the step leaves the frame pointer as it was.
const BP_UNCHANGED: u32 = u32::MAX;

/// The shape of the step out of a frame at one code address (see the module comment).
#[derive(Clone, Copy, Default)]
pub struct StepShape {
    /// [`StepShape::key`] of the address it was learned at (0: empty).
    pub key: u64,
    /// The caller's stack pointer minus this frame's.
    pub sp_delta: u32,
    /// Where the caller's frame pointer was saved, relative to this frame's stack
    /// pointer, or [`BP_UNCHANGED`].
    pub bp_offset: u32,
}

impl StepShape {
    /// The key of a frame address: return addresses and instruction pointers (the first
    /// frame, whose rule may differ) never collide, as the low bit tells them apart.
    #[inline(always)]
    pub fn key(addr: u64, is_return_address: bool) -> u64 {
        (addr << 1) | is_return_address as u64
    }

    /// The shape of a step from stack pointer `sp` and frame pointer `bp` that read
    /// `log` and left `sp_after`, `bp_after` and return address `ra`; `None` unless
    /// every read was relative to `sp` (a frame-pointer rule depends on `bp` instead).
    pub fn learn(
        key: u64,
        (sp, bp): (u64, u64),
        log: &ReadLog,
        (sp_after, bp_after): (u64, u64),
        ra: u64,
    ) -> Option<StepShape> {
        if log.failed
            || log.n == 0
            || log.n > 2
            || sp_after <= sp
            || sp_after - sp > 1 << 20
            || log.used_bp(bp)
        {
            return None;
        }
        if log.reads[log.n - 1] != (sp_after - 8, ra) {
            return None;
        }
        let bp_offset = match log.n {
            1 if bp_after == bp => BP_UNCHANGED,
            2 if log.reads[0].1 == bp_after
                && log.reads[0].0 >= sp
                && log.reads[0].0 - sp < 1 << 20 =>
            {
                (log.reads[0].0 - sp) as u32
            }
            _ => return None,
        };
        Some(StepShape {
            key,
            sp_delta: (sp_after - sp) as u32,
            bp_offset,
        })
    }

    /// Takes the step from a frame with stack pointer `sp` and frame pointer `bp`,
    /// reading stack words with `read` and noting them in `log` in the order framehop's
    /// rule reads them (saved frame pointer, then return address); returns the caller's
    /// (return address, stack pointer, frame pointer), or `None` if a read failed.
    #[inline(always)]
    pub fn step(
        &self,
        sp: u64,
        bp: u64,
        log: &mut ReadLog,
        read: impl Fn(u64) -> Option<u64>,
    ) -> Option<(u64, u64, u64)> {
        let sp_after = sp + self.sp_delta as u64;
        let bp_after = if self.bp_offset == BP_UNCHANGED {
            bp
        } else {
            let at = sp + self.bp_offset as u64;
            let v = read(at);
            log.note(at, v);
            v?
        };
        let ra = read(sp_after - 8);
        log.note(sp_after - 8, ra);
        Some((ra?, sp_after, bp_after))
    }
}

/// A thread's shapes, two-way set-associative by code address, for the unwinder `owner`
/// (a new unwinder, made when the module list changes, starts from an empty table). Two
/// ways, so that two hot addresses that hash alike (the tracer's own step and a busy call
/// site, in some builds) do not evict each other on every capture.
pub struct ShapeCache {
    owner: usize,
    shapes: Box<[StepShape; SHAPES]>,
}

impl ShapeCache {
    pub fn new() -> Self {
        // Zeroed memory: only the pages a thread uses are ever committed. SAFETY: a
        // `StepShape` is integers only, for which all zero bits are valid (key 0: empty).
        let shapes = unsafe { Box::<[StepShape; SHAPES]>::new_zeroed().assume_init() };
        ShapeCache { owner: 0, shapes }
    }

    /// Forgets every shape if they were learned under another unwinder than `owner`.
    #[inline(always)]
    pub fn use_for(&mut self, owner: usize) {
        if self.owner != owner {
            if self.owner != 0 {
                self.shapes.fill(StepShape::default());
            }
            self.owner = owner;
        }
    }

    /// The first entry of `key`'s set (the other is the next one).
    #[inline(always)]
    fn set(key: u64) -> usize {
        let sets = SHAPES / 2;
        2 * (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - sets.trailing_zeros())) as usize
    }

    /// The shape learned for `key`, if any.
    #[inline(always)]
    pub fn get(&self, key: u64) -> Option<&StepShape> {
        let i = Self::set(key);
        self.shapes[i..i + 2].iter().find(|s| s.key == key)
    }

    /// Keeps `shape` as the most recent of its set; the older one moves to the second way.
    pub fn insert(&mut self, shape: StepShape) {
        let i = Self::set(shape.key);
        if self.shapes[i].key != shape.key {
            self.shapes[i + 1] = self.shapes[i];
        }
        self.shapes[i] = shape;
    }
}

impl Default for ShapeCache {
    fn default() -> Self {
        Self::new()
    }
}

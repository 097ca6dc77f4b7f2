//! Detectors of heap misuse, each judging one lifecycle event:
//!
//! - `double-free`: a `free`/`delete` of an address the replay saw freed (and not
//!   allocated again) among the last [`crate::replay::RECENTLY_FREED`] frees;
//! - `invalid-free`: a release of an address never allocated, or inside a live block;
//! - `realloc-of-freed`: a `realloc` of an address already freed;
//! - `mismatched-free`: malloc/free vs new/delete vs new[]/delete[] crossed;
//! - `fishy-size`: an allocation request above `PTRDIFF_MAX` (no object can be that
//!   large), or a `calloc` whose `n × size` overflowed (the tracer records the
//!   saturated product, `u64::MAX`).
//!
//! glibc often aborts on a double or invalid free; the tracer records the release
//! before forwarding it, so the finding is in the trace even when the program died.

use memscope_format::AllocKind;

use crate::analysis::findings::{Finding, FindingSet, FishyReason, InvalidTarget};
use crate::analysis::visitor::{Category, End, Info, Results, Visitor};
use crate::replay::block_events::{Ctx, Kinds, Lifecycle, Miss, Release};

/// `PTRDIFF_MAX` on a 64-bit target.
pub const PTRDIFF_MAX: u64 = i64::MAX as u64;

pub struct DoubleFree;
pub struct InvalidFree;
pub struct ReallocOfFreed;
pub struct MismatchedFree;
pub struct FishySize;

fn detector(name: &'static str, description: &'static str) -> Info {
    Info {
        name,
        category: Category::Detector,
        description,
    }
}

impl Visitor for DoubleFree {
    fn wants(&self) -> Kinds {
        Kinds::BAD_RELEASE
    }

    fn info(&self) -> Info {
        detector(
            "double-free",
            "free/delete of a block already freed (allocation, first and second free stacks); any run",
        )
    }

    fn event(&mut self, _: &Ctx, ev: &Lifecycle, out: &mut FindingSet) {
        if let Lifecycle::BadRelease {
            how: how @ Release::Free(_),
            stack,
            miss: Miss::Freed(f),
            ..
        } = *ev
        {
            out.push(Finding::DoubleFree {
                size: f.size,
                kind: f.kind,
                alloc_stack: f.alloc_stack,
                first_free_stack: f.free_stack,
                second_free_stack: stack,
                second_how: how,
            });
        }
    }

    fn finish(self: Box<Self>, _: &End<'_>, _: &mut Results) {}
}

impl Visitor for InvalidFree {
    fn wants(&self) -> Kinds {
        Kinds::BAD_RELEASE
    }

    fn info(&self) -> Info {
        detector(
            "invalid-free",
            "release of an address never allocated, or inside a live block (names the block); any run",
        )
    }

    fn event(&mut self, _: &Ctx, ev: &Lifecycle, out: &mut FindingSet) {
        let Lifecycle::BadRelease {
            ptr,
            how,
            stack,
            miss,
        } = *ev
        else {
            return;
        };
        let target = match miss {
            Miss::Unknown => InvalidTarget::Unknown,
            Miss::Interior { base, block } => InvalidTarget::Interior {
                offset: ptr.saturating_sub(base),
                size: block.size,
                kind: block.kind,
                alloc_stack: block.stack,
            },
            Miss::Freed(_) | Miss::Inherited => return,
        };
        out.push(Finding::InvalidFree { how, stack, target });
    }

    fn finish(self: Box<Self>, _: &End<'_>, _: &mut Results) {}
}

impl Visitor for ReallocOfFreed {
    fn wants(&self) -> Kinds {
        Kinds::BAD_RELEASE
    }

    fn info(&self) -> Info {
        detector(
            "realloc-of-freed",
            "realloc of a block already freed (allocation, free and realloc stacks); any run",
        )
    }

    fn event(&mut self, _: &Ctx, ev: &Lifecycle, out: &mut FindingSet) {
        if let Lifecycle::BadRelease {
            how: Release::Realloc(_),
            stack,
            miss: Miss::Freed(f),
            ..
        } = *ev
        {
            out.push(Finding::ReallocOfFreed {
                size: f.size,
                kind: f.kind,
                alloc_stack: f.alloc_stack,
                free_stack: f.free_stack,
                realloc_stack: stack,
            });
        }
    }

    fn finish(self: Box<Self>, _: &End<'_>, _: &mut Results) {}
}

impl Visitor for MismatchedFree {
    fn wants(&self) -> Kinds {
        Kinds::FREE
    }

    fn info(&self) -> Info {
        detector(
            "mismatched-free",
            "malloc/free, new/delete and new[]/delete[] crossed (allocation and release stacks); any run",
        )
    }

    fn event(&mut self, _: &Ctx, ev: &Lifecycle, out: &mut FindingSet) {
        if let Lifecycle::Free {
            block, how, stack, ..
        } = *ev
        {
            if !how.matches(block.kind) {
                out.push(Finding::MismatchedFree {
                    size: block.size,
                    alloc_kind: block.kind,
                    how,
                    alloc_stack: block.stack,
                    free_stack: stack,
                });
            }
        }
    }

    fn finish(self: Box<Self>, _: &End<'_>, _: &mut Results) {}
}

impl Visitor for FishySize {
    fn wants(&self) -> Kinds {
        Kinds::ALLOC
            .or(Kinds::ALLOC_FAILED)
            .or(Kinds::REALLOC_FAILED)
    }

    fn info(&self) -> Info {
        detector(
            "fishy-size",
            "allocation request above PTRDIFF_MAX, or a calloc whose n × size overflowed; any run",
        )
    }

    fn event(&mut self, _: &Ctx, ev: &Lifecycle, out: &mut FindingSet) {
        let (size, kind, stack, failed) = match *ev {
            Lifecycle::Alloc { block, .. } => (block.size, block.kind, block.stack, false),
            Lifecycle::AllocFailed { size, kind, stack } => (size, kind, stack, true),
            Lifecycle::ReallocFailed {
                size, kind, stack, ..
            } => (size, kind, stack, true),
            _ => return,
        };
        if size <= PTRDIFF_MAX {
            return;
        }
        let reason = if kind == AllocKind::Calloc && size == u64::MAX {
            FishyReason::CallocOverflow
        } else {
            FishyReason::AbovePtrdiffMax
        };
        out.push(Finding::FishySize {
            size,
            kind,
            stack,
            failed,
            reason,
        });
    }

    fn finish(self: Box<Self>, _: &End<'_>, _: &mut Results) {}
}

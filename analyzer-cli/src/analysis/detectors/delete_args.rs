//! Detectors of C++ releases whose arguments contradict the allocation, within one
//! family (`new`/`delete`, `new[]`/`delete[]`; a crossed family is `mismatched-free`'s):
//!
//! - `new-delete-size-mismatch` ([`SizedDelete`]): a sized `operator delete(void*,
//!   size_t)` (or `delete[]`, or their aligned forms) given a size other than the one
//!   the block was allocated with. For `new T[n]` of a type with a non-trivial
//!   destructor the compiler passes the size `operator new[]` was asked for, array
//!   cookie included, so a correct program always passes the requested size. This is
//!   AddressSanitizer's `new-delete-type-mismatch` rule (a size of 0 means the unsized
//!   form, which passes none) and valgrind's "Mismatched new/delete size value".
//! - `new-delete-alignment-mismatch` ([`AlignedDelete`]): aligned `new` released by
//!   unaligned `delete`, unaligned `new` by aligned `delete`, or both aligned with
//!   different alignments (AddressSanitizer's `new-delete-type-mismatch` on alignment,
//!   valgrind's "Mismatched new/delete alignment alloc value: N dealloc value: M").
//!
//! Neither argument is in the replay's lifecycle events: both read the merged event a
//! lifecycle event came from ([`Visitor::event_with_call`]). [`AlignedDelete`] keeps
//! the alignment of the live blocks that aligned `new` made (only those: 0 otherwise).

use std::collections::HashMap;

use memscope_format::{AllocKind, FreeKind};

use crate::analysis::findings::{Finding, FindingSet};
use crate::analysis::visitor::{Category, End, Info, Results, Visitor};
use crate::replay::block_events::{Ctx, Kinds, Lifecycle, LiveBlock, Release};
use crate::trace::event::EventKind;

/// Sized `delete` with a size other than the allocation's.
pub struct SizedDelete;

/// Aligned/unaligned `new` and `delete` crossed, or aligned with another alignment.
#[derive(Default)]
pub struct AlignedDelete {
    /// Live blocks of aligned `new`/`new[]`: address → alignment.
    aligned: HashMap<u64, u64>,
}

/// A release by `operator delete`/`delete[]` of a block of the same family.
fn same_family_delete(block: &LiveBlock, how: Release) -> bool {
    matches!(block.kind, AllocKind::New | AllocKind::NewArray)
        && matches!(how, Release::Free(FreeKind::Delete | FreeKind::DeleteArray))
        && how.matches(block.kind)
}

impl Visitor for SizedDelete {
    fn wants(&self) -> Kinds {
        Kinds::FREE
    }

    fn info(&self) -> Info {
        Info {
            name: "new-delete-size-mismatch",
            category: Category::Detector,
            description: "sized delete given a size other than the allocation's (allocation and release stacks); needs C++14 sized operator delete (g++ -fsized-deallocation, on by default)",
        }
    }

    fn event(&mut self, _: &Ctx, _: &Lifecycle, _: &mut FindingSet) {}

    fn event_with_call(&mut self, _: &Ctx, ev: &Lifecycle, call: &EventKind, out: &mut FindingSet) {
        let (
            Lifecycle::Free {
                block, how, stack, ..
            },
            EventKind::Free {
                size: delete_size, ..
            },
        ) = (*ev, *call)
        else {
            return;
        };
        if delete_size != 0 && delete_size != block.size && same_family_delete(&block, how) {
            out.push(Finding::NewDeleteSizeMismatch {
                size: block.size,
                delete_size,
                kind: block.kind,
                how,
                alloc_stack: block.stack,
                free_stack: stack,
            });
        }
    }

    fn finish(self: Box<Self>, _: &End<'_>, _: &mut Results) {}
}

impl Visitor for AlignedDelete {
    fn wants(&self) -> Kinds {
        Kinds::ALLOC.or(Kinds::FREE)
    }

    fn info(&self) -> Info {
        Info {
            name: "new-delete-alignment-mismatch",
            category: Category::Detector,
            description: "aligned new released by unaligned delete, the reverse, or another alignment (allocation and release stacks); needs C++17 aligned operator new/delete",
        }
    }

    fn event(&mut self, _: &Ctx, _: &Lifecycle, _: &mut FindingSet) {}

    fn event_with_call(&mut self, _: &Ctx, ev: &Lifecycle, call: &EventKind, out: &mut FindingSet) {
        match *ev {
            Lifecycle::Alloc { ptr, block, .. } => {
                let align = match *call {
                    EventKind::Alloc { align, .. } => align,
                    _ => 0,
                };
                if align != 0 && matches!(block.kind, AllocKind::New | AllocKind::NewArray) {
                    self.aligned.insert(ptr, align);
                } else if !self.aligned.is_empty() {
                    self.aligned.remove(&ptr);
                }
            }
            Lifecycle::Free {
                ptr,
                block,
                how,
                stack,
                ..
            } => {
                let alloc_align = if self.aligned.is_empty() {
                    0
                } else {
                    self.aligned.remove(&ptr).unwrap_or(0)
                };
                let delete_align = match *call {
                    EventKind::Free { align, .. } => align,
                    _ => return,
                };
                if alloc_align != delete_align && same_family_delete(&block, how) {
                    out.push(Finding::NewDeleteAlignmentMismatch {
                        size: block.size,
                        alloc_align,
                        delete_align,
                        kind: block.kind,
                        how,
                        alloc_stack: block.stack,
                        free_stack: stack,
                    });
                }
            }
            _ => {}
        }
    }

    fn finish(self: Box<Self>, _: &End<'_>, _: &mut Results) {}
}

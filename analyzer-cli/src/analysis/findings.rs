//! Findings: what the detectors report, as typed values (one variant per detector, with
//! its fields and stack ids). Text only comes from them at the edges ([`Finding::message`]
//! and the renderers).
//!
//! [`FindingSet`] folds repeats: the same detector with the same stacks is one finding
//! with a count, and at most [`MAX_FINDINGS`] distinct findings are kept (the rest are
//! counted), so a program that double-frees in a loop cannot exhaust memory.

use std::collections::HashMap;

use memscope_format::AllocKind;

use crate::ids::StackId;
use crate::replay::block_events::Release;

/// Distinct findings kept; more are counted in [`FindingSet::dropped`].
pub const MAX_FINDINGS: usize = 1000;

/// How bad a finding is: the report's own type, so that the two never differ.
pub use memscope_report::Severity;

/// What an invalid release pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidTarget {
    /// An address never allocated in the trace (or freed too long ago to remember).
    Unknown,
    /// An address `offset` bytes inside a live block of `size` bytes.
    Interior {
        offset: u64,
        size: u64,
        kind: AllocKind,
        alloc_stack: StackId,
    },
}

/// Why a size is fishy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FishyReason {
    /// Above `PTRDIFF_MAX`: no object can be that large.
    AbovePtrdiffMax,
    /// `calloc(n, size)` whose product overflowed (the tracer saturates it).
    CallocOverflow,
}

/// One detector's finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finding {
    DoubleFree {
        size: u64,
        kind: AllocKind,
        alloc_stack: StackId,
        first_free_stack: StackId,
        second_free_stack: StackId,
        second_how: Release,
    },
    InvalidFree {
        how: Release,
        stack: StackId,
        target: InvalidTarget,
    },
    ReallocOfFreed {
        size: u64,
        kind: AllocKind,
        alloc_stack: StackId,
        free_stack: StackId,
        realloc_stack: StackId,
    },
    MismatchedFree {
        size: u64,
        alloc_kind: AllocKind,
        how: Release,
        alloc_stack: StackId,
        free_stack: StackId,
    },
    /// A sized `operator delete`/`delete[]` given a size other than the one its block
    /// was allocated with (new/delete families matching).
    NewDeleteSizeMismatch {
        /// The size `operator new`/`new[]` was asked for (an array's cookie included).
        size: u64,
        /// The size the sized delete was given.
        delete_size: u64,
        kind: AllocKind,
        how: Release,
        alloc_stack: StackId,
        free_stack: StackId,
    },
    /// Aligned `new` released by unaligned `delete`, unaligned `new` by aligned
    /// `delete`, or both aligned with different alignments (families matching).
    NewDeleteAlignmentMismatch {
        size: u64,
        /// The alignment `operator new` was given (0: the unaligned form).
        alloc_align: u64,
        /// The alignment `operator delete` was given (0: the unaligned form).
        delete_align: u64,
        kind: AllocKind,
        how: Release,
        alloc_stack: StackId,
        free_stack: StackId,
    },
    FishySize {
        size: u64,
        kind: AllocKind,
        stack: StackId,
        failed: bool,
        reason: FishyReason,
    },
    Growth {
        stack: StackId,
        /// Live bytes at the site's first non-zero sample and at the end.
        first_bytes: u64,
        last_bytes: u64,
        /// Intervals (between samples) in which its live bytes rose, of `intervals`.
        rises: u32,
        intervals: u32,
    },
}

/// The stacks of a finding, by role (only those that apply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FindingStacks {
    pub allocation: Option<StackId>,
    pub first_free: Option<StackId>,
    pub offending: Option<StackId>,
}

impl Finding {
    /// The detector's name, as `--list-detectors` and the JSON report give it.
    pub fn detector(&self) -> &'static str {
        match self {
            Finding::DoubleFree { .. } => "double-free",
            Finding::InvalidFree { .. } => "invalid-free",
            Finding::ReallocOfFreed { .. } => "realloc-of-freed",
            Finding::MismatchedFree { .. } => "mismatched-free",
            Finding::NewDeleteSizeMismatch { .. } => "new-delete-size-mismatch",
            Finding::NewDeleteAlignmentMismatch { .. } => "new-delete-alignment-mismatch",
            Finding::FishySize { .. } => "fishy-size",
            Finding::Growth { .. } => "growth",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            Finding::FishySize { failed: true, .. } | Finding::Growth { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    pub fn stacks(&self) -> FindingStacks {
        let s = |a, f, o| FindingStacks {
            allocation: a,
            first_free: f,
            offending: o,
        };
        match *self {
            Finding::DoubleFree {
                alloc_stack,
                first_free_stack,
                second_free_stack,
                ..
            } => s(
                Some(alloc_stack),
                Some(first_free_stack),
                Some(second_free_stack),
            ),
            Finding::InvalidFree { stack, target, .. } => match target {
                InvalidTarget::Unknown => s(None, None, Some(stack)),
                InvalidTarget::Interior { alloc_stack, .. } => {
                    s(Some(alloc_stack), None, Some(stack))
                }
            },
            Finding::ReallocOfFreed {
                alloc_stack,
                free_stack,
                realloc_stack,
                ..
            } => s(Some(alloc_stack), Some(free_stack), Some(realloc_stack)),
            Finding::MismatchedFree {
                alloc_stack,
                free_stack,
                ..
            }
            | Finding::NewDeleteSizeMismatch {
                alloc_stack,
                free_stack,
                ..
            }
            | Finding::NewDeleteAlignmentMismatch {
                alloc_stack,
                free_stack,
                ..
            } => s(Some(alloc_stack), None, Some(free_stack)),
            Finding::FishySize { stack, .. } => s(None, None, Some(stack)),
            Finding::Growth { stack, .. } => s(Some(stack), None, None),
        }
    }

    /// One sentence saying what happened (no symbols: stacks are rendered apart).
    pub fn message(&self) -> String {
        match *self {
            Finding::DoubleFree {
                size,
                kind,
                second_how,
                ..
            } => format!(
                "{} of a {size}-byte block (from {}) that was already freed",
                second_how.name(),
                kind.name()
            ),
            Finding::InvalidFree { how, target, .. } => match target {
                InvalidTarget::Unknown => format!(
                    "{} of an address that was never allocated (or freed long ago)",
                    how.name()
                ),
                InvalidTarget::Interior {
                    offset, size, kind, ..
                } => format!(
                    "{} of an address {offset} bytes inside a live {size}-byte block (from {})",
                    how.name(),
                    kind.name()
                ),
            },
            Finding::ReallocOfFreed { size, kind, .. } => format!(
                "realloc of a {size}-byte block (from {}) that was already freed",
                kind.name()
            ),
            Finding::MismatchedFree {
                size,
                alloc_kind,
                how,
                ..
            } => format!(
                "{size}-byte block allocated by {} released by {} (expected {})",
                alloc_kind.name(),
                how.name(),
                alloc_kind.matching_free().name()
            ),
            Finding::NewDeleteSizeMismatch {
                size,
                delete_size,
                kind,
                how,
                ..
            } => format!(
                "{size}-byte block allocated by {} released by sized {} with size {delete_size}",
                kind.name(),
                how.name()
            ),
            Finding::NewDeleteAlignmentMismatch {
                size,
                alloc_align,
                delete_align,
                kind,
                how,
                ..
            } => format!(
                "{size}-byte block allocated by {} {} released by {} {}",
                kind.name(),
                alignment_words(alloc_align),
                how.name(),
                alignment_words(delete_align)
            ),
            Finding::FishySize {
                size,
                kind,
                failed,
                reason,
                ..
            } => {
                let what = match reason {
                    FishyReason::AbovePtrdiffMax => {
                        format!("{}({size}): size above PTRDIFF_MAX", kind.name())
                    }
                    FishyReason::CallocOverflow => {
                        "calloc(n, size): n × size overflows".to_string()
                    }
                };
                format!("{what}{}", if failed { " (the call failed)" } else { "" })
            }
            Finding::Growth {
                first_bytes,
                last_bytes,
                rises,
                intervals,
                ..
            } => format!(
                "live bytes of this call site grew steadily, from {first_bytes} to {last_bytes} \
                 (rose in {rises} of {intervals} intervals)"
            ),
        }
    }
}

/// "with alignment N" for an aligned form's argument, "without alignment" for 0.
fn alignment_words(align: u64) -> String {
    if align == 0 {
        "without alignment".to_string()
    } else {
        format!("with alignment {align}")
    }
}

/// Distinct findings in first-seen order, with counts.
#[derive(Debug, Default)]
pub struct FindingSet {
    index: HashMap<Finding, usize>,
    pub items: Vec<(Finding, u64)>,
    /// Occurrences not kept because [`MAX_FINDINGS`] distinct findings were reached.
    pub dropped: u64,
}

impl FindingSet {
    pub fn push(&mut self, f: Finding) {
        if let Some(&i) = self.index.get(&f) {
            self.items[i].1 += 1;
        } else if self.items.len() < MAX_FINDINGS {
            self.index.insert(f, self.items.len());
            self.items.push((f, 1));
        } else {
            self.dropped += 1;
        }
    }
}

//! Whether a symbolized stack starts inside a global `operator new` or `operator delete`
//! (any form: array, sized, aligned, nothrow; demangled or mangled names), and what that
//! says of a `mismatched-free` finding.
//!
//! A shared library linked `-Bsymbolic` (libLLVM under rust-lld) with operators `new`
//! and `delete` of its own over `malloc`/`free` binds its own calls to them, past the
//! tracer's hooks: the tracer sees the `malloc` inside its `operator new` (a C-family
//! block) or the `free` inside its `operator delete`. When the other end of the block's
//! life went through the tracer's hooks (`delete` from elsewhere, or a block from the
//! tracer's `new` freed by that library's `delete`), the replay reads a mismatch that is
//! not there. The allocation (or release) stack tells: its innermost frame is the
//! library's `operator new` (or `operator delete`).
//!
//! Array and scalar forms are not told apart: libstdc++'s `operator new[]` tail-calls
//! `operator new` (and `delete[]` `delete`), so the frame that shows may be the scalar
//! one for an array call.

use memscope_format::{AllocKind, FreeKind};

use crate::analysis::findings::Finding;
use crate::replay::block_events::Release;
use crate::symbols::symbolize::SymFrame;

/// A global allocation operator of C++.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CxxOperator {
    /// `operator new` or `operator new[]`, any form.
    New,
    /// `operator delete` or `operator delete[]`, any form.
    Delete,
}

/// The operator a function name is, if it is one (`Foo::operator new` is not global).
pub fn operator_of(function: &str) -> Option<CxxOperator> {
    let f = function.strip_prefix("::").unwrap_or(function);
    let demangled = |op: &str| {
        f.strip_prefix(op)
            .is_some_and(|rest| rest.starts_with('(') || rest.starts_with("[]("))
    };
    if demangled("operator new")
        || ["_Znwm", "_Znam", "_Znwj", "_Znaj"]
            .iter()
            .any(|m| f.starts_with(m))
    {
        Some(CxxOperator::New)
    } else if demangled("operator delete") || ["_ZdlPv", "_ZdaPv"].iter().any(|m| f.starts_with(m))
    {
        Some(CxxOperator::Delete)
    } else {
        None
    }
}

/// The operator the innermost frame of `frames` is in (inlined frames count: innermost
/// first).
pub fn innermost_operator(frames: &[SymFrame]) -> Option<CxxOperator> {
    operator_of(frames.first()?.function.as_deref()?)
}

/// Whether `finding` is a `mismatched-free` that a library's own operators explain:
/// a C-family block whose allocation stack starts in an `operator new`, released by
/// `delete`/`delete[]`; or a `new`/`new[]` block released by `free` from inside an
/// `operator delete`. `alloc` and `release` are the innermost operators of its two stacks.
pub fn explained_mismatch(
    finding: &Finding,
    alloc: Option<CxxOperator>,
    release: Option<CxxOperator>,
) -> bool {
    let Finding::MismatchedFree {
        alloc_kind, how, ..
    } = *finding
    else {
        return false;
    };
    let cxx_block = matches!(alloc_kind, AllocKind::New | AllocKind::NewArray);
    match how {
        Release::Free(FreeKind::Delete | FreeKind::DeleteArray) => {
            !cxx_block && alloc == Some(CxxOperator::New)
        }
        Release::Free(FreeKind::Free) => cxx_block && release == Some(CxxOperator::Delete),
        Release::Realloc(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::StackId;

    #[test]
    fn names_of_the_operators() {
        for n in [
            "operator new(unsigned long)",
            "operator new[](unsigned long)",
            "operator new(unsigned long, std::align_val_t)",
            "operator new[](unsigned long, std::nothrow_t const&)",
            "::operator new(unsigned long)",
            "_Znwm",
            "_ZnamSt11align_val_t",
        ] {
            assert_eq!(operator_of(n), Some(CxxOperator::New), "{n}");
        }
        for n in [
            "operator delete(void*)",
            "operator delete[](void*, unsigned long)",
            "operator delete(void*, unsigned long, std::align_val_t)",
            "_ZdlPv",
            "_ZdaPvm",
        ] {
            assert_eq!(operator_of(n), Some(CxxOperator::Delete), "{n}");
        }
        for n in [
            "Pool::operator new(unsigned long)",
            "operator new_handler_helper()",
            "operator newer(int)",
            "malloc",
            "main",
            "_ZN4Pool3newEm",
        ] {
            assert_eq!(operator_of(n), None, "{n}");
        }
    }

    fn mismatch(alloc_kind: AllocKind, how: Release) -> Finding {
        Finding::MismatchedFree {
            size: 40,
            alloc_kind,
            how,
            alloc_stack: StackId(1),
            free_stack: StackId(2),
        }
    }

    #[test]
    fn only_the_two_library_internal_shapes_are_explained() {
        use CxxOperator::{Delete, New};
        let delete = Release::Free(FreeKind::Delete);
        let delete_array = Release::Free(FreeKind::DeleteArray);
        let free = Release::Free(FreeKind::Free);
        // malloc inside a library's operator new, released by the hooked delete/delete[].
        assert!(explained_mismatch(
            &mismatch(AllocKind::Malloc, delete),
            Some(New),
            None
        ));
        assert!(explained_mismatch(
            &mismatch(AllocKind::AlignedAlloc, delete_array),
            Some(New),
            None
        ));
        // free inside a library's operator delete, of a block of the hooked new.
        assert!(explained_mismatch(
            &mismatch(AllocKind::New, free),
            None,
            Some(Delete)
        ));
        assert!(explained_mismatch(
            &mismatch(AllocKind::NewArray, free),
            None,
            Some(Delete)
        ));
        // Real mismatches stay.
        assert!(!explained_mismatch(
            &mismatch(AllocKind::Malloc, delete),
            None,
            None
        ));
        assert!(!explained_mismatch(
            &mismatch(AllocKind::New, free),
            Some(New),
            None
        ));
        assert!(!explained_mismatch(
            &mismatch(AllocKind::Malloc, delete),
            None,
            Some(Delete)
        ));
        assert!(!explained_mismatch(
            &mismatch(AllocKind::NewArray, delete),
            Some(New),
            Some(Delete)
        ));
        assert!(!explained_mismatch(
            &mismatch(AllocKind::New, Release::Realloc(AllocKind::Realloc)),
            Some(New),
            Some(Delete)
        ));
    }
}

//! Symbol names as people read them: Rust (legacy and v0, without the hash) and C++
//! names demangled, others unchanged. Used by the DWARF lookup and the symbol-table
//! fallback alike.

use std::borrow::Cow;

/// Demangles Rust (legacy and v0, without the hash) and C++ names; others unchanged.
pub fn demangle(raw: &str) -> String {
    addr2line::demangle_auto(Cow::Borrowed(raw), None).into_owned()
}

//! The `type` classifier: names the data type an allocation site allocates for, from the
//! demangled frames of its stack.
//!
//! Walking from the allocation call outwards, every *library* frame (Rust `alloc::`,
//! `core::`, `std::`, `hashbrown::`; C++ `std::`, `__gnu_cxx::`, `operator new`; frames
//! in libc, libstdc++ or libgcc) is looked up by prefix (of the function, or of the trait
//! in `<T as Trait>::f`) in [`RUST_TYPES`], [`CXX_TYPES`] or
//! [`C_TYPES`]; the walk stops at the first frame of the program itself, and the
//! outermost match wins (a `String` grows through `Vec` and `RawVec`: the `String` frame
//! is further out). Frames without a name are skipped. No match: `None` (unknown).

use crate::symbols::symbolize::SymFrame;

/// Rust: substring of the demangled function → type.
pub const RUST_TYPES: &[(&str, &str)] = &[
    ("alloc::string::String", "String"),
    ("alloc::string::ToString", "String"),
    ("alloc::fmt::format", "String"),
    (
        "alloc::str::<impl alloc::borrow::ToOwned for str>",
        "String",
    ),
    ("alloc::collections::vec_deque", "VecDeque"),
    ("alloc::collections::btree", "BTreeMap"),
    ("std::collections::hash::map::HashMap", "HashMap"),
    ("hashbrown::map::HashMap", "HashMap"),
    ("std::collections::hash::set::HashSet", "HashSet"),
    ("hashbrown::set::HashSet", "HashSet"),
    ("hashbrown::raw::RawTable", "HashMap"),
    ("alloc::sync::Arc", "Arc"),
    ("alloc::rc::Rc", "Rc"),
    ("alloc::boxed::Box", "Box"),
    ("alloc::vec::Vec", "Vec"),
    ("alloc::vec::from_elem", "Vec"),
    ("alloc::raw_vec::RawVec", "Vec"),
    ("alloc::slice::<impl [T]>::to_vec", "Vec"),
];

/// C++: substring of the demangled function (without its return type) → type.
pub const CXX_TYPES: &[(&str, &str)] = &[
    ("std::__cxx11::basic_string", "std::string"),
    ("std::basic_string", "std::string"),
    ("std::_Sp_", "std::shared_ptr"),
    ("std::__shared_count", "std::shared_ptr"),
    ("std::__shared_ptr", "std::shared_ptr"),
    ("std::shared_ptr", "std::shared_ptr"),
    ("std::make_shared", "std::shared_ptr"),
    ("std::allocate_shared", "std::shared_ptr"),
    ("std::_Hashtable", "std::unordered_map"),
    ("std::__detail::_Hashtable", "std::unordered_map"),
    ("std::__detail::_Map_base", "std::unordered_map"),
    ("std::unordered_map", "std::unordered_map"),
    ("std::_Rb_tree", "std::map"),
    ("std::map<", "std::map"),
    ("std::deque", "std::deque"),
    ("std::_Deque_base", "std::deque"),
    ("std::__cxx11::list", "std::list"),
    ("std::__cxx11::_List_base", "std::list"),
    ("std::vector", "std::vector"),
    ("std::_Vector_base", "std::vector"),
];

/// C (libc frames): exact function name → type.
pub const C_TYPES: &[(&str, &str)] = &[
    ("strdup", "strdup"),
    ("__strdup", "strdup"),
    ("strndup", "strdup"),
    ("__strndup", "strdup"),
    ("_IO_file_doallocate", "stdio"),
    ("_IO_doallocbuf", "stdio"),
    ("__fopen_internal", "stdio"),
    ("_IO_new_fopen", "stdio"),
    ("fopen", "stdio"),
    ("fopen64", "stdio"),
    ("_IO_new_fdopen", "stdio"),
    ("fdopen", "stdio"),
    ("open_memstream", "stdio"),
    ("__getdelim", "stdio"),
    ("getdelim", "stdio"),
    ("getline", "stdio"),
];

const RUST_LIB_PREFIXES: &[&str] = &[
    "alloc::",
    "core::",
    "std::",
    "hashbrown::",
    "<alloc::",
    "<core::",
    "<std::",
    "<hashbrown::",
    "__rust_",
    "__rdl_",
    "__rg_",
];
const CXX_LIB_PREFIXES: &[&str] = &["std::", "__gnu_cxx::", "operator new", "__cxxabiv1::"];
const LIB_MODULES: &[&str] = &[
    "libc.so",
    "libc-",
    "libstdc++.so",
    "libgcc_s.so",
    "ld-linux",
];

/// The C++ qualified name of a demangled function: without its parameters and its
/// return type (`void std::vector<int>::push_back(int const&)` → `std::vector<int>::push_back`).
pub fn cxx_qualified(name: &str) -> &str {
    let mut depth = 0i32;
    let mut start = 0;
    for (i, ch) in name.char_indices() {
        match ch {
            '<' => depth += 1,
            '>' => depth -= 1,
            '(' if depth == 0 && i > 0 => return &name[start..i],
            ' ' if depth == 0 && !name[..i].ends_with("operator") => start = i + 1,
            _ => {}
        }
    }
    &name[start..]
}

fn module_is_library(module: Option<&str>) -> bool {
    module.is_some_and(|m| {
        let file = m.rsplit('/').next().unwrap_or(m);
        LIB_MODULES.iter().any(|p| file.starts_with(p))
    })
}

/// Whether a function (with its module) belongs to a language's library, and if it
/// names a type, which.
fn library_type(function: &str, module: Option<&str>) -> (bool, Option<&'static str>) {
    // Trait impls on foreign types: `<str as alloc::string::ToString>::to_string`.
    let rust_lib = RUST_LIB_PREFIXES.iter().any(|p| function.starts_with(p))
        || (function.starts_with('<')
            && [" as alloc::", " as core::", " as std::"]
                .iter()
                .any(|p| function.contains(p)));
    if rust_lib {
        // `<alloc::string::String as core::fmt::Write>::write_str` is String's;
        // `<str as alloc::string::ToString>::to_string` is ToString's.
        let own = function.trim_start_matches('<');
        let as_trait = function.split_once(" as ").map(|(_, t)| t);
        let ty = RUST_TYPES
            .iter()
            .find(|(pat, _)| own.starts_with(pat) || as_trait.is_some_and(|t| t.starts_with(pat)))
            .map(|&(_, t)| t);
        return (true, ty);
    }
    let q = cxx_qualified(function);
    if CXX_LIB_PREFIXES.iter().any(|p| q.starts_with(p)) {
        let ty = CXX_TYPES
            .iter()
            .find(|(pat, _)| q.starts_with(pat))
            .map(|&(_, t)| t);
        return (true, ty);
    }
    if module_is_library(module) {
        let ty = C_TYPES
            .iter()
            .find(|(f, _)| *f == function)
            .map(|&(_, t)| t);
        return (true, ty);
    }
    (false, None)
}

/// The frame that names an allocation site: the innermost named frame outside the
/// language libraries and C library the classifier knows (`alloc::`, `std::`,
/// `operator new`, libc...), else the innermost named frame.
pub fn site_frame(frames: &[SymFrame]) -> Option<&SymFrame> {
    let named = || frames.iter().filter(|f| f.function.is_some());
    named()
        .find(|f| {
            let function = f.function.as_deref().unwrap_or_default();
            let function = crate::analysis::classify::runtime::base_name(function);
            !library_type(function, f.module.as_deref()).0
        })
        .or_else(|| named().next())
}

/// The type allocated by a stack (innermost frame first), if recognised.
pub fn classify(frames: &[SymFrame]) -> Option<&'static str> {
    let mut found = None;
    for f in frames {
        let Some(function) = f.function.as_deref() else {
            if module_is_library(f.module.as_deref()) {
                continue;
            }
            // An unnamed frame of the program: the library run is over.
            break;
        };
        let function = crate::analysis::classify::runtime::base_name(function);
        let (library, ty) = library_type(function, f.module.as_deref());
        if !library {
            break;
        }
        if ty.is_some() {
            found = ty;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(names: &[&str]) -> Vec<SymFrame> {
        names
            .iter()
            .map(|n| SymFrame {
                address: 0,
                function: Some(n.to_string()),
                file: None,
                line: None,
                module: Some("/bin/x".into()),
                module_address: None,
                inlined: false,
                binary_changed: false,
            })
            .collect()
    }

    #[test]
    fn outermost_library_frame_wins() {
        let f = frames(&[
            "alloc::raw_vec::RawVec<T,A>::grow_one",
            "alloc::vec::Vec<T,A>::reserve",
            "alloc::string::String::push_str",
            "app::build",
            "std::collections::hash::map::HashMap<K,V,S>::insert",
        ]);
        assert_eq!(classify(&f), Some("String"));
    }

    #[test]
    fn cxx_names_lose_their_return_type() {
        assert_eq!(
            cxx_qualified("void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>(int const&)"),
            "std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>"
        );
        assert_eq!(cxx_qualified("operator new(unsigned long)"), "operator new");
        let f = frames(&[
            "__gnu_cxx::new_allocator<int>::allocate(unsigned long, void const*)",
            "std::_Vector_base<int, std::allocator<int> >::_M_allocate(unsigned long)",
            "void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>(int const&)",
            "main",
        ]);
        assert_eq!(classify(&f), Some("std::vector"));
    }

    #[test]
    fn the_site_is_the_first_frame_outside_the_libraries() {
        let f = frames(&[
            "alloc::alloc::alloc",
            "alloc::boxed::Box<T>::new",
            "app::make",
            "main",
        ]);
        assert_eq!(
            site_frame(&f).and_then(|f| f.function.as_deref()),
            Some("app::make")
        );
        let f = frames(&["alloc::alloc::alloc"]);
        assert_eq!(
            site_frame(&f).and_then(|f| f.function.as_deref()),
            Some("alloc::alloc::alloc")
        );
    }

    #[test]
    fn program_frames_stop_the_walk() {
        assert_eq!(
            classify(&frames(&["make_thing", "alloc::vec::Vec<T>::push"])),
            None
        );
    }
}

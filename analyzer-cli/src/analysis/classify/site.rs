//! The `site` classifier: which frame of a symbolized stack names a leak or a finding.
//! Reading from the innermost frame, it skips what is not the program's own code (the
//! tracer, the C library and the loader, libstdc++ and libgcc; code of the standard
//! libraries compiled into the program: Rust's `alloc`/`core`/`std`/`hashbrown`, C++'s
//! `std::` containers and `operator new`, glibc's wrappers in a static program) and the
//! runtime start-up frames, and stops at the first frame of the program: its function,
//! file and line name the site, all three from that one frame. A frame is library code by
//! its source file when it has one (`/rustc/...`, `/usr/include/...`: so that the
//! program's own `impl Clone` is not mistaken for `core`), else by its function name.
//!
//! Also decided here: the program's frames from the site outward (the stable part of a
//! stack, hashed by the gate's fingerprints) and how many frames at the outer end are
//! runtime start-up (folded by the text report). Documented in `docs/report-schema.md`
//! (`site`); the lists are in `docs/runtime-internal.md`.

use memscope_report::{clean_function, LocationDoc};

use crate::symbols::symbolize::SymFrame;

/// What a frame is, for naming a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The program's own code (its executable or its own libraries).
    Program,
    /// The allocator, a container, a system library: never a site.
    Library,
    /// Start-up code that runs the program (`_start`, `std::rt::lang_start`, a thread's
    /// entry): never a site, folded at the outer end of a stack.
    Runtime,
}

/// Module file-name prefixes of system libraries (never the program's code).
const SYSTEM_MODULES: &[&str] = &[
    "libc.so",
    "libc-",
    "ld-linux",
    "ld64.so",
    "ld.so",
    "libstdc++",
    "libc++",
    "libgcc_s",
    "libm.so",
    "libpthread",
    "libdl.so",
    "librt.so",
    "libmemscope",
    "linux-vdso",
    "[vdso]",
];

/// Source-path prefixes of library code compiled into the program: Rust's standard
/// library (and the crates it vendors), C and C++ headers, glibc's build tree.
const LIBRARY_SOURCES: &[&str] = &[
    "/rustc/",
    "/rust/deps/",
    "/usr/include/",
    "/usr/lib/gcc/",
    "/usr/local/include/",
    "./csu/",
    "./nptl/",
    "./malloc/",
    "./string/",
    "./libio/",
    "./stdio-common/",
];

/// Function-name prefixes of library code (frames without a source file). Matched after
/// a leading `<`, `&`, `mut ` or `dyn ` and a C++ return type (`void std::...`).
const LIBRARY_FUNCTIONS: &[&str] = &[
    "alloc::",
    "core::",
    "std::",
    "hashbrown::",
    "__rust_",
    "__rdl_",
    "__rg_",
    "__gnu_cxx::",
    "operator new",
    "operator delete",
    "__libc_",
    "__GI_",
    "__strdup",
    "__strndup",
    "__asprintf",
    "__vasprintf",
];

/// Whole function names of the C library's allocating wrappers (in a static program).
const LIBRARY_EXACT: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "strdup",
    "strndup",
    "asprintf",
    "vasprintf",
    "getline",
    "getdelim",
    "open_memstream",
];

/// Runtime start-up frames by function-name prefix.
const RUNTIME_FUNCTIONS: &[&str] = &[
    "std::rt::",
    "std::panicking::",
    "std::panic::catch_unwind",
    "core::ops::function::",
    "std::sys::backtrace::__rust_begin_short_backtrace",
    "std::sys::pal::unix::thread::Thread::new::thread_start",
    "std::sys::thread::unix::Thread::new::thread_start",
    "std::thread::Builder::spawn_unchecked_",
    "std::thread::lifecycle::",
    "__libc_start_main",
    "__libc_start_call_main",
];

/// Runtime start-up frames by whole function name.
const RUNTIME_EXACT: &[&str] = &[
    "_start",
    "start_thread",
    "clone",
    "clone3",
    "__clone",
    "__clone3",
];

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A demangled name without the decorations before its path: `<alloc::x as y>::f` →
/// `alloc::x as y>::f`, `void std::vector<..>::_M_realloc_insert` → `std::vector..`.
fn bare(name: &str) -> &str {
    let mut s = name.trim_start();
    loop {
        let t = s
            .trim_start_matches(['<', '&', '*', '('])
            .trim_start_matches("mut ")
            .trim_start_matches("dyn ")
            .trim_start_matches("const ");
        if t.len() == s.len() {
            break;
        }
        s = t;
    }
    // A C++ return type: `void std::...`, `int* std::...` (one word and a space before
    // a qualified name).
    if let Some((first, rest)) = s.split_once(' ') {
        if !first.contains("::") && !first.contains('<') && rest.contains("::") {
            return bare(rest);
        }
    }
    s
}

fn is_runtime_name(name: &str) -> bool {
    let b = bare(name);
    RUNTIME_EXACT.contains(&b)
        || RUNTIME_FUNCTIONS.iter().any(|p| b.starts_with(p))
        || b.contains("as core::ops::function::Fn")
}

fn is_library_name(name: &str) -> bool {
    let b = bare(name);
    LIBRARY_EXACT.contains(&b) || LIBRARY_FUNCTIONS.iter().any(|p| b.starts_with(p))
}

/// Whether a frame's module is a system library (or unknown).
fn system_module(f: &SymFrame) -> bool {
    match f.module.as_deref() {
        None => true,
        Some(m) => {
            let base = base_name(m);
            base.is_empty() || SYSTEM_MODULES.iter().any(|p| base.starts_with(p))
        }
    }
}

/// The role of `frames[i]`. Rust's `main` (the `lang_start` glue, which calls
/// `std::rt::lang_start`) is runtime; C's `main` is the program's.
pub fn role(frames: &[SymFrame], i: usize) -> Role {
    let f = &frames[i];
    let name = f.function.as_deref();
    if name.is_some_and(is_runtime_name) {
        return Role::Runtime;
    }
    if name == Some("main")
        && i > 0
        && frames[i - 1]
            .function
            .as_deref()
            .is_some_and(|n| bare(n).starts_with("std::rt::lang_start"))
    {
        return Role::Runtime;
    }
    if system_module(f) {
        return Role::Library;
    }
    match (&f.file, name) {
        (Some(file), _) if LIBRARY_SOURCES.iter().any(|p| file.starts_with(p)) => Role::Library,
        (Some(_), _) => Role::Program,
        (None, Some(n)) if is_library_name(n) => Role::Library,
        _ => Role::Program,
    }
}

/// How many frames at the outer end of the stack are runtime start-up, never reaching
/// `site` (the outermost frame may be unnamed: `_start` of a stripped program).
fn runtime_tail(frames: &[SymFrame], site: usize) -> usize {
    let mut n = 0;
    for i in (site + 1..frames.len()).rev() {
        let unnamed_outermost = i + 1 == frames.len() && frames[i].function.is_none();
        if role(frames, i) == Role::Runtime || unnamed_outermost {
            n += 1;
        } else {
            break;
        }
    }
    n
}

/// The site of a stack, `None` for an empty one.
pub fn site(frames: &[SymFrame]) -> Option<LocationDoc> {
    if frames.is_empty() {
        return None;
    }
    let roles: Vec<Role> = (0..frames.len()).map(|i| role(frames, i)).collect();
    let own = roles.iter().position(|r| *r == Role::Program);
    let at = own.unwrap_or(0);
    let f = &frames[at];
    let program_frames = match own {
        Some(at) => (at..frames.len())
            .filter(|&i| roles[i] == Role::Program)
            .filter_map(|i| frames[i].function.as_deref())
            .map(|n| clean_function(n).to_string())
            .collect(),
        None => Vec::new(),
    };
    Some(LocationDoc {
        frame: at,
        function: f.function.clone(),
        file: f.file.clone(),
        line: f.line,
        module: f.module.clone(),
        module_offset: f.module_address.map(|a| format!("{a:#x}")),
        program: own.is_some(),
        program_frames,
        runtime_frames: runtime_tail(frames, at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(function: Option<&str>, file: Option<&str>, module: &str) -> SymFrame {
        SymFrame {
            address: 0x5000,
            function: function.map(str::to_string),
            file: file.map(str::to_string),
            line: file.map(|_| 7),
            module: Some(module.to_string()),
            module_address: Some(0x1161),
            inlined: false,
            binary_changed: false,
        }
    }

    const EXE: &str = "/t/rleak";
    const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";
    const STD: &str = "/rustc/abc/library/alloc/src/raw_vec/mod.rs";

    fn rust_stack(std_chain: &[&str]) -> Vec<SymFrame> {
        let mut v: Vec<SymFrame> = std_chain
            .iter()
            .map(|n| fr(Some(n), Some(STD), EXE))
            .collect();
        v.push(fr(
            Some("<alloc::raw_vec::RawVecInner>::try_allocate_in"),
            None,
            EXE,
        ));
        v.push(fr(Some("rleak::forget_buffer"), Some("src/main.rs"), EXE));
        v.push(fr(Some("rleak::main"), Some("src/main.rs"), EXE));
        v.push(fr(
            Some("core::ops::function::FnOnce::call_once"),
            Some("/rustc/abc/library/core/src/ops/function.rs"),
            EXE,
        ));
        v.push(fr(Some("std::rt::lang_start::{{closure}}"), Some(STD), EXE));
        v.push(fr(Some("std::rt::lang_start"), Some(STD), EXE));
        v.push(fr(Some("main"), None, EXE));
        v.push(fr(Some("__libc_start_call_main"), Some("x.h"), LIBC));
        v.push(fr(Some("_start"), None, EXE));
        v
    }

    #[test]
    fn rust_site_is_the_programs_function_with_its_own_line() {
        let s = site(&rust_stack(&["alloc::alloc::alloc"])).unwrap();
        assert_eq!(s.function.as_deref(), Some("rleak::forget_buffer"));
        assert_eq!(s.file.as_deref(), Some("src/main.rs"));
        assert!(s.program);
        assert_eq!(
            s.program_frames,
            vec!["rleak::forget_buffer", "rleak::main"]
        );
        assert_eq!(s.runtime_frames, 6);
    }

    #[test]
    fn program_frames_ignore_the_std_chain() {
        let a = site(&rust_stack(&["alloc::alloc::alloc"])).unwrap();
        let b = site(&rust_stack(&[
            "alloc::alloc::Global::alloc_impl",
            "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
            "alloc::raw_vec::RawVecInner<A>::with_capacity_in",
        ]))
        .unwrap();
        assert_eq!(a.program_frames, b.program_frames);
    }

    #[test]
    fn cxx_containers_and_libc_wrappers_are_skipped() {
        let inc = "/usr/include/c++/12/bits/new_allocator.h";
        let stack = vec![
            fr(Some("std::__new_allocator<int>::allocate(unsigned long, void const*)"), Some(inc), "/t/c"),
            fr(Some("void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>(int const&)"), None, "/t/c"),
            fr(Some("leaky_vec"), Some("/s/m.cpp"), "/t/c"),
            fr(Some("main"), Some("/s/m.cpp"), "/t/c"),
        ];
        let s = site(&stack).unwrap();
        assert_eq!((s.frame, s.function.as_deref()), (2, Some("leaky_vec")));
        let stack = vec![
            fr(Some("__GI___strdup"), Some("strdup.c"), LIBC),
            fr(Some("strdup"), None, "/t/static"),
            fr(Some("main"), Some("/s/m.c"), "/t/static"),
        ];
        assert_eq!(site(&stack).unwrap().frame, 2);
    }

    #[test]
    fn stripped_program_is_named_by_module_offset() {
        let stack = vec![
            fr(None, None, "/t/prog"),
            fr(None, None, "/t/prog"),
            fr(Some("__libc_start_call_main"), Some("x.h"), LIBC),
            fr(Some("__libc_start_main_impl"), Some("y.c"), LIBC),
            fr(None, None, "/t/prog"),
        ];
        let s = site(&stack).unwrap();
        assert_eq!(s.frame, 0);
        assert_eq!(s.to_string(), "prog+0x1161");
        assert_eq!(s.runtime_frames, 3);
        assert!(s.program_frames.is_empty());
    }

    #[test]
    fn no_program_frame_names_the_innermost() {
        let stack = vec![
            fr(None, None, "/usr/lib/libstdc++.so.6"),
            fr(
                Some("_dl_init"),
                Some("dl-init.c"),
                "/lib64/ld-linux-x86-64.so.2",
            ),
        ];
        let s = site(&stack).unwrap();
        assert!(!s.program);
        assert_eq!(s.frame, 0);
        assert!(site(&[]).is_none());
    }

    #[test]
    fn a_users_trait_impl_is_the_program() {
        let stack = vec![fr(
            Some("<app::Cache as core::clone::Clone>::clone"),
            Some("src/cache.rs"),
            EXE,
        )];
        assert!(site(&stack).unwrap().program);
    }
}

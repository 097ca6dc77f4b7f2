//! The `runtime-internal` classifier: blocks that libc, ld.so and language runtimes
//! allocate for themselves and keep until the process ends, on purpose. A leak group is
//! runtime-internal when
//! - any frame of its allocation stack matches [`RUNTIME_FUNCTIONS`] (by exact name or
//!   prefix; glibc's internal `__GI_` alias prefix is ignored), except the loader
//!   trampolines of [`NOT_RUNTIME`] that run the program's own constructors;
//! - or the allocation was made directly by the dynamic loader (innermost frame in
//!   `ld-linux*`);
//! - or it was made directly by libstdc++ during a library constructor (`_dl_init` in the
//!   stack): libstdc++'s emergency exception pool and its other static state.
//!
//! The list is documented in `docs/runtime-internal.md`; keep the two in step.

use crate::symbols::symbolize::SymFrame;

/// How a pattern matches a function name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Exact,
    Prefix,
}

/// One entry of the builtin list: pattern, how it matches, and what it covers.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub pattern: &'static str,
    pub how: Match,
    pub what: &'static str,
}

const fn exact(pattern: &'static str, what: &'static str) -> Rule {
    Rule {
        pattern,
        how: Match::Exact,
        what,
    }
}

const fn prefix(pattern: &'static str, what: &'static str) -> Rule {
    Rule {
        pattern,
        how: Match::Prefix,
        what,
    }
}

/// The builtin list of runtime-internal allocating functions.
pub const RUNTIME_FUNCTIONS: &[Rule] = &[
    // glibc stdio: the buffer of stdin/stdout/stderr and of files never closed.
    exact("_IO_file_doallocate", "glibc stdio buffer"),
    // ld.so: link maps, TLS blocks and DTVs, dlopen bookkeeping.
    prefix("_dl_", "ld.so"),
    prefix("_dlfo_", "ld.so"),
    exact("allocate_dtv", "ld.so TLS"),
    exact("tls_get_addr_tail", "ld.so TLS"),
    exact("__tls_get_addr", "ld.so TLS"),
    // gettext domains (textdomain, bindtextdomain).
    exact("textdomain", "glibc gettext"),
    exact("__textdomain", "glibc gettext"),
    exact("bindtextdomain", "glibc gettext"),
    exact("__bindtextdomain", "glibc gettext"),
    exact("set_binding_values", "glibc gettext"),
    // Locale and character sets.
    prefix("_nl_", "glibc locale"),
    exact("setlocale", "glibc locale"),
    exact("newlocale", "glibc locale"),
    exact("__newlocale", "glibc locale"),
    prefix("__gconv", "glibc iconv/gconv"),
    // Name service switch (getpwnam, getaddrinfo...).
    prefix("nss_", "glibc nss"),
    prefix("__nss_", "glibc nss"),
    prefix("_nss_", "glibc nss"),
    // Time zone data.
    exact("tzset", "glibc time zone"),
    exact("__tzset", "glibc time zone"),
    exact("tzset_internal", "glibc time zone"),
    exact("__tzfile_read", "glibc time zone"),
    exact("__tzset_parse_tz", "glibc time zone"),
    // libstdc++: the emergency exception pool and per-thread exception globals.
    exact("__gnu_cxx::__freeres", "libstdc++ emergency pool"),
    prefix(
        "(anonymous namespace)::pool::pool",
        "libstdc++ emergency pool",
    ),
    exact("_GLOBAL__sub_I_eh_alloc.cc", "libstdc++ emergency pool"),
    prefix("__cxa_get_globals", "libstdc++ exception globals"),
    prefix("__cxa_eh_globals", "libstdc++ exception globals"),
    // Rust std start-up (main thread's handle), before `main` runs.
    prefix("std::rt::init", "Rust runtime start-up"),
    // CPython interpreter start-up and state (not code the program runs).
    exact("Py_InitializeFromConfig", "CPython start-up"),
    exact("Py_InitializeEx", "CPython start-up"),
    exact("Py_Initialize", "CPython start-up"),
    prefix("pyinit_", "CPython start-up"),
    prefix("pycore_", "CPython start-up"),
    exact("_Py_InitializeMain", "CPython start-up"),
    exact("init_interp_main", "CPython start-up"),
    prefix("_PyRuntime", "CPython runtime state"),
    exact("PyInterpreterState_New", "CPython runtime state"),
    exact("_PyInterpreterState_New", "CPython runtime state"),
];

/// ld.so functions that run the program's code (constructors, dlopen): matching them
/// would make every constructor's leak look like the loader's.
pub const NOT_RUNTIME: &[&str] = &[
    "_dl_init",
    "_dl_start_user",
    "_dl_start",
    "_dl_sysdep_start",
    "_dl_catch_exception",
    "_dl_catch_error",
    "_dl_open",
    "_dl_runtime_resolve_xsavec",
    "_dl_runtime_resolve_xsave",
    "_dl_runtime_resolve_fxsave",
    "_dl_fixup",
];

/// Module file names of the dynamic loader.
pub const LOADER_MODULES: &[&str] = &["ld-linux", "ld64.so", "ld-2."];

fn module_file(f: &SymFrame) -> &str {
    let m = f.module.as_deref().unwrap_or("");
    m.rsplit('/').next().unwrap_or(m)
}

/// A function name without glibc's internal-alias prefix (`__GI_setlocale` → `setlocale`).
pub fn base_name(function: &str) -> &str {
    function.strip_prefix("__GI_").unwrap_or(function)
}

/// Which rule makes this stack runtime-internal, if any.
pub fn runtime_reason(frames: &[SymFrame]) -> Option<&'static str> {
    let innermost = frames.first()?;
    if LOADER_MODULES
        .iter()
        .any(|p| module_file(innermost).starts_with(p))
    {
        return Some("ld.so");
    }
    let mut in_ctor = false;
    for f in frames {
        let Some(function) = f.function.as_deref().map(base_name) else {
            continue;
        };
        if function == "_dl_init" {
            in_ctor = true;
        }
        if NOT_RUNTIME.contains(&function) {
            continue;
        }
        let hit = RUNTIME_FUNCTIONS.iter().find(|r| match r.how {
            Match::Exact => function == r.pattern,
            Match::Prefix => function.starts_with(r.pattern),
        });
        if let Some(r) = hit {
            return Some(r.what);
        }
    }
    if in_ctor && module_file(innermost).starts_with("libstdc++") {
        return Some("libstdc++ static initialisation");
    }
    None
}

/// Whether the stack's blocks are kept on purpose by libc, ld.so or a runtime.
pub fn is_runtime_internal(frames: &[SymFrame]) -> bool {
    runtime_reason(frames).is_some()
}

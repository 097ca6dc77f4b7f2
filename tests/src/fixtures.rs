//! The fixtures: the small C, C++ and Rust programs in `tests/fixtures/` that the tests
//! run, each built one way into `target/fixtures/` (cached, see [`crate::compile`]).
//!
//! The fixtures used by many tests are named in one table ([`fixture`]); the others are
//! built where their tests are, with [`build_test_program`]. Every build of a given
//! output must use the same command line: all tests share one process and one
//! `target/fixtures/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::compile::{compile_cached, CompileSpec};

/// The shared fixtures, by output name.
const FIXTURES: &[CompileSpec<'static>] = &[
    CompileSpec {
        output: "every_entry",
        sources: &["every_entry.c"],
        compiler: "gcc",
        flags: &["-O0", "-g", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "threads2",
        sources: &["threads2.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "solo_then_shared",
        sources: &["solo_then_shared.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "cxx_newdelete",
        sources: &["cxx_newdelete.cpp"],
        compiler: "g++",
        flags: &["-O0", "-g", "-std=c++17", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "leak3",
        sources: &["leak3.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-fomit-frame-pointer", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "exits",
        sources: &["exits.c"],
        compiler: "gcc",
        flags: &["-O1", "-g", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "bigtls.so",
        sources: &["bigtls.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-fPIC", "-shared", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "dlopen_tls",
        sources: &["dlopen_tls.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &["-ldl"],
    },
    CompileSpec {
        output: "libtlsmodule.so",
        sources: &["tls_module.c"],
        compiler: "gcc",
        flags: &["-O2", "-fPIC", "-shared", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "forks",
        sources: &["forks.c"],
        compiler: "gcc",
        flags: &["-O1", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "getattr_first",
        sources: &["getattr_first.c"],
        compiler: "gcc",
        flags: &["-O1", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "rust_alloc",
        sources: &["rust_alloc.rs"],
        compiler: "rustc",
        flags: &["-O", "-g", "--edition", "2021"],
        libs: &[],
    },
    CompileSpec {
        output: "rust_stack_overflow",
        sources: &["rust_stack_overflow.rs"],
        compiler: "rustc",
        flags: &["-O", "-g", "--edition", "2021"],
        libs: &[],
    },
    CompileSpec {
        output: "plugin.so",
        sources: &["plugin.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-fPIC", "-shared", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "dlopen_stacks",
        sources: &["dlopen_stacks.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-Wall", "-Wextra"],
        libs: &["-ldl"],
    },
    CompileSpec {
        output: "dlopen_deepbind",
        sources: &["dlopen_deepbind.c"],
        compiler: "gcc",
        flags: &[
            "-O2",
            "-g",
            "-Wall",
            "-Wextra",
            "-Wl,--enable-new-dtags,-rpath,$ORIGIN",
        ],
        libs: &["-ldl"],
    },
    CompileSpec {
        output: "mt",
        sources: &["mt.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "lk_why",
        sources: &["lk_why.c"],
        compiler: "gcc",
        flags: &["-O0", "-g", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "lk_globals",
        sources: &["lk_globals.c"],
        compiler: "gcc",
        flags: &["-O0", "-g", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "lk_lost",
        sources: &["lk_lost.c"],
        compiler: "gcc",
        flags: &["-O0", "-g", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "lk_interior",
        sources: &["lk_interior.c"],
        compiler: "gcc",
        flags: &["-O0", "-g", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "lk_interior_cxx",
        sources: &["lk_interior_cxx.cpp"],
        compiler: "g++",
        flags: &["-O0", "-g", "-std=c++17", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "lk_threads",
        sources: &["lk_threads.c"],
        compiler: "gcc",
        flags: &["-O0", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "lk_cxx",
        sources: &["lk_cxx.cpp"],
        compiler: "g++",
        flags: &["-O0", "-g", "-std=c++17", "-Wall", "-Wextra"],
        libs: &[],
    },
    CompileSpec {
        output: "lk_rust",
        sources: &["lk_rust.rs"],
        compiler: "rustc",
        flags: &["-O", "-g", "--edition", "2021"],
        libs: &[],
    },
];

/// Compiles fixture `name` (e.g. `"leak3"`, `"bigtls.so"`) if its output is missing or
/// older than its sources or was built with other flags, and returns the absolute path
/// of the output in `target/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    let spec = FIXTURES
        .iter()
        .find(|s| s.output == name)
        .unwrap_or_else(|| panic!("no fixture named {name:?} in tests/src/fixtures.rs"));
    compile_cached(*spec)
}

/// `count` copies of the fixture library `name` (e.g. `"bigtls.so"`) in `dir`, as
/// `lib<stem><i>.so`: separate files, which the loader maps as separate modules.
pub fn fixture_lib_copies(name: &str, dir: &Path, count: usize) -> Vec<PathBuf> {
    let lib = fixture(name);
    let stem = name.trim_end_matches(".so");
    (0..count)
        .map(|i| {
            let copy = dir.join(format!("lib{stem}{i}.so"));
            fs::copy(&lib, &copy).unwrap_or_else(|e| panic!("copy {name}: {e}"));
            copy
        })
        .collect()
}

/// Copies the program `from` to `to` (mode bits kept), to be run from there.
///
/// The copy is written by a child process (`cp`), never through a file descriptor of the
/// test process: tests start children from many threads at once, and a child forked while
/// this process held `to` open for writing would keep that descriptor until its own exec,
/// so that running `to` could fail with "Text file busy" (ETXTBSY).
pub fn copy_program(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run cp: {e}"));
    assert!(
        status.success(),
        "cp {} {} failed: {status}",
        from.display(),
        to.display()
    );
}

/// Compiles `tests/fixtures/<source>` (or an absolute `source`) with `compiler flags...
/// source -o target/fixtures/<output>`, cached like [`fixture`], and returns the
/// output's absolute path.
pub fn build_test_program(output: &str, source: &str, compiler: &str, flags: &[&str]) -> PathBuf {
    compile_cached(CompileSpec {
        output,
        sources: &[source],
        compiler,
        flags,
        libs: &[],
    })
}

/// `tests/fixtures/bug_free.c` (one known heap bug per mode), built the one way every
/// test that uses it needs.
pub fn bug_free() -> PathBuf {
    build_test_program(
        "bug_free",
        "bug_free.c",
        "gcc",
        &["-O0", "-g", "-Wall", "-Wextra", "-Wno-free-nonheap-object"],
    )
}

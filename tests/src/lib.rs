//! Support for memscope's integration tests (`tests/tests/integration/`).
//!
//! The tests run real programs (the C/C++/Rust fixtures in `tests/fixtures/`, and a few
//! system programs) three ways: natively, under the real `target/release/libmemscope.so`
//! (then analyzed by the real `target/release/memscope analyze --format json`), and under
//! valgrind, which is the oracle for allocation counts. All of them run as threads of one
//! test process, so nothing here changes process-wide state: children get their
//! environment and folder on their `Command`.
//!
//! The modules, each with one job:
//!
//! - [`paths`]: where the workspace, the release artifacts, the fixtures and system
//!   programs are;
//! - [`compile`] and [`fixtures`]: building the fixtures into `target/fixtures/`, cached;
//! - [`isolation`]: what children must not inherit (the tracer's variables);
//! - [`process`]: spawning a child with a deadline and capturing its [`Output`];
//! - [`scratch`]: fresh temporary folders for traces and logs;
//! - [`run`]: [`Run`], a command line run natively or the ways below;
//! - [`preload`]: running under the preload ([`Run::traced`], [`Traced`]);
//! - [`valgrind`]: running under memcheck and parsing its heap and leak summaries;
//! - [`oracle`]: traced and valgrind runs made alike, and their [`Counts`] compared;
//! - [`elf`]: whether a library has a TLS segment;
//! - [`cli`]: running the `memscope` CLI and reading its JSON report;
//! - [`report`]: the JSON report (`memscope-report/1`), typed;
//! - [`dump`]: `memscope dump`'s records;
//! - [`wine`]: Windows fixtures built with mingw-w64 and run under Wine, natively or
//!   through the Windows `memscope.exe run`.
//!
//! Everything a test uses is re-exported here.

pub mod cli;
pub mod compile;
pub mod dump;
pub mod elf;
pub mod fixtures;
pub mod isolation;
pub mod oracle;
pub mod paths;
pub mod preload;
pub mod process;
pub mod report;
pub mod run;
pub mod scratch;
pub mod valgrind;
pub mod wine;

pub use cli::{
    analyze, assert_no_panic, leak3_alpha_frame, memscope, memscope_ok, report_json, run_tool,
};
pub use compile::write_if_changed;
pub use dump::dump_records;
pub use elf::elf_has_tls;
pub use fixtures::{bug_free, build_test_program, copy_program, fixture, fixture_lib_copies};
pub use isolation::{untraced, TRACER_VARIABLES};
pub use oracle::{assert_counts_eq, Counts};
pub use paths::{
    fixtures_out_dir, fixtures_src_dir, memscope_bin, preload_lib, python3, target_dir, which,
    workspace_root,
};
pub use preload::{all_trace_files, Traced};
pub use process::{run_with_timeout, Output, DEFAULT_TIMEOUT};
pub use report::{
    assert_clean, stack_functions, Frame, Holder, HolderKind, Leak, LeakExt, LeakKind, LeakKinds,
    Live, Report, ReportExt, Summary, TraceInfo,
};
pub use run::Run;
pub use valgrind::{BlocksBytes, LeakCheck, ValgrindCounts, ValgrindLeaks};

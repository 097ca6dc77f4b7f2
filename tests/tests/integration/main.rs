//! memscope's integration tests, one binary: each module is one theme (formerly one
//! test binary each), and every test runs as a thread of this one process.
//!
//! Sharing a process means no test may change process-wide state that another could see:
//! environment variables go on the child's `Command` (never `std::env::set_var`), folders
//! on `Command::current_dir` (never `std::env::set_current_dir`), and scratch files into
//! fresh temporary folders or names unique to the test. Fixtures are built once per output
//! name with one command line (see `memscope_tests::fixtures`).
//!
//! Run one theme with a filter: `cargo test --release -p memscope-tests --test integration
//! -- valgrind_oracle::`.

mod bad_traces;
mod classifiers;
mod cli_run;
mod debug_dir_names;
mod detector_list;
mod detectors;
mod diff_formats;
mod dlopen_stacks;
mod dlopen_tls;
mod exit_paths;
mod first_alloc_in_libc;
mod fixtures_sanity;
mod fork_inherit;
mod forks;
mod gate_budget;
mod gate_check;
mod gate_formats;
mod gate_processes;
mod gate_run;
mod gate_support;
mod gate_write_baseline;
mod html_report;
mod install;
mod invisible_tracer;
mod leak_kinds;
mod leak_sites;
mod leak_stacks;
mod lost_events;
mod mismatch_forms;
mod real_programs;
mod report_schema;
mod reports;
mod run_all;
mod run_discovery;
mod run_refusals;
mod run_shims;
mod run_signals;
mod stack_memo;
mod stale_trace;
mod survive_corpus;
mod survive_crashes;
mod survive_fuzz;
mod survive_private_alloc;
mod survive_process_tree;
mod survive_secure;
mod survive_threads;
mod symbol_search;
mod trace_naming;
mod valgrind_oracle;
mod windows_wine;

//! Process trees: `fork`, fork+exec, `posix_spawn`, `vfork`+exec and
//! `system()` under the preload. Every process writes its own readable trace
//! with zero inconsistencies; a fork child's trace says `origin: fork_child`
//! and counts its frees of the parent's blocks as `inherited_frees`, its report
//! including the blocks it inherited (as valgrind's child summary); the
//! parent's trace holds only the parent's events; `MEMSCOPE_FOLLOW_CHILDREN=0`
//! leaves forked children untraced.
//!
//! The fixture (tests/fixtures/surv_proc.c) leaks one block per process:
//! parent 4101 bytes, fork child 4202, exec'd leaf 4303.

use std::path::{Path, PathBuf};
use std::time::Duration;

use memscope_tests::{all_trace_files, build_test_program, report_json, Run};
use serde_json::Value;

fn surv_proc() -> PathBuf {
    build_test_program(
        "surv_proc",
        "surv_proc.c",
        "gcc",
        &["-O1", "-g", "-Wall", "-Wextra"],
    )
}

/// One process's trace, summarized.
#[derive(Debug)]
struct Proc {
    path: PathBuf,
    origin: String,
    exe: String,
    args: Vec<String>,
    allocations: u64,
    frees: u64,
    inherited_frees: u64,
    leak_sizes: Vec<u64>,
    /// Of the leaks, the groups of blocks inherited from the parent at a fork.
    inherited_leak_sizes: Vec<u64>,
}

fn summarize(path: &Path) -> Proc {
    let v = report_json(path, &[]);
    let what = path.display().to_string();
    let t = &v["trace"];
    assert_eq!(t["truncated"], Value::Bool(false), "{what}: truncated: {v}");
    assert_eq!(t["inconsistencies"], 0, "{what}: inconsistencies: {}", t);
    let mut leak_sizes: Vec<u64> = v["leaks"]
        .as_array()
        .expect("leaks array")
        .iter()
        .map(|l| l["bytes"].as_u64().expect("leak bytes"))
        .collect();
    leak_sizes.sort();
    let mut inherited_leak_sizes: Vec<u64> = v["leaks"]
        .as_array()
        .expect("leaks array")
        .iter()
        .filter(|l| l["inherited"] == true)
        .map(|l| l["bytes"].as_u64().expect("leak bytes"))
        .collect();
    inherited_leak_sizes.sort();
    Proc {
        path: path.to_path_buf(),
        origin: t["origin"].as_str().unwrap_or("?").to_string(),
        exe: t["exe"].as_str().unwrap_or("?").to_string(),
        args: t["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or("?").to_string())
                    .collect()
            })
            .unwrap_or_default(),
        allocations: v["summary"]["allocations"].as_u64().expect("allocations"),
        frees: v["summary"]["frees"].as_u64().expect("frees"),
        inherited_frees: t["inherited_frees"].as_u64().expect("inherited_frees"),
        leak_sizes,
        inherited_leak_sizes,
    }
}

/// Runs `surv_proc MODE` natively and traced (with `extra_env`); asserts the
/// same stdout and status 0; returns the summaries of every trace written.
fn run_mode(mode: &str, extra_env: &[(&str, &str)]) -> Vec<Proc> {
    let mut run = Run::new(surv_proc())
        .arg(mode)
        .timeout(Duration::from_secs(60));
    for (k, v) in extra_env {
        run = run.env(*k, *v);
    }
    let native = run.native();
    assert!(
        native.status.success(),
        "surv_proc {mode} natively: {}",
        native.describe()
    );
    let traced = run.traced();
    assert_eq!(
        traced.output.shell_status(),
        0,
        "surv_proc {mode} under the preload: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.stdout_str(),
        native.stdout_str(),
        "surv_proc {mode}: stdout differs under the preload"
    );
    let procs: Vec<Proc> = all_trace_files(traced.dir.path())
        .iter()
        .map(|p| summarize(p))
        .collect();
    // The root's own trace is `<pid>.msl`.
    assert!(
        procs.iter().any(|p| p.path == traced.trace),
        "surv_proc {mode}: no trace of the root process: {procs:#?}"
    );
    procs
}

fn is_leaf(p: &Proc) -> bool {
    p.args.last().map(String::as_str) == Some("leaf") && p.exe.ends_with("/surv_proc")
}

/// The parent: 4101 + 3001 + 10 pairs = 12 allocations, 11 frees, leaks only 4101.
fn assert_parent(mode: &str, procs: &[Proc]) {
    let parents: Vec<&Proc> = procs
        .iter()
        .filter(|p| p.origin == "start" && p.args.last().map(String::as_str) == Some(mode))
        .collect();
    assert_eq!(
        parents.len(),
        1,
        "{mode}: expected one parent trace: {procs:#?}"
    );
    let p = parents[0];
    assert_eq!(
        (p.allocations, p.frees),
        (12, 11),
        "{mode}: parent counts: {p:#?}"
    );
    assert_eq!(p.inherited_frees, 0, "{mode}: parent inherited frees");
    assert!(
        p.leak_sizes.contains(&4101)
            && !p.leak_sizes.contains(&4202)
            && !p.leak_sizes.contains(&4303),
        "{mode}: the parent must leak 4101 bytes and nothing of its children: {p:#?}"
    );
}

/// The exec'd leaf: 11 allocations, 10 frees, leaks 4303, its own trace.
fn assert_one_leaf(mode: &str, procs: &[Proc]) {
    let leaves: Vec<&Proc> = procs.iter().filter(|p| is_leaf(p)).collect();
    assert_eq!(
        leaves.len(),
        1,
        "{mode}: expected one trace of the exec'd `surv_proc leaf`: {procs:#?}"
    );
    let l = leaves[0];
    assert_eq!(
        l.origin, "start",
        "{mode}: an exec'd program starts a fresh trace"
    );
    assert_eq!(
        (l.allocations, l.frees),
        (11, 10),
        "{mode}: leaf counts: {l:#?}"
    );
    assert!(
        l.leak_sizes.contains(&4303),
        "{mode}: the leaf's 4303-byte leak: {l:#?}"
    );
}

#[test]
fn fork_child_writes_its_own_trace() {
    let procs = run_mode("fork", &[]);
    assert_eq!(procs.len(), 2, "fork: parent and child traces: {procs:#?}");
    assert_parent("fork", &procs);
    let child = procs
        .iter()
        .find(|p| p.origin == "fork_child")
        .unwrap_or_else(|| panic!("fork: no trace with origin fork_child: {procs:#?}"));
    // The child's counts start from the parent's at the fork (4101 and 3001
    // allocated, nothing freed), as valgrind counts a forked child (`--trace-children=yes`:
    // 13 allocs, 11 frees); then 4202 + 10 pairs, and its free of the parent's 3001-byte
    // block: a free of a known (inherited) block, also counted as an inherited free,
    // not an inconsistency.
    assert_eq!(
        (child.allocations, child.frees),
        (2 + 11, 10 + 1),
        "fork child counts: {child:#?}"
    );
    assert_eq!(
        child.inherited_frees, 1,
        "fork child: one inherited free: {child:#?}"
    );
    assert!(
        child.leak_sizes.contains(&4202),
        "fork child leaks 4202: {child:#?}"
    );
    // The parent's 4101-byte block: lost in the child too (it overwrote `sink`), as
    // valgrind's child summary says, and marked inherited; the child's own 4202 is not.
    assert_eq!(
        child.leak_sizes,
        vec![4101, 4202],
        "fork child leaks: {child:#?}"
    );
    assert_eq!(
        child.inherited_leak_sizes,
        vec![4101],
        "fork child: the parent's block is its only inherited leak: {child:#?}"
    );
}

#[test]
fn fork_then_exec() {
    let procs = run_mode("forkexec", &[]);
    assert_parent("forkexec", &procs);
    assert_one_leaf("forkexec", &procs);
    // Parent, the fork child until exec, the leaf after exec (same pid).
    assert_eq!(procs.len(), 3, "forkexec: {procs:#?}");
}

#[test]
fn posix_spawn_child_is_traced() {
    let procs = run_mode("spawn", &[]);
    assert_parent("spawn", &procs);
    assert_one_leaf("spawn", &procs);
}

#[test]
fn vfork_then_exec() {
    let procs = run_mode("vfork", &[]);
    assert_parent("vfork", &procs);
    assert_one_leaf("vfork", &procs);
    // A vfork child shares the parent's memory until exec: it must not have
    // written a trace of its own as a fork child.
    assert!(
        procs.iter().all(|p| p.origin != "fork_child"),
        "vfork: a trace with origin fork_child: {procs:#?}"
    );
}

#[test]
fn system_runs_shell_and_command_traced() {
    let procs = run_mode("system", &[]);
    assert_parent("system", &procs);
    assert_one_leaf("system", &procs);
    assert!(
        procs
            .iter()
            .any(|p| p.args.first().map(String::as_str) == Some("sh")),
        "system: the /bin/sh -c process has no trace: {procs:#?}"
    );
}

#[test]
fn follow_children_off_leaves_fork_children_untraced() {
    let procs = run_mode("fork", &[("MEMSCOPE_FOLLOW_CHILDREN", "0")]);
    assert_eq!(
        procs.len(),
        1,
        "MEMSCOPE_FOLLOW_CHILDREN=0: only the parent's trace expected: {procs:#?}"
    );
    assert_parent("fork", &procs);
}

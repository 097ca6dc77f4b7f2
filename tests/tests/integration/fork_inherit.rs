//! A forked child's report includes the blocks it inherited from its parent (issue 14),
//! counted as valgrind counts a forked child. `tests/fixtures/fork_inherit.c`: the
//! parent allocates A (1337 bytes, from `make_a`, kept in a global) and B (200 bytes),
//! allocates and frees 50 bytes, and forks; the child frees B, allocates and frees 10
//! bytes, clears the global (A is lost in the child) and exits. The oracle is valgrind
//! 3.19 run on the same program with `--trace-children=yes --child-silent-after-fork=no`:
//! each process's heap and leak summaries, told apart by the `==PID==` prefix of their
//! lines.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use memscope_tests::{
    analyze, assert_clean, build_test_program, fixtures_src_dir, run_with_timeout, untraced, which,
    Report, Run, ValgrindCounts, ValgrindLeaks, DEFAULT_TIMEOUT,
};
use memscope_tests::{LeakExt as _, ReportExt as _};

fn fork_inherit() -> PathBuf {
    build_test_program(
        "fork_inherit",
        "fork_inherit.c",
        "gcc",
        &["-O0", "-g", "-Wall", "-Wextra"],
    )
}

/// The line of `fork_inherit.c` holding `text` (1-based).
fn source_line(text: &str) -> u32 {
    let src = fixtures_src_dir().join("fork_inherit.c");
    let body = fs::read_to_string(&src).unwrap();
    let lines: Vec<usize> = body
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(text))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "`{text}` in {}: {lines:?}", src.display());
    lines[0] as u32
}

/// One process's summaries in valgrind's log of the tree.
struct Valgrind {
    counts: ValgrindCounts,
    leaks: ValgrindLeaks,
}

/// Runs `program` under memcheck with the leak check, following the fork; returns the
/// summaries of the process valgrind started (`root`) and of the other one (the child).
fn valgrind_tree(program: &Path) -> (Valgrind, Valgrind) {
    let valgrind = which("valgrind").expect("valgrind is the oracle of these tests");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("vg.log");
    let mut cmd = Command::new(valgrind);
    cmd.args([
        "--tool=memcheck",
        "--leak-check=full",
        "--show-leak-kinds=all",
        "--trace-children=yes",
        "--child-silent-after-fork=no",
        "--run-libc-freeres=no",
        "--run-cxx-freeres=no",
    ])
    .arg(format!("--log-file={}", log.display()))
    .arg(program);
    untraced(&mut cmd);
    let out = run_with_timeout(cmd, DEFAULT_TIMEOUT, "valgrind fork_inherit");
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let text = fs::read_to_string(&log).unwrap();
    let pid_of = |line: &str| -> Option<u32> {
        let rest = line.strip_prefix("==")?;
        rest[..rest.find("==")?].parse().ok()
    };
    let mut pids: Vec<u32> = text.lines().filter_map(pid_of).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 2, "two processes in valgrind's log:\n{text}");
    assert!(pids.contains(&out.pid), "{pids:?} {}", out.pid);
    let of = |pid: u32| {
        let own: String = text
            .lines()
            .filter(|l| pid_of(l) == Some(pid))
            .map(|l| format!("{l}\n"))
            .collect();
        Valgrind {
            counts: ValgrindCounts::parse(&own)
                .unwrap_or_else(|| panic!("no heap summary of {pid}:\n{text}")),
            leaks: ValgrindLeaks::parse(&own)
                .unwrap_or_else(|| panic!("no leak summary of {pid}:\n{text}")),
        }
    };
    let child = *pids.iter().find(|&&p| p != out.pid).unwrap();
    (of(out.pid), of(child))
}

fn counts(r: &Report) -> ValgrindCounts {
    ValgrindCounts {
        allocs: r.summary.allocations,
        frees: r.summary.frees,
        bytes_allocated: r.summary.bytes_allocated,
        live_blocks: r.summary.live_at_exit.blocks,
        live_bytes: r.summary.live_at_exit.bytes,
    }
}

#[test]
fn child_report_counts_inherited_blocks_as_valgrind_does() {
    let program = fork_inherit();
    let (vg_root, vg_child) = valgrind_tree(&program);
    // The fixture's own figures, as its comment gives them from valgrind 3.19.
    assert_eq!(
        vg_child.counts,
        ValgrindCounts {
            allocs: 4,
            frees: 3,
            bytes_allocated: 1597,
            live_blocks: 1,
            live_bytes: 1337
        }
    );

    let traced = Run::new(&program).traced();
    assert_eq!(
        traced.output.status.code(),
        Some(0),
        "{}",
        traced.output.describe()
    );
    let traces = traced.all_traces();
    assert_eq!(traces.len(), 2, "{traces:?}");
    let child_trace = traces.iter().find(|t| **t != traced.trace).unwrap();
    let root = traced.report();
    let child = analyze(child_trace);
    assert_clean("fork_inherit (parent)", &root);
    assert_clean("fork_inherit (child)", &child);

    assert_eq!(counts(&root), vg_root.counts, "the parent's heap summary");
    assert_eq!(counts(&child), vg_child.counts, "the child's heap summary");
    assert_eq!(
        child.summary.leak_kinds,
        Some(vg_child.leaks.kinds()),
        "the child's leak summary"
    );
    assert_eq!(
        root.summary.leak_kinds,
        Some(vg_root.leaks.kinds()),
        "the parent's leak summary"
    );

    assert_eq!(child.trace.ppid, root.trace.pid);
    assert_eq!(
        child.trace.parent_trace.as_deref(),
        Some(traced.trace.to_str().unwrap()),
        "trace.parent_trace"
    );
    // The child frees B, which the parent allocated.
    assert_eq!(child.trace.inherited_frees, 1, "inherited frees");
    let inherited = child.summary.inherited.expect("summary.inherited");
    assert!(inherited.known);
    assert_eq!(inherited.parent_pid, Some(root.trace.pid));
    // Live in the parent at the fork: A and B. Its counts then: A, B and the 50-byte
    // block allocated, the 50-byte block freed.
    let at_fork = inherited.at_fork.expect("at_fork");
    assert_eq!((at_fork.blocks, at_fork.bytes), (2, 1337 + 200));
    let c = inherited.counts_at_fork.expect("counts_at_fork");
    assert_eq!(
        (c.allocations, c.frees, c.bytes_allocated),
        (3, 1, 1337 + 200 + 50)
    );
    let live = inherited.live_at_exit.expect("live_at_exit");
    assert_eq!((live.blocks, live.bytes), (1, 1337));
    assert_eq!(inherited.unjudged_blocks, 0);
    assert!(
        root.summary.inherited.is_none(),
        "the root inherited nothing"
    );

    // A's group: inherited, with the parent's allocation stack.
    let groups = child.leaks_of_size(1337);
    assert_eq!(groups.len(), 1, "{}", child.describe_leaks());
    let a = groups[0];
    assert!(a.inherited, "A is not marked inherited");
    assert_eq!(a.blocks, 1);
    let i = a
        .frame_index("make_a")
        .unwrap_or_else(|| panic!("no make_a frame: {}", child.describe_leaks()));
    let frame = &a.stack[i];
    assert!(
        frame
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("fork_inherit.c")),
        "{frame:?}"
    );
    assert_eq!(frame.line, Some(source_line("keep_a = malloc(1337);")));
    let main = a.frame_index("main").expect("main under make_a");
    assert_eq!(main, i + 1);
    assert_eq!(a.stack[main].line, Some(source_line("    make_a();")));
    // Nothing else is live in the child: the 10-byte block was freed.
    assert_eq!(child.leaks.len(), 1, "{}", child.describe_leaks());
    // The parent's report does not mark anything inherited.
    assert!(root.leaks.iter().all(|l| !l.inherited));
}

#[test]
fn child_trace_alone_finds_its_parent_beside_it() {
    // `memscope analyze CHILD` with the parent's trace in the same directory: the same
    // inherited blocks as the run found.
    let traced = Run::new(fork_inherit()).traced();
    let traces = traced.all_traces();
    let child_trace = traces.iter().find(|t| **t != traced.trace).unwrap();
    let r = analyze(child_trace);
    assert_eq!(
        r.summary
            .inherited
            .and_then(|i| i.live_at_exit)
            .map(|l| l.bytes),
        Some(1337)
    );

    // Without the parent's trace: the inherited blocks are unknown, the free of B is an
    // inherited free (not in `frees`), and the counts are the child's own: C allocated
    // and freed.
    let alone = tempfile::tempdir().unwrap();
    let copy = alone.path().join("child.msl");
    fs::copy(child_trace, &copy).unwrap();
    let r = analyze(&copy);
    let inherited = r.summary.inherited.expect("summary.inherited");
    assert!(!inherited.known);
    assert!(r.trace.parent_trace.is_none());
    assert_eq!(r.trace.inherited_frees, 1);
    assert_eq!(r.trace.inconsistencies, 0);
    assert_eq!(
        (
            r.summary.allocations,
            r.summary.frees,
            r.summary.bytes_allocated
        ),
        (1, 1, 10)
    );
    assert_eq!(r.summary.live_at_exit.blocks, 0);
}

//! fork while another thread allocates: the child must not hang (the tracer's
//! locks and writer thread do not survive fork), the parent's trace stays
//! consistent and holds only the parent's blocks, and a child trace, if the
//! tracer writes one (its choice), holds exactly the child's own events (its report
//! adds the parent's heap and counts at the fork, `summary.inherited`).

use std::time::Duration;

use memscope_tests::{analyze, assert_clean, fixture, Run};
use memscope_tests::{LeakExt as _, ReportExt as _};

#[test]
fn fork_with_a_busy_thread() {
    let run = Run::new(fixture("forks")).timeout(Duration::from_secs(60));
    let native = run.native();
    assert!(
        native.status.success(),
        "forks natively: {}",
        native.describe()
    );
    let traced = run.traced();
    assert_eq!(
        traced.output.shell_status(),
        0,
        "forks under the preload: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.stdout, native.stdout,
        "forks: stdout differs under the preload"
    );

    let parent = traced.report();
    assert_clean("forks (parent)", &parent);
    assert_eq!(
        parent.summary.threads, 2,
        "the parent runs main and one thread"
    );
    for bytes in [5151, 5252] {
        assert!(
            parent
                .leaks_of_size(bytes)
                .iter()
                .any(|l| l.frame_index("main").is_some()),
            "forks: the parent's {bytes}-byte block from main is missing; leaks:\n{}",
            parent.describe_leaks()
        );
    }
    assert!(
        parent
            .leaks
            .iter()
            .all(|l| l.frame_index("child_work").is_none()),
        "forks: the child's blocks appear in the parent's trace; leaks:\n{}",
        parent.describe_leaks()
    );

    let children: Vec<_> = traced
        .all_traces()
        .into_iter()
        .filter(|t| *t != traced.trace)
        .collect();
    assert!(
        children.len() <= 3,
        "more traces than processes: {children:?}"
    );
    for child in &children {
        let r = analyze(child);
        let what = format!("forks child trace {}", child.display());
        assert_clean(&what, &r);
        // The child's counts start from the parent's at the fork (as valgrind counts a
        // forked child); the parent's thread is allocating then, so those vary: the
        // report gives them, and the child's own are the difference.
        let inherited = r
            .summary
            .inherited
            .unwrap_or_else(|| panic!("{what}: a fork child without summary.inherited"));
        assert!(inherited.known, "{what}: the parent's trace was not found");
        assert_eq!(
            inherited.parent_pid,
            Some(traced.output.pid),
            "{what}: parent pid"
        );
        let at_fork = inherited
            .counts_at_fork
            .unwrap_or_else(|| panic!("{what}: no counts_at_fork"));
        // main's 5151-byte block is allocated before the thread starts and the forks.
        assert!(at_fork.allocations >= 1, "{what}: {at_fork:?}");
        // From the source: 1000 malloc/free pairs of 100..=1099 bytes, then
        // one 6161-byte block kept until exit(7).
        assert_eq!(
            r.summary.allocations - at_fork.allocations,
            1001,
            "{what}: the child's own allocations"
        );
        assert_eq!(
            r.summary.frees - at_fork.frees,
            1000,
            "{what}: the child's own frees"
        );
        assert_eq!(
            r.summary.bytes_allocated - at_fork.bytes_allocated,
            (100..1100).sum::<u64>() + 6161,
            "{what}: the child's own bytes allocated"
        );
        // The parent's 5151-byte block, inherited and still live in the child.
        assert!(
            r.leaks_of_size(5151)
                .iter()
                .any(|l| l.inherited && l.frame_index("main").is_some()),
            "{what}: the inherited 5151-byte block from main is missing; leaks:\n{}",
            r.describe_leaks()
        );
        assert!(
            r.leaks_of_size(6161)
                .iter()
                .any(|l| l.frame_index("child_work").is_some()),
            "{what}: no 6161-byte block from child_work; leaks:\n{}",
            r.describe_leaks()
        );
    }
}

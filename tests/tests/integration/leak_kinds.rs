//! Leak kinds by reachability (valgrind memcheck's four: definitely lost, indirectly
//! lost, possibly lost, still reachable). Each fixture (`tests/fixtures/lk_*`) runs traced
//! and under valgrind's leak check with environments made alike
//! (`Run::traced_and_valgrind_leaks`), and each kind's blocks and bytes in the report's
//! `summary.leak_kinds` must equal valgrind's LEAK SUMMARY. Valgrind's side of each
//! fixture is also checked against what the fixture's comment says it does, so that a
//! change of the fixture (or of glibc) shows as such and not as a memscope bug.
//!
//! Then what keeps a group (`held_by`: a global by name and definition line, another
//! thread's stack or TLS by thread id, the lost block holding an indirectly lost one by
//! its allocating function), and the gate: `--check` fails by default only on definitely
//! and indirectly lost blocks, `--fail-on-leak-kinds` and the `fail-on-leak-kinds` key
//! choose the kinds, and a trace without a leak check (SIGKILL) falls back to "every live
//! block" with one line saying so.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use crate::gate_support::{fail_lines, memscope_in};

use memscope_tests::{
    dump_records, fixture, fixtures_src_dir, Holder, HolderKind, Leak, LeakExt as _, LeakKind,
    LeakKinds, Output, Report, Run, Traced, ValgrindCounts, ValgrindLeaks,
};

// ---------------------------------------------------------------------------------------
// Running a fixture both ways and comparing.

/// A fixture run traced and under valgrind's leak check.
struct Both {
    what: String,
    traced: Traced,
    report: Report,
    vg_out: Output,
    vg_counts: ValgrindCounts,
    vg: ValgrindLeaks,
}

impl Both {
    fn run(program: &str, args: &[&str]) -> Both {
        let run = Run::new(fixture(program)).args(args.iter().copied());
        let what = run.display();
        let (traced, vg_out, vg_counts, vg) = run.traced_and_valgrind_leaks();
        let report = traced.report();
        Both {
            what,
            traced,
            report,
            vg_out,
            vg_counts,
            vg,
        }
    }

    /// The report's leak kinds; a panic when the trace has none.
    fn kinds(&self) -> LeakKinds {
        self.report.summary.leak_kinds.unwrap_or_else(|| {
            panic!(
                "{}: the report has no summary.leak_kinds (no leak check in the trace, or not read); program: {}\nleaks:\n{}",
                self.what,
                self.traced.output.describe(),
                describe_groups(&self.report)
            )
        })
    }

    /// Asserts valgrind's four kinds are what the fixture defines: checks the fixture,
    /// not memscope.
    fn valgrind_says(&self, expected: [(u64, u64); 4]) {
        let k = self.vg.kinds();
        let got = [
            (k.definitely_lost.bytes, k.definitely_lost.blocks),
            (k.indirectly_lost.bytes, k.indirectly_lost.blocks),
            (k.possibly_lost.bytes, k.possibly_lost.blocks),
            (k.still_reachable.bytes, k.still_reachable.blocks),
        ];
        assert_eq!(
            got, expected,
            "{}: valgrind's leak summary is not what the fixture defines ((bytes, blocks) of definitely, indirectly, possibly lost, still reachable): the fixture or the system changed\nvalgrind: {:?}\nits output: {}",
            self.what, self.vg, self.vg_out.describe()
        );
    }

    /// As [`Both::valgrind_says`] for lk_threads with a second thread: its block of
    /// `kept` bytes still reachable, and one possibly lost block, glibc's DTV of the second
    /// thread (whose size depends on the TLS modules loaded: 288 bytes natively, more
    /// with a preloaded TLS module).
    fn valgrind_says_with_dtv(&self, kept: u64) {
        let dtv = self.vg.possibly_lost;
        assert_eq!(dtv.blocks, 1, "{}: {:?}", self.what, self.vg);
        self.valgrind_says([(0, 0), (0, 0), (dtv.bytes, 1), (kept, 1)]);
    }

    /// Asserts memscope's four kinds equal valgrind's, and the leak groups add up to them.
    fn kinds_equal_valgrind(&self) {
        let ours = self.kinds();
        let theirs = self.vg.kinds();
        assert!(
            ours == theirs,
            "{}: leak kinds differ from valgrind's\n{}\nlive at exit: memscope {} blocks, {} bytes; valgrind {} blocks, {} bytes\nmemscope's groups:\n{}",
            self.what,
            kinds_table(&ours, &theirs),
            self.report.summary.live_at_exit.blocks,
            self.report.summary.live_at_exit.bytes,
            self.vg_counts.live_blocks,
            self.vg_counts.live_bytes,
            describe_groups(&self.report)
        );
        groups_add_up(&self.what, &self.report);
    }

    /// The one leak group of `kind` holding `bytes` in `blocks`.
    fn group(&self, kind: LeakKind, bytes: u64, blocks: u64) -> &Leak {
        let found: Vec<&Leak> = self
            .report
            .leaks
            .iter()
            .filter(|l| l.kind == Some(kind) && l.bytes == bytes && l.blocks == blocks)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{}: expected one {} group of {bytes} bytes in {blocks} blocks; groups:\n{}",
            self.what,
            kind.name(),
            describe_groups(&self.report)
        );
        found[0]
    }

    /// The tids the fixture printed ("tid MAIN OTHER", lk_threads).
    fn printed_tids(&self) -> (u32, u32) {
        let out = self.traced.output.stdout_str();
        let line = out
            .lines()
            .find(|l| l.starts_with("tid "))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no tid line: {}",
                    self.what,
                    self.traced.output.describe()
                )
            });
        let mut words = line
            .split_whitespace()
            .skip(1)
            .map(|w| w.parse::<u32>().unwrap());
        (words.next().unwrap(), words.next().unwrap())
    }
}

fn kinds_table(ours: &LeakKinds, theirs: &LeakKinds) -> String {
    let mut s =
        String::from("  kind             memscope (bytes/blocks)   valgrind (bytes/blocks)\n");
    for kind in [
        LeakKind::DefinitelyLost,
        LeakKind::IndirectlyLost,
        LeakKind::PossiblyLost,
        LeakKind::StillReachable,
    ] {
        let (a, b) = (ours.get(kind), theirs.get(kind));
        s.push_str(&format!(
            "  {:<16} {:>10} / {:<10}   {:>10} / {:<10}{}\n",
            kind.name(),
            a.bytes,
            a.blocks,
            b.bytes,
            b.blocks,
            if a == b { "" } else { "  <-- differs" }
        ));
    }
    s
}

/// The groups with their kinds and holders, for assertion messages.
fn describe_groups(r: &Report) -> String {
    let mut s = String::new();
    for l in &r.leaks {
        s.push_str(&format!(
            "  {:<16} {} bytes in {} blocks{} at {}; held by {}\n",
            l.kind.map_or("(no kind)", LeakKind::name),
            l.bytes,
            l.blocks,
            if l.runtime_internal { " (runtime)" } else { "" },
            l.functions()
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(" < "),
            describe_holders(&l.held_by)
        ));
    }
    s
}

fn describe_holders(h: &[Holder]) -> String {
    if h.is_empty() {
        return "nothing".into();
    }
    h.iter()
        .map(|h| {
            format!(
                "{:?} {} {}:{} thread {}",
                h.kind,
                h.symbol.as_deref().unwrap_or("?"),
                h.file.as_deref().unwrap_or("?"),
                h.line.map_or("?".into(), |l| l.to_string()),
                h.thread.map_or("?".into(), |t| t.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The groups of each kind add up to the summary's kinds.
fn groups_add_up(what: &str, r: &Report) {
    let kinds = r.summary.leak_kinds.expect("leak kinds");
    for kind in [
        LeakKind::DefinitelyLost,
        LeakKind::IndirectlyLost,
        LeakKind::PossiblyLost,
        LeakKind::StillReachable,
    ] {
        let (bytes, blocks) = r
            .leaks
            .iter()
            .filter(|l| l.kind == Some(kind))
            .fold((0, 0), |(b, n), l| (b + l.bytes, n + l.blocks));
        let sum = kinds.get(kind);
        assert_eq!(
            (bytes, blocks),
            (sum.bytes, sum.blocks),
            "{what}: the {} groups hold {bytes} bytes in {blocks} blocks, the summary says {} in {}\n{}",
            kind.name(),
            sum.bytes,
            sum.blocks,
            describe_groups(r)
        );
    }
    for l in &r.leaks {
        assert!(
            l.kind.is_some(),
            "{what}: a group without a kind in a trace with a leak check:\n{}",
            describe_groups(r)
        );
        if l.kind == Some(LeakKind::DefinitelyLost) {
            assert!(
                l.held_by.is_empty(),
                "{what}: a definitely lost group is held by something:\n{}",
                describe_groups(r)
            );
        }
    }
}

/// The line of `file` (in tests/fixtures/) holding `marker`, 1-based: where the fixture
/// defines a root.
fn line_of(file: &str, marker: &str) -> u32 {
    let path = fixtures_src_dir().join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let hits: Vec<u32> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(marker))
        .map(|(i, _)| i as u32 + 1)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{file}: {marker:?} must be on exactly one line"
    );
    hits[0]
}

/// Asserts `group` is held by the global `symbol` (or a compiler's `symbol.N` for a
/// static in a function; a Rust path ending in `::symbol`) defined in `file` at `line`.
fn assert_held_by_global(what: &str, group: &Leak, symbol: &str, file: &str, line: u32) {
    let ok = group.held_by.iter().any(|h| {
        h.kind == HolderKind::Global
            && h.symbol.as_deref().is_some_and(|s| {
                s == symbol
                    || s.strip_prefix(symbol).is_some_and(|r| r.starts_with('.'))
                    || s.strip_prefix(symbol)
                        .is_some_and(|r| r.starts_with("[abi:"))
                    || s.ends_with(&format!("::{symbol}"))
            })
            && h.file
                .as_deref()
                .is_some_and(|f| Path::new(f).file_name() == Some(OsStr::new(file)))
            && h.line == Some(line)
    });
    assert!(
        ok,
        "{what}: the group of {} bytes in {} blocks is not held by the global {symbol} ({file}:{line}); held by {}",
        group.bytes,
        group.blocks,
        describe_holders(&group.held_by)
    );
}

/// Asserts `group` is held by a root of `kind` of thread `tid` (and, if given, in a frame
/// of function `symbol`).
fn assert_held_by_thread(
    what: &str,
    group: &Leak,
    kind: HolderKind,
    tid: u32,
    symbol: Option<&str>,
) {
    let ok = group.held_by.iter().any(|h| {
        h.kind == kind
            && h.thread == Some(tid)
            && symbol.is_none_or(|s| h.symbol.as_deref() == Some(s))
    });
    assert!(
        ok,
        "{what}: the group of {} bytes in {} blocks is not held by {kind:?} of thread {tid}{}; held by {}",
        group.bytes,
        group.blocks,
        symbol.map_or(String::new(), |s| format!(" in {s}")),
        describe_holders(&group.held_by)
    );
}

/// The `Reach` record of the block of `size` bytes (allocated once in the trace), from
/// `memscope dump`: `(kind, heuristic, holder)` as Debug text.
fn reach_of_block(trace: &Path, size: u64) -> (String, String, String) {
    let records = dump_records(trace);
    let field = |rec: &str, name: &str| -> Option<String> {
        let start = rec.find(&format!("{name}: "))? + name.len() + 2;
        let rest = &rec[start..];
        let mut depth = 0;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' | '{' | '[' => depth += 1,
                    ')' | ']' => depth -= 1,
                    '}' if depth > 0 => depth -= 1,
                    _ => {}
                }
                depth == 0 && (c == ',' || c == '}')
            })
            .map_or(rest.len(), |(i, _)| i);
        Some(rest[..end].trim().to_string())
    };
    let ptrs: Vec<String> = records
        .iter()
        .filter(|(_, r)| {
            r.starts_with("Alloc {") && field(r, "size").as_deref() == Some(&size.to_string())
        })
        .filter_map(|(_, r)| field(r, "ptr"))
        .collect();
    assert_eq!(
        ptrs.len(),
        1,
        "{}: expected one allocation of {size} bytes",
        trace.display()
    );
    // `memscope dump` prints allocation pointers in decimal and the check's in hex.
    let number = |s: &str| match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse::<u64>().ok(),
    };
    let want = number(&ptrs[0]);
    let reach = records
        .iter()
        .find(|(_, r)| r.starts_with("Reach {") && field(r, "ptr").and_then(|p| number(&p)) == want)
        .unwrap_or_else(|| {
            panic!(
                "{}: no Reach record for the {size}-byte block at {}",
                trace.display(),
                ptrs[0]
            )
        });
    (
        field(&reach.1, "kind").unwrap_or_default(),
        field(&reach.1, "heuristic").unwrap_or_default(),
        field(&reach.1, "holder").unwrap_or_default(),
    )
}

// ---------------------------------------------------------------------------------------
// a. The "why" program.

#[test]
fn why_program_kinds_equal_valgrind() {
    let b = Both::run("lk_why", &[]);
    b.valgrind_says([(841, 2), (256, 4), (0, 0), (4736, 11)]);
    b.kinds_equal_valgrind();
}

#[test]
fn why_program_names_what_holds_each_group() {
    let b = Both::run("lk_why", &[]);
    let w = &b.what;
    let cache = b.group(LeakKind::StillReachable, 4096, 1);
    assert_held_by_global(
        w,
        cache,
        "cache",
        "lk_why.c",
        line_of("lk_why.c", "char *cache;"),
    );
    assert!(
        cache.frame_index("keep_cache").is_some(),
        "{w}: the cache's group is not allocated in keep_cache: {:?}",
        cache.functions()
    );
    let list = b.group(LeakKind::StillReachable, 640, 10);
    assert_held_by_global(
        w,
        list,
        "list",
        "lk_why.c",
        line_of("lk_why.c", "struct node *list;"),
    );

    // The list lost from its head: the head definitely lost, the four others indirectly,
    // held by the head, a block allocated in lose_list.
    let head = b.group(LeakKind::DefinitelyLost, 64, 1);
    assert!(
        head.frame_index("lose_list").is_some(),
        "{w}: {:?}",
        head.functions()
    );
    let rest = b.group(LeakKind::IndirectlyLost, 256, 4);
    assert!(
        rest.held_by
            .iter()
            .any(|h| h.kind == HolderKind::Heap && h.symbol.as_deref() == Some("lose_list")),
        "{w}: the indirectly lost nodes are not held by a block allocated in lose_list; held by {}",
        describe_holders(&rest.held_by)
    );
    let block = b.group(LeakKind::DefinitelyLost, 777, 1);
    assert!(
        block.frame_index("lose_block").is_some(),
        "{w}: {:?}",
        block.functions()
    );

    // The largest still-reachable group names its path from the root.
    assert!(
        cache
            .chain
            .first()
            .is_some_and(|h| h.kind == HolderKind::Global && h.symbol.as_deref() == Some("cache")),
        "{w}: the cache's chain does not start at the global cache: {}",
        describe_holders(&cache.chain)
    );
}

// ---------------------------------------------------------------------------------------
// b. Globals of every kind.

#[test]
fn globals_hold_blocks_by_name_and_line() {
    let b = Both::run("lk_globals", &[]);
    b.valgrind_says([(1005, 1), (0, 0), (0, 0), (4010, 4)]);
    b.kinds_equal_valgrind();
    for (size, name) in [
        (1001, "data_ptr"),
        (1002, "bss_ptr"),
        (1003, "static_local"),
        (1004, "registry"),
    ] {
        let g = b.group(LeakKind::StillReachable, size, 1);
        let line = line_of("lk_globals.c", &format!("ROOT {name} "));
        assert_held_by_global(&b.what, g, name, "lk_globals.c", line);
    }
    b.group(LeakKind::DefinitelyLost, 1005, 1);
}

// ---------------------------------------------------------------------------------------
// c, d. Lost structures and valgrind's clique rules.

fn lost(mode: &str, expected: [(u64, u64); 4]) -> Both {
    let b = Both::run("lk_lost", &[mode]);
    b.valgrind_says(expected);
    b.kinds_equal_valgrind();
    for l in b
        .report
        .leaks
        .iter()
        .filter(|l| l.kind == Some(LeakKind::IndirectlyLost))
    {
        assert!(
            !l.held_by.is_empty() && l.held_by.iter().all(|h| h.kind == HolderKind::Heap),
            "{}: an indirectly lost group must be held by heap blocks only; held by {}",
            b.what,
            describe_holders(&l.held_by)
        );
    }
    b
}

#[test]
fn lost_list_is_one_definite_and_the_rest_indirect() {
    lost("list", [(48, 1), (336, 7), (0, 0), (0, 0)]);
}

#[test]
fn lost_tree_is_one_definite_and_the_rest_indirect() {
    lost("tree", [(40, 1), (560, 14), (0, 0), (0, 0)]);
}

#[test]
fn lost_cycle_of_two_has_its_lowest_block_definite() {
    let b = lost("cycle2", [(96, 1), (160, 1), (0, 0), (0, 0)]);
    b.group(LeakKind::DefinitelyLost, 96, 1);
}

#[test]
fn lost_cycle_of_three_has_its_lowest_block_definite() {
    let b = lost("cycle3", [(112, 1), (352, 2), (0, 0), (0, 0)]);
    b.group(LeakKind::DefinitelyLost, 112, 1);
}

#[test]
fn cycle_hanging_off_a_lost_block_is_indirect() {
    let b = lost("hanging", [(120, 1), (160, 2), (0, 0), (0, 0)]);
    b.group(LeakKind::DefinitelyLost, 120, 1);
}

/// glibc's arena points 16 bytes into the last block carved from the top chunk (or from
/// a free chunk it keeps in a bin): allocator state, not a pointer of the program, so the
/// blocks stay definitely lost.
#[test]
fn allocator_state_is_no_pointer_into_a_block() {
    lost("arena", [(2400, 100), (0, 0), (0, 0), (0, 0)]);
}

// ---------------------------------------------------------------------------------------
// e. Interior pointers and valgrind's heuristics.

fn interior(program: &str, mode: &str, size: u64, heuristic: Option<(&str, &str)>) {
    let b = Both::run(program, &[mode]);
    let w = &b.what;
    match heuristic {
        Some((valgrind_name, _)) => {
            let via = b.vg.heuristic(valgrind_name);
            assert_eq!(
                (via.bytes, via.blocks),
                (size, 1),
                "{w}: valgrind does not keep the {size}-byte block via its {valgrind_name} heuristic: {:?}",
                b.vg
            );
        }
        None => assert_eq!(
            (b.vg.possibly_lost.bytes, b.vg.possibly_lost.blocks),
            (size, 1),
            "{w}: valgrind does not see the {size}-byte block as possibly lost: {:?}",
            b.vg
        ),
    }
    b.kinds_equal_valgrind();
    let kind = if heuristic.is_some() {
        LeakKind::StillReachable
    } else {
        LeakKind::PossiblyLost
    };
    let g = b.group(kind, size, 1);
    let file = if program.ends_with("cxx") {
        "lk_interior_cxx.cpp"
    } else {
        "lk_interior.c"
    };
    assert_held_by_global(w, g, "holder", file, line_of(file, "ROOT holder"));
    let (reach_kind, reach_heuristic, _) = reach_of_block(&b.traced.trace, size);
    let expected = heuristic.map_or("None", |(_, ours)| ours);
    assert_eq!(
        (reach_kind.as_str(), reach_heuristic.as_str()),
        (
            if heuristic.is_some() {
                "StillReachable"
            } else {
                "PossiblyLost"
            },
            expected
        ),
        "{w}: the trace's Reach record of the {size}-byte block"
    );
}

#[test]
fn interior_stdstring_heuristic() {
    interior(
        "lk_interior",
        "stdstring",
        125,
        Some(("stdstring", "StdString")),
    );
}

#[test]
fn interior_length64_heuristic() {
    interior(
        "lk_interior",
        "length64",
        200,
        Some(("length64", "Length64")),
    );
}

#[test]
fn interior_newarray_heuristic() {
    interior(
        "lk_interior_cxx",
        "newarray",
        128,
        Some(("newarray", "NewArray")),
    );
}

#[test]
fn interior_multipleinheritance_heuristic() {
    interior(
        "lk_interior_cxx",
        "multiple",
        32,
        Some(("multipleinheritance", "MultipleInheritance")),
    );
}

#[test]
fn interior_pointer_without_heuristic_is_possibly_lost() {
    interior("lk_interior", "plain", 512, None);
}

// ---------------------------------------------------------------------------------------
// f, g. Thread-local storage and other threads' stacks.

#[test]
fn tls_of_the_main_thread_keeps_a_block() {
    let b = Both::run("lk_threads", &["tls_main"]);
    b.valgrind_says([(0, 0), (0, 0), (0, 0), (2001, 1)]);
    b.kinds_equal_valgrind();
    let (main, _) = b.printed_tids();
    let g = b.group(LeakKind::StillReachable, 2001, 1);
    assert_held_by_thread(&b.what, g, HolderKind::Tls, main, None);
}

#[test]
fn tls_of_a_blocked_thread_keeps_a_block() {
    let b = Both::run("lk_threads", &["tls_thread"]);
    b.valgrind_says_with_dtv(2002);
    b.kinds_equal_valgrind();
    let (_, other) = b.printed_tids();
    let g = b.group(LeakKind::StillReachable, 2002, 1);
    assert_held_by_thread(&b.what, g, HolderKind::Tls, other, None);
}

#[test]
fn stack_of_a_running_thread_keeps_a_block() {
    let b = Both::run("lk_threads", &["stack"]);
    b.valgrind_says_with_dtv(2003);
    b.kinds_equal_valgrind();
    let (main, other) = b.printed_tids();
    assert_ne!(main, other);
    let g = b.group(LeakKind::StillReachable, 2003, 1);
    assert_held_by_thread(
        &b.what,
        g,
        HolderKind::Stack,
        other,
        Some("sleeper_with_block"),
    );
}

// ---------------------------------------------------------------------------------------
// h. C++ strings and arrays.

#[test]
fn cxx_strings_and_arrays_kept() {
    let b = Both::run("lk_cxx", &["kept"]);
    // 32 + 121 (g_owned), 200 (g_array), 131 + 120 (main's frame), 72704 (libstdc++'s
    // emergency pool); g_text was destroyed by exit().
    b.valgrind_says([(0, 0), (0, 0), (0, 0), (73308, 6)]);
    b.kinds_equal_valgrind();
    let w = &b.what;
    let line = |m| line_of("lk_cxx.cpp", m);
    assert_held_by_global(
        w,
        b.group(LeakKind::StillReachable, 32, 1),
        "g_owned",
        "lk_cxx.cpp",
        line("ROOT g_owned"),
    );
    assert_held_by_global(
        w,
        b.group(LeakKind::StillReachable, 200, 1),
        "g_array",
        "lk_cxx.cpp",
        line("ROOT g_array"),
    );
    let main = b.traced.output.pid;
    assert_held_by_thread(
        w,
        b.group(LeakKind::StillReachable, 131, 1),
        HolderKind::Stack,
        main,
        Some("main"),
    );
    assert_held_by_thread(
        w,
        b.group(LeakKind::StillReachable, 120, 1),
        HolderKind::Stack,
        main,
        Some("main"),
    );
}

#[test]
fn cxx_strings_and_arrays_lost() {
    let b = Both::run("lk_cxx", &["lost"]);
    b.valgrind_says([(192, 2), (141, 1), (0, 0), (72704, 1)]);
    b.kinds_equal_valgrind();
    let chars = b.group(LeakKind::IndirectlyLost, 141, 1);
    assert!(
        chars.held_by.iter().any(|h| h.kind == HolderKind::Heap),
        "{}: the lost string's characters are not held by its object: {}",
        b.what,
        describe_holders(&chars.held_by)
    );
}

// ---------------------------------------------------------------------------------------
// i. Rust.

#[test]
fn rust_rc_cycle_and_leaked_box() {
    let b = Both::run("lk_rust", &[]);
    // 120 + 120: the two RcBox<Node> of the cycle; 3000: the leaked box; 544: std's
    // thread-info map (a BTreeMap leaf, kept by a static).
    b.valgrind_says([(120, 1), (120, 1), (0, 0), (3544, 2)]);
    b.kinds_equal_valgrind();
    let kept = b.group(LeakKind::StillReachable, 3000, 1);
    assert_held_by_global(
        &b.what,
        kept,
        "KEPT",
        "lk_rust.rs",
        line_of("lk_rust.rs", "// ROOT KEPT"),
    );
    let cycle = b.group(LeakKind::DefinitelyLost, 120, 1);
    assert!(
        cycle.frame_index("lk_rust::lose_rc_cycle").is_some()
            || cycle
                .functions()
                .iter()
                .any(|f| f.contains("lose_rc_cycle")),
        "{}: {:?}",
        b.what,
        cycle.functions()
    );
}

// ---------------------------------------------------------------------------------------
// j. Exit paths.

fn why_exits(how: &str) {
    let b = Both::run("lk_why", &["why", how]);
    assert_eq!(
        b.traced.output.shell_status(),
        b.vg_out.shell_status(),
        "{}: traced and under valgrind, the program must end alike",
        b.what
    );
    b.valgrind_says([(841, 2), (256, 4), (0, 0), (4736, 11)]);
    b.kinds_equal_valgrind();
}

#[test]
fn exit_path_return() {
    why_exits("return");
}

#[test]
fn exit_path_exit() {
    why_exits("exit");
}

#[test]
fn exit_path_underscore_exit() {
    why_exits("_exit");
}

#[test]
fn exit_path_abort() {
    why_exits("abort");
}

#[test]
fn exit_path_fatal_signal() {
    why_exits("segv");
}

/// SIGKILL: no leak check can run, the report says so (`leak_kinds` null) and the gate
/// falls back to every live block, in one line.
#[test]
fn sigkill_has_no_leak_kinds_and_the_gate_falls_back() {
    let traced = Run::new(fixture("lk_why")).args(["keep", "kill"]).traced();
    assert_eq!(
        traced.output.status.signal_or(),
        Some(9),
        "{}",
        traced.output.describe()
    );
    let r = traced.report();
    assert!(
        r.summary.leak_kinds.is_none(),
        "a trace cut by SIGKILL has leak kinds: {:?}",
        r.summary.leak_kinds
    );
    assert!(
        r.leaks.iter().all(|l| l.kind.is_none()),
        "groups have kinds without a leak check:\n{}",
        describe_groups(&r)
    );
    let json = memscope_tests::report_json(&traced.trace, &[]);
    assert!(
        json["summary"]["leak_kinds"].is_null(),
        "summary.leak_kinds must be null: {}",
        json["summary"]
    );

    // The "keep" shape holds only still-reachable blocks: the fallback to every live
    // block fails where the leak kinds would pass.
    let dir = tempfile::tempdir().unwrap();
    let out = gate_check(dir.path(), &traced.trace, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let text = out.stdout_str() + &out.stderr_str();
    let notes: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("FAIL ") && !l.starts_with("     "))
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("leak check") || l.contains("leak kind")
        })
        .collect();
    assert_eq!(
        notes.len(),
        1,
        "the gate must say in one line that the trace has no leak check and every live block counts: {}",
        out.describe()
    );
    let fails = fail_lines(&out.stdout_str());
    assert!(
        fails.iter().any(|l| l.contains(" keep_cache ("))
            && fails.iter().any(|l| l.contains(" keep_list (")),
        "the fallback must count the still-reachable blocks: {}",
        out.describe()
    );
}

trait SignalOr {
    fn signal_or(&self) -> Option<i32>;
}

impl SignalOr for std::process::ExitStatus {
    fn signal_or(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.signal()
    }
}

// ---------------------------------------------------------------------------------------
// The gate.

fn why() -> PathBuf {
    fixture("lk_why")
}

/// `memscope run --check [--no-config] GATE... -- lk_why ARGS...` in `dir`.
fn run_check(dir: &Path, gate: &[&str], args: &[&str], config: bool) -> Output {
    let program = why();
    let mut argv: Vec<&OsStr> = vec!["run".as_ref(), "--check".as_ref()];
    if !config {
        argv.push("--no-config".as_ref());
    }
    argv.extend(gate.iter().map(OsStr::new));
    argv.push("--".as_ref());
    argv.push(program.as_os_str());
    argv.extend(args.iter().map(OsStr::new));
    memscope_in(dir, &argv, &[])
}

/// `memscope check TRACE --no-config EXTRA...` in `dir`.
fn gate_check(dir: &Path, trace: &Path, extra: &[&str]) -> Output {
    let mut argv: Vec<&OsStr> = vec!["check".as_ref(), trace.as_os_str(), "--no-config".as_ref()];
    argv.extend(extra.iter().map(OsStr::new));
    memscope_in(dir, &argv, &[])
}

/// The functions named by FAIL lines ("leaked at FUNCTION ("), sorted, deduplicated.
fn failing_functions(fails: &[String]) -> Vec<String> {
    let mut names: Vec<String> = fails
        .iter()
        .filter_map(|l| {
            let i = l.find(" at ")?;
            let rest = &l[i + 4..];
            Some(rest.split([' ', '(']).next()?.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn gate_passes_still_reachable_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_check(dir.path(), &[], &["keep"], false);
    assert_eq!(
        out.status.code(),
        Some(0),
        "4736 still-reachable bytes must not fail the default gate: {}",
        out.describe()
    );
    assert!(
        fail_lines(&out.stderr_str()).is_empty(),
        "{}",
        out.describe()
    );
}

#[test]
fn gate_fails_on_the_lost_groups_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_check(dir.path(), &[], &["why"], false);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let fails = fail_lines(&out.stderr_str());
    assert_eq!(
        failing_functions(&fails),
        vec!["lose_block".to_string(), "lose_list".to_string()],
        "the default gate must fail on the lost groups only: {}",
        out.describe()
    );

    // As many FAIL lines as definitely and indirectly lost groups in the report.
    let traced = Run::new(why()).arg("why").traced();
    let r = traced.report();
    let lost_groups = r
        .leaks
        .iter()
        .filter(|l| {
            !l.runtime_internal
                && matches!(
                    l.kind,
                    Some(LeakKind::DefinitelyLost | LeakKind::IndirectlyLost)
                )
        })
        .count();
    let out = gate_check(dir.path(), &traced.trace, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let fails = fail_lines(&out.stdout_str());
    assert_eq!(
        fails.len(),
        lost_groups,
        "one FAIL line per lost group:\n{}\ngroups:\n{}",
        out.describe(),
        describe_groups(&r)
    );
}

#[test]
fn gate_fail_on_leak_kinds_chooses_the_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let traced = Run::new(why()).arg("possible").traced();
    let cases: &[(&str, &[&str])] = &[
        (
            "all",
            &[
                "keep_cache",
                "keep_interior",
                "keep_list",
                "lose_block",
                "lose_list",
            ],
        ),
        (
            "definite,indirect,possible,reachable",
            &[
                "keep_cache",
                "keep_interior",
                "keep_list",
                "lose_block",
                "lose_list",
            ],
        ),
        ("definite,indirect", &["lose_block", "lose_list"]),
        ("possible", &["keep_interior"]),
        ("reachable", &["keep_cache", "keep_list"]),
        ("none", &[]),
    ];
    for (kinds, expected) in cases {
        let out = gate_check(d, &traced.trace, &["--fail-on-leak-kinds", kinds]);
        let want = if expected.is_empty() { 0 } else { 1 };
        assert_eq!(
            out.status.code(),
            Some(want),
            "--fail-on-leak-kinds {kinds}: {}",
            out.describe()
        );
        assert_eq!(
            failing_functions(&fail_lines(&out.stdout_str())),
            expected.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "--fail-on-leak-kinds {kinds}: {}",
            out.describe()
        );
    }

    // Through `run --check` too: all four kinds fail.
    let out = run_check(d, &["--fail-on-leak-kinds", "all"], &["possible"], false);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert_eq!(
        failing_functions(&fail_lines(&out.stderr_str())),
        vec![
            "keep_cache",
            "keep_interior",
            "keep_list",
            "lose_block",
            "lose_list"
        ],
        "{}",
        out.describe()
    );
    // The "keep" shape, which passes by default, fails once still reachable counts.
    let out = run_check(d, &["--fail-on-leak-kinds", "reachable"], &["keep"], false);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
}

#[test]
fn gate_fail_on_leak_kinds_in_memscope_toml() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A git root, so that the config search stops here.
    fs::create_dir(d.join(".git")).unwrap();
    fs::write(
        d.join("memscope.toml"),
        "[check]\nfail-on-leak-kinds = [\"reachable\"]\n",
    )
    .unwrap();
    let out = run_check(d, &[], &["keep"], true);
    assert_eq!(
        out.status.code(),
        Some(1),
        "fail-on-leak-kinds = [\"reachable\"] in memscope.toml must fail on still-reachable blocks: {}",
        out.describe()
    );
    assert_eq!(
        failing_functions(&fail_lines(&out.stderr_str())),
        vec!["keep_cache", "keep_list"],
        "{}",
        out.describe()
    );
    // The command line overrides the file.
    let out = run_check(
        d,
        &["--fail-on-leak-kinds", "definite,indirect"],
        &["keep"],
        true,
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    // A misspelt kind is a configuration error.
    fs::write(
        d.join("memscope.toml"),
        "[check]\nfail-on-leak-kinds = [\"reachble\"]\n",
    )
    .unwrap();
    let out = run_check(d, &[], &["keep"], true);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
}

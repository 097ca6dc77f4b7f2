//! Real programs behave identically under the preload (same stdout, same exit
//! status), their traces replay without inconsistencies, and, where the
//! program is deterministic, memscope's counts equal valgrind's.

use std::path::{Path, PathBuf};

use memscope_tests::{
    analyze, assert_clean, assert_counts_eq, fixture, python3, which, Counts, Report, Run,
};

fn tool(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| panic!("{name} is not installed (`bash .ci/run` installs it)"))
}

/// Native vs traced: same stdout, same status; a clean trace with some
/// allocations and frees. Returns the report.
fn same_behaviour(what: &str, run: &Run) -> Report {
    let native = run.native();
    assert!(
        native.status.success(),
        "{what} fails natively: {}",
        native.describe()
    );
    let traced = run.traced();
    assert_eq!(
        traced.output.shell_status(),
        native.shell_status(),
        "{what}: exit status differs under the preload: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.stdout, native.stdout,
        "{what}: stdout differs under the preload"
    );
    let report = traced.report();
    assert_clean(what, &report);
    assert!(
        report.summary.allocations > 0,
        "{what}: no allocations recorded"
    );
    assert!(report.summary.frees > 0, "{what}: no frees recorded");
    assert!(
        report.summary.bytes_allocated > 0,
        "{what}: no bytes recorded"
    );
    report
}

/// Traced and under valgrind with alike environments (see
/// `Run::traced_and_valgrind`): clean trace, same stdout and status as
/// natively, equal counts.
fn matches_valgrind(what: &str, run: &Run) {
    let native = run.native();
    assert!(
        native.status.success(),
        "{what} fails natively: {}",
        native.describe()
    );
    let (traced, vg_out, vg) = run.traced_and_valgrind();
    assert_eq!(
        traced.output.shell_status(),
        native.shell_status(),
        "{what}: {}",
        traced.output.describe()
    );
    assert_eq!(
        traced.output.stdout, native.stdout,
        "{what}: stdout differs under the preload"
    );
    assert_eq!(
        vg_out.stdout, native.stdout,
        "{what}: stdout differs under valgrind"
    );
    let report = traced.report();
    assert_clean(what, &report);
    assert_counts_eq(what, Counts::from(&report), vg.into());
}

const PYTHON_SNIPPET: &str = r#"
import json
d = {}
for i in range(20000):
    d.setdefault(i % 997, []).append(("x" * (i % 50)) + str(i))
s = json.dumps(d, sort_keys=True)
big = [bytearray(1000 + i) for i in range(300)]
print(len(d), len(s), sum(len(b) for b in big))
"#;

fn python_run() -> Run {
    Run::new(python3())
        .arg("-c")
        .arg(PYTHON_SNIPPET)
        .env("PYTHONHASHSEED", "0")
}

#[test]
fn python3_same_behaviour() {
    same_behaviour("python3 -c", &python_run());
}

/// With a fixed hash seed CPython allocates the same on every run.
#[test]
fn python3_matches_valgrind() {
    matches_valgrind("python3 -c", &python_run());
}

const PERL_SNIPPET: &str = r#"my %h; for my $i (1..20000) { $h{"k$i"} = "v" x ($i % 40) } my $t = 0; $t += length($h{$_}) for sort keys %h; my @l = map { [$_, "w" x $_] } 1..2000; print scalar(keys %h), " $t ", scalar(@l), "\n";"#;

fn perl_run() -> Run {
    Run::new(tool("perl"))
        .arg("-e")
        .arg(PERL_SNIPPET)
        .env("PERL_HASH_SEED", "0")
        .env("PERL_PERTURB_KEYS", "0")
}

#[test]
fn perl_same_behaviour() {
    same_behaviour("perl -e", &perl_run());
}

#[test]
fn perl_matches_valgrind() {
    matches_valgrind("perl -e", &perl_run());
}

/// About 1 MiB of lines, from a fixed-seed generator.
fn sort_input(dir: &Path) -> PathBuf {
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let mut text = String::new();
    while text.len() < 1 << 20 {
        let n = next() % 100_000_000;
        let len = 5 + next() % 35;
        let word: String = (0..len)
            .map(|_| (b'a' + (next() % 10) as u8) as char)
            .collect();
        text.push_str(&format!("{n:08} {word}\n"));
    }
    let path = dir.join("input.txt");
    std::fs::write(&path, text).expect("write sort input");
    path
}

/// Plain `sort FILE` (threads and buffer size chosen by sort itself). Its
/// buffer size depends on the memory available at the time, so its counts
/// are not compared with valgrind.
#[test]
fn sort_same_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let input = sort_input(dir.path());
    let run = Run::new(tool("sort")).arg(input.display().to_string());
    same_behaviour("sort", &run);
}

/// With a fixed buffer size and one thread, sort allocates the same every time.
#[test]
fn sort_fixed_buffer_matches_valgrind() {
    let dir = tempfile::tempdir().unwrap();
    let input = sort_input(dir.path());
    let run = Run::new(tool("sort"))
        .args(["--parallel=1", "-S", "16M"])
        .arg(input.display().to_string())
        .env("LC_ALL", "C");
    matches_valgrind("sort --parallel=1 -S 16M", &run);
}

/// `gcc -c` (the driver spawns cc1 and as, which inherit LD_PRELOAD). The
/// driver's byte counts vary from run to run even under valgrind (names of
/// temporary files), so they are not compared. Every trace written (the
/// driver's and, if traced, its children's) must replay cleanly.
#[test]
fn gcc_compile_same_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("small.c"),
        "#include <stdlib.h>\nint twice(int x) { return 2 * x; }\nvoid *grab(void) { return malloc(10); }\n",
    )
    .unwrap();
    let run = Run::new(tool("gcc"))
        .args(["-O2", "-c", "small.c", "-o", "small.o"])
        .cwd(dir.path());
    let native = run.native();
    assert!(
        native.status.success(),
        "gcc -c fails natively: {}",
        native.describe()
    );
    let native_obj = std::fs::read(dir.path().join("small.o")).expect("small.o");
    std::fs::remove_file(dir.path().join("small.o")).unwrap();
    let traced = run.traced();
    assert_eq!(
        traced.output.shell_status(),
        0,
        "gcc -c under the preload: {}",
        traced.output.describe()
    );
    assert_eq!(traced.output.stdout, native.stdout);
    let traced_obj = std::fs::read(dir.path().join("small.o")).expect("small.o under the preload");
    assert_eq!(
        traced_obj, native_obj,
        "gcc -c: the object file differs under the preload"
    );
    let report = traced.report();
    assert_clean("gcc -c", &report);
    assert!(
        report.summary.allocations > 0 && report.summary.frees > 0,
        "gcc -c: nothing recorded"
    );
    for trace in traced.all_traces() {
        let r = analyze(&trace);
        assert_clean(&format!("gcc -c, trace {}", trace.display()), &r);
    }
}

#[test]
fn mt_same_behaviour() {
    let report = same_behaviour("mt", &Run::new(fixture("mt")));
    assert_eq!(report.summary.threads, 5, "mt runs main and 4 threads");
}

#[test]
fn mt_matches_valgrind() {
    matches_valgrind("mt", &Run::new(fixture("mt")));
}

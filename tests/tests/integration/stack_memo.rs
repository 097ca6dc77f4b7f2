//! The tracer replays a thread's memoized stack walks instead of unwinding every stack
//! from scratch (platform/src/x86_64/walk_memo.rs). The memo must never change a stack:
//! deterministic real programs traced with it and without it (`MEMSCOPE_STACK_MEMO=0`)
//! give the same allocation stacks, each with the same number of allocations.

use std::path::Path;

use memscope_tests::{fixture, memscope_ok, python3, which, Run, Traced};

/// Every allocation stack of the trace, symbolized, with its allocation count, as
/// `--format collapsed --weight allocations` lines (root first), sorted.
fn allocation_stacks(trace: &Path) -> Vec<String> {
    let out = memscope_ok(&[
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "collapsed".as_ref(),
        "--weight".as_ref(),
        "allocations".as_ref(),
    ]);
    let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// Traces `run` with and without the memo and compares the stacks.
fn same_stacks(what: &str, run: Run, min_stacks: usize, min_depth: usize) {
    same_stacks_of(
        what,
        run,
        min_stacks,
        min_depth,
        |t| t.trace.clone(),
        |_| true,
    );
}

/// As [`same_stacks`], comparing the traces `trace_of` picks, and only the stacks `keep`
/// keeps.
fn same_stacks_of(
    what: &str,
    run: Run,
    min_stacks: usize,
    min_depth: usize,
    trace_of: impl Fn(&Traced) -> std::path::PathBuf,
    keep: impl Fn(&str) -> bool,
) {
    // Both runs set the variable, so that programs that copy their environment (perl)
    // allocate the same.
    let with = run.clone().env("MEMSCOPE_STACK_MEMO", "1").traced();
    let without = run.env("MEMSCOPE_STACK_MEMO", "0").traced();
    for t in [&with, &without] {
        assert!(t.output.status.success(), "{what}: {}", t.output.describe());
    }
    let stacks = |t: &Traced| -> Vec<String> {
        allocation_stacks(&trace_of(t))
            .into_iter()
            .filter(|l| keep(l))
            .collect()
    };
    let (a, b) = (stacks(&with), stacks(&without));
    assert!(
        a.len() >= min_stacks,
        "{what}: only {} distinct allocation stacks",
        a.len()
    );
    let deepest = a.iter().map(|l| l.split(';').count()).max().unwrap_or(0);
    assert!(
        deepest >= min_depth,
        "{what}: the deepest stack has only {deepest} frames"
    );
    if a != b {
        let only_with: Vec<_> = a.iter().filter(|l| !b.contains(l)).take(3).collect();
        let only_without: Vec<_> = b.iter().filter(|l| !a.contains(l)).take(3).collect();
        panic!(
            "{what}: {} stacks with the memo, {} without; differing lines:\n  with memo: {only_with:#?}\n  without: {only_without:#?}",
            a.len(),
            b.len()
        );
    }
}

#[test]
fn python3_stacks_do_not_depend_on_the_memo() {
    // Recursion at varying depths through the interpreter, a C extension (_json, loaded
    // at run time) and many allocation sites: walks are replayed whole, in part, and
    // lent from one stack to the next.
    let script = r#"
import json
def nest(n):
    return {"n": n, "kids": [nest(n - 1) for _ in range(2)]} if n else [n] * 3
docs = [json.dumps(nest(d)) for d in range(1, 9)]
back = [json.loads(s) for s in docs]
print(sum(len(s) for s in docs), len(back))
"#;
    let run = Run::new(python3())
        .arg("-c")
        .arg(script)
        .env("PYTHONHASHSEED", "0");
    same_stacks("python3", run, 300, 30);
}

#[test]
fn perl_stacks_do_not_depend_on_the_memo() {
    let script = r#"sub t { my $n = shift; return $n ? [map { t($n - 1) } 1..3] : "x" x 40 } my @all = map { t($_) } 1..6; my %h; $h{"k$_"} = [1..($_ % 9)] for 1..5000; print scalar(@all), " ", scalar(keys %h), "\n";"#;
    let perl = which("perl").expect("perl is not installed (`bash .ci/run` installs it)");
    let run = Run::new(perl)
        .arg("-e")
        .arg(script)
        .env("PERL_HASH_SEED", "0")
        .env("PERL_PERTURB_KEYS", "0");
    same_stacks("perl", run, 50, 10);
}

#[test]
fn cxx_stacks_do_not_depend_on_the_memo() {
    same_stacks("cxx_newdelete", Run::new(fixture("cxx_newdelete")), 3, 4);
}

#[test]
fn cc1_stacks_do_not_depend_on_the_memo() {
    // A compiler: 45 K functions of code without frame pointers, deep and varied stacks
    // (more code than the thread's tables of step shapes and rule caches hold), and
    // hundreds of thousands of allocations. cc1 is deterministic only without address
    // randomization (its hash tables hash pointers), so it runs under `setarch -R`; its
    // trace is the one after that exec. Its garbage collector's own bookkeeping (a page
    // table entry, allocated by ggc_internal_alloc when a new page lies in an address
    // range it has not seen) depends on where mmap placed its pages, which the tracer's
    // writer thread, mapping memory of its own at moments that vary from run to run,
    // moves: one of those allocations in a few runs comes from another call. They are
    // left out.
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("many_functions.c");
    let mut c = String::from("int snprintf(char *, unsigned long, const char *, ...);\nunsigned long strlen(const char *);\n");
    for i in 0..80 {
        c += &format!("int f{i}(int x) {{ char b[64]; snprintf(b, sizeof b, \"%d\", x * {i}); return (int)strlen(b) + x % {}; }}\n", i + 1);
    }
    c += "int main(void) { int s = 0;\n";
    for i in 0..80 {
        c += &format!("  s += f{i}(s);\n");
    }
    c += "  return s; }\n";
    std::fs::write(&source, c).expect("write the C file");
    let gcc = which("gcc").expect("gcc is not installed (`bash .ci/run` installs it)");
    let cc1 = std::process::Command::new(gcc)
        .arg("-print-prog-name=cc1")
        .output()
        .expect("gcc -print-prog-name=cc1");
    let cc1 = String::from_utf8_lossy(&cc1.stdout).trim().to_owned();
    let setarch = which("setarch").expect("setarch (util-linux) is not installed");
    let run = Run::new(setarch)
        .args(["x86_64", "-R", &cc1, "-quiet", "-O2", "-o", "/dev/null"])
        .arg(source.to_string_lossy());
    let after_exec = |t: &Traced| {
        let traces = t.all_traces();
        traces
            .iter()
            .find(|p| p.to_string_lossy().ends_with(".1.msl"))
            .cloned()
            .unwrap_or_else(|| panic!("no trace after exec among {traces:?}"))
    };
    let gc_bookkeeping = |line: &str| {
        let frames: Vec<&str> = line.split(';').collect();
        frames
            .iter()
            .rev()
            .take(3)
            .any(|f| f.starts_with("ggc_internal_alloc("))
    };
    same_stacks_of("cc1", run, 2500, 25, after_exec, |line| {
        !gc_bookkeeping(line)
    });
}

//! The real-program corpus: each program runs natively and under the preload
//! with the same stdout and exit status; every trace of its process tree is
//! complete (not truncated) and replays with zero inconsistencies; where the
//! program is deterministic, the root process's counts equal valgrind's
//! (environments made alike by `Run::traced_and_valgrind`).
//!
//! The fast rows are tests; `corpus_table` (ignored; run by
//! `scripts/corpus.sh`) runs every row and prints the table, with, for the root process,
//! what was live at exit split by leak kind and the default gate's verdict under the old
//! rule (every live block of the program's fails: `--fail-on-leak-kinds all`) and the new
//! one (only definitely and indirectly lost blocks fail).

use std::path::{Path, PathBuf};
use std::time::Duration;

use memscope_tests::{
    all_trace_files, analyze, build_test_program, fixture, memscope, memscope_bin, which, Counts,
    LeakKinds, Run,
};
use tempfile::TempDir;

/// One corpus program: how to run it, in its own scratch folder.
struct Case {
    name: &'static str,
    run: Run,
    /// Whether the root process allocates the same on every run (compare with valgrind).
    deterministic: bool,
    /// Rewrites stdout before comparing (ldd prints load addresses).
    normalize: fn(&str) -> String,
    /// The scratch folder the program works in.
    _dir: TempDir,
}

fn same(s: &str) -> String {
    s.to_string()
}

/// ldd: drop load addresses (ASLR) and the lines of the preloaded library
/// and of its own dependency libgcc_s (ld.so lists what LD_PRELOAD loads).
fn ldd_normalize(s: &str) -> String {
    s.lines()
        .filter(|l| !l.contains("libmemscope") && !l.contains("libgcc_s.so"))
        .map(|l| match l.find(" (0x") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn tool(name: &str) -> PathBuf {
    // Debian's programs, not shims earlier on PATH.
    for dir in ["/usr/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    which(name).unwrap_or_else(|| {
        panic!("{name} is not installed (scripts/ensure_packages.sh installs it)")
    })
}

fn scratch() -> TempDir {
    tempfile::Builder::new()
        .prefix("memscope-corpus-")
        .tempdir()
        .unwrap()
}

const PY_THREADS: &str = r#"
import threading, json
results = {}
def work(n):
    d = {i: str(i) * (i % 7) for i in range(5000 + n)}
    results[n] = len(json.dumps(d))
ts = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(results.items()))
"#;

const PERL_SNIPPET: &str = r#"my %h; for my $i (1..20000) { $h{"k$i"} = "v" x ($i % 40) } my $t = 0; $t += length($h{$_}) for sort keys %h; print scalar(keys %h), " $t\n";"#;

const SQL: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL); \
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) \
INSERT INTO t(name, v) SELECT printf('name%05d', x), x * 0.5 FROM c; \
CREATE INDEX t_name ON t(name); \
SELECT count(*), sum(v), max(name) FROM t WHERE name LIKE 'name1%'; \
SELECT name FROM t ORDER BY v DESC LIMIT 3;";

fn write_tree(dir: &Path) {
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    for i in 0..40 {
        let text: String = (0..(200 + i * 37))
            .map(|k| char::from(b'a' + ((k * 7 + i) % 26) as u8))
            .collect();
        std::fs::write(
            data.join(if i % 3 == 0 {
                format!("sub/f{i:02}.txt")
            } else {
                format!("f{i:02}.txt")
            }),
            text,
        )
        .unwrap();
    }
}

fn case(name: &str) -> Case {
    let dir = scratch();
    let d = dir.path();
    let (run, deterministic, normalize): (Run, bool, fn(&str) -> String) = match name {
        "python3 threads" => (
            Run::new(tool("python3"))
                .args(["-c", PY_THREADS])
                .env("PYTHONHASHSEED", "0"),
            false,
            same,
        ),
        "perl" => (
            Run::new(tool("perl"))
                .args(["-e", PERL_SNIPPET])
                .env("PERL_HASH_SEED", "0")
                .env("PERL_PERTURB_KEYS", "0"),
            true,
            same,
        ),
        "sort" => {
            let text: String = (0..30000u64)
                .map(|i| format!("{:08} w{}\n", (i * 2654435761) % 100_000_000, i % 97))
                .collect();
            std::fs::write(d.join("in.txt"), text).unwrap();
            (
                Run::new(tool("sort"))
                    .args(["--parallel=1", "-S", "16M", "in.txt"])
                    .env("LC_ALL", "C"),
                true,
                same,
            )
        }
        "gcc -c" => {
            std::fs::write(
                d.join("small.c"),
                "#include <stdlib.h>\nvoid *grab(void) { return malloc(10); }\n",
            )
            .unwrap();
            (
                Run::new(tool("gcc")).args(["-O2", "-c", "small.c", "-o", "small.o"]),
                false,
                same,
            )
        }
        "g++ STL" => {
            let src = memscope_tests::fixtures_src_dir().join("surv_stl.cpp");
            (
                Run::new(tool("g++"))
                    .args(["-O1", "-std=c++17", "-c"])
                    .arg(src.display().to_string())
                    .args(["-o", "stl.o"]),
                false,
                same,
            )
        }
        "git" => {
            write_tree(d);
            let git = tool("git").display().to_string();
            let script = format!(
                "set -e; G={git}; rm -rf repo; $G init -q -b main repo; cp -r data/. repo/; cd repo; $G add .; \
                 $G commit -q -m 'corpus commit'; $G log --format='%H %s'; $G status --short | wc -l"
            );
            (
                Run::new(tool("bash"))
                    .args(["-c", &script])
                    .env("HOME", d.display().to_string())
                    .env("GIT_CONFIG_NOSYSTEM", "1")
                    .env("GIT_CONFIG_GLOBAL", "/dev/null")
                    .env("GIT_AUTHOR_NAME", "Corpus")
                    .env("GIT_AUTHOR_EMAIL", "corpus@example.invalid")
                    .env("GIT_COMMITTER_NAME", "Corpus")
                    .env("GIT_COMMITTER_EMAIL", "corpus@example.invalid")
                    .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
                    .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z"),
                false,
                same,
            )
        }
        "tar gzip" => {
            write_tree(d);
            (
                Run::new(tool("tar")).args([
                    "--sort=name",
                    "--mtime=@0",
                    "--owner=0",
                    "--group=0",
                    "--numeric-owner",
                    "-czvf",
                    "out.tgz",
                    "data",
                ]),
                false,
                same,
            )
        }
        "sqlite3" => (
            Run::new(tool("sqlite3")).args([":memory:", SQL]),
            true,
            same,
        ),
        "ldd" => (
            Run::new(tool("ldd")).arg("/usr/bin/bash"),
            false,
            ldd_normalize,
        ),
        "openmp" => {
            let omp = build_test_program(
                "surv_omp",
                "surv_omp.c",
                "gcc",
                &["-O1", "-g", "-fopenmp", "-Wall"],
            );
            (Run::new(omp).env("OMP_NUM_THREADS", "4"), false, same)
        }
        "bash pipeline" => (
            Run::new(tool("bash"))
                .args(["-c", "seq 1 30000 | sort -r | grep 9 | head -3; echo done"]),
            false,
            same,
        ),
        "memscope analyze" => {
            // A trace to analyze: mt (5 threads), untraced copy in the scratch folder.
            let traced = Run::new(fixture("mt")).traced();
            assert!(
                traced.output.status.success(),
                "{}",
                traced.output.describe()
            );
            std::fs::copy(&traced.trace, d.join("mt.msl")).unwrap();
            (
                Run::new(memscope_bin()).args(["analyze", "mt.msl", "--format", "json"]),
                false,
                |s: &str| {
                    s.lines()
                        .filter(|l| {
                            !l.contains("\"duration_ns\"")
                                && !l.contains("\"pid\"")
                                && !l.contains("\"ppid\"")
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            )
        }
        other => panic!("no corpus case {other:?}"),
    };
    Case {
        name: Box::leak(name.to_string().into_boxed_str()),
        run: run.cwd(d).timeout(Duration::from_secs(300)),
        deterministic,
        normalize,
        _dir: dir,
    }
}

const ALL: &[&str] = &[
    "python3 threads",
    "perl",
    "sort",
    "gcc -c",
    "g++ STL",
    "git",
    "tar gzip",
    "sqlite3",
    "ldd",
    "openmp",
    "bash pipeline",
    "memscope analyze",
];

/// One row of the table.
#[derive(Debug)]
struct Row {
    name: &'static str,
    identical: bool,
    detail: String,
    traces: usize,
    inconsistencies: u64,
    truncated: usize,
    /// `Some(equal)` when compared with valgrind.
    valgrind: Option<bool>,
    vg_detail: String,
    /// The root process's live-at-exit by leak kind (`None`: no leak check in its trace).
    kinds: Option<LeakKinds>,
    /// The default gate on the root trace under the old rule and the new one (table only).
    gate_old: String,
    gate_new: String,
}

/// `memscope check TRACE --no-config EXTRA...`: "pass", "FAIL (N)" with its FAIL lines,
/// or what went wrong.
fn gate_verdict(trace: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["check".as_ref(), trace.as_os_str(), "--no-config".as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let out = memscope(&args);
    let fails = out
        .stdout_str()
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .count();
    match out.status.code() {
        Some(0) => "pass".to_string(),
        Some(1) => format!("FAIL ({fails})"),
        Some(code) => format!("error {code}"),
        None => "killed".to_string(),
    }
}

/// "def/ind/pos/reach" bytes, or "no check".
fn kinds_cell(k: &Option<LeakKinds>) -> String {
    match k {
        Some(k) => format!(
            "{}/{}/{}/{}",
            k.definitely_lost.bytes,
            k.indirectly_lost.bytes,
            k.possibly_lost.bytes,
            k.still_reachable.bytes
        ),
        None => "no check".to_string(),
    }
}

fn evaluate(c: &Case, table: bool) -> Row {
    let native = c.run.native();
    let (traced, vg) = if c.deterministic {
        let (t, vg_out, vg) = c.run.traced_and_valgrind();
        (t, Some((vg_out, vg)))
    } else {
        (c.run.traced(), None)
    };
    let norm = c.normalize;
    let same_out = norm(&traced.output.stdout_str()) == norm(&native.stdout_str());
    let same_status = traced.output.shell_status() == native.shell_status();
    let mut detail = String::new();
    if !same_out || !same_status {
        detail = format!(
            "native: {}\ntraced: {}",
            native.describe(),
            traced.output.describe()
        );
    }
    let traces = all_trace_files(traced.dir.path());
    let mut inconsistencies = 0;
    let mut truncated = 0;
    let mut kinds = None;
    for t in &traces {
        let r = analyze(t);
        inconsistencies += r.trace.inconsistencies;
        truncated += r.trace.truncated as usize;
        if *t == traced.trace {
            kinds = r.summary.leak_kinds;
        }
    }
    let (gate_old, gate_new) = if table {
        (
            gate_verdict(&traced.trace, &["--fail-on-leak-kinds", "all"]),
            gate_verdict(&traced.trace, &[]),
        )
    } else {
        (String::new(), String::new())
    };
    let (valgrind, vg_detail) = match vg {
        Some((vg_out, vg)) => {
            let ours = Counts::from(&analyze(&traced.trace));
            let theirs = Counts::from(vg);
            let equal = ours == theirs && norm(&vg_out.stdout_str()) == norm(&native.stdout_str());
            (Some(equal), format!("memscope: {ours}\nvalgrind: {theirs}"))
        }
        None => (None, String::new()),
    };
    Row {
        name: c.name,
        identical: same_out && same_status && native.status.success(),
        detail,
        traces: traces.len(),
        inconsistencies,
        truncated,
        valgrind,
        vg_detail,
        kinds,
        gate_old,
        gate_new,
    }
}

fn check(name: &str) {
    let c = case(name);
    let row = evaluate(&c, false);
    assert!(
        row.identical,
        "{name}: output or status differs under the preload (or fails natively):\n{}",
        row.detail
    );
    assert!(row.traces >= 1, "{name}: no trace");
    assert_eq!(
        row.truncated, 0,
        "{name}: {} of {} traces truncated",
        row.truncated, row.traces
    );
    assert_eq!(
        row.inconsistencies, 0,
        "{name}: inconsistencies summed over {} traces",
        row.traces
    );
    if let Some(equal) = row.valgrind {
        assert!(
            equal,
            "{name}: counts differ from valgrind's:\n{}",
            row.vg_detail
        );
    }
}

#[test]
fn corpus_sqlite3() {
    check("sqlite3");
}

#[test]
fn corpus_tar_gzip() {
    check("tar gzip");
}

#[test]
fn corpus_git() {
    check("git");
}

#[test]
fn corpus_ldd() {
    check("ldd");
}

#[test]
fn corpus_openmp() {
    check("openmp");
}

/// `head` exits early: grep and sort die of SIGPIPE. sort catches SIGPIPE,
/// resets it to SIG_DFL and re-raises it: its trace is truncated today.
#[test]
fn corpus_bash_pipeline() {
    check("bash pipeline");
}

#[test]
fn corpus_python3_threads() {
    check("python3 threads");
}

#[test]
fn corpus_memscope_analyzes_a_trace() {
    check("memscope analyze");
}

/// Every row, as a table (`scripts/corpus.sh`). `CORPUS_ONLY=name,name` picks rows.
#[test]
#[ignore = "the whole corpus takes minutes: run scripts/corpus.sh"]
fn corpus_table() {
    let only: Option<Vec<String>> = std::env::var("CORPUS_ONLY")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for name in ALL {
        if only.as_ref().is_some_and(|o| !o.iter().any(|x| x == name)) {
            continue;
        }
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(|| {
            let c = case(name);
            evaluate(&c, true)
        });
        match result {
            Ok(row) => {
                if !row.detail.is_empty() {
                    notes.push(format!("{}: {}", row.name, row.detail));
                }
                if row.valgrind == Some(false) {
                    notes.push(format!("{}:\n{}", row.name, row.vg_detail));
                }
                eprintln!(
                    "corpus: {name} done in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                rows.push(Ok(row));
            }
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                notes.push(format!("{name}: ERROR {msg}"));
                rows.push(Err(*name));
            }
        }
    }
    let mut table = String::new();
    table.push_str(&format!(
        "| {:<17} | {:<20} | {:>6} | {:>15} | {:>9} | {:<26} | {:<34} | {:<10} | {:<10} |\n",
        "program",
        "same output & status",
        "traces",
        "inconsistencies",
        "truncated",
        "counts = valgrind's",
        "live at exit: def/ind/pos/reach B",
        "gate old",
        "gate new"
    ));
    table.push_str(&format!(
        "|{:-<19}|{:-<22}|{:->8}|{:->17}|{:->11}|{:-<28}|{:-<36}|{:-<12}|{:-<12}|\n",
        "", "", "", "", "", "", "", "", ""
    ));
    let mut all_pass = true;
    for r in &rows {
        match r {
            Ok(r) => {
                let vg = match r.valgrind {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "n/a: nondeterministic",
                };
                all_pass &= r.identical
                    && r.inconsistencies == 0
                    && r.truncated == 0
                    && r.valgrind != Some(false);
                table.push_str(&format!(
                    "| {:<17} | {:<20} | {:>6} | {:>15} | {:>9} | {:<26} | {:<34} | {:<10} | {:<10} |\n",
                    r.name,
                    if r.identical { "yes" } else { "no" },
                    r.traces,
                    r.inconsistencies,
                    r.truncated,
                    vg,
                    kinds_cell(&r.kinds),
                    r.gate_old,
                    r.gate_new
                ));
            }
            Err(name) => {
                all_pass = false;
                table.push_str(&format!(
                    "| {:<17} | {:<20} | {:>6} | {:>15} | {:>9} | {:<26} | {:<34} | {:<10} | {:<10} |\n",
                    name, "ERROR", "-", "-", "-", "-", "-", "-", "-"
                ));
            }
        }
    }
    println!("{table}");
    for n in &notes {
        println!("{n}\n");
    }
    assert!(all_pass, "some corpus rows fail (see the table)");
}

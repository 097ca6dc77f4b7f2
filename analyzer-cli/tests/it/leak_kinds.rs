//! Leak kinds through the real `memscope` binary: a synthetic trace whose leak check
//! (`Root`, `Reach`, `ReachEnd`) names the blocks of a small C program compiled with
//! `gcc -g -O0` (mapped at a PIE-like load bias, so globals and stack frames
//! symbolize): grouping by stack and kind, the summary, holders (global with its
//! declaration, stack frame, register, the lost block of an indirectly lost group), the
//! chain from a root, the text report, the gate's kind filter (default, `all`, `none`,
//! `possible`, `memscope.toml`) and the fallback for a trace without `ReachEnd`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memscope_analyzer::symbols::symbolize::read_build_id;
use memscope_analyzer::trace::synth::TraceBuilder;
use memscope_analyzer::trace::synth::{alloc, free, module, reach, reach_end, root, stack};
use memscope_format::{AllocKind, ExitHow, Holder, LeakKind, Origin, Record, RootKind, StackId};
use object::{Object, ObjectSymbol};
use serde_json::Value;

const SOURCE: &str = r#"#include <stdlib.h>
void *cache;
__attribute__((noinline)) void *make_lost(void) { return malloc(100); }
__attribute__((noinline)) void *make_list(void) { return malloc(40); }
__attribute__((noinline)) void *make_table(void) { return malloc(4096); }
__attribute__((noinline)) void *make_entry(void) { return malloc(32); }
__attribute__((noinline)) void *make_buf(void) { return malloc(64); }
__attribute__((noinline)) void *make_reg(void) { return malloc(16); }
__attribute__((noinline)) void *make_ring(void) { return malloc(8); }
int main(void) {
    cache = make_table();
    return make_lost() == make_list();
}
"#;

const BIAS: u64 = 0x5555_0000_0000;
const TID: u32 = 1234;

fn compile(dir: &Path) -> PathBuf {
    let src = dir.join("reach.c");
    std::fs::write(&src, SOURCE).unwrap();
    let exe = dir.join("reach");
    let st = Command::new("gcc")
        .args(["-g", "-O0", "-fPIE", "-pie", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(st.success());
    exe
}

/// The file address of a symbol.
fn symbol(exe: &Path, name: &str) -> u64 {
    let data = std::fs::read(exe).unwrap();
    let obj = object::File::parse(&*data).unwrap();
    obj.symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("no symbol {name}"))
        .address()
}

/// The leak check of the scenario (the blocks are allocated in stream 1):
///
/// | block | size | stack | kind | holder |
/// |---|---|---|---|---|
/// | 0x1000 | 100 | make_lost | definitely lost | none |
/// | 0x2000 | 40 | make_list | definitely lost | none |
/// | 0x3000, 0x4000 | 40 each | make_list | indirectly lost | 0x2000, 0x3000 |
/// | 0x5000 | 4096 | make_table | still reachable | global `cache` |
/// | 0x6000 | 32 | make_entry | still reachable | 0x5000 |
/// | 0x7000 | 64 | make_buf | possibly lost | stack of thread 1234 in main |
/// | 0x8000 | 16 | make_reg | still reachable | register 3 of thread 1234 |
/// | 0x9000, 0xa000 | 8 each | make_ring | still reachable | each other (a cycle) |
///
/// plus a block allocated and freed, and a `Reach` for an address never allocated.
struct Scenario {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    trace: PathBuf,
}

fn scenario(with_reach_end: bool) -> Scenario {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path());
    let build_id = read_build_id(&exe)
        .flatten()
        .expect("gcc writes a build-id");
    let f = |name| BIAS + symbol(&exe, name) + 4;
    let main = f("main");
    let size = std::fs::metadata(&exe).unwrap().len() + 0x10000;
    let path = exe.to_str().unwrap().as_bytes().to_vec();
    let sites = [
        "make_lost",
        "make_list",
        "make_table",
        "make_entry",
        "make_buf",
        "make_reg",
        "make_ring",
    ];
    let mut global = vec![module(1, BIAS, BIAS + size, &path, &build_id)];
    for (i, site) in sites.iter().enumerate() {
        global.push(stack(StackId(i as u64 + 1), &[f(site), main]));
    }
    let mut t = TraceBuilder::new(Origin::Start);
    t.chunk(0, 1000, &global);
    let s = |n| StackId(n);
    t.chunk(
        1,
        1000,
        &[
            Record::ThreadStart {
                time: 1000,
                tid: TID,
            },
            alloc(1001, 0x1000, 100, AllocKind::Malloc, s(1)),
            alloc(1002, 0x2000, 40, AllocKind::Malloc, s(2)),
            alloc(1003, 0x3000, 40, AllocKind::Malloc, s(2)),
            alloc(1004, 0x4000, 40, AllocKind::Malloc, s(2)),
            alloc(1005, 0x5000, 4096, AllocKind::Malloc, s(3)),
            alloc(1006, 0x6000, 32, AllocKind::Malloc, s(4)),
            alloc(1007, 0x7000, 64, AllocKind::Malloc, s(5)),
            alloc(1008, 0x8000, 16, AllocKind::Malloc, s(6)),
            alloc(1009, 0x9000, 8, AllocKind::Malloc, s(7)),
            alloc(1010, 0xa000, 8, AllocKind::Malloc, s(7)),
            alloc(1011, 0xb000, 24, AllocKind::Malloc, s(1)),
            free(1012, 0xb000, StackId::NONE),
        ],
    );
    let cache = BIAS + symbol(&exe, "cache");
    let mut check = vec![
        Record::ProcessExit {
            time: 1100,
            how: ExitHow::Exit,
            code: 0,
        },
        root(1, RootKind::Global, cache, 0, 0),
        root(2, RootKind::Stack, 0x7ffc_0000_1000, TID, main),
        root(3, RootKind::Register, 3, TID, 0),
        reach(0x1000, LeakKind::DefinitelyLost, Holder::None),
        reach(0x2000, LeakKind::DefinitelyLost, Holder::None),
        reach(0x3000, LeakKind::IndirectlyLost, Holder::Block(0x2000)),
        reach(0x4000, LeakKind::IndirectlyLost, Holder::Block(0x3000)),
        reach(0x5000, LeakKind::StillReachable, Holder::Root(1)),
        reach(0x6000, LeakKind::StillReachable, Holder::Block(0x5000)),
        reach(0x7000, LeakKind::PossiblyLost, Holder::Root(2)),
        reach(0x8000, LeakKind::StillReachable, Holder::Root(3)),
        reach(0x9000, LeakKind::StillReachable, Holder::Block(0xa000)),
        reach(0xa000, LeakKind::StillReachable, Holder::Block(0x9000)),
        reach(0xdead0, LeakKind::DefinitelyLost, Holder::None),
    ];
    if with_reach_end {
        check.push(reach_end(11, 3));
    }
    check.push(Record::End { time: 1200 });
    t.chunk(0, 1100, &check);
    let trace = dir.path().join("t.msl");
    std::fs::write(&trace, t.bytes()).unwrap();
    Scenario {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        trace,
    }
}

fn memscope(args: &[&std::ffi::OsStr], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memscope"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("run memscope")
}

fn json(s: &Scenario) -> Value {
    let out = memscope(
        &[
            "analyze".as_ref(),
            s.trace.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ],
        &s.dir,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `memscope check TRACE --no-config ARGS...` in the scenario's folder.
fn check(s: &Scenario, args: &[&str]) -> Output {
    let mut all: Vec<&std::ffi::OsStr> = vec!["check".as_ref(), s.trace.as_os_str()];
    all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
    memscope(&all, &s.dir)
}

#[test]
fn groups_by_stack_and_kind_worst_kind_first() {
    let s = scenario(true);
    let v = json(&s);
    let groups: Vec<(String, u64, u64, u64)> = v["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_string(),
                l["stack_id"].as_u64().unwrap(),
                l["bytes"].as_u64().unwrap(),
                l["blocks"].as_u64().unwrap(),
            )
        })
        .collect();
    let g = |k: &str, stack, bytes, blocks| (k.to_string(), stack, bytes, blocks);
    assert_eq!(
        groups,
        vec![
            g("definitely_lost", 1, 100, 1),
            g("definitely_lost", 2, 40, 1),
            g("indirectly_lost", 2, 80, 2),
            g("possibly_lost", 5, 64, 1),
            g("still_reachable", 3, 4096, 1),
            g("still_reachable", 4, 32, 1),
            g("still_reachable", 7, 16, 2),
            g("still_reachable", 6, 16, 1),
        ]
    );
    let k = &v["summary"]["leak_kinds"];
    let n = |kind: &str| (k[kind]["bytes"].as_u64(), k[kind]["blocks"].as_u64());
    assert_eq!(n("definitely_lost"), (Some(140), Some(2)));
    assert_eq!(n("indirectly_lost"), (Some(80), Some(2)));
    assert_eq!(n("possibly_lost"), (Some(64), Some(1)));
    assert_eq!(n("still_reachable"), (Some(4160), Some(5)));
    assert_eq!(v["summary"]["live_at_exit"]["bytes"], 4444);
    // The `Reach` of an address the replay never saw live (freed after the check) is
    // left out, not an inconsistency.
    assert_eq!(v["trace"]["inconsistencies"], 0);
}

#[test]
fn holders_name_the_global_the_frame_the_register_and_the_lost_block() {
    let s = scenario(true);
    let v = json(&s);
    let leaks = v["leaks"].as_array().unwrap();
    let exe = s.dir.join("reach");
    let exe = exe.to_str().unwrap();
    // Definitely lost: nothing holds it.
    assert_eq!(leaks[0]["held_by"], serde_json::json!([]));
    // Indirectly lost: the lost block leading them, by its allocation site.
    let lost = &leaks[2]["held_by"];
    assert_eq!(lost.as_array().unwrap().len(), 1, "{lost}");
    assert_eq!(lost[0]["kind"], "heap");
    assert_eq!(lost[0]["symbol"], "make_list");
    assert_eq!(lost[0]["line"], 4);
    assert!(lost[0]["file"].as_str().unwrap().ends_with("/reach.c"));
    // Possibly lost: a stack word of thread 1234 in main's frame.
    let stack = &leaks[3]["held_by"][0];
    assert_eq!(stack["kind"], "stack");
    assert_eq!(stack["thread"], TID);
    assert_eq!(stack["symbol"], "main");
    assert_eq!(stack["module"], exe);
    // Still reachable from the global `cache`, declared on line 2.
    let global = &leaks[4]["held_by"];
    assert_eq!(global.as_array().unwrap().len(), 1, "{global}");
    assert_eq!(global[0]["kind"], "global");
    assert_eq!(global[0]["symbol"], "cache");
    assert_eq!(global[0]["module"], exe);
    assert_eq!(global[0]["line"], 2);
    assert!(global[0]["file"].as_str().unwrap().ends_with("/reach.c"));
    assert_eq!(global[0]["thread"], Value::Null);
    // Through the table: held by the same global; the chain goes through the table.
    assert_eq!(leaks[5]["held_by"], *global);
    let chain = leaks[5]["chain"].as_array().expect("chain");
    assert_eq!(chain.len(), 2, "{chain:?}");
    assert_eq!(chain[0], global[0]);
    assert_eq!(chain[1]["kind"], "heap");
    assert_eq!(chain[1]["symbol"], "make_table");
    // A cycle of blocks leads to no root: no holder, no chain.
    assert_eq!(leaks[6]["held_by"], serde_json::json!([]));
    assert!(leaks[6].get("chain").is_none());
    // A register.
    let reg = &leaks[7]["held_by"];
    assert_eq!(
        *reg,
        serde_json::json!([{ "kind": "register", "symbol": null, "module": null,
                             "file": null, "line": null, "thread": TID }])
    );
    assert_eq!(leaks[7]["chain"], *reg);
    // Not a still-reachable group: no chain.
    assert!(leaks[3].get("chain").is_none());
}

#[test]
fn text_report_has_the_leak_summary_and_the_holders() {
    let s = scenario(true);
    let out = memscope(&["analyze".as_ref(), s.trace.as_os_str()], &s.dir);
    let t = text(&out);
    assert!(
        t.contains(
            "LEAK SUMMARY:\n   definitely lost: 140 bytes in 2 blocks\n   indirectly lost: 80 bytes in 2 blocks\n     possibly lost: 64 bytes in 1 block\n   still reachable: 4,160 bytes in 5 blocks\n"
        ),
        "{t}"
    );
    for line in [
        "\n100 bytes in 1 block definitely lost, allocated at make_lost (reach.c:3):\n",
        "\n80 bytes in 2 blocks indirectly lost, allocated at make_list (reach.c:4):\n",
        "  held by the lost block allocated at make_list (reach.c:4)\n",
        "  held by stack of thread 1234 in main\n",
        "\n4,096 bytes in 1 block still reachable, allocated at make_table (reach.c:5):\n",
        "  held by global cache (reach.c:2)\n",
        "  path: global cache (reach.c:2) -> block allocated at make_table (reach.c:5) -> this block\n",
        "  held by register of thread 1234\n",
    ] {
        assert!(t.contains(line), "missing {line:?} in\n{t}");
    }
    assert!(!t.contains("no leak kinds"), "{t}");
}

#[test]
fn gate_fails_on_lost_kinds_by_default_and_as_told() {
    let s = scenario(true);
    let cases: [(&[&str], i32, &str); 5] = [
        (&[], 1, "memscope check: FAILED (3 items failing)\n"),
        (
            &["--fail-on-leak-kinds", "all"],
            1,
            "memscope check: FAILED (8 items failing)\n",
        ),
        (
            &["--fail-on-leak-kinds", "none"],
            0,
            "memscope check: passed\n",
        ),
        (
            &["--fail-on-leak-kinds", "possible"],
            1,
            "memscope check: FAILED (1 item failing)\n",
        ),
        (
            &["--fail-on-leak-kinds", "definite,reachable"],
            1,
            "memscope check: FAILED (6 items failing)\n",
        ),
    ];
    for (args, code, first) in cases {
        let mut all = vec!["--no-config"];
        all.extend_from_slice(args);
        let out = check(&s, &all);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {t}");
        assert!(t.starts_with(first), "{args:?}: {t}");
        assert!(!t.contains("no leak check"), "{t}");
    }
    let t = text(&check(&s, &["--no-config"]));
    assert!(
        t.contains("leaks: 3 groups of the program's, 4 blocks, 220 bytes;"),
        "{t}"
    );
    assert!(
        t.contains("leak kinds not gated (left out; --fail-on-leak-kinds definite,indirect): 5 groups, 6 blocks, 4224 bytes\n"),
        "{t}"
    );
    assert!(
        t.contains("FAIL leak: 80 bytes in 2 blocks leaked at make_list (")
            && t.contains("/reach.c:4), indirectly lost\n"),
        "{t}"
    );
    let t = text(&check(
        &s,
        &["--no-config", "--fail-on-leak-kinds", "possible"],
    ));
    assert!(
        t.contains("FAIL leak: 64 bytes in 1 block leaked at make_buf (")
            && t.contains("/reach.c:7), possibly lost\n"),
        "{t}"
    );
    // Budgets count the failing kinds only: 220 bytes in 4 blocks are allowed.
    let out = check(
        &s,
        &[
            "--no-config",
            "--max-leaked-bytes",
            "220",
            "--max-leaked-blocks",
            "4",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = check(
        &s,
        &[
            "--no-config",
            "--max-leaked-bytes",
            "219",
            "--max-leaked-blocks",
            "4",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = check(&s, &["--no-config", "--fail-on-leak-kinds", "lost"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn memscope_toml_sets_the_leak_kinds_and_the_option_overrides_it() {
    let s = scenario(true);
    std::fs::create_dir(s.dir.join(".git")).unwrap();
    std::fs::write(
        s.dir.join("memscope.toml"),
        "[check]\nfail-on-leak-kinds = [\"definite\"]\n",
    )
    .unwrap();
    let out = check(&s, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("memscope check: FAILED (2 items failing)\n"),
        "{t}"
    );
    let out = check(&s, &["--fail-on-leak-kinds", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(
        s.dir.join("memscope.toml"),
        "[check]\nfail-on-leak-kinds = [\"sometimes\"]\n",
    )
    .unwrap();
    assert_eq!(check(&s, &[]).status.code(), Some(2));
}

#[test]
fn a_trace_without_reach_end_has_no_leak_kinds_and_the_gate_counts_every_block() {
    let s = scenario(false);
    let v = json(&s);
    assert_eq!(v["summary"]["leak_kinds"], Value::Null);
    let leaks = v["leaks"].as_array().unwrap();
    assert_eq!(leaks.len(), 7, "one group per stack");
    assert!(leaks
        .iter()
        .all(|l| l["kind"].is_null() && l["held_by"] == serde_json::json!([])));
    assert_eq!(v["trace"]["inconsistencies"], 0);

    let t = text(&memscope(
        &["analyze".as_ref(), s.trace.as_os_str()],
        &s.dir,
    ));
    assert!(!t.contains("LEAK SUMMARY"), "{t}");
    assert_eq!(
        t.matches("no leak kinds: the trace has no leak check")
            .count(),
        1,
        "{t}"
    );

    for args in [&[][..], &["--fail-on-leak-kinds", "none"][..]] {
        let mut all = vec!["--no-config"];
        all.extend_from_slice(args);
        let out = check(&s, &all);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(
            t.starts_with("memscope check: FAILED (7 items failing)\n"),
            "{t}"
        );
        let notes: Vec<&str> = t.lines().filter(|l| l.contains("leak check")).collect();
        assert_eq!(
            notes,
            ["note: the trace has no leak check (killed by SIGKILL, or an older tracer): every block live at exit counts as leaked"],
            "{t}"
        );
        assert!(
            t.contains("FAIL leak: 120 bytes in 3 blocks leaked at make_list ("),
            "{t}"
        );
        assert!(!t.contains(" lost\n") && !t.contains(" reachable\n"), "{t}");
    }
}

#[test]
fn reports_with_and_without_leak_kinds_match_the_schema() {
    let schema_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/memscope-report-1.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for with in [true, false] {
        let v = json(&scenario(with));
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "leak check {with}: {errors:?}");
    }
    // The schema does hold the new fields to their shape.
    let mut v = json(&scenario(true));
    v["leaks"][0]["kind"] = "lost".into();
    assert!(!validator.is_valid(&v));
    let mut v = json(&scenario(true));
    v["leaks"][4]["held_by"][0]["kind"] = "data".into();
    assert!(!validator.is_valid(&v));
    let mut v = json(&scenario(true));
    v["summary"]["leak_kinds"]["possibly_lost"] = serde_json::json!({ "blocks": 1 });
    assert!(!validator.is_valid(&v));
}

//! `memscope check` on the gate_leaky fixture: a leak fails the gate (exit 1) naming its
//! function, a clean run passes, a suppression or a baseline makes the leak pass, a new
//! leak fails past the baseline and is the only one named, fingerprints survive lines
//! inserted above the leak, budgets, config file and exit codes.

use std::fs;

use crate::gate_support::{
    check, fail_lines, leak_line, leaky, leaky_extra_lines, memscope_in, trace,
};
use serde_json::Value;

#[test]
fn leak_fails_naming_its_function_and_clean_passes() {
    let leak = trace(&leaky(), "leak");
    let out = check(leak.dir.path(), &leak.trace, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let text = out.stdout_str();
    assert!(
        text.starts_with("memscope check: FAILED (1 item failing)\n"),
        "{text}"
    );
    let fails = fail_lines(&text);
    assert_eq!(fails.len(), 1, "{text}");
    assert!(
        fails[0].starts_with("FAIL leak: 1234 bytes in 1 block leaked at leak_first (")
            && fails[0].contains("gate_leaky.c:"),
        "{text}"
    );

    let clean = trace(&leaky(), "clean");
    let out = check(clean.dir.path(), &clean.trace, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert!(
        out.stdout_str().starts_with("memscope check: passed\n"),
        "{}",
        out.describe()
    );
    assert!(fail_lines(&out.stdout_str()).is_empty());
}

#[test]
fn suppression_makes_it_pass_and_is_printed() {
    let leak = trace(&leaky(), "leak");
    let dir = leak.dir.path();
    fs::write(
        dir.join("gate.supp"),
        "# known\nleak:^leak_first$\nleak:never_matches\n",
    )
    .unwrap();
    let out = check(
        dir,
        &leak.trace,
        &["--suppressions", "gate.supp", "--print-suppressions"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let text = out.stdout_str();
    let supp = dir.join("gate.supp").display().to_string();
    assert!(
        text.contains(&format!(
            "      1       1        1234  leak:^leak_first$ ({supp}:2)\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "      0       0           0  leak:never_matches ({supp}:3)\n"
        )),
        "{text}"
    );

    // A wildcard on the file name matches too; another function's does not.
    fs::write(dir.join("file.supp"), "leak:gate_*.c$\n").unwrap();
    assert_eq!(
        check(dir, &leak.trace, &["--suppressions", "file.supp"])
            .status
            .code(),
        Some(0)
    );
    fs::write(dir.join("other.supp"), "leak:^leak_second$\n").unwrap();
    assert_eq!(
        check(dir, &leak.trace, &["--suppressions", "other.supp"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn baseline_accepts_the_known_leak_and_fails_only_on_the_new_one() {
    let leak = trace(&leaky(), "leak");
    let dir = leak.dir.path();
    let out = check(dir, &leak.trace, &["--write-baseline", "base.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let base: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("base.json")).unwrap()).unwrap();
    assert_eq!(base["schema"], "memscope-baseline/1");
    let entries = base["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{base:#}");
    assert_eq!(entries[0]["kind"], "leak");
    assert_eq!(
        entries[0]["frames"],
        serde_json::json!(["leak_first", "main"])
    );
    assert_eq!(
        (entries[0]["bytes"].as_u64(), entries[0]["blocks"].as_u64()),
        (Some(1234), Some(1))
    );

    let out = check(dir, &leak.trace, &["--baseline", "base.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());

    let more = trace(&leaky(), "more");
    let out = check(dir, &more.trace, &["--baseline", "base.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let fails = fail_lines(&out.stdout_str());
    assert_eq!(fails.len(), 1, "{}", out.stdout_str());
    assert!(
        fails[0].starts_with("FAIL leak: 4321 bytes in 1 block leaked at leak_second ("),
        "{fails:?}"
    );
    assert!(
        !out.stdout_str().contains("at leak_first"),
        "{}",
        out.stdout_str()
    );

    // The clean run lists the baseline entry that no longer occurs.
    let clean = trace(&leaky(), "clean");
    let out = check(dir, &clean.trace, &["--baseline", "base.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let fp = entries[0]["fingerprint"].as_str().unwrap();
    assert!(
        out.stdout_str().contains(&format!(
            "  leak in leak_first < main (1234 bytes, 1 block) {fp}\n"
        )),
        "{}",
        out.stdout_str()
    );
}

#[test]
fn fingerprint_survives_lines_inserted_above_the_leak() {
    let a = trace(&leaky(), "leak");
    let b = trace(&leaky_extra_lines(), "leak");
    let (line_a, line_b) = (
        leak_line(&a.trace, "leak_first"),
        leak_line(&b.trace, "leak_first"),
    );
    assert!(
        line_b > line_a,
        "the EXTRA_LINES build must move the leak down: {line_a} vs {line_b}"
    );
    let dir = a.dir.path();
    check(dir, &a.trace, &["--write-baseline", "a.json"]);
    check(dir, &b.trace, &["--write-baseline", "b.json"]);
    let fp = |f: &str| -> Value {
        let v: Value = serde_json::from_str(&fs::read_to_string(dir.join(f)).unwrap()).unwrap();
        v["entries"][0]["fingerprint"].clone()
    };
    assert!(fp("a.json").is_string());
    assert_eq!(fp("a.json"), fp("b.json"));
    let out = check(dir, &b.trace, &["--baseline", "a.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
}

#[test]
fn budgets_and_site_limits() {
    let more = trace(&leaky(), "more"); // 1234 + 4321 bytes, 2 blocks
    let dir = more.dir.path();
    let code = |extra: &[&str]| check(dir, &more.trace, extra).status.code();
    assert_eq!(
        code(&["--max-leaked-bytes", "5555", "--max-leaked-blocks", "2"]),
        Some(0)
    );
    assert_eq!(
        code(&["--max-leaked-bytes", "5554", "--max-leaked-blocks", "2"]),
        Some(1)
    );
    assert_eq!(
        code(&["--max-leaked-bytes", "5555", "--max-leaked-blocks", "1"]),
        Some(1)
    );
    let out = check(
        dir,
        &more.trace,
        &[
            "--max-leaked-bytes",
            "99999",
            "--max-leaked-blocks",
            "9",
            "--max-site-bytes",
            "2000",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let fails = fail_lines(&out.stdout_str());
    assert_eq!(fails.len(), 1, "{}", out.stdout_str());
    assert!(fails[0].contains("at leak_second"), "{fails:?}");
}

#[test]
fn exit_codes() {
    let leak = trace(&leaky(), "leak");
    let dir = leak.dir.path();
    assert_eq!(
        check(dir, &leak.trace, &["--exit-code", "7"]).status.code(),
        Some(7)
    );
    assert_eq!(
        check(dir, &leak.trace, &["--fail-on", "no-such-detector"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        check(dir, &leak.trace, &["--baseline", "missing.json"])
            .status
            .code(),
        Some(2)
    );
    fs::write(dir.join("bad.supp"), "leak\n").unwrap();
    assert_eq!(
        check(dir, &leak.trace, &["--suppressions", "bad.supp"])
            .status
            .code(),
        Some(2)
    );
    fs::write(
        dir.join("corrupt.msl"),
        b"this is not a trace at all, just bytes",
    )
    .unwrap();
    let out = check(dir, &dir.join("corrupt.msl"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
    assert!(
        out.stderr_str().contains("corrupt.msl"),
        "{}",
        out.describe()
    );
}

#[test]
fn config_file_is_found_from_a_subdirectory() {
    let leak = trace(&leaky(), "leak");
    let root = leak.dir.path();
    fs::create_dir(root.join(".git")).unwrap();
    fs::write(root.join("known.supp"), "leak:leak_first\n").unwrap();
    fs::write(
        root.join("memscope.toml"),
        "[check]\nsuppressions = [\"known.supp\"]\n",
    )
    .unwrap();
    let sub = root.join("sub");
    fs::create_dir(&sub).unwrap();
    let with = memscope_in(&sub, &["check".as_ref(), leak.trace.as_os_str()], &[]);
    assert_eq!(with.status.code(), Some(0), "{}", with.describe());
    assert!(
        with.stdout_str().contains("settings from"),
        "{}",
        with.stdout_str()
    );
    let without = memscope_in(
        &sub,
        &[
            "check".as_ref(),
            leak.trace.as_os_str(),
            "--no-config".as_ref(),
        ],
        &[],
    );
    assert_eq!(without.status.code(), Some(1), "{}", without.describe());
    fs::write(root.join("memscope.toml"), "[check]\nmax-leak-bytes = 1\n").unwrap();
    let typo = memscope_in(&sub, &["check".as_ref(), leak.trace.as_os_str()], &[]);
    assert_eq!(typo.status.code(), Some(2), "{}", typo.describe());
}

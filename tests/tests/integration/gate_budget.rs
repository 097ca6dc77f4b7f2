//! The leak budget's limits (issue 15): with no limit set any leak fails; once one limit
//! is set (total or per site, option or `memscope.toml` key), a total that is not set is
//! unlimited. Each limit alone and combined, on the command line and in the config, on
//! gate_leaky's `more` run (two lost blocks: 1234 and 4321 bytes, 5555 in all).

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use crate::gate_support::{check, fail_lines, leaky, memscope_in, trace};
use memscope_tests::Output;

/// The summary's leaks line for `more` with these allowances.
fn leaks_line(allowed: &str) -> String {
    format!(
        "leaks: 2 groups of the program's, 2 blocks, 5555 bytes; counted against the budget: 5555 bytes, 2 blocks (allowed: {allowed})"
    )
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines()
        .any(|l| l == line || l == format!("{line}: EXCEEDED"))
}

#[test]
fn one_total_limit_on_the_command_line_leaves_the_other_unlimited() {
    let more = trace(&leaky(), "more");
    let dir = more.dir.path();
    let gate = |extra: &[&str]| check(dir, &more.trace, extra);

    // No limit at all: any leak fails (today's default, kept).
    let out = gate(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let text = out.stdout_str();
    assert!(
        text.contains(&format!("{}: EXCEEDED\n", leaks_line("0 bytes, 0 blocks"))),
        "{text}"
    );
    assert_eq!(fail_lines(&text).len(), 2, "{text}");

    // Bytes alone: the blocks are not limited to 0.
    let out = gate(&["--max-leaked-bytes", "6000"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let text = out.stdout_str();
    assert!(text.starts_with("memscope check: passed\n"), "{text}");
    assert!(
        text.contains(&format!(
            "{}\n",
            leaks_line("6000 bytes, any number of blocks")
        )),
        "{text}"
    );
    let out = gate(&["--max-leaked-bytes", "5555"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let out = gate(&["--max-leaked-bytes", "5554"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let text = out.stdout_str();
    assert_eq!(fail_lines(&text).len(), 2, "{text}");
    assert!(
        text.contains("     over the leak budget (5554 bytes, any number of blocks); fingerprint "),
        "{text}"
    );

    // Blocks alone: the bytes are not limited to 0.
    let out = gate(&["--max-leaked-blocks", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert!(
        has_line(
            &out.stdout_str(),
            &leaks_line("any number of bytes, 2 blocks")
        ),
        "{}",
        out.stdout_str()
    );
    let out = gate(&["--max-leaked-blocks", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());

    // Both: each holds.
    let code = |extra: &[&str]| gate(extra).status.code();
    assert_eq!(
        code(&["--max-leaked-bytes", "5555", "--max-leaked-blocks", "2"]),
        Some(0)
    );
    assert_eq!(
        code(&["--max-leaked-bytes", "6000", "--max-leaked-blocks", "1"]),
        Some(1)
    );
    assert_eq!(
        code(&["--max-leaked-bytes", "5554", "--max-leaked-blocks", "9"]),
        Some(1)
    );
}

#[test]
fn a_per_site_limit_alone_leaves_the_totals_unlimited() {
    let more = trace(&leaky(), "more");
    let out = check(more.dir.path(), &more.trace, &["--max-site-bytes", "2000"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let text = out.stdout_str();
    // Only the 4321-byte site is over its limit; the 1234-byte one passes.
    let fails = fail_lines(&text);
    assert_eq!(fails.len(), 1, "{text}");
    assert!(
        fails[0].starts_with("FAIL leak: 4321 bytes in 1 block leaked at leak_second ("),
        "{text}"
    );
    assert!(
        has_line(
            &text,
            &leaks_line("any number of bytes, any number of blocks")
        ),
        "{text}"
    );
    let out = check(more.dir.path(), &more.trace, &["--max-site-bytes", "4321"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
}

/// `memscope check TRACE --config memscope.toml EXTRA...` in `dir`, the file holding
/// `[check]` and `keys`.
fn with_config(dir: &Path, trace: &Path, keys: &str, extra: &[&str]) -> Output {
    fs::write(dir.join("memscope.toml"), format!("[check]\n{keys}")).unwrap();
    let mut args: Vec<&OsStr> = vec![
        "check".as_ref(),
        trace.as_os_str(),
        "--config".as_ref(),
        "memscope.toml".as_ref(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    memscope_in(dir, &args, &[])
}

#[test]
fn limits_in_memscope_toml_alone_and_with_options() {
    let more = trace(&leaky(), "more");
    let dir = more.dir.path();
    let gate = |keys: &str, extra: &[&str]| {
        let out = with_config(dir, &more.trace, keys, extra);
        (out.status.code(), out.stdout_str())
    };

    let (code, text) = gate("max-leaked-bytes = 1000000\n", &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        has_line(&text, &leaks_line("1000000 bytes, any number of blocks")),
        "{text}"
    );
    assert_eq!(gate("max-leaked-bytes = 5554\n", &[]).0, Some(1));
    assert_eq!(gate("max-leaked-blocks = 2\n", &[]).0, Some(0));
    assert_eq!(gate("max-leaked-blocks = 1\n", &[]).0, Some(1));
    assert_eq!(
        gate("max-leaked-bytes = 5555\nmax-leaked-blocks = 2\n", &[]).0,
        Some(0)
    );
    assert_eq!(
        gate("max-leaked-bytes = 5555\nmax-leaked-blocks = 1\n", &[]).0,
        Some(1)
    );
    // A per-site key alone: only the site over it fails.
    let (code, text) = gate("max-site-bytes = 2000\n", &[]);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(fail_lines(&text).len(), 1, "{text}");
    // The config sets one total, the command line the other: both hold.
    let (code, text) = gate("max-leaked-bytes = 6000\n", &["--max-leaked-blocks", "2"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        has_line(&text, &leaks_line("6000 bytes, 2 blocks")),
        "{text}"
    );
    assert_eq!(
        gate("max-leaked-bytes = 6000\n", &["--max-leaked-blocks", "1"]).0,
        Some(1)
    );
    // The command line overrides the config's value.
    assert_eq!(
        gate("max-leaked-bytes = 5554\n", &["--max-leaked-bytes", "5555"]).0,
        Some(0)
    );
    // A config without limits: any leak fails.
    let (code, text) = gate("include-runtime = false\n", &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(has_line(&text, &leaks_line("0 bytes, 0 blocks")), "{text}");
}

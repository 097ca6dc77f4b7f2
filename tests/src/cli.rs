//! Running the real `memscope` CLI (`target/release/memscope`) the way most tests do:
//! untraced, killed after [`DEFAULT_TIMEOUT`], never allowed to panic, and its JSON report
//! read back typed ([`analyze`]) or untyped ([`report_json`]).

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use crate::isolation::untraced;
use crate::paths::memscope_bin;
use crate::process::{run_with_timeout, truncate_for_message, Output, DEFAULT_TIMEOUT};
use crate::report::{Report, ReportExt, REPORT_SCHEMA};

/// Runs `target/release/memscope ARGS...` (killed after [`DEFAULT_TIMEOUT`]) and returns its output.
pub fn memscope<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(memscope_bin());
    cmd.args(args);
    untraced(&mut cmd);
    run_with_timeout(cmd, DEFAULT_TIMEOUT, "memscope")
}

/// Asserts that the CLI did not panic (its stderr has no `panicked`) nor die of a signal.
pub fn assert_no_panic(out: &Output, what: &str) {
    let err = out.stderr_str();
    assert!(
        !err.contains("panicked"),
        "memscope panicked on {what}: {}",
        out.describe()
    );
    assert!(
        out.status.signal().is_none(),
        "memscope died of a signal on {what}: {}",
        out.describe()
    );
}

/// `memscope ARGS...` that must exit 0 without a panic; returns its stdout.
pub fn memscope_ok(args: &[&OsStr]) -> String {
    let out = memscope(args);
    assert_no_panic(&out, &format!("{args:?}"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "memscope {args:?}: {}",
        out.describe()
    );
    out.stdout_str()
}

/// `memscope analyze TRACE --format json`; panics unless it exits 0 with a
/// parseable report.
pub fn analyze(trace: &Path) -> Report {
    let text = analyze_text(trace, &[]);
    Report::parse(text.as_bytes()).unwrap_or_else(|e| {
        panic!(
            "memscope analyze {} printed no valid {REPORT_SCHEMA} JSON ({e}):\n{}",
            trace.display(),
            truncate_for_message(&text)
        )
    })
}

/// `memscope analyze TRACE --format json [EXTRA...]` as an untyped JSON value, for the
/// fields [`Report`] does not model (`findings`, `metrics`, `origin`, `exit`,
/// `warnings`, ...). Panics unless the CLI exits 0 with JSON.
pub fn report_json(trace: &Path, extra: &[&str]) -> serde_json::Value {
    let text = analyze_text(trace, extra);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{text}"))
}

/// The stdout of `memscope analyze TRACE --format json [EXTRA...]`, which must exit 0
/// without a panic.
fn analyze_text(trace: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&OsStr> = vec![
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    memscope_ok(&args)
}

/// Runs a build tool (`objcopy`, `strip`, ...) and asserts it succeeded.
pub fn run_tool(cmd: &mut Command) {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Function, file and line of the innermost frame of the leak3 fixture's 1111-byte leak
/// (`leak_alpha`), from `memscope [extra...] analyze TRACE --format json`.
pub fn leak3_alpha_frame(
    trace: &Path,
    extra: &[&str],
) -> (Option<String>, Option<String>, Option<u64>) {
    let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
    args.extend([
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let r: serde_json::Value = serde_json::from_str(&memscope_ok(&args)).unwrap();
    let leak = r["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["bytes"] == 1111)
        .expect("the 1111-byte leak")
        .clone();
    let f = &leak["stack"][0];
    (
        f["function"].as_str().map(String::from),
        f["file"].as_str().map(String::from),
        f["line"].as_u64(),
    )
}

//! Symbols for a trace analyzed after the binary was stripped or moved: detached debug
//! info found through `.gnu_debuglink` (next to the binary) and through a build-id tree
//! given with `--debug-dir`, and the module file itself found under `--sysroot`.

use std::fs;
use std::path::Path;
use std::process::Command;

use memscope_tests::{copy_program, fixture, memscope_ok, Run};
use serde_json::Value;

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The leak3 report's frame for `leak_alpha`'s 1111-byte leak (function, file, line).
fn alpha_frame(trace: &Path, extra: &[&str]) -> (Option<String>, Option<String>, Option<u64>) {
    let mut args: Vec<&std::ffi::OsStr> = extra.iter().map(|s| std::ffi::OsStr::new(*s)).collect();
    args.extend([
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let r: Value = serde_json::from_str(&memscope_ok(&args)).unwrap();
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

#[test]
fn stripped_binary_is_symbolized_from_detached_debug_info() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("leak3");
    copy_program(&fixture("leak3"), &bin);
    let traced = Run::new(&bin).traced();
    let full = alpha_frame(&traced.trace, &[]);
    assert_eq!(full.0.as_deref(), Some("leak_alpha"));
    assert!(
        full.1.as_deref().is_some_and(|f| f.ends_with("leak3.c")) && full.2.is_some(),
        "{full:?}"
    );

    // Strip the binary in place (same build-id), keeping the DWARF in leak3.debug.
    let debug = dir.path().join("leak3.debug");
    run(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&bin)
        .arg(&debug));
    run(Command::new("objcopy")
        .arg("--strip-debug")
        .arg("--strip-unneeded")
        .arg(&bin));
    run(Command::new("objcopy")
        .arg(format!("--add-gnu-debuglink={}", debug.display()))
        .arg(&bin));
    let via_debuglink = alpha_frame(&traced.trace, &[]);
    assert_eq!(
        via_debuglink, full,
        "through .gnu_debuglink next to the binary"
    );

    // Move the debug file into a build-id tree elsewhere: found only with --debug-dir.
    let root = dir.path().join("debug-root");
    let id = build_id(&debug);
    let target = root
        .join(".build-id")
        .join(&id[..2])
        .join(format!("{}.debug", &id[2..]));
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    fs::rename(&debug, &target).unwrap();
    let without = alpha_frame(&traced.trace, &[]);
    assert_eq!(
        without.1, None,
        "no file:line without the debug info: {without:?}"
    );
    let with = alpha_frame(&traced.trace, &["--debug-dir", root.to_str().unwrap()]);
    assert_eq!(with, full, "through --debug-dir's build-id tree");

    // Move the binary itself under a sysroot: found only with --sysroot.
    let sysroot = dir.path().join("sysroot");
    let moved = sysroot.join(bin.strip_prefix("/").unwrap());
    fs::create_dir_all(moved.parent().unwrap()).unwrap();
    fs::rename(&bin, &moved).unwrap();
    let gone = alpha_frame(&traced.trace, &[]);
    assert_eq!(gone.0, None, "no name once the binary is gone: {gone:?}");
    let found = alpha_frame(
        &traced.trace,
        &[
            "--sysroot",
            sysroot.to_str().unwrap(),
            "--debug-dir",
            root.to_str().unwrap(),
        ],
    );
    assert_eq!(found, full, "through --sysroot");
}

/// The GNU build-id of an ELF file as hex, from `readelf -n`.
fn build_id(path: &Path) -> String {
    let out = Command::new("readelf")
        .arg("-n")
        .arg(path)
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("the fixture has a build-id")
        .trim()
        .to_string()
}

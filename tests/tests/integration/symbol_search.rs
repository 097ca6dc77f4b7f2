//! Symbols for a trace analyzed after the binary was stripped or moved: detached debug
//! info found through `.gnu_debuglink` (next to the binary) and through a build-id tree
//! given with `--debug-dir`, and the module file itself found under `--sysroot`.

use std::fs;
use std::path::Path;
use std::process::Command;

use memscope_tests::{copy_program, fixture, leak3_alpha_frame, run_tool, Run};

#[test]
fn stripped_binary_is_symbolized_from_detached_debug_info() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("leak3");
    copy_program(&fixture("leak3"), &bin);
    let traced = Run::new(&bin).traced();
    let full = leak3_alpha_frame(&traced.trace, &[]);
    assert_eq!(full.0.as_deref(), Some("leak_alpha"));
    assert!(
        full.1.as_deref().is_some_and(|f| f.ends_with("leak3.c")) && full.2.is_some(),
        "{full:?}"
    );

    // Strip the binary in place (same build-id), keeping the DWARF in leak3.debug.
    let debug = dir.path().join("leak3.debug");
    run_tool(
        Command::new("objcopy")
            .arg("--only-keep-debug")
            .arg(&bin)
            .arg(&debug),
    );
    run_tool(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg("--strip-unneeded")
            .arg(&bin),
    );
    run_tool(
        Command::new("objcopy")
            .arg(format!("--add-gnu-debuglink={}", debug.display()))
            .arg(&bin),
    );
    let via_debuglink = leak3_alpha_frame(&traced.trace, &[]);
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
    let without = leak3_alpha_frame(&traced.trace, &[]);
    assert_eq!(
        without.1, None,
        "no file:line without the debug info: {without:?}"
    );
    let with = leak3_alpha_frame(&traced.trace, &["--debug-dir", root.to_str().unwrap()]);
    assert_eq!(with, full, "through --debug-dir's build-id tree");

    // Move the binary itself under a sysroot: found only with --sysroot.
    let sysroot = dir.path().join("sysroot");
    let moved = sysroot.join(bin.strip_prefix("/").unwrap());
    fs::create_dir_all(moved.parent().unwrap()).unwrap();
    fs::rename(&bin, &moved).unwrap();
    let gone = leak3_alpha_frame(&traced.trace, &[]);
    assert_eq!(gone.0, None, "no name once the binary is gone: {gone:?}");
    let found = leak3_alpha_frame(
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

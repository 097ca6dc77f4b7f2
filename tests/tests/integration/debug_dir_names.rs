//! `--debug-dir DIR` finds `DIR/NAME.debug` (issue 15): the detached debug file that
//! `objcopy --only-keep-debug NAME NAME.debug` writes, for a binary then stripped without
//! a `.gnu_debuglink`, is taken when its build-id is the binary's; the stripped leak3's
//! leak is then named by function, file and line in the report and in the gate, as from
//! the unstripped binary. A `NAME.debug` of another build is not taken.

use std::ffi::OsStr;
use std::process::Command;

use memscope_tests::{copy_program, fixture, leak3_alpha_frame, memscope, run_tool, Run};

#[test]
fn name_dot_debug_in_a_debug_dir_names_a_stripped_binarys_leak() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("leak3");
    copy_program(&fixture("leak3"), &bin);
    let traced = Run::new(&bin).traced();
    let full = leak3_alpha_frame(&traced.trace, &[]);
    assert_eq!(full.0.as_deref(), Some("leak_alpha"));
    let (Some(file), Some(line)) = (full.1.clone(), full.2) else {
        panic!("no file:line from the unstripped binary: {full:?}");
    };

    // The debug info kept as DIR/leak3.debug, the binary stripped, no debuglink added.
    let debug_dir = dir.path().join("debug");
    std::fs::create_dir(&debug_dir).unwrap();
    run_tool(
        Command::new("objcopy")
            .arg("--only-keep-debug")
            .arg(&bin)
            .arg(debug_dir.join("leak3.debug")),
    );
    run_tool(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg("--strip-unneeded")
            .arg(&bin),
    );
    let without = leak3_alpha_frame(&traced.trace, &[]);
    assert_eq!(
        (without.1.as_deref(), without.2),
        (None, None),
        "the stripped binary alone has no file:line: {without:?}"
    );
    let debug_arg = debug_dir.to_str().unwrap();
    let with = leak3_alpha_frame(&traced.trace, &["--debug-dir", debug_arg]);
    assert_eq!(with, full, "through --debug-dir's leak3.debug");

    // The gate names the leak by function, file and line too.
    let out = memscope([
        OsStr::new("--debug-dir"),
        OsStr::new(debug_arg),
        OsStr::new("check"),
        traced.trace.as_os_str(),
        OsStr::new("--no-config"),
        // leak3 keeps its blocks in globals: still reachable.
        OsStr::new("--fail-on-leak-kinds"),
        OsStr::new("all"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let text = out.stdout_str();
    assert!(
        text.lines().any(
            |l| l.starts_with("FAIL leak: 1111 bytes in 1 block leaked at ")
                && l.contains(&format!("leak_alpha ({file}:{line})"))
        ),
        "{text}"
    );

    // Another build's debug file under the same name is not taken (its build-id differs).
    run_tool(
        Command::new("objcopy")
            .arg("--only-keep-debug")
            .arg(fixture("every_entry"))
            .arg(debug_dir.join("leak3.debug")),
    );
    let other = leak3_alpha_frame(&traced.trace, &["--debug-dir", debug_arg]);
    assert_eq!(
        (other.1.as_deref(), other.2),
        (None, None),
        "a leak3.debug of another build must not name leak3's frames: {other:?}"
    );
}

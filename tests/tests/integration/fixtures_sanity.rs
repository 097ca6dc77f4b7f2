//! The fixtures themselves, without memscope: they build, run natively with
//! the expected output and status, and valgrind sees what their sources say
//! (so that a failure elsewhere is memscope's, not a fixture's).

use memscope_tests::{fixture, Run};

#[test]
fn exits_statuses_natively() {
    for (path, status) in [
        ("return", 0),
        ("exit", 3),
        ("_exit", 4),
        ("_Exit", 5),
        ("abort", 134),
        ("segv", 139),
        ("doublefree", 134),
    ] {
        let out = Run::new(fixture("exits")).arg(path).native();
        assert_eq!(
            out.shell_status(),
            status,
            "exits {path}: {}",
            out.describe()
        );
        assert_eq!(out.stdout_str(), format!("exits: {path} 0x1\n"));
    }
}

#[test]
fn leak3_under_valgrind_leaks_the_three_blocks() {
    let (out, vg) = Run::new(fixture("leak3")).valgrind();
    assert!(out.status.success(), "{}", out.describe());
    // Three leaks plus stdout's buffer; nothing is ever freed.
    assert_eq!(vg.frees, 0);
    assert_eq!(vg.allocs, 4);
    assert!(vg.live_bytes >= 1111 + 2222 + 3333);
}

#[test]
fn every_entry_under_valgrind() {
    let (out, vg) = Run::new(fixture("every_entry")).valgrind();
    assert!(out.status.success(), "{}", out.describe());
    // From the source: 4 leaks + stdout's buffer are live at exit.
    assert_eq!(vg.live_blocks, 5);
    assert_eq!(vg.allocs - vg.frees, 5);
    assert!(vg.live_bytes >= 2001 + 2007 + 2013 + 26);
}

#[test]
fn threads2_deterministic_output() {
    let a = Run::new(fixture("threads2")).native();
    let b = Run::new(fixture("threads2")).native();
    assert!(a.status.success(), "{}", a.describe());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn cxx_newdelete_runs_clean_under_valgrind() {
    let (out, vg) = Run::new(fixture("cxx_newdelete")).valgrind();
    assert!(out.status.success(), "{}", out.describe());
    assert!(vg.live_bytes >= 4001 + 4003 + 4005);
}

#[test]
fn dlopen_tls_runs_natively() {
    let lib = fixture("bigtls.so");
    let out = Run::new(fixture("dlopen_tls"))
        .arg(lib.display().to_string())
        .native();
    assert!(out.status.success(), "{}", out.describe());
    assert!(out
        .stdout_str()
        .starts_with("dlopen_tls libs=1 threads=4 checksum="));
}

#[test]
fn mt_deterministic_output() {
    let out = Run::new(fixture("mt")).native();
    assert!(out.status.success(), "{}", out.describe());
    assert_eq!(
        out.stdout_str(),
        "mt count=8000 sum=48000000 labels=40596 log=608\n"
    );
}

//! A library's code is on the stacks of allocations made right after `dlopen` loaded it:
//! the tracer must unwind through it at once, not only after its next periodic look at
//! the module list. The host loads eight copies of a plugin microseconds apart and calls
//! each one's allocation function straight away; every leaked block's stack must run
//! from the plugin's function through the host's caller to `main`.

use memscope_tests::{fixture, fixture_lib_copies, Run};
use memscope_tests::{LeakExt as _, ReportExt as _};

#[test]
fn stacks_run_through_libraries_loaded_just_before() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copies: Vec<String> = fixture_lib_copies("plugin.so", dir.path(), 8)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let traced = Run::new(fixture("dlopen_stacks"))
        .args(copies.iter().cloned())
        .traced();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    assert_eq!(traced.output.stdout_str().trim(), "8 libraries");
    let report = traced.report();
    for i in 1..=copies.len() as u64 {
        let leaks = report.leaks_of_size(1000 + i);
        assert_eq!(
            leaks.len(),
            1,
            "the block of library {i}: {}",
            report.describe_leaks()
        );
        let frames = leaks[0].functions();
        let at = |name: &str| {
            leaks[0]
                .frame_index(name)
                .unwrap_or_else(|| panic!("library {i}: no {name} in the stack {frames:?}"))
        };
        let (plugin_alloc, load_and_call, main) =
            (at("plugin_alloc"), at("load_and_call"), at("main"));
        assert!(
            plugin_alloc < load_and_call && load_and_call < main,
            "library {i}: frames out of order: {frames:?}"
        );
    }
}

/// `RTLD_DEEPBIND` binds a library to its own dependencies first, so its calls would
/// reach libc's `malloc` past the tracer: a block it allocated and the program freed
/// would look like an invalid free, one it leaked would be missing. The tracer clears
/// the flag and says so, and the library is still found by the caller's own `RUNPATH`
/// (the tracer's `dlopen` must not stand in for the caller).
#[test]
fn deepbind_libraries_are_traced() {
    let plugin = fixture("plugin.so");
    let host = fixture("dlopen_deepbind");
    assert_eq!(
        plugin.parent(),
        host.parent(),
        "the host finds the plugin through RUNPATH=$ORIGIN"
    );
    let native = Run::new(&host).native();
    assert_eq!(
        native.stdout_str().trim(),
        "kept yes",
        "natively: {}",
        native.describe()
    );
    let traced = Run::new(&host).traced();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    assert_eq!(traced.output.stdout_str().trim(), "kept yes");
    assert!(
        traced.output.stderr_str().contains("RTLD_DEEPBIND"),
        "no note about the flag: {}",
        traced.output.describe()
    );
    let json = memscope_tests::report_json(&traced.trace, &[]);
    let findings = json["findings"].as_array().expect("findings");
    assert!(findings.is_empty(), "findings: {findings:#?}");
    let report = traced.report();
    let kept = report.leaks_of_size(4343);
    assert_eq!(kept.len(), 1, "{}", report.describe_leaks());
    assert!(
        kept[0].frame_index("plugin_alloc").is_some(),
        "{:?}",
        kept[0].functions()
    );
}

//! The JSON report validates against its published JSON Schema
//! (docs/memscope-report-1.schema.json), checked with a real validator on real traces
//! covering every part of the document: leaks with types, findings with all three
//! stacks, several threads, a fork child, a private-allocator warning.

use std::path::PathBuf;

use memscope_tests::{bug_free, build_test_program, fixture, report_json, workspace_root, Run};
use serde_json::Value;

fn schema() -> Value {
    let path = workspace_root().join("docs/memscope-report-1.schema.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn assert_valid(what: &str, report: &Value) {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema itself is valid");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the report does not match the schema:\n{}",
        errors.join("\n")
    );
}

fn traced_report(program: PathBuf, args: &[&str]) -> Value {
    let mut run = Run::new(program);
    for a in args {
        run = run.arg(*a);
    }
    let traced = run.traced();
    report_json(&traced.trace, &[])
}

#[test]
fn leaks_threads_and_types_validate() {
    for name in ["leak3", "threads2", "cxx_newdelete", "rust_alloc"] {
        let r = traced_report(fixture(name), &[]);
        assert!(
            !r["leaks"].as_array().unwrap().is_empty(),
            "{name}: expected leaks to validate"
        );
        assert_valid(name, &r);
    }
}

#[test]
fn findings_validate() {
    let bug_free = bug_free();
    for mode in ["double-free", "interior-free", "realloc-freed", "fishy"] {
        let r = traced_report(bug_free.clone(), &[mode]);
        assert!(
            !r["findings"].as_array().unwrap().is_empty(),
            "bug_free {mode}: expected a finding"
        );
        assert_valid(&format!("bug_free {mode}"), &r);
    }
}

/// A trace whose tracer dropped events (a small ring and no waiting, as in
/// lost_events.rs): `trace.lost_events` and the `lost-events` warning validate.
#[test]
fn lost_events_validate() {
    for _ in 0..5 {
        let traced = Run::new(fixture("solo_then_shared"))
            .env("MEMSCOPE_RING_KB", "64")
            .env("MEMSCOPE_STACK_DEPTH", "0")
            .env("MEMSCOPE_FULL_RING_WAIT_MS", "0")
            .traced();
        let r = report_json(&traced.trace, &[]);
        if r["trace"]["lost_events"].as_u64() == Some(0) {
            continue;
        }
        assert_eq!(r["warnings"][0]["kind"], "lost-events", "{r}");
        assert_valid("solo_then_shared, lossy", &r);
        return;
    }
    panic!("five lossy runs dropped nothing");
}

#[test]
fn a_report_breaking_the_schema_is_caught() {
    // The check can fail: a report with a leak frame whose address is not hex.
    let mut r = traced_report(fixture("leak3"), &[]);
    r["leaks"][0]["stack"][0]["address"] = Value::from("not an address");
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(!validator.is_valid(&r));
}

#[test]
fn allocator_slack_matches_the_programs_own_sum() {
    let program = build_test_program("slack", "slack.c", "gcc", &["-O1", "-g", "-Wall"]);
    let traced = Run::new(program).traced();
    let printed = traced.output.stdout_str();
    let mut it = printed
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap());
    let (slack, count) = (it.next().unwrap(), it.next().unwrap());
    let r = report_json(&traced.trace, &[]);
    assert_eq!(
        r["summary"]["allocations"].as_u64(),
        Some(count),
        "the program's allocations are the only ones"
    );
    assert_eq!(
        r["metrics"]["allocator_slack"]["bytes"].as_u64(),
        Some(slack),
        "slack = Σ malloc_usable_size − request"
    );
    assert_valid("slack", &r);
}

//! The gate's CI outputs from real traces: the SARIF log validates against the official
//! SARIF 2.1.0 JSON schema (tests/data/sarif/, checked with the `jsonschema` crate) and
//! points at the leak's file and line with the baseline fingerprint; the JUnit XML
//! parses and its counts match its test cases; GitHub annotations name file and line.

use std::fs;
use std::path::Path;

use crate::gate_support::{check, leak_line, leaky, memscope_in, trace};
use serde_json::Value;

fn sarif_schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sarif/sarif-schema-2.1.0.json");
    serde_json::from_str(
        &fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("the SARIF schema is JSON")
}

fn assert_valid_sarif(log: &Value) {
    let validator = jsonschema::draft4::new(&sarif_schema()).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF log does not validate: {errors:#?}\n{log:#}"
    );
}

#[test]
fn the_schema_rejects_invalid_logs() {
    let validator = jsonschema::draft4::new(&sarif_schema()).expect("the SARIF schema compiles");
    let minimal = serde_json::json!({ "version": "2.1.0", "runs": [ { "tool": { "driver": { "name": "x" } }, "results": [] } ] });
    assert!(validator.is_valid(&minimal));
    let mut bad_level = minimal.clone();
    bad_level["runs"][0]["results"] =
        serde_json::json!([ { "message": { "text": "m" }, "level": "fatal" } ]);
    assert!(!validator.is_valid(&bad_level));
    let mut bad_state = minimal.clone();
    bad_state["runs"][0]["results"] =
        serde_json::json!([ { "message": { "text": "m" }, "baselineState": "gone" } ]);
    assert!(!validator.is_valid(&bad_state));
    let mut no_version = minimal;
    no_version.as_object_mut().unwrap().remove("version");
    assert!(!validator.is_valid(&no_version));
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn sarif_validates_and_locates_the_leaks() {
    let more = trace(&leaky(), "more");
    let dir = more.dir.path();
    let out = check(dir, &more.trace, &["--sarif", "all.sarif"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let log = read_json(&dir.join("all.sarif"));
    assert_valid_sarif(&log);
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for d in [
        "leak",
        "double-free",
        "invalid-free",
        "realloc-of-freed",
        "mismatched-free",
    ] {
        assert!(rules.contains(&d), "rule {d} missing: {rules:?}");
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{results:#?}");
    // Largest first: leak_second (4321 bytes), then leak_first.
    for (r, function) in results.iter().zip(["leak_second", "leak_first"]) {
        assert_eq!(r["ruleId"], "leak");
        assert_eq!(r["level"], "error");
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(
            loc["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("tests/fixtures/gate_leaky.c"),
            "{loc:#}"
        );
        assert_eq!(
            loc["region"]["startLine"].as_u64(),
            Some(leak_line(&more.trace, function))
        );
        assert_eq!(
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            function
        );
        assert!(r.get("baselineState").is_none());
    }
}

#[test]
fn sarif_with_baseline_has_states_and_baseline_fingerprints() {
    let leak = trace(&leaky(), "leak");
    let dir = leak.dir.path();
    check(dir, &leak.trace, &["--write-baseline", "base.json"]);
    let more = trace(&leaky(), "more");
    check(dir, &more.trace, &["--write-baseline", "more.json"]);
    let out = check(
        dir,
        &more.trace,
        &["--baseline", "base.json", "--sarif", "new.sarif"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let log = read_json(&dir.join("new.sarif"));
    assert_valid_sarif(&log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(results[0]["baselineState"], "new");
    let more_base = read_json(&dir.join("more.json"));
    let second = more_base["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["frames"][0] == "leak_second")
        .expect("leak_second in the baseline")["fingerprint"]
        .clone();
    let fps = results[0]["partialFingerprints"].as_object().unwrap();
    assert_eq!(fps.values().collect::<Vec<_>>(), vec![&second]);

    // The clean run: the baseline's leak is absent.
    let clean = trace(&leaky(), "clean");
    let out = check(
        dir,
        &clean.trace,
        &["--baseline", "base.json", "--sarif", "clean.sarif"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let log = read_json(&dir.join("clean.sarif"));
    assert_valid_sarif(&log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["baselineState"], "absent");
    assert_eq!(results[0]["level"], "none");
}

#[test]
fn junit_parses_with_matching_counts() {
    let more = trace(&leaky(), "more");
    let dir = more.dir.path();
    fs::write(dir.join("s.supp"), "leak:^leak_first$\n").unwrap();
    let out = check(
        dir,
        &more.trace,
        &["--suppressions", "s.supp", "--junit", "out.xml"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let xml = fs::read_to_string(dir.join("out.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml)
        .unwrap_or_else(|e| panic!("JUnit XML does not parse: {e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1);
    let cases: Vec<_> = suites[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let with = |tag: &str| {
        cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name(tag)))
            .count()
    };
    assert_eq!(
        (cases.len(), with("failure"), with("skipped")),
        (2, 1, 1),
        "{xml}"
    );
    for n in [root, suites[0]] {
        assert_eq!(n.attribute("tests"), Some("2"), "{xml}");
        assert_eq!(n.attribute("failures"), Some("1"));
        assert_eq!(n.attribute("skipped"), Some("1"));
        assert_eq!(n.attribute("errors"), Some("0"));
    }
    let failing = cases
        .iter()
        .find(|c| c.children().any(|n| n.has_tag_name("failure")))
        .unwrap();
    assert!(
        failing
            .attribute("name")
            .unwrap()
            .starts_with("leak at leak_second ("),
        "{xml}"
    );
}

#[test]
fn github_annotations_name_file_and_line() {
    let leak = trace(&leaky(), "leak");
    let dir = leak.dir.path();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let args = [
        "check".as_ref(),
        leak.trace.as_os_str(),
        "--no-config".as_ref(),
    ];
    let out = memscope_in(
        dir,
        &args,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_WORKSPACE", workspace.to_str().unwrap()),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let line = leak_line(&leak.trace, "leak_first");
    let errors: Vec<String> = out
        .stdout_str()
        .lines()
        .filter(|l| l.starts_with("::error"))
        .map(str::to_string)
        .collect();
    assert_eq!(errors.len(), 1, "{}", out.stdout_str());
    assert!(
        errors[0].starts_with(&format!("::error file=tests/fixtures/gate_leaky.c,line={line},title=memscope leak::leak: 1234 bytes")),
        "{errors:?}"
    );
    // Not on GitHub: no workflow commands.
    let out = memscope_in(dir, &args, &[]);
    assert!(
        !out.stdout_str().contains("::error"),
        "{}",
        out.stdout_str()
    );
}

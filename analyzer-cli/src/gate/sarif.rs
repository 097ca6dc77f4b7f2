//! SARIF 2.1.0 output (`--sarif FILE`), for code-scanning services: one run per traced
//! process (a gate of several processes names each in its run's invocation:
//! `processId`, `commandLine`), one rule per
//! detector (and `program-error`), one result per failing item (and a `warning` result per
//! error finding that the trace's lost events could explain) located at the innermost
//! frame of the program's own code with a file and line, its stacks as SARIF `stacks`,
//! `partialFingerprints` = the baseline fingerprint; with a baseline, `baselineState`
//! (`new`, `updated`; `absent` results, level `none`, for entries that no longer occur).
//!
//! Paths under the source root (the git root of the current directory, else the current
//! directory) are written relative to it with `uriBaseId: SRCROOT`, so that code scanning
//! maps them to the repository; others as `file://` URIs.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::evaluate::{Outcome, Verdict};
use super::frames;
use super::input::{Detector, Frame, GateReport, Item};
use super::policy::Policy;
use super::text;

pub const SARIF_SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The key of `partialFingerprints`.
pub const FINGERPRINT_KEY: &str = "memscopeFingerprint/v1";

const PROGRAM_ERROR_RULE: &str = "program-error";

/// Where relative paths in the log start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrcRoot(pub PathBuf);

impl SrcRoot {
    /// The git root above `cwd` (a directory holding `.git`), else `cwd`.
    pub fn find(cwd: &Path) -> SrcRoot {
        let root = cwd
            .ancestors()
            .find(|d| d.join(".git").exists())
            .unwrap_or(cwd);
        SrcRoot(root.to_path_buf())
    }

    /// `path` relative to the root, when under it.
    pub fn relative(&self, path: &str) -> Option<String> {
        let rel = Path::new(path).strip_prefix(&self.0).ok()?;
        let s = rel.to_str()?;
        (!s.is_empty()).then(|| s.to_string())
    }
}

/// Percent-encodes what a URI path may not hold.
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn artifact(file: &str, root: &SrcRoot) -> Value {
    match root.relative(file) {
        Some(rel) => json!({ "uri": encode(&rel), "uriBaseId": "SRCROOT" }),
        None if file.starts_with('/') => json!({ "uri": format!("file://{}", encode(file)) }),
        None => json!({ "uri": encode(file) }),
    }
}

fn physical(frame: &Frame, root: &SrcRoot) -> Option<Value> {
    let file = frame.file.as_deref()?;
    let mut p = json!({ "artifactLocation": artifact(file, root) });
    if let Some(line) = frame.line.filter(|&l| l > 0) {
        p["region"] = json!({ "startLine": line });
    }
    Some(p)
}

fn stack_frame(frame: &Frame, root: &SrcRoot) -> Value {
    let mut location = json!({});
    if let Some(p) = physical(frame, root) {
        location["physicalLocation"] = p;
    }
    if let Some(f) = &frame.function {
        location["logicalLocations"] = json!([{ "fullyQualifiedName": f, "kind": "function" }]);
    }
    let mut v = json!({ "location": location });
    if let Some(m) = &frame.module {
        v["module"] = json!(m);
    }
    v
}

fn rule_name(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn rules() -> (Vec<Value>, Vec<String>) {
    let mut rules = Vec::new();
    let mut ids = Vec::new();
    for d in Detector::KNOWN {
        rules.push(json!({
            "id": d.name(),
            "name": rule_name(d.name()),
            "shortDescription": { "text": d.description() },
            "defaultConfiguration": { "level": "error" },
        }));
        ids.push(d.name().to_string());
    }
    rules.push(json!({
        "id": PROGRAM_ERROR_RULE,
        "name": rule_name(PROGRAM_ERROR_RULE),
        "shortDescription": { "text": "The traced program exited with a non-zero status or was killed by a signal." },
        "defaultConfiguration": { "level": "error" },
    }));
    ids.push(PROGRAM_ERROR_RULE.to_string());
    (rules, ids)
}

fn result(
    item: &Item,
    v: &Verdict,
    policy: &Policy,
    root: &SrcRoot,
    ids: &mut Vec<String>,
    rules: &mut Vec<Value>,
) -> Value {
    let id = item.detector.name().to_string();
    let index = match ids.iter().position(|r| *r == id) {
        Some(i) => i,
        None => {
            rules.push(
                json!({ "id": id, "shortDescription": { "text": item.detector.description() } }),
            );
            ids.push(id.clone());
            ids.len() - 1
        }
    };
    let level = if v.fails() { "error" } else { "warning" };
    let mut r = json!({
        "ruleId": id,
        "ruleIndex": index,
        "level": level,
        "message": { "text": format!("{} ({})", text::describe(item), text::reasons(v, policy)) },
        "partialFingerprints": { FINGERPRINT_KEY: v.fingerprint.0 },
        "properties": { "frames": v.frames, "bytes": item.bytes, "blocks": item.blocks, "count": item.count },
    });
    let site = frames::site(item).map(|s| Frame {
        function: s
            .function
            .map(|f| memscope_report::clean_function(&f).to_string()),
        file: s.file,
        line: s.line,
        module: s.module,
    });
    if let Some(site) = &site {
        if let Some(p) = physical(site, root) {
            let mut loc = json!({ "physicalLocation": p });
            if let Some(f) = &site.function {
                loc["logicalLocations"] = json!([{ "fullyQualifiedName": f, "kind": "function" }]);
            }
            r["locations"] = json!([loc]);
        }
    }
    let stacks: Vec<Value> = item
        .stacks
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(role, s)| {
            json!({
                "message": { "text": role.name() },
                "frames": s.iter().map(|f| stack_frame(f, root)).collect::<Vec<_>>(),
            })
        })
        .collect();
    if !stacks.is_empty() {
        r["stacks"] = json!(stacks);
    }
    if let Some(state) = v.baseline {
        r["baselineState"] = json!(state.name());
    }
    r
}

/// The SARIF log of one process: one run.
pub fn render(report: &GateReport, outcome: &Outcome, policy: &Policy, root: &SrcRoot) -> Value {
    log(vec![run(report, outcome, policy, root, false)])
}

/// A SARIF log of these runs.
pub fn log(runs: Vec<Value>) -> Value {
    json!({
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": runs,
    })
}

/// The SARIF run of one process: its failing items (level `error`) and the findings
/// its lost events could explain (level `warning`); with `process`, the invocation names
/// the process (`processId`, `commandLine`), for logs of several processes.
pub fn run(
    report: &GateReport,
    outcome: &Outcome,
    policy: &Policy,
    root: &SrcRoot,
    process: bool,
) -> Value {
    let (mut rules, mut ids) = rules();
    let mut results: Vec<Value> = outcome
        .failures()
        .chain(outcome.excused())
        .map(|v| result(&report.items[v.item], v, policy, root, &mut ids, &mut rules))
        .collect();
    if outcome.program_fails {
        results.push(json!({
            "ruleId": PROGRAM_ERROR_RULE,
            "ruleIndex": ids.iter().position(|r| r == PROGRAM_ERROR_RULE).unwrap_or(0),
            "level": "error",
            "message": { "text": format!("the traced program {} {}", report.exe, outcome.program) },
        }));
    }
    for e in &outcome.absent {
        let mut r = json!({
            "kind": "pass",
            "level": "none",
            "message": { "text": format!("no longer occurs; remove it from the baseline: {}", text::entry_line(e)) },
            "partialFingerprints": { FINGERPRINT_KEY: e.fingerprint },
            "baselineState": "absent",
        });
        if let Some(i) = ids.iter().position(|r| *r == e.kind) {
            r["ruleId"] = json!(e.kind);
            r["ruleIndex"] = json!(i);
        }
        results.push(r);
    }
    let root_uri = format!(
        "file://{}/",
        encode(root.0.to_string_lossy().trim_end_matches('/'))
    );
    let mut invocation = json!({ "executionSuccessful": true });
    if process {
        invocation["processId"] = json!(report.pid);
        invocation["commandLine"] = json!(report.command);
    }
    json!({
        "tool": { "driver": {
            "name": "memscope",
            "version": env!("CARGO_PKG_VERSION"),
            "rules": rules,
        } },
        "originalUriBaseIds": { "SRCROOT": { "uri": root_uri } },
        "invocations": [ invocation ],
        "results": results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::baseline::Baseline;
    use crate::gate::evaluate::tests::{finding, leak, report};
    use crate::gate::evaluate::{evaluate, Inputs};
    use crate::gate::input::ProgramStatus;

    fn schema() -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/sarif/sarif-schema-2.1.0.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn assert_valid(log: &Value) {
        let validator = jsonschema::draft4::new(&schema()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(log)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "SARIF invalid: {errors:#?}\n{log:#}");
    }

    #[test]
    fn shape_and_schema() {
        let r = report(vec![
            leak("leak_one", 100, 1),
            finding(Detector::DoubleFree, "twice"),
            finding(Detector::Growth, "g"),
        ]);
        let p = Policy {
            fail_on_program_error: true,
            ..Policy::default()
        };
        let o = evaluate(&Inputs {
            report: &r,
            policy: &p,
            suppressions: &[],
            baseline: None,
            frames: 5,
            status: ProgramStatus::Signaled(6),
        });
        let log = render(&r, &o, &p, &SrcRoot(PathBuf::from("/src")));
        assert_valid(&log);
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        // One rule per known detector, in their order, then the program's own failure.
        assert_eq!(rules.len(), Detector::KNOWN.len() + 1);
        for (rule, d) in rules.iter().zip(Detector::KNOWN) {
            assert_eq!(rule["id"], d.name());
        }
        assert_eq!(rules[0]["id"], "leak");
        assert_eq!(rules[rules.len() - 1]["id"], PROGRAM_ERROR_RULE);
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 3, "{results:#?}");
        assert_eq!(results[0]["ruleId"], "leak");
        assert_eq!(results[0]["ruleIndex"], 0);
        let loc = &results[0]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "app.c");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "SRCROOT");
        assert_eq!(loc["region"]["startLine"], 10);
        assert_eq!(
            results[0]["partialFingerprints"][FINGERPRINT_KEY],
            json!(o.verdicts[0].fingerprint.0)
        );
        assert!(results[0].get("baselineState").is_none());
        assert_eq!(results[1]["ruleId"], "double-free");
        assert_eq!(
            results[1]["locations"][0]["physicalLocation"]["region"]["startLine"],
            7
        );
        assert_eq!(results[1]["stacks"].as_array().unwrap().len(), 2);
        assert_eq!(results[2]["ruleId"], "program-error");
    }

    #[test]
    fn baseline_states_and_absent_entries_validate() {
        let before = report(vec![leak("a", 100, 1), leak("gone", 5, 1)]);
        let p = Policy::default();
        let inputs = |r, b| Inputs {
            report: r,
            policy: &p,
            suppressions: &[],
            baseline: b,
            frames: 5,
            status: ProgramStatus::Exited(0),
        };
        let base = Baseline::new(
            5,
            evaluate(&inputs(&before, None))
                .current
                .values()
                .cloned()
                .collect(),
        );
        let after = report(vec![leak("a", 200, 1), leak("new one", 1, 1)]);
        let o = evaluate(&inputs(&after, Some(&base)));
        let log = render(&after, &o, &p, &SrcRoot(PathBuf::from("/elsewhere")));
        assert_valid(&log);
        let results = log["runs"][0]["results"].as_array().unwrap();
        let states: Vec<&str> = results
            .iter()
            .map(|r| r["baselineState"].as_str().unwrap())
            .collect();
        assert_eq!(states, vec!["updated", "new", "absent"]);
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "file:///src/app.c"
        );
    }

    #[test]
    fn encodes_uris() {
        assert_eq!(encode("/a b/c%.c"), "/a%20b/c%25.c");
        assert_eq!(
            SrcRoot(PathBuf::from("/r")).relative("/r/x/y.c").as_deref(),
            Some("x/y.c")
        );
        assert_eq!(SrcRoot(PathBuf::from("/r")).relative("/rx/y.c"), None);
    }
}

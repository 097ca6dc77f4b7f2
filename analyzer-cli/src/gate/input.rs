//! The gate's input: the leaks and findings of a `memscope-report/1` JSON document, read
//! from a [`serde_json::Value`] into typed items, and the traced program's status.
//!
//! Reading the untyped value (not the analyzer's report structs) keeps the gate tied to
//! the documented schema only. Absent fields are empty or false; a document of another
//! schema is refused.

use std::fmt;

use serde_json::Value;

/// The schema prefix the gate accepts.
pub const REPORT_SCHEMA: &str = "memscope-report/1";

/// Every detector the gate knows, `leak` included, in report order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Detector {
    Leak,
    DoubleFree,
    InvalidFree,
    ReallocOfFreed,
    MismatchedFree,
    FishySize,
    Growth,
    /// A detector this version of the gate does not know (a newer report).
    Other(String),
}

impl Detector {
    /// The known detectors, in the order SARIF rules list them.
    pub const KNOWN: [Detector; 7] = [
        Detector::Leak,
        Detector::DoubleFree,
        Detector::InvalidFree,
        Detector::ReallocOfFreed,
        Detector::MismatchedFree,
        Detector::FishySize,
        Detector::Growth,
    ];

    /// The error-class detectors: the default of `--fail-on`.
    pub const ERROR_CLASS: [Detector; 4] = [
        Detector::DoubleFree,
        Detector::InvalidFree,
        Detector::ReallocOfFreed,
        Detector::MismatchedFree,
    ];

    pub fn parse(name: &str) -> Detector {
        match name {
            "leak" => Detector::Leak,
            "double-free" => Detector::DoubleFree,
            "invalid-free" => Detector::InvalidFree,
            "realloc-of-freed" => Detector::ReallocOfFreed,
            "mismatched-free" => Detector::MismatchedFree,
            "fishy-size" => Detector::FishySize,
            "growth" => Detector::Growth,
            other => Detector::Other(other.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Detector::Leak => "leak",
            Detector::DoubleFree => "double-free",
            Detector::InvalidFree => "invalid-free",
            Detector::ReallocOfFreed => "realloc-of-freed",
            Detector::MismatchedFree => "mismatched-free",
            Detector::FishySize => "fishy-size",
            Detector::Growth => "growth",
            Detector::Other(name) => name,
        }
    }

    /// One line on what the detector reports (SARIF rule descriptions).
    pub fn description(&self) -> &'static str {
        match self {
            Detector::Leak => "Heap blocks still allocated when the program ended, grouped by allocation stack.",
            Detector::DoubleFree => "A heap block released twice.",
            Detector::InvalidFree => "A release of an address that was never allocated, or of a pointer into the middle of a block.",
            Detector::ReallocOfFreed => "realloc of a block that was already freed.",
            Detector::MismatchedFree => "A block released by the wrong family (malloc/free, new/delete, new[]/delete[]).",
            Detector::FishySize => "An allocation size above PTRDIFF_MAX or a calloc whose size overflowed.",
            Detector::Growth => "A call site whose live bytes grew steadily through the run.",
            Detector::Other(_) => "A detector of a newer memscope.",
        }
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One frame of a stack, innermost first; unknown parts are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub module: Option<String>,
}

/// What a stack of a finding shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackRole {
    Allocation,
    FirstFree,
    Offending,
}

impl StackRole {
    pub fn name(self) -> &'static str {
        match self {
            StackRole::Allocation => "allocation",
            StackRole::FirstFree => "first_free",
            StackRole::Offending => "offending",
        }
    }
}

/// A leak group or a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub detector: Detector,
    /// The finding's message; for a leak, built from its size.
    pub message: String,
    pub bytes: u64,
    pub blocks: u64,
    /// How often a finding happened (1 for a leak group).
    pub count: u64,
    /// A leak the runtime keeps on purpose (libc, ld.so, ...).
    pub runtime_internal: bool,
    /// The type classifier's answer for a leak.
    pub type_name: Option<String>,
    /// The stacks, by role; a leak has its allocation stack only.
    pub stacks: Vec<(StackRole, Vec<Frame>)>,
}

impl Item {
    /// The stack that says where the problem is: the offending call of a finding, else
    /// the allocation, else the first free.
    pub fn primary_stack(&self) -> &[Frame] {
        for role in [
            StackRole::Offending,
            StackRole::Allocation,
            StackRole::FirstFree,
        ] {
            if let Some((_, s)) = self.stacks.iter().find(|(r, _)| *r == role) {
                return s;
            }
        }
        &[]
    }

    pub fn is_leak(&self) -> bool {
        self.detector == Detector::Leak
    }
}

/// How the traced program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramStatus {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Not known: the trace has no exit record (killed by SIGKILL, or an old tracer).
    Unknown,
}

impl ProgramStatus {
    /// A non-zero status or a signal.
    pub fn is_error(self) -> bool {
        matches!(self, ProgramStatus::Exited(c) if c != 0)
            || matches!(self, ProgramStatus::Signaled(_))
    }
}

impl fmt::Display for ProgramStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramStatus::Exited(c) => write!(f, "exited with status {c}"),
            ProgramStatus::Signaled(s) => write!(f, "killed by signal {s}"),
            ProgramStatus::Unknown => {
                f.write_str("exit status unknown (no exit record in the trace)")
            }
        }
    }
}

/// The report as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateReport {
    /// The traced executable.
    pub exe: String,
    pub truncated: bool,
    /// Events the tracer dropped.
    pub lost_events: u64,
    /// Leaks first (report order), then findings.
    pub items: Vec<Item>,
    /// From the trace's exit record.
    pub status: ProgramStatus,
}

impl GateReport {
    /// Reads a report document; `Err` names what is wrong with it.
    pub fn from_json(doc: &Value) -> Result<GateReport, String> {
        if !doc.is_object() {
            return Err("the report is not a JSON object".into());
        }
        if let Some(schema) = doc.get("schema") {
            let s = schema.as_str().unwrap_or("");
            if s != REPORT_SCHEMA {
                return Err(format!("report schema {schema} is not {REPORT_SCHEMA:?}"));
            }
        }
        let trace = &doc["trace"];
        let mut items = Vec::new();
        for leak in array(&doc["leaks"]) {
            let bytes = uint(&leak["bytes"]);
            let blocks = uint(&leak["blocks"]);
            items.push(Item {
                detector: Detector::Leak,
                message: format!(
                    "{bytes} bytes in {blocks} block{} leaked",
                    if blocks == 1 { "" } else { "s" }
                ),
                bytes,
                blocks,
                count: 1,
                runtime_internal: leak["runtime_internal"].as_bool().unwrap_or(false),
                type_name: leak["type"].as_str().map(str::to_string),
                stacks: vec![(StackRole::Allocation, stack(&leak["stack"]))],
            });
        }
        for finding in array(&doc["findings"]) {
            let detector = Detector::parse(finding["detector"].as_str().unwrap_or("unknown"));
            let mut stacks = Vec::new();
            for role in [
                StackRole::Allocation,
                StackRole::FirstFree,
                StackRole::Offending,
            ] {
                let v = &finding["stacks"][role.name()];
                if v.is_array() {
                    stacks.push((role, stack(v)));
                }
            }
            items.push(Item {
                message: finding["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| detector.name().to_string()),
                detector,
                bytes: 0,
                blocks: 0,
                count: finding["count"].as_u64().unwrap_or(1),
                runtime_internal: false,
                type_name: None,
                stacks,
            });
        }
        Ok(GateReport {
            exe: trace["exe"].as_str().unwrap_or("").to_string(),
            truncated: trace["truncated"].as_bool().unwrap_or(false),
            lost_events: trace["lost_events"].as_u64().unwrap_or(0),
            items,
            status: status_of(&trace["exit"]),
        })
    }
}

fn status_of(exit: &Value) -> ProgramStatus {
    let code = exit["code"].as_i64().and_then(|c| i32::try_from(c).ok());
    match (exit["how"].as_str(), code) {
        (Some("signal"), Some(sig)) => ProgramStatus::Signaled(sig),
        (Some("exit" | "_exit" | "shutdown"), Some(c)) => ProgramStatus::Exited(c),
        _ => ProgramStatus::Unknown,
    }
}

fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn uint(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn stack(v: &Value) -> Vec<Frame> {
    array(v)
        .iter()
        .map(|f| Frame {
            function: f["function"].as_str().map(str::to_string),
            file: f["file"].as_str().map(str::to_string),
            line: f["line"].as_u64().and_then(|l| u32::try_from(l).ok()),
            module: f["module"].as_str().map(str::to_string),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_leaks_findings_and_exit() {
        let doc = json!({
            "schema": "memscope-report/1",
            "trace": { "exe": "/t/app", "truncated": false, "exit": { "how": "signal", "code": 11 } },
            "leaks": [ { "bytes": 10, "blocks": 2, "runtime_internal": true, "type": "Vec",
                         "stack": [ { "address": "0x1", "function": "f", "file": "a.c", "line": 3, "module": "/t/app" } ] } ],
            "findings": [ { "detector": "double-free", "severity": "error", "message": "m", "count": 2,
                            "stacks": { "allocation": [], "offending": [ { "function": "g" } ] } } ]
        });
        let r = GateReport::from_json(&doc).unwrap();
        assert_eq!(r.status, ProgramStatus::Signaled(11));
        assert_eq!(r.items.len(), 2);
        assert_eq!(
            (
                r.items[0].bytes,
                r.items[0].blocks,
                r.items[0].runtime_internal
            ),
            (10, 2, true)
        );
        assert_eq!(r.items[0].message, "10 bytes in 2 blocks leaked");
        assert_eq!(r.items[0].primary_stack()[0].line, Some(3));
        assert_eq!(r.items[1].detector, Detector::DoubleFree);
        assert_eq!(r.items[1].count, 2);
        assert_eq!(r.items[1].primary_stack()[0].function.as_deref(), Some("g"));
    }

    #[test]
    fn absent_fields_are_empty() {
        let r = GateReport::from_json(&json!({})).unwrap();
        assert!(r.items.is_empty());
        assert_eq!(r.status, ProgramStatus::Unknown);
        let r = GateReport::from_json(&json!({ "leaks": [ {} ] })).unwrap();
        assert_eq!((r.items[0].bytes, r.items[0].runtime_internal), (0, false));
    }

    #[test]
    fn refuses_other_schema() {
        assert!(GateReport::from_json(&json!({ "schema": "memscope-report/2" })).is_err());
        assert!(GateReport::from_json(&json!([1])).is_err());
    }
}

//! The JSON report (`memscope analyze --format json`, schema `memscope-report/1`) as the
//! tests read it: [`Report`], typed for the fields most tests check, and helpers for the
//! untyped `serde_json::Value` of the fields it does not model (findings, metrics,
//! warnings, ...).
//!
//! This module knows nothing of how a report is produced (see [`crate::cli`]): it only
//! parses and inspects one, so that it can give way to a report type shared with the
//! analyzer.

use serde::Deserialize;

/// The schema tag every report carries.
pub const REPORT_SCHEMA: &str = "memscope-report/1";

/// A `memscope-report/1` document: the fields the tests check.
#[derive(Debug, Deserialize, Clone)]
pub struct Report {
    pub schema: String,
    pub trace: TraceInfo,
    pub summary: Summary,
    pub leaks: Vec<Leak>,
}

/// `trace`: what was traced and how completely.
#[derive(Debug, Deserialize, Clone)]
pub struct TraceInfo {
    pub pid: u64,
    pub exe: String,
    pub args: Vec<String>,
    pub duration_ns: u64,
    pub truncated: bool,
    pub inconsistencies: u64,
    /// Events the tracer dropped.
    pub lost_events: u64,
}

/// `summary`: the heap totals of the replay.
#[derive(Debug, Deserialize, Clone)]
pub struct Summary {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub peak_live_bytes: u64,
    pub live_at_exit: Live,
    pub threads: u64,
}

/// `summary.live_at_exit`: what was still allocated when the process ended.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub blocks: u64,
    pub bytes: u64,
}

/// One entry of `leaks`: the blocks left live at exit by one stack.
#[derive(Debug, Deserialize, Clone)]
pub struct Leak {
    pub bytes: u64,
    pub blocks: u64,
    pub stack: Vec<Frame>,
}

/// One frame of a stack, symbolized where the analyzer could.
#[derive(Debug, Deserialize, Clone)]
pub struct Frame {
    pub address: String,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u64>,
    pub module: Option<String>,
}

impl Report {
    /// Parses a report and checks its schema tag.
    pub fn parse(json: &[u8]) -> Result<Report, String> {
        let report: Report = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        if report.schema != REPORT_SCHEMA {
            return Err(format!(
                "schema is {:?}, expected {REPORT_SCHEMA:?}",
                report.schema
            ));
        }
        Ok(report)
    }

    /// Leaks whose total size is `bytes`.
    pub fn leaks_of_size(&self, bytes: u64) -> Vec<&Leak> {
        self.leaks.iter().filter(|l| l.bytes == bytes).collect()
    }

    /// A short listing of the leaks for assertion messages.
    pub fn describe_leaks(&self) -> String {
        let mut s = String::new();
        for l in self.leaks.iter().take(30) {
            s.push_str(&format!("  {} bytes in {} blocks:", l.bytes, l.blocks));
            for f in &l.stack {
                s.push_str(&format!(" {}", f.function.as_deref().unwrap_or(&f.address)));
            }
            s.push('\n');
        }
        if self.leaks.len() > 30 {
            s.push_str(&format!("  ... {} more\n", self.leaks.len() - 30));
        }
        s
    }
}

impl Leak {
    /// The function names of the stack, innermost first (`?` when unknown).
    pub fn functions(&self) -> Vec<&str> {
        self.stack
            .iter()
            .map(|f| f.function.as_deref().unwrap_or("?"))
            .collect()
    }

    /// Index of the first frame whose function is `name` (or a compiler
    /// clone of it such as `name.constprop.0`).
    pub fn frame_index(&self, name: &str) -> Option<usize> {
        self.stack.iter().position(|f| {
            f.function
                .as_deref()
                .is_some_and(|fun| fun == name || fun.starts_with(&format!("{name}.")))
        })
    }
}

/// Asserts a trace was read completely and replayed without inconsistencies.
pub fn assert_clean(what: &str, r: &Report) {
    assert!(
        !r.trace.truncated,
        "{what}: the trace of a process that ended normally is reported truncated"
    );
    assert_eq!(
        r.trace.inconsistencies, 0,
        "{what}: the replay found {} inconsistencies (allocation of a live address or free of an unknown one) in a correct program's trace",
        r.trace.inconsistencies
    );
    assert_eq!(r.trace.lost_events, 0, "{what}: the tracer dropped events");
}

/// The function names of a JSON stack (innermost first; `?` when unknown).
pub fn stack_functions(stack: &serde_json::Value) -> Vec<String> {
    stack
        .as_array()
        .map(|frames| {
            frames
                .iter()
                .map(|f| f["function"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_report_example() {
        let json = br#"{ "schema": "memscope-report/1",
          "trace":   { "pid": 1234, "exe": "/usr/bin/sort", "args": ["sort", "x"], "duration_ns": 0, "truncated": false, "inconsistencies": 0, "lost_events": 0 },
          "summary": { "allocations": 3, "frees": 1, "bytes_allocated": 10, "peak_live_bytes": 9, "live_at_exit": { "blocks": 2, "bytes": 9 }, "threads": 1 },
          "leaks": [ { "bytes": 9, "blocks": 2, "stack": [ { "address": "0x401136", "function": "leak_one", "file": "exits.c", "line": 12, "module": "/path/to/exits" },
                                                          { "address": "0x401200", "function": null, "file": null, "line": null, "module": null } ] } ] }"#;
        let r = Report::parse(json).unwrap();
        assert_eq!(r.leaks[0].frame_index("leak_one"), Some(0));
        assert_eq!(r.leaks[0].functions(), vec!["leak_one", "?"]);
        assert_eq!(
            r.summary.live_at_exit,
            Live {
                blocks: 2,
                bytes: 9
            }
        );
    }

    #[test]
    fn rejects_other_schema() {
        let json = br#"{ "schema": "memscope-report/2", "trace": { "pid": 1, "exe": "", "args": [], "duration_ns": 0, "truncated": false, "inconsistencies": 0, "lost_events": 0 },
          "summary": { "allocations": 0, "frees": 0, "bytes_allocated": 0, "peak_live_bytes": 0, "live_at_exit": { "blocks": 0, "bytes": 0 }, "threads": 1 }, "leaks": [] }"#;
        assert!(Report::parse(json).is_err());
    }
}

//! The JSON report (`memscope analyze --format json`, schema `memscope-report/1`) as the
//! tests read it: the analyzer's own report types from `memscope-report` (so a test and
//! the analyzer can never disagree on a field), named as the tests use them, with a few
//! helpers for assertions ([`ReportExt`], [`LeakExt`]) and for the untyped
//! `serde_json::Value` of reports read field by field.
//!
//! This module knows nothing of how a report is produced (see [`crate::cli`]): it only
//! parses and inspects one.

pub use memscope_report::{
    FrameDoc as Frame, HolderDoc as Holder, HolderKindDoc as HolderKind, LeakDoc as Leak,
    LeakKindDoc as LeakKind, LeakKindsDoc as LeakKinds, LiveDoc as Live, ReportDoc as Report,
    SummaryDoc as Summary, TraceDoc as TraceInfo, SCHEMA as REPORT_SCHEMA,
};

/// Parsing and describing a [`Report`] in tests.
pub trait ReportExt: Sized {
    /// Parses a report; a document of another schema is an error.
    fn parse(json: &[u8]) -> Result<Self, String>;
    /// Leaks whose total size is `bytes`.
    fn leaks_of_size(&self, bytes: u64) -> Vec<&Leak>;
    /// A short listing of the leaks for assertion messages.
    fn describe_leaks(&self) -> String;
}

/// Reading the stack of one [`Leak`] in tests.
pub trait LeakExt {
    /// The function names of the stack, innermost first (`?` when unknown).
    fn functions(&self) -> Vec<&str>;
    /// Index of the first frame whose function is `name` (or a compiler
    /// clone of it such as `name.constprop.0`).
    fn frame_index(&self, name: &str) -> Option<usize>;
}

impl ReportExt for Report {
    fn parse(json: &[u8]) -> Result<Report, String> {
        serde_json::from_slice(json).map_err(|e| e.to_string())
    }

    fn leaks_of_size(&self, bytes: u64) -> Vec<&Leak> {
        self.leaks.iter().filter(|l| l.bytes == bytes).collect()
    }

    fn describe_leaks(&self) -> String {
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

impl LeakExt for Leak {
    fn functions(&self) -> Vec<&str> {
        self.stack
            .iter()
            .map(|f| f.function.as_deref().unwrap_or("?"))
            .collect()
    }

    fn frame_index(&self, name: &str) -> Option<usize> {
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
    fn reads_the_stack_of_a_leak() {
        let json = br#"{ "bytes": 9, "blocks": 2, "stack_id": 3, "type": null, "runtime_internal": false,
          "stack": [ { "address": "0x401136", "function": "leak_one.constprop.0", "file": "exits.c", "line": 12, "module": "/path/to/exits" },
                     { "address": "0x401200", "function": null, "file": null, "line": null, "module": null } ] }"#;
        let leak: Leak = serde_json::from_slice(json).unwrap();
        assert_eq!(leak.frame_index("leak_one"), Some(0));
        assert_eq!(leak.frame_index("leak"), None);
        assert_eq!(leak.functions(), vec!["leak_one.constprop.0", "?"]);
    }

    #[test]
    fn rejects_a_document_that_is_no_report() {
        let err = Report::parse(br#"{ "schema": "memscope-report/2" }"#).unwrap_err();
        assert!(err.contains("memscope-report/1"), "{err}");
    }
}

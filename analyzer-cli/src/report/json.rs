//! The JSON renderer: `memscope-report/1`, one document, pretty-printed.
//!
//! The schema is documented in the `memscope-report` crate; fields may be added, never
//! renamed.

use memscope_report::ReportDoc;

/// The report as JSON text, with a trailing newline.
pub fn render(doc: &ReportDoc) -> String {
    // Serializing plain structs of strings and numbers cannot fail.
    let mut s =
        serde_json::to_string_pretty(doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

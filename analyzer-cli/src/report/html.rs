//! The HTML report: one self-contained page, readable offline, that draws itself from the
//! report document. Summary, memory over time, an interactive flame graph (allocations,
//! bytes, leaked, peak), findings with their stacks, leaks, top call sites, peak holders,
//! per-thread numbers and the size and lifetime distributions.
//!
//! How the page is put together, and why it is safe with hostile traces:
//!
//! - The page's own style and script are static files (`html/report.css`,
//!   `html/report.js`) compiled into the binary. We write them ourselves instead of using a
//!   charting library: the page must not load anything, and a few hundred lines of plain
//!   DOM code are enough for one chart and one flame graph.
//! - Every string that comes from the trace (paths, arguments, function names) travels
//!   only inside one JSON blob in a `<script type="application/json">` element, with `<`,
//!   `>` and `&` written as `\u003c`, `\u003e`, `\u0026`, so that no `</script>` or `<!--`
//!   in a name can end the element. The script puts text into the page with
//!   `textContent` and `setAttribute` only, never as markup.
//! - A Content-Security-Policy allows exactly the page's own script and style (by their
//!   SHA-256) and `data:` images, nothing else: no network, no injected inline script even
//!   if the escaping above had a hole. A blocked attempt shows as a console error, which
//!   the tests check for.
//!
//! The flame graph data is the folded stacks of [`super::flame::collapsed`] for each
//! weight, with frame names stored once in a table.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::analysis::Analysis;
use crate::symbols::symbolize::Symbolizer;

use super::flame::{collapsed, Weight};
use memscope_report::ReportDoc;

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// The id of the element holding the data; `report.js` reads it.
pub const DATA_ID: &str = "memscope-data";

/// Flame graph input for the page: the folded stacks of each weight, root first, with
/// frame names as indices into `names`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlameData {
    pub names: Vec<String>,
    pub allocations: Vec<FoldedStack>,
    pub bytes: Vec<FoldedStack>,
    pub leaked: Vec<FoldedStack>,
    pub peak: Vec<FoldedStack>,
    /// The stacks of runtime-internal blocks are left out.
    pub runtime_hidden: bool,
}

/// One folded stack: frame name indices from the root to the leaf, and its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoldedStack(pub Vec<u32>, pub u64);

/// Everything the page's script reads.
#[derive(Serialize)]
struct PageData<'a> {
    generator: &'static str,
    report: &'a ReportDoc,
    /// Leak groups in the analysis (the report document holds all of them here).
    leak_groups_total: usize,
    flame: &'a FlameData,
}

/// Renders the HTML report of `a`; the flame graph without runtime-internal blocks when
/// `hide_runtime`.
pub fn render(a: &Analysis, hide_runtime: bool, symbolizer: &mut Symbolizer) -> String {
    let doc = super::build(a, symbolizer, None);
    let flame = flame_data(a, hide_runtime, symbolizer);
    render_doc(&doc, &flame)
}

/// The folded stacks of every weight, names interned.
pub fn flame_data(a: &Analysis, hide_runtime: bool, symbolizer: &mut Symbolizer) -> FlameData {
    let mut data = FlameData {
        runtime_hidden: hide_runtime,
        ..FlameData::default()
    };
    let mut ids: HashMap<String, u32> = HashMap::new();
    for weight in [
        Weight::Allocations,
        Weight::Bytes,
        Weight::Leaked,
        Weight::Peak,
    ] {
        let lines = collapsed(a, weight, hide_runtime, symbolizer);
        let stacks: Vec<FoldedStack> = lines
            .lines()
            .filter_map(|line| {
                // Names may hold spaces (C++ signatures); the weight follows the last one.
                let (frames, w) = line.rsplit_once(' ')?;
                let w: u64 = w.parse().ok()?;
                let frames = frames
                    .split(';')
                    .map(|name| {
                        let next = data.names.len() as u32;
                        *ids.entry(name.to_owned()).or_insert_with(|| {
                            data.names.push(name.to_owned());
                            next
                        })
                    })
                    .collect();
                Some(FoldedStack(frames, w))
            })
            .collect();
        match weight {
            Weight::Allocations => data.allocations = stacks,
            Weight::Bytes => data.bytes = stacks,
            Weight::Leaked => data.leaked = stacks,
            Weight::Peak => data.peak = stacks,
        }
    }
    data
}

/// Renders the page for a built report document and its flame graph data.
pub fn render_doc(doc: &ReportDoc, flame: &FlameData) -> String {
    let data = PageData {
        generator: concat!("memscope ", env!("CARGO_PKG_VERSION")),
        report: doc,
        leak_groups_total: doc.leak_groups_total,
        flame,
    };
    let json = script_json(&data);
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; img-src data:; \
         base-uri 'none'; form-action 'none'",
        sha256_base64(JS),
        sha256_base64(CSS)
    );
    let mut out = String::with_capacity(json.len() + CSS.len() + JS.len() + 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"");
    out.push_str(&csp);
    out.push_str("\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"");
    out.push_str(data.generator);
    out.push_str("\">\n<title>memscope report</title>\n<style>");
    out.push_str(CSS);
    out.push_str(
        "</style>\n</head>\n<body>\n<noscript><p class=\"noscript\">This report draws \
        itself with the script it contains; allow scripts for this file, or use \
        <code>memscope analyze --format text</code>.</p></noscript>\n<main id=\"app\"></main>\n",
    );
    out.push_str("<script type=\"application/json\" id=\"");
    out.push_str(DATA_ID);
    out.push_str("\">");
    out.push_str(&json);
    out.push_str("</script>\n<script>");
    out.push_str(JS);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// `v` as JSON that can sit inside a `<script>` element: `<`, `>` and `&` (which JSON
/// only has inside strings) and the two JavaScript line separators are `\u` escapes.
pub fn script_json<T: Serialize>(v: &T) -> String {
    let json = serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned());
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for ch in json.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The CSP source hash of an inline element's text: base64 of its SHA-256.
fn sha256_base64(text: &str) -> String {
    base64(&Sha256::digest(text.as_bytes()))
}

/// Standard base64 with padding (32 bytes here: not worth a dependency).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyze_file;
    use crate::trace::synth::{alloc, free, module, stack, TraceBuilder};
    use memscope_format::{AllocKind, Origin, Record, StackId};

    const HOSTILE: &str = "/opt/<script>alert(1)</script>/<img src=x onerror=alert(2)><!--&amp;.so";

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        // The value Chromium printed for a page's `document.body.textContent='ran';`.
        assert_eq!(
            sha256_base64("document.body.textContent='ran';"),
            "qPnE6qV5HWGLpGEkb7HRyrwJMMVEtncil/+8i1c7LWc="
        );
    }

    #[test]
    fn script_json_cannot_end_the_element() {
        let s = script_json(&vec!["</script><!--<script>&\u{2028}", "a\\<b"]);
        assert!(
            !s.contains('<') && !s.contains('>') && !s.contains('&'),
            "{s}"
        );
        let back: Vec<String> = serde_json::from_str(&s).expect("still JSON");
        assert_eq!(back, ["</script><!--<script>&\u{2028}", "a\\<b"]);
    }

    #[test]
    fn static_assets_cannot_end_their_elements() {
        assert!(!CSS.to_ascii_lowercase().contains("</style"));
        assert!(!JS.to_ascii_lowercase().contains("</script"));
        assert!(!JS.contains("innerHTML") && !JS.contains("outerHTML"));
        assert!(!JS.contains("insertAdjacentHTML") && !JS.contains("document.write"));
    }

    /// A synthetic trace whose module path is markup: the page holds it only escaped,
    /// inside the data element.
    #[test]
    fn hostile_module_path_stays_inside_the_data() {
        let mut t = TraceBuilder::new(Origin::Start);
        t.chunk(
            0,
            1000,
            &[
                module(1, 0x1000, 0x9000, HOSTILE.as_bytes(), b""),
                stack(StackId(1), &[0x1100, 0x1200]),
            ],
        );
        t.chunk(
            1,
            1000,
            &[
                Record::ThreadStart { time: 1000, tid: 7 },
                alloc(1001, 0x10, 100, AllocKind::Malloc, StackId(1)),
                alloc(1002, 0x20, 50, AllocKind::Malloc, StackId(1)),
                free(1003, 0x20, StackId(1)),
            ],
        );
        t.end(2000);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.msl");
        std::fs::write(&path, t.bytes()).expect("write trace");
        let a = analyze_file(&path).expect("analysis");
        let html = render(&a, true, &mut Symbolizer::new());
        assert_eq!(
            html.matches("<script").count(),
            2,
            "only the page's own scripts"
        );
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(!html.contains("<!--"));
        assert!(!html.contains("alert(1)</"));
        assert!(html.contains(
            "/opt/\\u003cscript\\u003ealert(1)\\u003c/script\\u003e/\\u003cimg src=x \
             onerror=alert(2)\\u003e\\u003c!--\\u0026amp;.so"
        ));
        // The data element parses back to the path, in the leak's stack and the flame names.
        let start = html.find(DATA_ID).expect("data element");
        let body = &html[start..];
        let json = &body[body.find('>').expect("tag end") + 1..body.find("</script>").unwrap()];
        let v: serde_json::Value = serde_json::from_str(json).expect("data is JSON");
        assert_eq!(v["report"]["leaks"][0]["stack"][0]["module"], HOSTILE);
        assert!(v["flame"]["names"]
            .as_array()
            .expect("names")
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.starts_with("<img src=x"))));
        assert_eq!(v["flame"]["leaked"][0][1], 100);
    }
}

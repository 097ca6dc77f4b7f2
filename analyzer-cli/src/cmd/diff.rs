//! `memscope diff A.msl B.msl`: compares two traces call site by call site. Stack ids
//! and addresses differ between runs, so a call site's key is its symbolized frames
//! (innermost first), each by function and `file:line` (an unnamed frame is its module's
//! file name): two call sites in one function are two sites. For each key: allocations,
//! bytes allocated and bytes live at the end in A and in B, sorted by the largest change
//! in live bytes, then in bytes allocated.
//!
//! Formats ([`DiffFormat`]): `text` (the changed sites, `--top` of them), `json` (every
//! changed site, `memscope-diff/1`), `collapsed` (differential folded stacks, `root;...;leaf
//! A B`, the input of `inferno-flamegraph` and Brendan Gregg's `flamegraph.pl`) and `svg`
//! (the differential flame graph inferno draws from those lines: widths are B's, red grew,
//! blue shrank), both weighted by `--weight`. There is no `html`: the HTML report is a
//! page about one run (timeline, threads, findings) with no meaning for a pair, and the
//! SVG opens in a browser.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::{analyze_file, Analysis};
use crate::cmd::cli::DiffArgs;
use crate::error::CliError;
use crate::report::text::thousands;
use crate::symbols::symbolize::{SymFrame, Symbolizer};

/// The forms `memscope diff` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    /// Differential folded stacks (`frame;frame A B`), root first.
    Collapsed,
    /// A differential SVG flame graph (widths: B; colour: the change from A).
    Svg,
}

/// What the widths of `collapsed` and `svg` measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffWeight {
    /// Allocations made over the run.
    Allocations,
    /// Bytes allocated over the run.
    Bytes,
    /// Bytes live at the end of the run.
    Leaked,
}

impl DiffWeight {
    fn of(self, s: SideDoc) -> u64 {
        match self {
            DiffWeight::Allocations => s.allocations,
            DiffWeight::Bytes => s.bytes,
            DiffWeight::Leaked => s.live_bytes,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DiffWeight::Allocations => "allocations",
            DiffWeight::Bytes => "bytes",
            DiffWeight::Leaked => "leaked bytes",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SideDoc {
    pub allocations: u64,
    pub bytes: u64,
    pub live_bytes: u64,
}

/// One frame of a call site's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SiteFrame {
    /// The function, or the module's file name when it has no name.
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl SiteFrame {
    fn of(f: SymFrame) -> SiteFrame {
        let function = match f.function {
            Some(name) => name,
            None => f
                .module
                .as_deref()
                .map(|m| m.rsplit('/').next().unwrap_or(m).to_string())
                .unwrap_or_else(|| "?".to_string()),
        };
        SiteFrame {
            function,
            file: f.file,
            line: f.line,
        }
    }

    /// `function (file:line)`, or what of it is known.
    fn label(&self) -> String {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => format!("{} ({file}:{line})", self.function),
            (Some(file), None) => format!("{} ({file})", self.function),
            _ => self.function.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffSiteDoc {
    /// The frames' labels, innermost first: `function (file:line)`.
    pub key: Vec<String>,
    /// The same frames, by part.
    pub frames: Vec<SiteFrame>,
    pub a: SideDoc,
    pub b: SideDoc,
    pub delta_live_bytes: i128,
    pub delta_bytes: i128,
    pub delta_allocations: i128,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffDoc {
    pub schema: &'static str,
    pub a: String,
    pub b: String,
    pub sites: Vec<DiffSiteDoc>,
}

/// Per call-site key, the sums of one trace.
fn by_key(a: &Analysis) -> BTreeMap<Vec<SiteFrame>, SideDoc> {
    let mut sym = Symbolizer::with_warmup(&a.symbols);
    let mut out: BTreeMap<Vec<SiteFrame>, SideDoc> = BTreeMap::new();
    for (&stack, s) in &a.results.sites {
        let key: Vec<SiteFrame> = sym
            .symbolize_stack(&a.index, a.index.stack(stack))
            .into_iter()
            .map(SiteFrame::of)
            .collect();
        let e = out.entry(key).or_default();
        e.allocations += s.allocations;
        e.bytes = e.bytes.saturating_add(s.bytes);
        e.live_bytes = e.live_bytes.saturating_add(s.live_bytes);
    }
    out
}

/// Every site of either trace with its sums in both (zero where absent), by key.
fn both(
    ka: &BTreeMap<Vec<SiteFrame>, SideDoc>,
    kb: &BTreeMap<Vec<SiteFrame>, SideDoc>,
) -> BTreeMap<Vec<SiteFrame>, (SideDoc, SideDoc)> {
    let mut out: BTreeMap<Vec<SiteFrame>, (SideDoc, SideDoc)> = BTreeMap::new();
    for (k, &s) in ka {
        out.entry(k.clone()).or_default().0 = s;
    }
    for (k, &s) in kb {
        out.entry(k.clone()).or_default().1 = s;
    }
    out
}

/// The changed sites, largest change in live bytes first.
fn changed_sites(sites: &BTreeMap<Vec<SiteFrame>, (SideDoc, SideDoc)>) -> Vec<DiffSiteDoc> {
    let mut out: Vec<DiffSiteDoc> = sites
        .iter()
        .filter(|(_, (sa, sb))| sa != sb)
        .map(|(k, &(sa, sb))| DiffSiteDoc {
            key: k.iter().map(SiteFrame::label).collect(),
            frames: k.clone(),
            a: sa,
            b: sb,
            delta_live_bytes: i128::from(sb.live_bytes) - i128::from(sa.live_bytes),
            delta_bytes: i128::from(sb.bytes) - i128::from(sa.bytes),
            delta_allocations: i128::from(sb.allocations) - i128::from(sa.allocations),
        })
        .collect();
    out.sort_by(|x, y| {
        y.delta_live_bytes
            .abs()
            .cmp(&x.delta_live_bytes.abs())
            .then(y.delta_bytes.abs().cmp(&x.delta_bytes.abs()))
            .then(x.frames.cmp(&y.frames))
    });
    out
}

/// Compares the two traces; returns the output in the chosen format.
pub fn diff(args: &DiffArgs) -> Result<String, CliError> {
    let a = analyze_file(&args.a)?;
    let b = analyze_file(&args.b)?;
    let sites = both(&by_key(&a), &by_key(&b));
    let doc = DiffDoc {
        schema: "memscope-diff/1",
        a: args.a.display().to_string(),
        b: args.b.display().to_string(),
        sites: changed_sites(&sites),
    };
    Ok(match args.format {
        DiffFormat::Json => {
            let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
            s.push('\n');
            s
        }
        DiffFormat::Text => text(&doc, args.top),
        DiffFormat::Collapsed => collapsed(&sites, args.weight),
        DiffFormat::Svg => svg(&doc, &collapsed(&sites, args.weight), args.weight),
    })
}

fn signed(v: i128) -> String {
    let mag = thousands(v.unsigned_abs().min(u128::from(u64::MAX)) as u64);
    if v < 0 {
        format!("-{mag}")
    } else {
        format!("+{mag}")
    }
}

fn text(doc: &DiffDoc, top: usize) -> String {
    let mut o = format!(
        "memscope diff: A = {}, B = {}\n{} call sites changed",
        doc.a,
        doc.b,
        doc.sites.len()
    );
    if doc.sites.len() > top {
        o.push_str(&format!(" ({top} shown)"));
    }
    o.push_str("\n\n");
    for s in doc.sites.iter().take(top) {
        let chain: Vec<&str> = s.key.iter().take(4).map(String::as_str).collect();
        o.push_str(&format!(
            "live {} bytes, allocated {} bytes, {} allocations  at {}\n",
            signed(s.delta_live_bytes),
            signed(s.delta_bytes),
            signed(s.delta_allocations),
            chain.join(" <- ")
        ));
    }
    o
}

/// A frame's name in a folded stack: `;` separates frames, a line ends the stack.
fn folded_name(f: &SiteFrame) -> String {
    f.label().replace(';', ":").replace('\n', " ")
}

/// Differential folded stacks, sorted: `root;...;leaf A B` for every site with weight in
/// either trace (unchanged ones too: a flame graph needs the whole of B).
fn collapsed(sites: &BTreeMap<Vec<SiteFrame>, (SideDoc, SideDoc)>, weight: DiffWeight) -> String {
    let mut folded: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (k, &(sa, sb)) in sites {
        let (wa, wb) = (weight.of(sa), weight.of(sb));
        if wa == 0 && wb == 0 {
            continue;
        }
        let mut names: Vec<String> = k.iter().rev().map(folded_name).collect();
        if names.is_empty() {
            names.push("[no stack]".to_string());
        }
        let e = folded.entry(names.join(";")).or_default();
        e.0 = e.0.saturating_add(wa);
        e.1 = e.1.saturating_add(wb);
    }
    folded
        .into_iter()
        .map(|(k, (wa, wb))| format!("{k} {wa} {wb}\n"))
        .collect()
}

/// The differential flame graph of the folded lines, drawn by inferno.
fn svg(doc: &DiffDoc, lines: &str, weight: DiffWeight) -> String {
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = format!("memscope diff ({})", weight.name());
    opts.subtitle = Some(format!(
        "A = {}, B = {}: widths are B, red grew, blue shrank",
        doc.a, doc.b
    ));
    opts.count_name = weight.name().to_string();
    let input: Vec<&str> = if lines.is_empty() {
        vec!["[nothing to show] 0 1"]
    } else {
        lines.lines().collect()
    };
    let mut out = Vec::new();
    match inferno::flamegraph::from_lines(&mut opts, input, &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><text x=\"10\" y=\"20\">flame graph failed: {}</text></svg>\n",
            e.to_string().replace('&', "&amp;").replace('<', "&lt;")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, line: u32) -> SiteFrame {
        SiteFrame {
            function: function.to_string(),
            file: Some("/src/a.c".to_string()),
            line: Some(line),
        }
    }

    fn side(allocations: u64, bytes: u64, live_bytes: u64) -> SideDoc {
        SideDoc {
            allocations,
            bytes,
            live_bytes,
        }
    }

    #[test]
    fn two_call_sites_of_one_function_are_two_sites() {
        let first = vec![frame("f", 3), frame("main", 9)];
        let second = vec![frame("f", 4), frame("main", 9)];
        let ka = BTreeMap::from([
            (first.clone(), side(1, 100, 100)),
            (second.clone(), side(2, 400, 0)),
        ]);
        let kb = BTreeMap::from([
            (first.clone(), side(3, 300, 300)),
            (second.clone(), side(1, 200, 0)),
        ]);
        let sites = changed_sites(&both(&ka, &kb));
        assert_eq!(sites.len(), 2);
        assert_eq!(sites[0].key, ["f (/src/a.c:3)", "main (/src/a.c:9)"]);
        assert_eq!(
            (sites[0].delta_live_bytes, sites[0].delta_bytes),
            (200, 200)
        );
        assert_eq!(sites[1].key, ["f (/src/a.c:4)", "main (/src/a.c:9)"]);
        assert_eq!(
            (sites[1].delta_bytes, sites[1].delta_allocations),
            (-200, -1)
        );
        assert_eq!(
            collapsed(&both(&ka, &kb), DiffWeight::Bytes),
            "main (/src/a.c:9);f (/src/a.c:3) 100 300\nmain (/src/a.c:9);f (/src/a.c:4) 400 200\n"
        );
        assert_eq!(
            collapsed(&both(&ka, &kb), DiffWeight::Leaked),
            "main (/src/a.c:9);f (/src/a.c:3) 100 300\n"
        );
    }

    #[test]
    fn unnamed_frames_and_separators() {
        let f = SiteFrame::of(SymFrame {
            address: 0x10,
            function: None,
            file: None,
            line: None,
            module: Some("/lib/libx.so".into()),
            module_address: Some(0x10),
            inlined: false,
            binary_changed: false,
        });
        assert_eq!(f.label(), "libx.so");
        let odd = SiteFrame {
            function: "a;b".into(),
            file: None,
            line: None,
        };
        assert_eq!(folded_name(&odd), "a:b");
    }
}

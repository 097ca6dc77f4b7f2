//! `memscope diff A.msl B.msl`: compares two traces call site by call site. Stack ids
//! and addresses differ between runs, so a call site's key is its symbolized function
//! chain (innermost first; an unnamed frame is its module's file name). For each key:
//! allocations, bytes allocated and bytes live at the end in A and in B, sorted by the
//! largest change in live bytes, then in bytes allocated.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::{analyze_file, Analysis};
use crate::cmd::cli::DiffArgs;
use crate::error::CliError;
use crate::report::text::thousands;
use crate::report::Format;
use crate::symbols::symbolize::Symbolizer;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SideDoc {
    pub allocations: u64,
    pub bytes: u64,
    pub live_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffSiteDoc {
    /// Function chain, innermost first.
    pub key: Vec<String>,
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
fn by_key(a: &Analysis) -> BTreeMap<Vec<String>, SideDoc> {
    let mut sym = Symbolizer::with_warmup(&a.symbols);
    let mut out: BTreeMap<Vec<String>, SideDoc> = BTreeMap::new();
    for (&stack, s) in &a.results.sites {
        let key: Vec<String> = sym
            .symbolize_stack(&a.index, a.index.stack(stack))
            .into_iter()
            .map(|f| match f.function {
                Some(name) => name,
                None => f
                    .module
                    .as_deref()
                    .map(|m| m.rsplit('/').next().unwrap_or(m).to_string())
                    .unwrap_or_else(|| "?".to_string()),
            })
            .collect();
        let e = out.entry(key).or_default();
        e.allocations += s.allocations;
        e.bytes = e.bytes.saturating_add(s.bytes);
        e.live_bytes = e.live_bytes.saturating_add(s.live_bytes);
    }
    out
}

/// Compares the two traces; returns the report text.
pub fn diff(args: &DiffArgs) -> Result<String, CliError> {
    let a = analyze_file(&args.a)?;
    let b = analyze_file(&args.b)?;
    let (ka, kb) = (by_key(&a), by_key(&b));
    let mut keys: Vec<&Vec<String>> = ka.keys().chain(kb.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut sites: Vec<DiffSiteDoc> = keys
        .into_iter()
        .map(|k| {
            let sa = ka.get(k).copied().unwrap_or_default();
            let sb = kb.get(k).copied().unwrap_or_default();
            DiffSiteDoc {
                key: k.clone(),
                a: sa,
                b: sb,
                delta_live_bytes: sb.live_bytes as i128 - sa.live_bytes as i128,
                delta_bytes: sb.bytes as i128 - sa.bytes as i128,
                delta_allocations: sb.allocations as i128 - sa.allocations as i128,
            }
        })
        .filter(|s| s.a != s.b)
        .collect();
    sites.sort_by(|x, y| {
        y.delta_live_bytes
            .abs()
            .cmp(&x.delta_live_bytes.abs())
            .then(y.delta_bytes.abs().cmp(&x.delta_bytes.abs()))
            .then(x.key.cmp(&y.key))
    });
    let doc = DiffDoc {
        schema: "memscope-diff/1",
        a: args.a.display().to_string(),
        b: args.b.display().to_string(),
        sites,
    };
    Ok(match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
            s.push('\n');
            s
        }
        _ => text(&doc, args.top),
    })
}

fn signed(v: i128) -> String {
    let mag = thousands(v.unsigned_abs().min(u64::MAX as u128) as u64);
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

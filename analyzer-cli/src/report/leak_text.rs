//! The text report's words for leak kinds: valgrind's `LEAK SUMMARY` block (or the line
//! saying the trace has no leak check), and what keeps a leak group (`held by global
//! cache (reach.c:3)`, `held by stack of thread 1234 in main`, `held by the lost block
//! allocated at make_list (reach.c:9)`) with its chain from a root.

use std::fmt::Write as _;

use memscope_report::{HolderDoc, HolderKindDoc, LeakDoc, LeakKindDoc, ReportDoc};

use super::text::thousands;

/// The line printed when a report has no leak kinds (and is not an `--at` report).
pub const NO_LEAK_CHECK: &str = "no leak kinds: the trace has no leak check at exit (the process was killed by SIGKILL, or an older tracer); every block live at exit is listed";

/// `LEAK SUMMARY:` and the four kinds, right-aligned like valgrind's; or one line when
/// the trace has no leak check. Nothing for an `--at` report (kinds are for the end).
pub fn summary(o: &mut String, doc: &ReportDoc) {
    if doc.trace.at_ns.is_some() {
        return;
    }
    let Some(k) = &doc.summary.leak_kinds else {
        let _ = writeln!(o, "{NO_LEAK_CHECK}");
        return;
    };
    let _ = writeln!(o, "LEAK SUMMARY:");
    for kind in LeakKindDoc::ALL {
        let (name, n) = (kind.words(), k.get(kind));
        let _ = writeln!(
            o,
            "{name:>18}: {} in {}",
            count(n.bytes, "byte", "bytes"),
            count(n.blocks, "block", "blocks")
        );
    }
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// The lines after a group's stack: its holders, then its chain.
pub fn holders(o: &mut String, leak: &LeakDoc) {
    for h in &leak.held_by {
        let _ = writeln!(o, "  held by {}", holder(h, true));
    }
    // A chain of the root alone says no more than `held by`.
    if leak.chain.len() > 1 {
        let steps: Vec<String> = leak.chain.iter().map(|h| holder(h, false)).collect();
        let _ = writeln!(o, "  path: {} -> this block", steps.join(" -> "));
    }
}

/// One holder in words; a heap holder of `held_by` is the lost block of an indirectly
/// lost group, one in a chain a block on the way.
pub fn holder(h: &HolderDoc, held_by: bool) -> String {
    let thread = h.thread.map_or_else(|| "?".to_string(), |t| t.to_string());
    match h.kind {
        HolderKindDoc::Global => {
            let mut s = match &h.symbol {
                Some(name) => format!("global {name}"),
                None => "a global".to_string(),
            };
            match located(h) {
                Some(at) => {
                    let _ = write!(s, " ({at})");
                }
                None => {
                    if let Some(m) = &h.module {
                        let _ = write!(s, " in {}", base_name(m));
                    }
                }
            }
            s
        }
        HolderKindDoc::Stack => match &h.symbol {
            Some(f) => format!("stack of thread {thread} in {f}"),
            None => format!("stack of thread {thread}"),
        },
        HolderKindDoc::Tls => format!("thread-local of thread {thread}"),
        HolderKindDoc::Register => format!("register of thread {thread}"),
        HolderKindDoc::Anonymous => "anonymous memory (not heap, not a module)".to_string(),
        HolderKindDoc::Heap => {
            let mut s = if held_by {
                "the lost block allocated at ".to_string()
            } else {
                "block allocated at ".to_string()
            };
            s.push_str(h.symbol.as_deref().unwrap_or("?"));
            if let Some(at) = located(h) {
                let _ = write!(s, " ({at})");
            }
            s
        }
    }
}

/// `file:line` (base name), or the file alone.
fn located(h: &HolderDoc) -> Option<String> {
    let file = base_name(h.file.as_deref()?);
    Some(match h.line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    })
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(kind: HolderKindDoc, symbol: Option<&str>, file: Option<&str>) -> HolderDoc {
        HolderDoc {
            kind,
            symbol: symbol.map(str::to_string),
            module: Some("/b/reach".into()),
            file: file.map(str::to_string),
            line: file.map(|_| 3),
            thread: Some(1234),
        }
    }

    #[test]
    fn holders_in_words() {
        let g = h(HolderKindDoc::Global, Some("cache"), Some("/src/reach.c"));
        assert_eq!(holder(&g, true), "global cache (reach.c:3)");
        let g = h(HolderKindDoc::Global, None, None);
        assert_eq!(holder(&g, true), "a global in reach");
        let s = h(HolderKindDoc::Stack, Some("main"), None);
        assert_eq!(holder(&s, true), "stack of thread 1234 in main");
        let heap = h(HolderKindDoc::Heap, Some("make_list"), Some("/src/reach.c"));
        assert_eq!(
            holder(&heap, true),
            "the lost block allocated at make_list (reach.c:3)"
        );
        assert_eq!(
            holder(&heap, false),
            "block allocated at make_list (reach.c:3)"
        );
        let r = h(HolderKindDoc::Register, None, None);
        assert_eq!(holder(&r, true), "register of thread 1234");
        let t = h(HolderKindDoc::Tls, None, None);
        assert_eq!(holder(&t, true), "thread-local of thread 1234");
    }
}

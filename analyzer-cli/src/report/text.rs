//! The text renderer: a header line, a valgrind-worded heap summary, then the largest
//! leak groups with their stacks as `    at function (file:line) [module]`.
//!
//! Colour (bold headings, highlighted sizes) only when the caller says the output is a
//! terminal and `NO_COLOR` is unset; the decision is made by the caller.

use std::fmt::Write as _;

use super::model::{FrameDoc, OriginDoc, ReportDoc};

/// Minimal ANSI styling that can be switched off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }

    fn warn(self, s: &str) -> String {
        self.paint("1;33", s)
    }
}

/// Whether to colour output going to a stream that is (or is not) a terminal.
pub fn want_color(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `1234567` → `1,234,567`, as valgrind prints counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A duration in the largest unit that keeps it readable.
pub fn duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// Renders the report; `leaks` in `doc` are the groups to show.
pub fn render(doc: &ReportDoc, style: Style) -> String {
    let mut o = String::new();
    let t = &doc.trace;
    let s = &doc.summary;
    let mut head = format!("memscope: {} (pid {}", t.exe, t.pid);
    if t.origin == OriginDoc::ForkChild {
        let _ = write!(head, ", forked from {}", t.ppid);
    }
    let _ = write!(head, "), {}", duration(t.duration_ns));
    if let Some(e) = t.exit {
        let _ = write!(head, ", ended by {} {}", e.how.name(), e.code);
    }
    let _ = writeln!(o, "{}", style.bold(&head));
    let _ = writeln!(o, "HEAP SUMMARY:");
    let _ = writeln!(
        o,
        "    in use at exit: {} in {}",
        plural(s.live_at_exit.bytes, "byte", "bytes"),
        plural(s.live_at_exit.blocks, "block", "blocks")
    );
    let _ = writeln!(
        o,
        "  total heap usage: {} allocs, {} frees, {} allocated",
        thousands(s.allocations),
        thousands(s.frees),
        plural(s.bytes_allocated, "byte", "bytes")
    );
    let _ = writeln!(
        o,
        "         peak live: {}",
        plural(s.peak_live_bytes, "byte", "bytes")
    );
    let _ = writeln!(o, "           threads: {}", thousands(s.threads));
    let inconsistencies = format!("   inconsistencies: {}", thousands(t.inconsistencies));
    let _ = writeln!(
        o,
        "{}",
        if t.inconsistencies > 0 {
            style.warn(&inconsistencies)
        } else {
            inconsistencies
        }
    );
    if s.failed_allocations > 0 {
        let _ = writeln!(o, "failed allocations: {}", thousands(s.failed_allocations));
    }
    if t.origin == OriginDoc::ForkChild {
        let _ = writeln!(
            o,
            "   inherited frees: {} (blocks allocated by the parent before fork)",
            thousands(t.inherited_frees)
        );
    }
    if let Some(at) = t.truncated_at {
        let _ = writeln!(
            o,
            "{}",
            style.warn(&format!(
                "  trace truncated at byte offset {at}: counts cover what was complete"
            ))
        );
    }
    if doc.leak_groups_total == 0 {
        let _ = writeln!(o, "\nNo blocks live at exit.");
        return o;
    }
    let _ = writeln!(
        o,
        "\n{}",
        style.bold(&format!(
            "LIVE AT EXIT: {} in {}, by allocation stack ({} of {} shown):",
            plural(s.live_at_exit.bytes, "byte", "bytes"),
            plural(s.live_at_exit.blocks, "block", "blocks"),
            doc.leaks.len(),
            doc.leak_groups_total
        ))
    );
    for leak in &doc.leaks {
        let _ = writeln!(
            o,
            "\n{} in {}, allocated at:",
            style.warn(&plural(leak.bytes, "byte", "bytes")),
            plural(leak.blocks, "block", "blocks")
        );
        if leak.stack.is_empty() {
            let _ = writeln!(o, "    (no stack recorded)");
        }
        for f in &leak.stack {
            let _ = writeln!(o, "    at {}", frame(f));
        }
    }
    o
}

fn frame(f: &FrameDoc) -> String {
    let mut s = f.function.clone().unwrap_or_else(|| f.address.clone());
    if let Some(file) = &f.file {
        let name = file.rsplit('/').next().unwrap_or(file);
        match f.line {
            Some(line) => {
                let _ = write!(s, " ({name}:{line})");
            }
            None => {
                let _ = write!(s, " ({name})");
            }
        }
    }
    if let Some(m) = &f.module {
        let name = m.rsplit('/').next().unwrap_or(m);
        let _ = write!(
            s,
            " [{name}{}]",
            if f.binary_changed {
                ", binary changed since the run"
            } else {
                ""
            }
        );
    }
    if f.inlined {
        s.push_str(" (inlined)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}

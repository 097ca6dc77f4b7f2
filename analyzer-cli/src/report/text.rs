//! The text renderer: a header line, a valgrind-worded heap summary and leak summary
//! ([`super::leak_text`]), the findings with their stacks, the first leak groups (worst
//! leak kind first, each with what holds it), the top call sites and a few metrics. Stacks are printed as `    at function (file:line)
//! [module]`.
//!
//! Colour (bold headings, highlighted sizes) only when the caller says the output is a
//! terminal and `NO_COLOR` is unset; the decision is made by the caller.

use std::fmt::Write as _;

use memscope_report::{FindingDoc, FrameDoc, OriginDoc, ReportDoc, Severity};

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

fn is_libc(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with("libc.so"))
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
    // Name the allocator when it is not the C library's (which is the usual case).
    if let Some(a) = t.allocator.as_ref().filter(|a| !is_libc(&a.path)) {
        let _ = writeln!(o, "allocator: {}", a.path);
    }
    for w in &doc.warnings {
        let _ = writeln!(o, "WARNING: {}", w.message);
    }
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
    if let Some(at) = t.at_ns {
        let _ = writeln!(o, "         analyzed at: {} after the start", duration(at));
    }
    super::leak_text::summary(&mut o, doc);
    findings(&mut o, &doc.findings, style);
    if doc.leak_groups_total == 0 {
        let _ = writeln!(o, "\nNo blocks live at exit.");
        metrics(&mut o, doc, style);
        return o;
    }
    let _ = writeln!(
        o,
        "\n  program: {} in {}; runtime-internal (libc, ld.so, runtimes): {} in {}",
        plural(s.program_leaks.bytes, "byte", "bytes"),
        plural(s.program_leaks.blocks, "block", "blocks"),
        plural(s.runtime_internal.bytes, "byte", "bytes"),
        plural(s.runtime_internal.blocks, "block", "blocks"),
    );
    let _ = writeln!(
        o,
        "\n{}",
        style.bold(&format!(
            "LIVE AT EXIT: {} in {}, by allocation stack{} ({} of {} shown):",
            plural(s.live_at_exit.bytes, "byte", "bytes"),
            plural(s.live_at_exit.blocks, "block", "blocks"),
            if s.leak_kinds.is_some() {
                " and leak kind"
            } else {
                ""
            },
            doc.leaks.len(),
            doc.leak_groups_total
        ))
    );
    for leak in &doc.leaks {
        let mut what = String::new();
        if let Some(k) = leak.kind {
            let _ = write!(what, " {}", k.words());
        }
        if let Some(t) = &leak.type_name {
            let _ = write!(what, " [{t}]");
        }
        if leak.runtime_internal {
            what.push_str(" (runtime-internal)");
        }
        let _ = writeln!(
            o,
            "\n{} in {}{what}, allocated at:",
            style.warn(&plural(leak.bytes, "byte", "bytes")),
            plural(leak.blocks, "block", "blocks")
        );
        if leak.stack.is_empty() {
            let _ = writeln!(o, "    (no stack recorded)");
        }
        for f in &leak.stack {
            let _ = writeln!(o, "    at {}", frame(f));
        }
        super::leak_text::holders(&mut o, leak);
    }
    metrics(&mut o, doc, style);
    o
}

fn stack(o: &mut String, title: &str, frames: &[FrameDoc]) {
    let _ = writeln!(o, "  {title}:");
    if frames.is_empty() {
        let _ = writeln!(o, "    (no stack recorded)");
    }
    for f in frames {
        let _ = writeln!(o, "    at {}", frame(f));
    }
}

fn findings(o: &mut String, list: &[FindingDoc], style: Style) {
    if list.is_empty() {
        let _ = writeln!(o, "\nNo findings.");
        return;
    }
    let _ = writeln!(
        o,
        "\n{}",
        style.bold(&format!("FINDINGS ({}):", list.len()))
    );
    for f in list {
        let times = if f.count > 1 {
            format!(" ({} times)", thousands(f.count))
        } else {
            String::new()
        };
        let label = format!("{} [{}]", f.severity, f.detector);
        let label = if f.severity == Severity::Error {
            style.paint("1;31", &label)
        } else {
            style.warn(&label)
        };
        let _ = writeln!(o, "\n{label} {}{times}", f.message);
        if let Some(s) = &f.stacks.offending {
            stack(o, "at", s);
        }
        if let Some(s) = &f.stacks.allocation {
            stack(o, "allocated at", s);
        }
        if let Some(s) = &f.stacks.first_free {
            stack(o, "first freed at", s);
        }
    }
}

fn metrics(o: &mut String, doc: &ReportDoc, style: Style) {
    let m = &doc.metrics;
    let _ = writeln!(o, "\n{}", style.bold("METRICS:"));
    let _ = writeln!(
        o,
        "  peak live: {} at {} after the start",
        plural(m.peak.bytes, "byte", "bytes"),
        duration(m.peak.time_ns)
    );
    if let Some(h) = m.peak.holders.first() {
        let at = h
            .stack
            .iter()
            .find(|f| f.function.is_some())
            .map_or_else(|| "?".to_string(), frame);
        let _ = writeln!(
            o,
            "    largest holder then: {} at {at}",
            plural(h.bytes, "byte", "bytes")
        );
    }
    let l = &m.lifetimes;
    let _ = writeln!(
        o,
        "  lifetimes: {} temporary, {} short (< {}), {} long, {} until exit",
        thousands(l.temporary.blocks),
        thousands(l.short.blocks),
        duration(l.short_threshold_ns),
        thousands(l.long.blocks),
        thousands(l.until_exit.blocks)
    );
    let cross: u64 = m.threads.iter().map(|t| t.cross_thread_frees).sum();
    let _ = writeln!(
        o,
        "  threads: {}, cross-thread frees: {}",
        m.threads.len(),
        thousands(cross)
    );
    let _ = writeln!(
        o,
        "  patterns: {} realloc growth chain sites, {} churn sites",
        m.patterns.realloc_chains.len(),
        m.patterns.churn.len()
    );
    let _ = writeln!(
        o,
        "  allocator slack: {} ({:.1} per allocation, {:.1}% of the bytes requested)",
        plural(m.allocator_slack.bytes, "byte", "bytes"),
        m.allocator_slack.per_allocation,
        m.allocator_slack.percent_of_requested
    );
    if !m.top_sites.is_empty() {
        let _ = writeln!(o, "\n{}", style.bold("TOP CALL SITES (bytes allocated):"));
        for s in m.top_sites.iter().take(5) {
            let ty = s
                .type_name
                .as_deref()
                .map(|t| format!(" [{t}]"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "\n{} in {}{ty}, {} live at the end:",
                plural(s.bytes, "byte", "bytes"),
                plural(s.allocations, "allocation", "allocations"),
                plural(s.live_bytes, "byte", "bytes")
            );
            for f in &s.stack {
                let _ = writeln!(o, "    at {}", frame(f));
            }
        }
    }
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

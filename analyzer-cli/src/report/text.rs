//! The text renderer: a header line, a valgrind-worded heap summary and leak summary
//! ([`super::leak_text`]), the findings with their stacks, the first leak groups (worst
//! leak kind first, each with what holds it), the top call sites and a few metrics. Stacks are printed as `    at function (file:line)
//! [module]`.
//!
//! Colour (bold headings, highlighted sizes) only when the caller says the output is a
//! terminal and `NO_COLOR` is unset; the decision is made by the caller.

use std::fmt::Write as _;

use memscope_report::{
    ExitDoc, ExitHowDoc, FindingDoc, FrameDoc, LocationDoc, OriginDoc, ReportDoc, Severity,
};

use super::view::{leak_view, stack_span, ViewArgs};

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

/// How the process ended, in words: `exited with status 0`, `killed by signal 9
/// (SIGKILL)`.
pub fn exit_words(e: ExitDoc) -> String {
    match e.how {
        ExitHowDoc::Signal => match signal_name(e.code) {
            Some(name) => format!("killed by signal {} ({name})", e.code),
            None => format!("killed by signal {}", e.code),
        },
        ExitHowDoc::QuickExit => format!("exited with status {} (_exit)", e.code),
        ExitHowDoc::Exec => "replaced by exec".to_string(),
        ExitHowDoc::Exit | ExitHowDoc::Shutdown => format!("exited with status {}", e.code),
    }
}

/// The name of a Linux signal number.
fn signal_name(n: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    usize::try_from(n - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
}

/// The moment of an `--at` report: `1.2 ms after the start`.
fn moment(doc: &ReportDoc) -> Option<String> {
    Some(format!("{} after the start", duration(doc.trace.at_ns?)))
}

/// Renders the report with the default view.
pub fn render(doc: &ReportDoc, style: Style) -> String {
    render_view(doc, style, &ViewArgs::default())
}

/// Renders the report; `view` says which leak groups and how much of their stacks.
pub fn render_view(doc: &ReportDoc, style: Style, view: &ViewArgs) -> String {
    let mut o = String::new();
    let t = &doc.trace;
    let s = &doc.summary;
    let mut head = format!("memscope: {} (pid {}", t.exe, t.pid);
    if t.origin == OriginDoc::ForkChild {
        let _ = write!(head, ", forked from {}", t.ppid);
    }
    let _ = write!(head, "), {}", duration(t.duration_ns));
    if let Some(e) = t.exit {
        let _ = write!(head, ", {}", exit_words(e));
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
    let at = moment(doc);
    let _ = writeln!(
        o,
        "{}: {} in {}",
        match &at {
            Some(m) => format!("    live at {m}"),
            None => "    in use at exit".to_string(),
        },
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
                "  trace truncated at byte offset {}: counts cover what was complete",
                thousands(at)
            ))
        );
    }
    if let Some(at) = t.at_ns {
        let _ = writeln!(o, "         analyzed at: {} after the start", duration(at));
    }
    super::leak_text::summary(&mut o, doc);
    findings(&mut o, &doc.findings, style, view);
    let when = match &at {
        Some(m) => format!("at {m}"),
        None => "at exit".to_string(),
    };
    if doc.leak_groups_total == 0 || doc.leaks.is_empty() {
        let _ = writeln!(o, "\nNo blocks live {when}.");
        metrics(&mut o, doc, style, view);
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
    let v = leak_view(&doc.leaks, view);
    let _ = writeln!(
        o,
        "\n{}",
        style.bold(&format!(
            "LIVE {}: {} in {}, by site{}, the program's first ({} of {} shown{}):",
            when.to_uppercase(),
            plural(s.live_at_exit.bytes, "byte", "bytes"),
            plural(s.live_at_exit.blocks, "block", "blocks"),
            if s.leak_kinds.is_some() {
                " and leak kind"
            } else {
                ""
            },
            v.shown.len(),
            v.total,
            if v.shown.len() < v.total {
                "; --all-groups or --max-groups N shows more"
            } else {
                ""
            }
        ))
    );
    if v.hidden_runtime > 0 {
        let _ = writeln!(
            o,
            "  hidden: {} runtime-internal ({} in {}; --show-runtime shows them)",
            plural(v.hidden_runtime as u64, "group", "groups"),
            plural(v.hidden_runtime_live.bytes, "byte", "bytes"),
            plural(v.hidden_runtime_live.blocks, "block", "blocks"),
        );
    }
    if !view.full_stacks {
        let _ = writeln!(
            o,
            "  stacks start at the program's own frame; --full-stacks shows allocator, library and runtime frames"
        );
    }
    for shown in &v.shown {
        let leak = shown.leak;
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
        let site = leak
            .site
            .as_ref()
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        let merged = if shown.stacks > 1 {
            format!(
                " (from {} stacks, the largest below)",
                thousands(shown.stacks as u64)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "\n{} in {}{what}, allocated at{site}{merged}:",
            style.warn(&plural(shown.bytes, "byte", "bytes")),
            plural(shown.blocks, "block", "blocks")
        );
        print_stack(&mut o, &leak.stack, leak.site.as_ref(), view);
        super::leak_text::holders(&mut o, leak);
    }
    metrics(&mut o, doc, style, view);
    o
}

fn findings(o: &mut String, list: &[FindingDoc], style: Style, view: &ViewArgs) {
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
        // The site belongs to the first stack that is there (the primary one).
        let mut site = f.site.as_ref();
        for (title, st) in [
            ("at", &f.stacks.offending),
            ("allocated at", &f.stacks.allocation),
            ("first freed at", &f.stacks.first_free),
        ] {
            if let Some(st) = st {
                let _ = writeln!(o, "  {title}:");
                print_stack(o, st, site.take(), view);
            }
        }
    }
}

fn metrics(o: &mut String, doc: &ReportDoc, style: Style, view: &ViewArgs) {
    let m = &doc.metrics;
    let _ = writeln!(o, "\n{}", style.bold("METRICS:"));
    let _ = writeln!(
        o,
        "  peak live: {} at {} after the start",
        plural(m.peak.bytes, "byte", "bytes"),
        duration(m.peak.time_ns)
    );
    if let Some(h) = m.peak.holders.first() {
        let at = match &h.site {
            Some(site) => site.to_string(),
            None => h
                .stack
                .iter()
                .find(|f| f.function.is_some())
                .map_or_else(|| "?".to_string(), frame),
        };
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
        thousands(m.threads.len() as u64),
        thousands(cross)
    );
    let _ = writeln!(
        o,
        "  patterns: {} realloc growth chain sites, {} churn sites",
        thousands(m.patterns.realloc_chains.len() as u64),
        thousands(m.patterns.churn.len() as u64)
    );
    let _ = writeln!(
        o,
        "  allocator slack: {} ({:.1} per allocation, {:.1}% of the bytes requested)",
        plural(m.allocator_slack.bytes, "byte", "bytes"),
        m.allocator_slack.per_allocation,
        m.allocator_slack.percent_of_requested
    );
    // Sites with no frame of the program (the runtime's start-up, libstdc++'s pool) are
    // hidden with runtime-internal blocks.
    let (own, runtime): (Vec<_>, Vec<_>) = m
        .top_sites
        .iter()
        .partition(|s| !view.runtime_hidden() || s.site.as_ref().is_none_or(|site| site.program));
    if !m.top_sites.is_empty() {
        let _ = writeln!(o, "\n{}", style.bold("TOP CALL SITES (bytes allocated):"));
        if !runtime.is_empty() {
            let bytes = runtime.iter().fold(0u64, |a, s| a.saturating_add(s.bytes));
            let _ = writeln!(
                o,
                "  hidden: {} of the runtime's start-up or libraries only ({}; --show-runtime shows them)",
                plural(runtime.len() as u64, "site", "sites"),
                plural(bytes, "byte", "bytes")
            );
        }
        for s in own.into_iter().take(5) {
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
            print_stack(o, &s.stack, s.site.as_ref(), view);
        }
    }
}

/// A stack from its site outward, runtime start-up folded (whole with `--full-stacks`).
fn print_stack(o: &mut String, stack: &[FrameDoc], site: Option<&LocationDoc>, view: &ViewArgs) {
    if stack.is_empty() {
        let _ = writeln!(o, "    (no stack recorded)");
    }
    let (first, end, folded) = stack_span(stack.len(), site, view.full_stacks);
    for f in &stack[first..end] {
        let _ = writeln!(o, "    at {}", frame(f));
    }
    if folded > 0 {
        let _ = writeln!(
            o,
            "    ... {}",
            plural(folded as u64, "runtime frame", "runtime frames")
        );
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

//! Test support: small typed report documents for the gate's unit tests, with only the
//! parts the gate reads filled in (exe, exit, leaks, findings).

use memscope_report::{
    ClassDoc, ExitDoc, FindingDoc, FrameDoc, LeakDoc, LifetimesDoc, LiveDoc, MetricsDoc, OriginDoc,
    PatternsDoc, PeakDoc, ReportDoc, Schema, SlackDoc, SummaryDoc, TimelineDoc, TraceDoc,
};

/// A report of `exe` with these leak groups and findings and nothing else.
pub(crate) fn report(
    exe: &str,
    exit: Option<ExitDoc>,
    leaks: Vec<LeakDoc>,
    findings: Vec<FindingDoc>,
) -> ReportDoc {
    let none = LiveDoc {
        blocks: 0,
        bytes: 0,
    };
    let class = ClassDoc {
        blocks: 0,
        bytes: 0,
    };
    ReportDoc {
        schema: Schema,
        trace: TraceDoc {
            pid: 1,
            ppid: 0,
            exe: exe.to_string(),
            args: vec![exe.to_string()],
            origin: OriginDoc::Start,
            duration_ns: 0,
            truncated: false,
            truncated_at: None,
            inconsistencies: 0,
            inherited_frees: 0,
            parent_trace: None,
            lost_events: 0,
            allocator: None,
            exit,
            at_ns: None,
        },
        summary: SummaryDoc {
            allocations: 0,
            frees: 0,
            bytes_allocated: 0,
            peak_live_bytes: 0,
            live_at_exit: none,
            threads: 1,
            failed_allocations: 0,
            program_leaks: none,
            runtime_internal: none,
            leak_kinds: None,
            inherited: None,
        },
        leak_groups_total: leaks.len(),
        leaks,
        findings,
        metrics: MetricsDoc {
            peak: PeakDoc {
                bytes: 0,
                time_ns: 0,
                holders: Vec::new(),
            },
            top_sites: Vec::new(),
            timeline: TimelineDoc {
                bucket_ns: 1,
                buckets: Vec::new(),
            },
            sizes: Vec::new(),
            lifetimes: LifetimesDoc {
                short_threshold_ns: 0,
                temporary: class,
                short: class,
                long: class,
                until_exit: class,
                histogram: Vec::new(),
            },
            threads: Vec::new(),
            patterns: PatternsDoc {
                realloc_chain_min: 0,
                realloc_chains: Vec::new(),
                churn_min: 0,
                churn: Vec::new(),
            },
            allocator_slack: SlackDoc {
                recorded: true,
                bytes: 0,
                per_allocation: 0.0,
                percent_of_requested: 0.0,
                reason: String::new(),
            },
            findings_dropped: 0,
        },
        warnings: Vec::new(),
    }
}

/// A leak group of `bytes` in `blocks` allocated at this stack.
pub(crate) fn leak(bytes: u64, blocks: u64, stack: Vec<FrameDoc>) -> LeakDoc {
    LeakDoc {
        bytes,
        blocks,
        stack_id: 1,
        stack,
        type_name: None,
        runtime_internal: false,
        kind: None,
        held_by: Vec::new(),
        chain: Vec::new(),
        inherited: false,
        site: None,
    }
}

/// A frame with the parts a test names; the rest unknown.
pub(crate) fn frame(
    function: Option<&str>,
    file: Option<&str>,
    line: Option<u32>,
    module: Option<&str>,
) -> FrameDoc {
    FrameDoc {
        address: "0x1".to_string(),
        function: function.map(str::to_string),
        file: file.map(str::to_string),
        line,
        module: module.map(str::to_string),
        inlined: false,
        binary_changed: false,
    }
}

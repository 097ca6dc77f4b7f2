//! Regression tests across the report and the gate: a baseline written while one
//! compiler's standard library put one chain of frames between the allocator and the
//! program still matches after another compiler's put a different chain there (issue
//! 15), and a baseline of fingerprint recipe 1 (before sites) is still matched, with a
//! note to write it again. The sites come from the report's classifier on symbolized
//! frames, the verdicts from the gate, as `memscope check` chains them.

use memscope_report::Detector;

use crate::analysis::classify::site::site;
use crate::gate::baseline::{Baseline, State};
use crate::gate::evaluate::{evaluate, Inputs, Outcome};
use crate::gate::frames;
use crate::gate::input::{Frame, GateReport, Item, ProgramStatus, StackRole};
use crate::gate::policy::Policy;
use crate::symbols::symbolize::SymFrame;

const EXE: &str = "/build/rleak";

fn sym(function: &str, file: Option<&str>, line: u32) -> SymFrame {
    SymFrame {
        address: 0x5555_0000 + u64::from(line),
        function: Some(function.to_string()),
        file: file.map(str::to_string),
        line: file.map(|_| line),
        module: Some(EXE.to_string()),
        module_address: Some(0x1000 + u64::from(line)),
        inlined: false,
        binary_changed: false,
    }
}

/// A Rust leak in `rleak::forget_buffer` (main.rs:15) with `std_chain` (library frames
/// of one rustc's `alloc`) between the allocator and it.
fn leak_with(std_chain: &[(&str, u32)]) -> Item {
    let mut frames: Vec<SymFrame> = std_chain
        .iter()
        .map(|&(f, line)| {
            sym(
                f,
                Some("/rustc/0123/library/alloc/src/raw_vec/mod.rs"),
                line,
            )
        })
        .collect();
    frames.push(sym(
        "<alloc::raw_vec::RawVecInner>::try_allocate_in",
        None,
        1,
    ));
    frames.push(sym("rleak::forget_buffer", Some("src/main.rs"), 15));
    frames.push(sym("rleak::main", Some("src/main.rs"), 20));
    frames.push(sym(
        "std::rt::lang_start_internal",
        Some("/rustc/0123/library/std/src/rt.rs"),
        171,
    ));
    frames.push(sym(
        "std::rt::lang_start",
        Some("/rustc/0123/library/std/src/rt.rs"),
        205,
    ));
    frames.push(sym("main", None, 0));
    let stack = frames
        .iter()
        .map(|f| Frame {
            function: f.function.clone(),
            file: f.file.clone(),
            line: f.line,
            module: f.module.clone(),
        })
        .collect();
    Item {
        detector: Detector::Leak,
        message: "300 bytes in 1 block leaked".into(),
        bytes: 300,
        blocks: 1,
        count: 1,
        runtime_internal: false,
        type_name: Some("Vec".into()),
        leak_kind: None,
        inherited: false,
        stacks: vec![(StackRole::Allocation, stack)],
        site: site(&frames),
    }
}

fn report(item: Item) -> GateReport {
    GateReport {
        exe: EXE.into(),
        pid: 1,
        command: EXE.into(),
        truncated: false,
        lost_events: 0,
        items: vec![item],
        leak_check: false,
        status: ProgramStatus::Exited(0),
    }
}

fn gate(r: &GateReport, baseline: Option<&Baseline>) -> Outcome {
    evaluate(&Inputs {
        report: r,
        policy: &Policy::default(),
        suppressions: &[],
        baseline,
        frames: frames::DEFAULT_FRAMES,
        status: ProgramStatus::Exited(0),
    })
}

fn rustc_a() -> Item {
    leak_with(&[
        ("alloc::alloc::alloc", 95),
        ("alloc::raw_vec::RawVecInner<A>::with_capacity_in", 433),
    ])
}

fn rustc_b() -> Item {
    leak_with(&[
        ("alloc::alloc::Global::alloc_impl_runtime", 190),
        (
            "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
            429,
        ),
        ("alloc::raw_vec::RawVecInner<A>::try_allocate_in", 464),
        ("alloc::raw_vec::RawVec<T,A>::with_capacity_in", 177),
    ])
}

#[test]
fn baseline_of_one_std_chain_matches_another() {
    let before = report(rustc_a());
    let written = gate(&before, None);
    let baseline = Baseline::new(
        frames::DEFAULT_FRAMES,
        written.current.values().cloned().collect(),
    );
    let text = baseline.to_json();
    assert!(text.contains("\"rleak::forget_buffer\""), "{text}");
    assert!(
        !text.contains("alloc::"),
        "std frames in the baseline: {text}"
    );
    let baseline = Baseline::parse(&text).unwrap();
    let after = report(rustc_b());
    let o = gate(&after, Some(&baseline));
    assert_eq!(o.verdicts[0].baseline, Some(State::Unchanged));
    assert!(!o.failed(), "{o:?}");
    assert!(!o.legacy_baseline);
    assert_eq!(
        frames::site_words(&after.items[0]),
        "rleak::forget_buffer (src/main.rs:15)"
    );
}

#[test]
fn recipe_1_baseline_is_matched_with_a_note() {
    let r = report(rustc_a());
    let old_fp = frames::legacy_fingerprint(&r.items[0], frames::DEFAULT_FRAMES);
    let text = format!(
        r#"{{ "schema": "memscope-baseline/1", "frames": 5, "entries": [
            {{ "fingerprint": "{old_fp}", "kind": "leak", "frames": ["x"], "bytes": 300, "blocks": 1, "count": 1 }} ] }}"#
    );
    let baseline = Baseline::parse(&text).unwrap();
    let o = gate(&r, Some(&baseline));
    assert_eq!(o.verdicts[0].baseline, Some(State::Unchanged));
    assert!(o.legacy_baseline && !o.failed());
    let summary = crate::gate::text::summary(&r, &o, &Policy::default());
    assert!(
        summary.contains(crate::gate::text::LEGACY_BASELINE),
        "{summary}"
    );
    // What --write-baseline writes from it is recipe 2.
    let rewritten = Baseline::new(5, o.current.values().cloned().collect());
    assert!(rewritten
        .get(&frames::fingerprint(&r.items[0], 5).0)
        .is_some());
}

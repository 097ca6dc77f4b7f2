//! `memscope analyze --list-detectors` says what each detector needs (issue 15): the
//! growth detector judges only runs of at least 20,000 events, and every detector's line
//! says its minimum or that it works on any run.

use memscope_tests::memscope_ok;

#[test]
fn each_detector_says_what_it_needs() {
    let text = memscope_ok(&["analyze".as_ref(), "--list-detectors".as_ref()]);
    let growth = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("growth"))
        .unwrap_or_else(|| panic!("growth not listed:\n{text}"));
    assert!(
        growth.contains("needs a run of at least 20,000 events (shorter runs are not judged)"),
        "{growth}"
    );
    let detectors: Vec<&str> = text
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("detector"))
        .collect();
    assert!(detectors.len() >= 9, "{text}");
    for line in detectors {
        assert!(
            line.contains("; any run") || line.contains("; needs "),
            "no minimum or precondition: {line}"
        );
    }
}

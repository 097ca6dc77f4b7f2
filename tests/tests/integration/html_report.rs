//! The HTML report (`memscope analyze TRACE --format html`) opened in headless Chromium
//! (Debian's `chromium`, installed by `scripts/ensure_packages.sh`): after its script ran,
//! the DOM holds the memory chart with points, the flame graph with the leaking
//! function's frames, and every finding's detector; the browser printed nothing to the
//! console (no script error, no blocked load: the page's Content-Security-Policy turns any
//! attempt to load something into a console error). A deliberately broken page shows
//! that the console check does fail. A probe script clicks the flame graph (zoom) and
//! changes its weight. A program run from a folder named
//! `<script>alert(1)</script>`, with markup in its arguments, shows them as text only.
//!
//! `MEMSCOPE_UPDATE_SCREENSHOT=1` rewrites `docs/report-screenshot.png`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use memscope_tests::{
    bug_free, build_test_program, copy_program, memscope_ok, report_json, workspace_root, Run,
};

const HOSTILE_DIR: &str = "<script>alert(1)</script>";
const HOSTILE_ARG: &str = "</script><!--<img src=x onerror=alert(2)>";

fn html_script_name() -> PathBuf {
    build_test_program(
        "html_script_name",
        "html_script_name.c",
        "gcc",
        &["-O0", "-g", "-pthread", "-Wall", "-Wextra"],
    )
}

/// `memscope analyze TRACE --format html`, written to `dir/report.html`.
fn html_report(trace: &Path, dir: &Path) -> PathBuf {
    let html = memscope_ok(&[
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "html".as_ref(),
    ]);
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "not HTML:\n{html:.400}"
    );
    let path = dir.join("report.html");
    fs::write(&path, html).expect("write report.html");
    path
}

// ---------------------------------------------------------------------------
// Headless Chromium
// ---------------------------------------------------------------------------

/// What Chromium left after loading a page: the DOM after the scripts ran, and the
/// console messages of the page (Chromium logs each as an `INFO:CONSOLE` line on stderr,
/// whatever its level: the report prints nothing, so any line is a failure).
struct Page {
    dom: String,
    console: Vec<String>,
    stderr: String,
}

fn chromium_present() {
    let found = Command::new("chromium")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "chromium is missing: run scripts/ensure_packages.sh (it installs Debian's chromium, \
         which the HTML report test opens the report in)"
    );
}

/// Chromium, headless, with a fresh profile and nothing that talks to the network.
fn chromium(profile: &Path) -> Run {
    chromium_present();
    Run::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--virtual-time-budget=5000")
        .timeout(Duration::from_secs(60))
}

fn file_url(path: &Path) -> String {
    let path = path.canonicalize().expect("canonical page path");
    let mut url = String::from("file://");
    for b in path.to_str().expect("UTF-8 path").bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Loads `page` and dumps its DOM.
fn open(page: &Path) -> Page {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = chromium(profile.path())
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(file_url(page))
        .native();
    let stderr = out.stderr_str();
    assert!(
        out.status.success(),
        "chromium --dump-dom {} failed: {}",
        page.display(),
        out.describe()
    );
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    Page {
        dom: out.stdout_str(),
        console,
        stderr,
    }
}

impl Page {
    fn assert_clean(&self, what: &str) {
        assert!(
            self.console.is_empty(),
            "{what}: the page wrote to the console:\n{}",
            self.console.join("\n")
        );
        assert!(
            self.dom.contains("data-rendered=\"ok\""),
            "{what}: the report's script did not finish; stderr:\n{}\nDOM:\n{:.3000}",
            self.stderr,
            self.dom
        );
    }

    /// The start tag of the element with `id`.
    fn tag_with_id(&self, id: &str) -> &str {
        let at = self
            .dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no element with id {id:?} in the DOM"));
        let start = self.dom[..at].rfind('<').expect("tag start");
        let end = at + self.dom[at..].find('>').expect("tag end");
        &self.dom[start..=end]
    }

    /// The DOM from the element with `id` on (to the end of the page: enough for
    /// "contains" checks of one section, since sections come in a known order).
    fn after_id(&self, id: &str) -> &str {
        let at = self
            .dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no element with id {id:?} in the DOM"));
        &self.dom[at..]
    }

    /// The `data-name` of every flame graph frame.
    fn frame_names(&self) -> Vec<String> {
        self.after_id("flame-graph")
            .split("<div class=\"frame")
            .skip(1)
            .filter_map(|div| {
                let at = div.find("data-name=\"")? + "data-name=\"".len();
                let len = div[at..].find('"')?;
                Some(div[at..at + len].to_owned())
            })
            .collect()
    }
}

/// The `points` of the chart's live-bytes line.
fn chart_points(page: &Page) -> Vec<(f64, f64)> {
    let line = page.tag_with_id("live-line");
    assert!(line.starts_with("<polyline"), "{line}");
    let at = line.find("points=\"").expect("points attribute") + "points=\"".len();
    let len = line[at..].find('"').expect("end of points");
    line[at..at + len]
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// bug_free's realloc of a freed block: one realloc-of-freed finding, and the block
/// `grow_freed` returned stays live (a leak).
#[test]
fn report_shows_chart_flame_graph_and_findings() {
    let traced = Run::new(bug_free()).arg("realloc-freed").traced();
    let json = report_json(&traced.trace, &[]);
    let detectors: Vec<&str> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["detector"].as_str().expect("detector"))
        .collect();
    assert!(detectors.contains(&"realloc-of-freed"), "{detectors:?}");

    let dir = tempfile::tempdir().expect("temp dir");
    let page = open(&html_report(&traced.trace, dir.path()));
    page.assert_clean("bug_free realloc-freed");

    // The chart: an SVG with the live-bytes line (from 0 at the start) and the peak.
    assert!(page.tag_with_id("memory-chart").starts_with("<svg"));
    let points = chart_points(&page);
    assert!(points.len() >= 2, "{points:?}");
    assert!(
        points.iter().any(|&(_, y)| y < points[0].1),
        "the line rises above 0: {points:?}"
    );
    assert!(page.tag_with_id("peak-marker").starts_with("<circle"));

    // The flame graph: frames down to the leaking function.
    let names = page.frame_names();
    assert!(names.len() >= 5, "flame graph frames: {names:?}");
    for f in ["main", "make_block", "grow_freed"] {
        assert!(
            names.iter().any(|n| n == f),
            "no {f} frame in the flame graph: {names:?}"
        );
    }
    for weight in ["bytes", "allocations", "leaked", "peak"] {
        assert!(
            page.after_id("flame-weight")
                .contains(&format!("<option value=\"{weight}\"")),
            "weight {weight} offered"
        );
    }

    // Findings: every detector of the JSON report, with its stacks.
    let findings = page.after_id("findings");
    for d in &detectors {
        assert!(
            findings.contains(&format!("data-detector=\"{d}\""))
                && findings.contains(&format!("<span class=\"detector\">{d}</span>")),
            "finding {d} not shown"
        );
    }
    assert!(findings.contains("<span class=\"fn\">grow_freed</span>"));
    assert!(findings.contains("<span class=\"fn\">release_first</span>"));

    // The leak of grow_freed's block, as the program's, and the per-thread table.
    let leaks = page.after_id("leaks");
    assert!(leaks.contains("<tr class=\"program\">"), "program leak row");
    assert!(leaks.contains("grow_freed"));
    assert!(page.after_id("threads").contains("<td class=\"num\">"));
}

/// The check above can fail: a page whose data does not parse logs an uncaught error and
/// never finishes drawing.
#[test]
fn a_broken_page_is_detected() {
    let traced = Run::new(bug_free()).arg("realloc-freed").traced();
    let dir = tempfile::tempdir().expect("temp dir");
    let good = html_report(&traced.trace, dir.path());
    let html = fs::read_to_string(&good).expect("read report");
    let broken = html.replacen("{\"generator\"", "{,\"generator\"", 1);
    assert_ne!(broken, html, "the data element starts with the generator");
    let path = dir.path().join("broken.html");
    fs::write(&path, broken).expect("write broken page");
    let page = open(&path);
    assert!(
        page.console.iter().any(|l| l.contains("Uncaught")),
        "no console error seen for a broken page; stderr:\n{}",
        page.stderr
    );
    assert!(!page.dom.contains("data-rendered=\"ok\""));
}

/// Markup in the executable's path (a folder named `<script>alert(1)</script>`) and in its
/// arguments reaches the page as text: no element made of it, no script run.
#[test]
fn markup_from_the_trace_is_shown_as_text() {
    let program = html_script_name();
    let dir = tempfile::tempdir().expect("temp dir");
    // `<script>alert(1)</script>` as a folder path: `<script>alert(1)<` holding `script>`.
    let (first, second) = HOSTILE_DIR.split_once('/').expect("a slash in the name");
    let hostile = dir.path().join(first).join(second);
    fs::create_dir_all(&hostile).expect("create the folder");
    let exe = hostile.join("html_script_name");
    copy_program(&program, &exe);
    let traced = Run::new(&exe).arg(HOSTILE_ARG).traced();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    let json = report_json(&traced.trace, &[]);
    let exe_in_trace = json["trace"]["exe"].as_str().expect("exe");
    assert!(exe_in_trace.contains(HOSTILE_DIR), "{exe_in_trace}");
    assert_eq!(json["trace"]["args"][1], HOSTILE_ARG);

    let page = open(&html_report(&traced.trace, dir.path()));
    page.assert_clean("hostile names");
    // Only the page's own two script elements; no image made from the argument.
    assert_eq!(page.dom.matches("<script").count(), 2, "{:.3000}", page.dom);
    assert!(!page.dom.contains("<img"));
    assert!(!page.dom.contains("<!--"));
    // Shown as text, in the title line and the command line.
    assert!(page
        .dom
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;/html_script_name</span>"));
    assert!(page
        .dom
        .contains("&lt;/script&gt;&lt;!--&lt;img src=x onerror=alert(2)&gt;</p>"));
    // The rest of the report is there too.
    let names = page.frame_names();
    assert!(names.iter().any(|n| n == "leak_record"), "{names:?}");
    assert!(page
        .after_id("findings")
        .contains("data-detector=\"fishy-size\""));
    assert!(page.after_id("threads").matches("<tr>").count() >= 2);
}

/// The flame graph answers: a click zooms into a frame (it fills the width, its callers
/// stay below, dimmed), and another weight redraws it. Driven by a probe script added to
/// a copy of the page (without its Content-Security-Policy, which would block the probe).
#[test]
fn flame_graph_zooms_and_changes_weight() {
    let traced = Run::new(html_script_name()).traced();
    let dir = tempfile::tempdir().expect("temp dir");
    let html = fs::read_to_string(html_report(&traced.trace, dir.path())).expect("read report");
    let csp_start = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .expect("CSP meta");
    let csp_end = csp_start + html[csp_start..].find('>').expect("meta end") + 1;
    let probe = r#"<script>
(function () {
  var out = [];
  function frame(name) { return document.querySelector('#flame-graph .frame[data-name="' + name + '"]'); }
  frame('leak_record').dispatchEvent(new MouseEvent('click', {bubbles: true}));
  out.push('zoomed-width=' + frame('leak_record').style.width);
  out.push('main-class=' + frame('main').className);
  out.push('hold_peak-after-zoom=' + (frame('hold_peak') !== null));
  out.push('reset-enabled=' + !document.getElementById('flame-reset').disabled);
  var select = document.getElementById('flame-weight');
  select.value = 'leaked';
  select.dispatchEvent(new Event('change'));
  out.push('leaked-hold_peak=' + (frame('hold_peak') !== null));
  out.push('leaked-leak_record=' + (frame('leak_record') !== null));
  frame('main').dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
  out.push('info=' + document.getElementById('flame-info').textContent);
  document.body.setAttribute('data-probe', out.join('|'));
})();
</script>"#;
    let probed = format!("{}{}", &html[..csp_start], &html[csp_end..]).replacen(
        "</body>",
        &format!("{probe}\n</body>"),
        1,
    );
    let path = dir.path().join("probed.html");
    fs::write(&path, probed).expect("write probed page");
    let page = open(&path);
    page.assert_clean("probed page");
    let at = page.dom.find("data-probe=\"").expect("probe ran") + "data-probe=\"".len();
    let probe_out = &page.dom[at..at + page.dom[at..].find('"').expect("attribute end")];
    let results: Vec<&str> = probe_out.split('|').collect();
    assert_eq!(
        &results[..6],
        [
            "zoomed-width=100%",
            "main-class=frame ancestor",
            "hold_peak-after-zoom=false",
            "reset-enabled=true",
            "leaked-hold_peak=false",
            "leaked-leak_record=true",
        ],
        "{probe_out}"
    );
    // Hover: name, weight and share (main holds the leaks, and ld.so's block for the
    // thread it started).
    assert!(
        results[6].starts_with("info=main \u{2014} ")
            && results[6].contains(" KiB, ")
            && results[6].ends_with("% of all"),
        "{probe_out}"
    );
}

/// A screenshot of the report renders (a PNG of some size); with
/// `MEMSCOPE_UPDATE_SCREENSHOT=1` it becomes `docs/report-screenshot.png`.
#[test]
fn screenshot() {
    let traced = Run::new(html_script_name()).traced();
    let dir = tempfile::tempdir().expect("temp dir");
    let page = html_report(&traced.trace, dir.path());
    let png = dir.path().join("report.png");
    let profile = tempfile::tempdir().expect("profile dir");
    let out = chromium(profile.path())
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,1800")
        .arg(file_url(&page))
        .native();
    assert!(
        out.status.success(),
        "chromium --screenshot: {}",
        out.describe()
    );
    let bytes = fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a near-empty screenshot: {} bytes",
        bytes.len()
    );
    if std::env::var_os("MEMSCOPE_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let dest = workspace_root().join("docs").join("report-screenshot.png");
        fs::write(&dest, &bytes).expect("write docs/report-screenshot.png");
    }
}

//! Signals sent to `memscope run` go to the program (issue 15, item 4): `kill -TERM` of
//! memscope used to end memscope at once (143) with the program left running and no
//! report. Now the program gets the signal, memscope waits for it, writes the report and
//! exits with the program's status (128 + signal); nothing is left running.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use memscope_tests::{memscope_bin, untraced, Report, ReportExt as _};

/// A program that prints its pid, then sleeps long (the pid stays through `exec`).
const SLEEPER: [&str; 3] = ["sh", "-c", "echo $$; exec sleep 60"];

/// `memscope run --format json --report DIR/r.json --output DIR/t.%p.msl -- SLEEPER`,
/// spawned through `launcher` (e.g. `timeout 2`), and the program's pid once it runs.
fn start(dir: &Path, launcher: &[&str]) -> (Child, u32) {
    let mut cmd = match launcher.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(memscope_bin());
            c
        }
        None => Command::new(memscope_bin()),
    };
    cmd.arg("run")
        .args(["--format", "json", "--report"])
        .arg(dir.join("r.json"))
        .arg("--output")
        .arg(dir.join("t.%p.msl"))
        .arg("--")
        .args(SLEEPER)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    untraced(&mut cmd);
    let mut child = cmd.spawn().expect("start memscope run");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = line
        .trim()
        .parse()
        .expect("the program's pid on its stdout");
    (child, pid)
}

/// Waits for `child` at most 20 s (the program sleeps 60 s: it must have been ended).
fn finish(mut child: Child, what: &str) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: memscope still running 20 s after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn kill(sig: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// The report memscope wrote: on the program (its pid), which ended by `signal`.
fn assert_report(dir: &Path, pid: u32, err: &str) {
    let bytes = std::fs::read(dir.join("r.json"))
        .unwrap_or_else(|e| panic!("no report written ({e}); stderr:\n{err}"));
    let report = Report::parse(&bytes).expect("a memscope-report/1 document");
    assert_eq!(report.trace.pid, pid, "{err}");
}

#[test]
fn term_and_hup_to_memscope_reach_the_program_and_the_report_follows() {
    for (sig, number) in [("TERM", 15), ("HUP", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let (child, pid) = start(dir.path(), &[]);
        let memscope = child.id();
        std::thread::sleep(Duration::from_millis(200));
        kill(sig, memscope);
        let (status, err) = finish(child, sig);
        assert_eq!(
            status.code(),
            Some(128 + number),
            "SIG{sig}: memscope must exit with the program's status, not die of the signal: \
             {status}\n{err}"
        );
        assert!(
            !alive(pid),
            "SIG{sig}: the program (pid {pid}) is left running"
        );
        assert_report(dir.path(), pid, &err);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with(".memscope-run-")),
            "{names:?}"
        );
    }
}

#[test]
fn timeout_of_memscope_ends_the_program_and_keeps_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let (child, pid) = start(dir.path(), &["timeout", "1"]);
    let (status, err) = finish(child, "timeout 1 memscope run");
    assert_eq!(status.code(), Some(124), "timeout's own status: {err}");
    assert!(!alive(pid), "the program (pid {pid}) is left running");
    assert_report(dir.path(), pid, &err);
}

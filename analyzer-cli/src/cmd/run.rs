//! `memscope run`: starts a program with `libmemscope.so` preloaded, waits for it, finds
//! the traces of the run and reports on the root process (`--all`: on every process).
//!
//! The tracer is told where to write by `MEMSCOPE_OUTPUT` (a template: `%p` pid, `%e`
//! executable base name, `%%` a percent sign, substituted by the tracer), pointing into
//! a directory of this run's own ([`crate::cmd::run_dir`]): every file there afterwards
//! is a trace of this run, moved to the name the user's template gives it; the headers
//! say which process wrote which (the root: the pid memscope started). With the default
//! template, traces of processes that made no heap call are not kept, and a run that
//! leaves several traces keeps them together in one directory,
//! `memscope.<program>.<pid>/`, instead of spreading them over the working directory
//! (a version manager's shim runs dozens of short processes); an explicit `--output`
//! keeps every trace where it says. One line says where the traces are, however many
//! there are (not when a JSON report goes to stderr, which must stay parseable).
//!
//! Everything that can be refused is refused before the program starts (exit 2): an
//! unknown option, an unwritable `--report` or gate output, a missing tracer library or
//! output directory. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to memscope go to the
//! program ([`crate::cmd::forward`]); memscope waits for it and still reports. The exit
//! code is the program's (128 + signal number when a signal killed it), whatever
//! happened to the trace.
//!
//! With `--check` every process the run traced is gated ([`crate::cmd::check::check_run`])
//! instead of reported (the root's report, or every process's with `--all`, is still
//! written with `--report FILE`): the program's status is reported and the gate decides
//! the exit code; a missing trace of the root is then an error (exit 2).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::IsTerminal;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use crate::analysis::analyze_in_family;
use crate::cmd::check::check_outputs;
use crate::cmd::cli::RunArgs;
use crate::cmd::commands::{incompleteness_notes, render_view};
use crate::cmd::forward::{wait_for_exit, Forwarder};
use crate::cmd::outputs::check_writable;
use crate::cmd::run_dir::{Finished, RunDir};
use crate::error::CliError;
use crate::gate::input::ProgramStatus;
use crate::report::flame::Weight;
use crate::report::text::want_color;
use crate::report::Format;
use crate::trace::family::Family;

/// File name of the tracer library.
#[cfg(not(target_os = "macos"))]
pub const PRELOAD_NAME: &str = "libmemscope.so";
#[cfg(target_os = "macos")]
pub const PRELOAD_NAME: &str = super::launch_macos::TRACER_NAME;

/// Where an installed tracer library sits relative to the folder of `memscope`
/// (`PREFIX/bin/memscope`, `PREFIX/lib/memscope/libmemscope.so`).
#[cfg(not(target_os = "macos"))]
pub const INSTALLED_PRELOAD: &str = "../lib/memscope/libmemscope.so";
#[cfg(target_os = "macos")]
pub const INSTALLED_PRELOAD: &str = super::launch_macos::INSTALLED_TRACER;

/// The variable the loader reads the tracer library from.
#[cfg(not(target_os = "macos"))]
const INSERT_VARIABLE: &str = "LD_PRELOAD";
#[cfg(target_os = "macos")]
const INSERT_VARIABLE: &str = super::launch_macos::INSERT_VARIABLE;

/// The variable naming the tracer library when it is in neither place.
pub const PRELOAD_VARIABLE: &str = "MEMSCOPE_PRELOAD";

/// `--output`'s default: with it, several traces of one run are kept in one directory.
pub const DEFAULT_OUTPUT: &str = "memscope.%e.%p.msl";

/// Runs the program and reports; returns the program's exit code.
pub fn run(args: &RunArgs) -> Result<i32, CliError> {
    let Some((program, program_args)) = args.command.split_first() else {
        return Err(CliError::Usage("run: no program given".into()));
    };
    if !args.check && args.gate.any_given() {
        return Err(CliError::Usage(
            "run: the gate's options (--max-leaked-bytes, --suppressions, --baseline, --sarif, ...) need --check".into(),
        ));
    }
    if args.check && args.report.is_none() && args.format != Format::Text {
        return Err(CliError::Usage(format!(
            "run --check: --format {} needs --report FILE (without it no report is written: \
             the gate's summary goes to stderr)",
            format_name(args.format)
        )));
    }
    let lib = preload_path(args.preload.as_deref())?;
    let cwd = std::env::current_dir().map_err(|e| CliError::io(Path::new("."), e))?;
    if let Some(report) = &args.report {
        check_writable("--report", report)?;
    }
    if args.check {
        let settings = args.gate.resolve(&cwd).map_err(CliError::Usage)?;
        check_outputs(&settings)?;
    }
    let template = cwd.join(&args.output);
    #[cfg(target_os = "macos")]
    super::launch_macos::check_traceable(Path::new(program)).map_err(CliError::Usage)?;
    let ld_preload = prepend_preload(&lib, std::env::var_os(INSERT_VARIABLE).as_deref());

    // The tracer writes into a directory of this run's own; its files are the run's
    // traces, moved to the names `template` gives once the program has ended.
    let run_dir = RunDir::create(&template)?;
    let forwarder = Forwarder::install();
    let spawned = Command::new(program)
        .args(program_args)
        .env(INSERT_VARIABLE, &ld_preload)
        .env("MEMSCOPE_OUTPUT", run_dir.tracer_template())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(err) => {
            run_dir.finish(None, 0);
            return Err(CliError::Spawn {
                program: program.to_string_lossy().into_owned(),
                err,
            });
        }
    };
    let pid = child.id();
    if let Some(f) = &forwarder {
        f.program_started(pid);
    }
    // Wait without reaping, so that a forwarded signal never reaches a reused pid.
    wait_for_exit(pid);
    if let Some(f) = &forwarder {
        f.program_ended();
    }
    let waited = child.wait();
    let name = Path::new(program).file_name().unwrap_or(program);
    let group = (args.output == Path::new(DEFAULT_OUTPUT)).then(|| {
        let mut dir = substitute(OsStr::new(DEFAULT_OUTPUT), pid, name);
        dir = OsString::from_vec(dir.as_bytes()[..dir.len() - ".msl".len()].to_vec());
        cwd.join(dir)
    });
    // Descendants still running keep writing to their (moved) files.
    let finished = run_dir.finish(group.as_deref(), pid);
    if let Some(f) = &forwarder {
        f.release();
    }
    let status = waited.map_err(|e| CliError::io(Path::new(program), e))?;
    let code = exit_code(status);

    let family = Family::read(&finished.traces);
    let roots: Vec<PathBuf> = family.of_pid(pid).map(|m| m.path.clone()).collect();
    let Some(trace) = roots.last() else {
        let expected = substitute(template.as_os_str(), pid, name);
        eprintln!(
            "memscope: no trace found for {} (pid {pid}): expected {}; the tracer did not run \
             (statically linked or setuid program, LD_PRELOAD cleared, or {} failed to load)",
            program.to_string_lossy(),
            Path::new(&expected).display(),
            lib.display()
        );
        if args.check {
            return Err(CliError::Usage(format!(
                "run --check: no trace of {} to check",
                program.to_string_lossy()
            )));
        }
        return Ok(code);
    };
    // A JSON report on stderr must stay parseable: nothing else goes there before it.
    let json_on_stderr = args.format == Format::Json && args.report.is_none() && !args.check;
    if !json_on_stderr {
        eprintln!("{}", where_line(&finished, trace, pid, roots.len()));
    }
    let all: Vec<PathBuf> = family.members.iter().map(|m| m.path.clone()).collect();
    if args.check {
        if args.report.is_some() {
            let result = if args.all {
                report_all(trace, &all, &family, args)
            } else {
                report(trace, &family, args)
            };
            result?;
        }
        let status = match (status.code(), status.signal()) {
            (Some(c), _) => ProgramStatus::Exited(c),
            (None, Some(sig)) => ProgramStatus::Signaled(sig),
            (None, None) => ProgramStatus::Unknown,
        };
        return crate::cmd::check::check_run(trace, status, &family, &args.gate);
    }
    let result = if args.all {
        report_all(trace, &all, &family, args)
    } else {
        report(trace, &family, args)
    };
    if let Err(e) = result {
        eprintln!("memscope: {e}");
    }
    Ok(code)
}

/// The one line saying where the run's traces are: the trace itself when there is one,
/// else how many, where, and which one the report is on.
fn where_line(finished: &Finished, root: &Path, pid: u32, images: usize) -> String {
    let dropped = match finished.dropped {
        0 => String::new(),
        n => format!(" ({n} more not kept: no heap call)"),
    };
    let exec = if images > 1 {
        format!(" (the last of the {images} programs pid {pid} ran by exec)")
    } else {
        String::new()
    };
    if finished.traces.len() == 1 {
        return format!("memscope: trace: {}{dropped}", root.display());
    }
    let place = match &finished.grouped {
        Some(dir) => format!("in {}/", dir.display()),
        None => format!(
            "beside it in {}",
            root.parent().unwrap_or(Path::new("/")).display()
        ),
    };
    format!(
        "memscope: this run wrote {} traces{dropped}, {place}; the report is on pid {pid}'s{exec}: {}",
        finished.traces.len(),
        root.display()
    )
}

/// The name `--format` is given as.
fn format_name(format: Format) -> &'static str {
    match format {
        Format::Text => "text",
        Format::Json => "json",
        Format::Html => "html",
        Format::Collapsed => "collapsed",
        Format::Svg => "svg",
    }
}

/// `--all`: the root process's report, then every other trace's, to `--report` or
/// stderr (text reports one after another, JSON as one array); the traces are analyzed
/// side by side where there are CPUs for it.
fn report_all(
    root: &Path,
    all: &[PathBuf],
    family: &Family,
    args: &RunArgs,
) -> Result<(), CliError> {
    let mut order = vec![root.to_path_buf()];
    order.extend(all.iter().filter(|p| p.as_path() != root).cloned());
    // Analyzed side by side, reported in this order (crate::cmd::parallel).
    let color = args.report.is_none() && want_color(std::io::stderr().is_terminal());
    let reports = crate::cmd::parallel::in_order(&order, |trace| {
        let analysis = analyze_in_family(trace, family)?;
        let text = render_view(&analysis, args.format, color, Weight::Bytes, &args.view);
        Ok(match args.format {
            Format::Json => text.trim_end().to_string(),
            _ => format!("== {} ==\n{text}", trace.display()),
        })
    })
    .into_iter()
    .collect::<Result<Vec<String>, CliError>>()?;
    let out = match args.format {
        Format::Json => format!("[\n{}\n]\n", reports.join(",\n")),
        _ => reports.join("\n"),
    };
    match &args.report {
        Some(file) => fs::write(file, out).map_err(|e| CliError::io(file, e)),
        None => {
            eprint!("{out}");
            Ok(())
        }
    }
}

/// Analyzes `trace` and writes the report to `--report` or stderr.
fn report(trace: &Path, family: &Family, args: &RunArgs) -> Result<(), CliError> {
    let analysis = analyze_in_family(trace, family)?;
    if args.format == Format::Text {
        incompleteness_notes(&analysis);
    }
    let children: Vec<String> = analysis
        .index
        .forks
        .iter()
        .flat_map(|f| family.of_pid(f.child_pid))
        .map(|m| m.path.display().to_string())
        .collect();
    match children.as_slice() {
        [] => {}
        [one] => eprintln!("memscope: its forked child has a trace of its own: {one}"),
        many => eprintln!(
            "memscope: its {} forked children have traces of their own (`--all` reports on every process)",
            many.len()
        ),
    }
    match &args.report {
        Some(file) => fs::write(
            file,
            render_view(&analysis, args.format, false, Weight::Bytes, &args.view),
        )
        .map_err(|e| CliError::io(file, e)),
        None => {
            let color = want_color(std::io::stderr().is_terminal());
            eprint!(
                "{}",
                render_view(&analysis, args.format, color, Weight::Bytes, &args.view)
            );
            Ok(())
        }
    }
}

/// The absolute path of the tracer library, checked to exist: `--preload`, else the
/// first of [`preload_candidates`] that is a file.
fn preload_path(given: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(p) = given {
        return match fs::canonicalize(p) {
            Ok(p) if p.is_file() => Ok(p),
            _ => Err(CliError::Usage(format!(
                "{}: tracer library not found (--preload)",
                p.display()
            ))),
        };
    }
    let exe = std::env::current_exe().map_err(|e| CliError::io(Path::new("/proc/self/exe"), e))?;
    let variable = std::env::var_os(PRELOAD_VARIABLE).filter(|v| !v.is_empty());
    let candidates = preload_candidates(&exe, variable.as_deref());
    for candidate in &candidates {
        if let Ok(p) = fs::canonicalize(candidate) {
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    let mut looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    if variable.is_none() {
        looked.push(format!("${PRELOAD_VARIABLE} (not set)"));
    }
    Err(CliError::Usage(format!(
        "tracer library {PRELOAD_NAME} not found; looked in: {}; install with scripts/install.sh, \
         or pass --preload PATH",
        looked.join(", ")
    )))
}

/// Where the tracer library is looked for, in order: next to the `memscope` executable
/// `exe` (a build tree), `../lib/memscope/` from there (an installed prefix), then
/// `$MEMSCOPE_PRELOAD` (`variable`).
pub fn preload_candidates(exe: &Path, variable: Option<&OsStr>) -> Vec<PathBuf> {
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let mut out = vec![dir.join(PRELOAD_NAME), dir.join(INSTALLED_PRELOAD)];
    out.extend(variable.map(PathBuf::from));
    out
}

/// `lib` first, then whatever `LD_PRELOAD` already held.
pub fn prepend_preload(lib: &Path, existing: Option<&OsStr>) -> OsString {
    let mut v = lib.as_os_str().to_os_string();
    if let Some(rest) = existing.filter(|e| !e.is_empty()) {
        v.push(":");
        v.push(rest);
    }
    v
}

/// Shell-style exit code: the status, or 128 + the signal that killed the program.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Replaces `%p`, `%e` and `%%` in a trace template, as the tracer does.
pub fn substitute(template: &OsStr, pid: u32, exe: &OsStr) -> OsString {
    let mut out = Vec::new();
    let mut bytes = template.as_bytes().iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'p') => out.extend_from_slice(pid.to_string().as_bytes()),
            Some(b'e') => out.extend_from_slice(exe.as_bytes()),
            Some(b'%') => out.push(b'%'),
            Some(other) => out.extend_from_slice(&[b'%', other]),
            None => out.push(b'%'),
        }
    }
    OsString::from_vec(out)
}

/// The traces of process `pid` that `template` can name: `%e` matches any executable
/// name, and the tracer's `.N` suffix (added when the name is taken, e.g. by the image
/// before an `exec`) is allowed. Newest first.
pub fn find_traces(template: &Path, pid: u32) -> Vec<PathBuf> {
    let (Some(dir), Some(file_pattern)) = (template.parent(), template.file_name()) else {
        return Vec::new();
    };
    // `%e` becomes a NUL byte, which no file name contains: the wildcard.
    let pattern = substitute(file_pattern, pid, OsStr::new("\0"));
    let parts: Vec<&[u8]> = pattern.as_bytes().split(|&b| b == 0).collect();
    let mut found = matching_files(dir, &parts);
    found.sort_by(|a, b| b.cmp(a));
    found.into_iter().map(|(_, p)| p).collect()
}

/// The files of `dir` whose names match `parts` joined by wildcards (see
/// [`name_matches`]), with their modification times.
fn matching_files(dir: &Path, parts: &[&[u8]]) -> Vec<(std::time::SystemTime, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| name_matches(e.file_name().as_bytes(), parts))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect()
}

/// Whether `name`, less an optional `.N` (the tracer puts it before a final `.msl`, else
/// at the end), is `parts` joined by wildcards.
fn name_matches(name: &[u8], parts: &[&[u8]]) -> bool {
    let (stem, ext): (&[u8], &[u8]) = match name.strip_suffix(b".msl") {
        Some(stem) => (stem, b".msl"),
        None => (name, b""),
    };
    let unsuffixed = match stem.iter().rposition(|&b| b == b'.') {
        Some(dot) if dot + 1 < stem.len() && stem[dot + 1..].iter().all(u8::is_ascii_digit) => {
            Some([&stem[..dot], ext].concat())
        }
        _ => None,
    };
    glob(name, parts) || unsuffixed.is_some_and(|n| glob(&n, parts))
}

fn glob(name: &[u8], parts: &[&[u8]]) -> bool {
    match parts {
        [] => name.is_empty(),
        [only] => name == *only,
        [first, rest @ ..] => {
            let Some(tail) = name.strip_prefix(*first) else {
                return false;
            };
            // The wildcard before `rest` takes at least one byte (an exe name is never empty).
            (1..=tail.len()).any(|k| glob(&tail[k..], rest))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_like_the_tracer() {
        let t = OsStr::new("/t/memscope.%e.%p.msl");
        assert_eq!(
            substitute(t, 42, OsStr::new("ls")),
            OsString::from("/t/memscope.ls.42.msl")
        );
        assert_eq!(
            substitute(OsStr::new("a%%p%x%"), 1, OsStr::new("e")),
            OsString::from("a%p%x%")
        );
    }

    #[test]
    fn preload_is_looked_for_beside_then_in_the_prefix_then_the_variable() {
        let exe = Path::new("/opt/ms/bin/memscope");
        assert_eq!(
            preload_candidates(exe, Some(OsStr::new("/x/lib.so"))),
            vec![
                PathBuf::from("/opt/ms/bin/libmemscope.so"),
                PathBuf::from("/opt/ms/bin/../lib/memscope/libmemscope.so"),
                PathBuf::from("/x/lib.so"),
            ]
        );
        assert_eq!(preload_candidates(exe, None).len(), 2);
    }

    #[test]
    fn mistyped_options_before_the_program_are_errors() {
        use clap::Parser;
        let parse = |args: &[&str]| crate::cmd::cli::Cli::try_parse_from(args);
        let err = parse(&["memscope", "run", "--check-x", "--", "ls"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
        assert_eq!(err.exit_code(), 2);
        // What follows the program, or `--`, is the program's.
        for (args, program) in [
            (
                &["memscope", "run", "ls", "-la", "--check"][..],
                &["ls", "-la", "--check"][..],
            ),
            (
                &["memscope", "run", "--", "ls", "-la"][..],
                &["ls", "-la"][..],
            ),
            (
                &["memscope", "run", "--check", "--", "--weird", "-x"][..],
                &["--weird", "-x"][..],
            ),
        ] {
            let crate::cmd::cli::Command::Run(run) = parse(args).unwrap().command else {
                panic!("not run: {args:?}");
            };
            assert_eq!(run.command, program, "{args:?}");
        }
    }

    #[test]
    fn preload_is_prepended() {
        let lib = Path::new("/l/libmemscope.so");
        assert_eq!(
            prepend_preload(lib, None),
            OsString::from("/l/libmemscope.so")
        );
        assert_eq!(
            prepend_preload(lib, Some(OsStr::new(""))),
            OsString::from("/l/libmemscope.so")
        );
        assert_eq!(
            prepend_preload(lib, Some(OsStr::new("/x.so"))),
            OsString::from("/l/libmemscope.so:/x.so")
        );
    }

    #[test]
    fn finds_traces_of_the_pid_under_any_exe_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "memscope.dash.77.msl",
            "memscope.dash.78.msl",
            "memscope.a.b.77.1.msl",
            "memscope..77.msl",
            "x.77.msl",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let mut found = find_traces(&dir.path().join("memscope.%e.%p.msl"), 77);
        found.sort();
        assert_eq!(
            found,
            vec![
                dir.path().join("memscope.a.b.77.1.msl"),
                dir.path().join("memscope.dash.77.msl")
            ]
        );
        let found = find_traces(&dir.path().join("%p.msl"), 78);
        assert!(found.is_empty());
        fs::write(dir.path().join("78.msl"), b"x").unwrap();
        assert_eq!(
            find_traces(&dir.path().join("%p.msl"), 78),
            vec![dir.path().join("78.msl")]
        );
    }
}

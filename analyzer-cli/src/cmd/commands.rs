//! Carries out the parsed command line: `analyze` here, `run` in [`crate::cmd::run`],
//! `check` in [`crate::cmd::check`] (which hands the report to [`crate::gate`]), and the
//! report output they share (format choice, colour, truncation note, broken pipes).

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::analysis::{analyze_file_at, Analysis, At};
use crate::cmd::cli::{AnalyzeArgs, Cli, Command};
use crate::error::CliError;
use crate::report::flame::Weight;
use crate::report::text::{want_color, Style};
use crate::report::view::ViewArgs;
use crate::report::{self, Format};
use crate::symbols::symbolize::Symbolizer;

/// Runs the command; `Ok(code)` is the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Analyze(args) => analyze(&args).map(|()| 0),
        #[cfg(unix)]
        Command::Run(args) => crate::cmd::run::run(&args),
        // Windows: the tracer DLL is injected (cmd/launch_windows.rs).
        #[cfg(windows)]
        Command::Run(args) => crate::cmd::launch_windows::run(&args),
        // Elsewhere traces made on Linux or Windows are analyzed.
        #[cfg(not(any(unix, windows)))]
        Command::Run(_) => Err(CliError::Usage(
            "memscope run: tracing needs Linux; analyze traces made there with `memscope analyze`"
                .into(),
        )),
        Command::Check(args) => crate::cmd::check::check(&args),
        Command::Diff(args) => {
            let text = crate::cmd::diff::diff(&args)?;
            stdout_or_broken_pipe(|out| {
                out.write_all(text.as_bytes())
                    .map_err(|e| CliError::io(Path::new("<stdout>"), e))
            })
            .map(|()| 0)
        }
        Command::Dump(args) => {
            stdout_or_broken_pipe(|out| crate::cmd::dump::dump(&args.trace, out)).map(|()| 0)
        }
    }
}

fn analyze(args: &AnalyzeArgs) -> Result<(), CliError> {
    if args.list_detectors {
        let text = list_detectors();
        return stdout_or_broken_pipe(|out| {
            out.write_all(text.as_bytes())
                .map_err(|e| CliError::io(Path::new("<stdout>"), e))
        });
    }
    let Some(trace) = &args.trace else {
        return Err(CliError::Usage("analyze: no trace given".into()));
    };
    let at = args
        .at
        .as_deref()
        .map(At::parse)
        .transpose()
        .map_err(CliError::Usage)?;
    let analysis = analyze_file_at(trace, at)?;
    if args.format == Format::Text {
        incompleteness_notes(&analysis);
    }
    let color = want_color(std::io::stdout().is_terminal());
    let text = render_view(&analysis, args.format, color, args.weight, &args.view);
    stdout_or_broken_pipe(|out| {
        out.write_all(text.as_bytes())
            .map_err(|e| CliError::io(Path::new("<stdout>"), e))
    })
}

/// Runs `f` on a locked, buffered stdout; a reader that stopped early (`| head`) is
/// not an error.
fn stdout_or_broken_pipe(
    f: impl FnOnce(&mut dyn Write) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let r = f(&mut out).and_then(|()| {
        out.flush()
            .map_err(|e| CliError::io(Path::new("<stdout>"), e))
    });
    match r {
        Err(CliError::Io { err, .. }) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// `--list-detectors`: one line per detector, classifier and metric.
pub fn list_detectors() -> String {
    let mut s = String::new();
    for info in crate::analysis::visitor::catalogue() {
        s.push_str(&format!(
            "{:<18} {:<10} {}\n",
            info.name,
            info.category.name(),
            info.description
        ));
    }
    s
}

/// Renders the report of `analysis` in `format` (symbolizing the stacks it shows);
/// flame graphs weigh bytes allocated.
pub fn render(analysis: &Analysis, format: Format, color: bool) -> String {
    render_with(analysis, format, color, Weight::Bytes)
}

/// As [`render`], with the flame graph weight.
pub fn render_with(analysis: &Analysis, format: Format, color: bool, weight: Weight) -> String {
    render_view(analysis, format, color, weight, &ViewArgs::default())
}

/// As [`render_with`], with the view options (groups, stacks, runtime-internal blocks).
pub fn render_view(
    analysis: &Analysis,
    format: Format,
    color: bool,
    weight: Weight,
    view: &ViewArgs,
) -> String {
    let mut symbolizer = Symbolizer::with_warmup(&analysis.symbols);
    let hide = view.runtime_hidden();
    let text = match format {
        Format::Collapsed => report::flame::collapsed(analysis, weight, hide, &mut symbolizer),
        Format::Svg => report::flame::svg(analysis, weight, hide, &mut symbolizer),
        Format::Html => report::html::render(analysis, hide, &mut symbolizer),
        Format::Json => report::json::render(&report::build(analysis, &mut symbolizer, None)),
        Format::Text => {
            let doc = report::build(analysis, &mut symbolizer, None);
            report::text::render_view(&doc, Style { color }, view)
        }
    };
    // Freeing parsed DWARF is a great many small frees (libc's debug info is large) that
    // the report need not wait for; the process usually exits first.
    let _ = std::thread::Builder::new()
        .name("memscope-free".into())
        .spawn(move || drop(symbolizer));
    text
}

/// The stderr notes for a trace that misses events: truncated, or events dropped.
pub fn incompleteness_notes(analysis: &Analysis) {
    for note in incompleteness(analysis) {
        eprintln!("{note}");
    }
}

/// The lines [`incompleteness_notes`] prints (for jobs that print in order later).
pub fn incompleteness(analysis: &Analysis) -> Vec<String> {
    let path = analysis.index.path.display();
    let mut out = Vec::new();
    if let Some(t) = analysis.index.truncation {
        out.push(format!(
            "memscope: {path}: trace is truncated at byte offset {}; analyzed what was complete",
            t.offset
        ));
    }
    if analysis.index.lost_events > 0 {
        out.push(format!(
            "memscope: {path}: the tracer dropped {} events (a thread's buffer stayed full too long); counts and findings miss them",
            analysis.index.lost_events
        ));
    }
    out
}

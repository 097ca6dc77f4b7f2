//! `memscope check TRACE` ([`check`]) and the gate step of `memscope run --check`
//! ([`check_run`]): resolve the gate's settings, build the report of the trace (all leak
//! groups) and hand it to [`crate::gate::gate`].

use std::path::Path;

use memscope_report::ReportDoc;

use crate::error::CliError;
use crate::gate::input::ProgramStatus;
use crate::gate::{gate, CheckArgs, Env, GateArgs};

/// `memscope check TRACE [options]`: summary and annotations on stdout.
pub fn check(args: &CheckArgs) -> Result<i32, CliError> {
    let env = Env::from_process()?;
    let settings = args.gate.resolve(&env.cwd).map_err(CliError::Usage)?;
    let doc = report_of(&args.trace)?;
    let run = gate(&doc, None, &settings, &env)?;
    print!("{}{}", run.summary, run.annotations);
    Ok(run.code)
}

/// The gate step of `memscope run --check`, on the run's trace, with the program's
/// real status: summary on stderr (the program's stdout stays its own), annotations
/// on stdout.
pub fn check_run(trace: &Path, status: ProgramStatus, args: &GateArgs) -> Result<i32, CliError> {
    let env = Env::from_process()?;
    let settings = args.resolve(&env.cwd).map_err(CliError::Usage)?;
    let doc = report_of(trace)?;
    let run = gate(&doc, Some(status), &settings, &env)?;
    eprint!("{}", run.summary);
    print!("{}", run.annotations);
    Ok(run.code)
}

/// The report (all leak groups) of a trace.
pub fn report_of(trace: &Path) -> Result<ReportDoc, CliError> {
    let analysis = crate::analysis::analyze_file(trace)?;
    crate::cmd::commands::incompleteness_notes(&analysis);
    let mut symbolizer = crate::symbols::symbolize::Symbolizer::new();
    Ok(crate::report::build(&analysis, &mut symbolizer, None))
}

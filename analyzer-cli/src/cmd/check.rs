//! `memscope check TRACE... | DIR` ([`check`]) and the gate step of `memscope run --check`
//! ([`check_run`]): resolve the gate's settings, build the report of every trace (all
//! leak groups; a forked child's with the blocks it inherited, its parent's trace found
//! among the others) and hand them to [`crate::gate::gate_all`], which judges each
//! process on its own and fails if any fails.

use std::path::Path;

use memscope_report::ReportDoc;

use crate::error::CliError;
use crate::gate::input::ProgramStatus;
use crate::gate::{gate_all, CheckArgs, Env, GateArgs, Process};
use crate::trace::family::{expand, Family};

/// `memscope check TRACE... [options]`: summary and annotations on stdout.
pub fn check(args: &CheckArgs) -> Result<i32, CliError> {
    let env = Env::from_process()?;
    let settings = args.gate.resolve(&env.cwd).map_err(CliError::Usage)?;
    let paths = expand(&args.traces)?;
    // One trace alone: its parent is looked for beside it. Several: among them.
    let family = match paths.as_slice() {
        [one] => Family::of_directory(one.parent().unwrap_or(Path::new("."))),
        _ => Family::read(&paths),
    };
    let ordered: Vec<&Path> = if paths.len() == 1 {
        vec![paths[0].as_path()]
    } else {
        family.members.iter().map(|m| m.path.as_path()).collect()
    };
    let docs = ordered
        .iter()
        .map(|p| report_of(p, &family))
        .collect::<Result<Vec<_>, _>>()?;
    let processes: Vec<Process<'_>> = docs
        .iter()
        .map(|doc| Process { doc, status: None })
        .collect();
    let run = gate_all(&processes, &settings, &env)?;
    print!("{}{}", run.summary, run.annotations);
    Ok(run.code)
}

/// The gate step of `memscope run --check`, on every trace of the run (`root`, the
/// trace of the process memscope started, gets the program's real status): summary on
/// stderr (the program's stdout stays its own), annotations on stdout.
pub fn check_run(
    root: &Path,
    status: ProgramStatus,
    family: &Family,
    args: &GateArgs,
) -> Result<i32, CliError> {
    let env = Env::from_process()?;
    let settings = args.resolve(&env.cwd).map_err(CliError::Usage)?;
    let mut paths: Vec<&Path> = vec![root];
    paths.extend(
        family
            .members
            .iter()
            .map(|m| m.path.as_path())
            .filter(|p| *p != root),
    );
    let docs = paths
        .iter()
        .map(|p| report_of(p, family))
        .collect::<Result<Vec<_>, _>>()?;
    let processes: Vec<Process<'_>> = docs
        .iter()
        .enumerate()
        .map(|(i, doc)| Process {
            doc,
            status: (i == 0).then_some(status),
        })
        .collect();
    let run = gate_all(&processes, &settings, &env)?;
    eprint!("{}", run.summary);
    print!("{}", run.annotations);
    Ok(run.code)
}

/// The report (all leak groups) of a trace; a fork child's parent is looked for in
/// `family`.
pub fn report_of(trace: &Path, family: &Family) -> Result<ReportDoc, CliError> {
    let analysis = crate::analysis::analyze_in_family(trace, family)?;
    crate::cmd::commands::incompleteness_notes(&analysis);
    let mut symbolizer = crate::symbols::symbolize::Symbolizer::new();
    Ok(crate::report::build(&analysis, &mut symbolizer, None))
}

//! `memscope`: parses the command line, runs the command, maps the outcome to an exit
//! code (0 ok, 2 usage/I/O error or corrupt trace, the program's status for `run`).

#![forbid(unsafe_code)]

use clap::Parser;

use memscope_analyzer::cmd::cli::Cli;

fn main() {
    let cli = Cli::parse();
    memscope_analyzer::symbols::symbolize::set_search_paths(
        memscope_analyzer::symbols::symbolize::SearchPaths {
            sysroot: cli.sysroot.clone(),
            debug_dirs: cli.debug_dirs.clone(),
        },
    );
    let code = match memscope_analyzer::cmd::commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("memscope: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

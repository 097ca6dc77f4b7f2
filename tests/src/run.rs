//! [`Run`]: a command line to run, with its environment, working directory and timeout,
//! built once and then run one or more ways: natively here ([`Run::native`]), under the
//! preload ([`Run::traced`], in [`crate::preload`]), under valgrind ([`Run::valgrind`],
//! in [`crate::valgrind`]), or both alike ([`Run::traced_and_valgrind`], in
//! [`crate::oracle`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::isolation::TRACER_VARIABLES;
use crate::process::{run_with_timeout, Output, DEFAULT_TIMEOUT};

/// A command line to run, with environment, working directory and timeout.
#[derive(Clone, Debug)]
pub struct Run {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Variables set for the program (on top of the test process's environment).
    pub env: BTreeMap<String, String>,
    /// Variables removed from the test process's environment (the tracer's, unless a
    /// way of running sets them).
    pub env_remove: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub timeout: Duration,
}

impl Run {
    pub fn new(program: impl AsRef<Path>) -> Run {
        Run {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env: BTreeMap::new(),
            env_remove: TRACER_VARIABLES.iter().map(|k| k.to_string()).collect(),
            cwd: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Run {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Run {
        self.env.insert(k.into(), v.into());
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Run {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Run {
        self.timeout = t;
        self
    }

    /// A human-readable command line for messages.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// The command that runs this program, directly (`launcher` is the program itself and
    /// `launcher_args` empty) or through a launcher such as valgrind (`launcher
    /// launcher_args... program args...`), with this run's environment and folder.
    pub(crate) fn command(&self, launcher: &Path, launcher_args: &[String]) -> Command {
        let mut cmd = Command::new(launcher);
        cmd.args(launcher_args);
        if !launcher_args.is_empty() {
            cmd.arg(&self.program);
        }
        cmd.args(&self.args);
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        cmd.envs(&self.env);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs the program natively (no preload).
    pub fn native(&self) -> Output {
        let cmd = self.command(&self.program, &[]);
        run_with_timeout(cmd, self.timeout, &self.display())
    }
}

//! The errors the CLI reports, each one line on stderr naming the file, and the exit code
//! each maps to.

use std::fmt;
use std::path::{Path, PathBuf};

use memscope_format::FormatError;

/// Exit code for usage errors, I/O errors and corrupt traces.
pub const EXIT_ERROR: i32 = 2;

/// What went wrong, with the file it concerns.
#[derive(Debug)]
pub enum CliError {
    /// The file could not be opened, read or written.
    Io { path: PathBuf, err: std::io::Error },
    /// The trace is corrupt (or not a trace); the error carries the byte offset.
    Format { path: PathBuf, err: FormatError },
    /// The trace file is empty: the tracer created it but never wrote its header.
    EmptyTrace { path: PathBuf },
    /// A program to run could not be started.
    Spawn {
        program: String,
        err: std::io::Error,
    },
    /// Anything else the user asked for that cannot be done.
    Usage(String),
}

impl CliError {
    pub fn io(path: &Path, err: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            err,
        }
    }

    pub fn format(path: &Path, err: FormatError) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            err,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        EXIT_ERROR
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, err } => write!(f, "{}: {}", path.display(), err),
            Self::Format { path, err } => write!(f, "{}: {}", path.display(), err),
            Self::EmptyTrace { path } => {
                write!(
                    f,
                    "{}: empty file, the tracer wrote no header at byte offset 0",
                    path.display()
                )
            }
            Self::Spawn { program, err } => write!(f, "{program}: cannot run: {err}"),
            Self::Usage(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for CliError {}

//! The trace file on macOS: the Unix way ([`crate::unix::file`]).

pub use crate::unix::file::{write_stderr, RawFile, ALREADY_EXISTS};

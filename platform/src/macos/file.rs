//! The trace file on macOS: the Unix way ([`crate::unix::file`]).

pub use crate::unix::file::{
    process_exists, read_own_file_start, remove_file, write_stderr, RawFile, ALREADY_EXISTS,
};

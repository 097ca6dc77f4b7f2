//! What Linux and macOS do the same way, through the same POSIX calls: wall time and
//! sleeping, the trace file and anonymous memory. Each OS folder keeps its own
//! `clock.rs`, `file.rs` and `memory.rs`, which re-export these and add what is theirs.

pub mod clock;
pub mod file;
pub mod memory;

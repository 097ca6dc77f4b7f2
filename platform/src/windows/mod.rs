//! Windows implementation (clock, threads, trace file, memory). The module list and
//! stack capture come with the Windows front end (issue 17).

pub mod clock;
pub mod file;
pub mod memory;
pub mod thread;

//! macOS implementation (clock, threads, trace file, memory). The module list and stack
//! capture come with the macOS front end (issue 18).

pub mod clock;
pub mod file;
pub mod memory;
pub mod thread;

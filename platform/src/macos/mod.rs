//! macOS implementation (clock, threads, trace file, memory, and the image list and
//! frame-pointer stack capture that the macOS front end's stacks will use).

pub mod clock;
pub mod file;
pub mod memory;
pub mod modules;
pub mod thread;
pub mod unwind;

//! Windows implementation (clock, threads, trace file, memory, the module list of PE
//! images and stack capture through the system unwinder).

pub mod clock;
pub mod file;
pub mod memory;
pub mod modules;
pub mod thread;
pub mod unwind;

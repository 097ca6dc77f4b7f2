//! Linux (glibc, x86-64) implementation.

pub mod clock;
pub mod file;
pub mod memory;
pub mod modules;
pub mod thread;
pub mod unwind;

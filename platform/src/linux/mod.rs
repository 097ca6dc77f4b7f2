//! Linux (glibc, x86_64) implementation.

pub mod clock;
pub mod file;
pub mod modules;
mod step_shapes;
pub mod thread;
pub mod unwind;
mod walk_memo;

//! Linux (glibc, x86_64) implementation.

pub mod clock;
pub mod file;
pub mod modules;
pub mod ring;
mod step_shapes;
pub mod thread;
pub mod unwind;
mod walk_memo;

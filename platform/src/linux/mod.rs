//! Linux (glibc, x86-64) implementation.

pub mod clock;
pub mod file;
pub mod memory;
pub mod memory_map;
pub mod modules;
pub mod stop_world;
pub mod thread;
pub mod unwind;

//! The exported entry points, one file per family. Each hook is: take the guard (or pass
//! straight through if the tracer itself is running on this thread), call the real
//! function, record. Frees are recorded *before* the real call and allocations *after*
//! it, which is what keeps cross-thread address reuse in order (invariant 2).
//!
//! The symbols are exported only in the real library (`not(test)`), so unit tests of
//! this crate run on the ordinary allocator.

pub mod aligned;
pub mod cxx;
pub mod loader;
pub mod malloc;
#[cfg(target_os = "linux")]
pub mod own_calls;
pub mod process;
pub mod signal;

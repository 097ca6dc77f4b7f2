//! libmemscope_macos.dylib: the macOS front end of memscope, inserted into a program with
//! `DYLD_INSERT_LIBRARIES` (docs/macos.md).
//!
//! dyld reads this image's `__DATA,__interpose` section ([`interpose`]): a table of
//! (replacement, replacee) pairs, and binds every other image's calls of a replacee to
//! the replacement. The replacements ([`hooks`], one file per family) are the usual
//! three steps: take the guard (or pass straight through if the tracer itself is running
//! on this thread), call the real function, record through the recorder core
//! (`memscope_recorder`). Calls made from this image itself are not rebound, so a hook
//! reaches the real function by its own name. [`front_end`] tells the core where the
//! per-thread state lives ([`thread_state`]), catches thread exit and forks, and names
//! the process; [`signals`] flushes the trace on fatal signals.
//!
//! Unlike the ELF preload, calls the C library makes while the tracer works are served
//! by the system allocator, not the private heap: on macOS that allocator cannot be a
//! program's own (two-level namespaces), so the Linux reasons for the private heap do
//! not apply, and libSystem may hand such blocks to `malloc_size` or a zone, which know
//! only their own. The tracer's Rust allocations still come from the private heap.
//!
//! Everything is built for macOS only; on other targets the crate is empty, so the Linux
//! workspace builds as before. None of it has run yet: docs/macos.md says what has been
//! checked and how.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_os = "macos")]
mod front_end;
#[cfg(target_os = "macos")]
mod hooks;
#[cfg(target_os = "macos")]
pub mod interpose;
#[cfg(target_os = "macos")]
mod signals;
#[cfg(target_os = "macos")]
mod thread_state;

/// The tracer's own Rust allocations come from its private heap, never from the
/// program's allocator (`memscope_recorder::private_heap`).
#[cfg(target_os = "macos")]
#[global_allocator]
static HEAP: memscope_recorder::PrivateHeap = memscope_recorder::PrivateHeap;

/// Starts tracing before `main` (hooks also start it lazily if they run first), and
/// registers the flush at exit.
#[cfg(target_os = "macos")]
#[used]
#[link_section = "__DATA,__mod_init_func"]
static INIT: extern "C" fn() = front_end::on_library_init;

//! libmemscope.so: the ELF interposition front end of memscope, preloaded into a program.
//!
//! It exports the malloc family, C++ `operator new/delete`, and the process and loader
//! entry points ([`hooks`]), forwards each call to the real function ([`real`]) and
//! reports it to the recorder core (`memscope_recorder`), which records it into the
//! calling thread's ring and writes the trace. [`front_end`] tells the core where the
//! per-thread state lives (initial-exec TLS, `native.c`) and catches thread exit and
//! forks; [`signals`] flushes the trace on fatal signals.
//!
//! Nothing here may panic across the C boundary or allocate through the hooks without the
//! reentrancy guard: the tracer must never change what the program does.

// The unit-test build exports no hooks (see `hooks`), so the C names look unidiomatic
// and most of the tracer looks unused there.
#![cfg_attr(test, allow(non_snake_case, dead_code))]

/// The tracer's own Rust allocations come from its private heap, never from the
/// program's allocator (`memscope_recorder::private_heap`).
#[cfg(not(test))]
#[global_allocator]
static HEAP: memscope_recorder::PrivateHeap = memscope_recorder::PrivateHeap;

mod front_end;
mod hooks;
mod real;
mod signals;

/// Starts tracing before `main` (hooks also start it lazily if they run first).
#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = front_end::on_library_init;

/// Flushes the trace when the process exits normally (return from `main`, `exit`).
#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = front_end::on_library_fini;

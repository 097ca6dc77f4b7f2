//! libmemscope.so: the tracer that memscope preloads into a program.
//!
//! It interposes the malloc family and C++ `operator new/delete` ([`hooks`]), records
//! each event with its stack into the calling thread's lock-free ring ([`recorder`],
//! `memscope_platform::ring`, [`slot`]), and one writer thread ([`writer`]) drains the rings into a `.msl`
//! trace ([`memscope_format`]). [`lifecycle`] starts it, follows forks and makes every way
//! out of the process (exit, `_exit`, exec, fatal signals) leave a complete trace.
//!
//! Nothing here may panic across the C boundary or allocate through the hooks without the
//! reentrancy [`guard`]: the tracer must never change what the program does.

#![deny(unsafe_op_in_unsafe_fn)]
// The unit-test build exports no hooks (see `hooks`), so the C names look unidiomatic
// and most of the tracer looks unused there.
#![cfg_attr(test, allow(non_snake_case, dead_code))]

mod chunk_builder;
mod config;
mod entry;
mod guard;
mod hooks;
mod lifecycle;
mod real;
mod recorder;
mod signals;
mod slot;
mod writer;

/// Starts tracing before `main` (hooks also start it lazily if they run first).
#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = lifecycle::on_library_init;

/// Flushes the trace when the process exits normally (return from `main`, `exit`).
#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = lifecycle::on_library_fini;

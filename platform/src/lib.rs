//! OS specifics of the memscope tracer behind small, safe functions.
//!
//! Front ends and the recorder core name only the facade below, never an OS; each module
//! of the facade is the current OS's file of the same name:
//! - [`clock`]: the event clock (ordered with the loads before it: docs/architecture.md,
//!   invariant 2), its conversion to monotonic nanoseconds, wall time, sleeping.
//! - [`thread`]: thread and process ids, the current thread's stack bounds, whether a
//!   thread still exists, futex-like wait and wake on a 32-bit word, starting the tracer's
//!   own detached service thread (`spawn_detached`).
//! - [`file`]: creating the trace file safely (exclusive, never through a symlink, owner
//!   only, not inherited by children) and writing to it without stdio.
//! - [`memory`]: zeroed anonymous mappings, from the kernel rather than the program's
//!   allocator.
//! - `modules` (Linux, Windows): the loaded modules with build-ids and unwind sections
//!   (Windows: PE images with their link time stamp, size and CodeView identity).
//! - `unwind` (Linux, Windows): capturing the current thread's stack (Linux: from DWARF
//!   CFI; Windows: the system's unwinder over the images' `.pdata`).
//! - `memory_map`, `stop_world` (Linux): the process's memory map, and stopping the
//!   other threads to read their registers, for the leak check at exit.
//!
//! Layout: OS-neutral code at the top of `src/` (`tick_map`, `pe_header`); `linux/`, `macos/` and
//! `windows/` hold what each OS provides under the same file names (`unix/` holds what Linux
//! and macOS do alike, re-exported by their own files); what depends only on
//! the processor (reading the stack pointer and the time-stamp counter, the fence before
//! a clock read, x86-64 CFI stepping with its walk memo and step shapes) is under
//! `x86_64/` and `aarch64/`.
//!
//! Built for Linux on x86-64 (everything), Windows on x86-64 (`clock`, `thread`, `file`,
//! `memory`, `modules`, `unwind`) and macOS (`clock`, `thread`, `file`, `memory`, and
//! `modules` from dyld with `unwind` by frame pointers).

#![deny(unsafe_op_in_unsafe_fn)]

// Used by Linux's TSC clock only so far; built everywhere so that every target checks it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod tick_map;

// PE headers: read by Windows' module list; built everywhere so that its tests run on
// every host.
#[cfg_attr(not(target_os = "windows"), allow(dead_code))]
pub mod pe_header;

#[cfg(target_arch = "aarch64")]
mod aarch64;
// The frame-pointer walk of macOS's `unwind`; built (and tested) on every host.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
mod frame_walk;
// The stack pointer and TSC reads serve Linux only so far (stack bounds and clocks come
// from the OS elsewhere).
#[cfg(target_arch = "x86_64")]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod x86_64;

#[cfg(any(target_os = "linux", target_os = "macos"))]
mod unix;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "windows")]
mod windows;

#[cfg(not(any(
    all(target_os = "linux", target_arch = "x86_64"),
    target_os = "macos",
    target_os = "windows"
)))]
compile_error!("memscope-platform is written for Linux on x86-64, macOS and Windows");

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
use linux as os;
#[cfg(target_os = "macos")]
use macos as os;
#[cfg(target_os = "windows")]
use windows as os;

pub use os::{clock, file, memory, thread};

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub use linux::{memory_map, modules, stop_world, unwind};
#[cfg(target_os = "macos")]
pub use macos::{modules, unwind};
#[cfg(all(target_os = "windows", target_arch = "x86_64"))]
pub use windows::{modules, unwind};

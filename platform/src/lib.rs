//! OS specifics of the memscope tracer behind small, safe functions.
//!
//! Everything the preload needs from the operating system lives here, one file per
//! concern, so that the hook code reads the same on every platform:
//! - `clock`: the event clock (monotonic, no syscall on Linux: vDSO).
//! - `thread`: kernel thread id, the current thread's stack bounds, futex wait/wake.
//! - `file`: creating the trace file safely and writing to it without stdio.
//! - `modules`: the loaded modules (path, address range, build-id, unwind sections).
//! - `unwind`: capturing the current thread's stack from DWARF CFI.
//!
//! Only Linux x86_64 is implemented today; other targets get their own submodule with
//! the same file names.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub use linux::*;

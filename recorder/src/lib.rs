//! The recorder core of memscope, shared by every front end (today the ELF preload;
//! next a Windows inline-hook DLL, a macOS `__interpose` dylib and a Rust
//! `#[global_allocator]` wrapper). It knows nothing of how allocations are intercepted.
//!
//! A front end implements [`FrontEnd`] (where the per-thread state lives, how thread exit
//! and fork are caught, who the process is) and calls the narrow API below from its
//! hooks, each a three-step body: take the [`Guard`] (or, if the tracer itself runs on
//! this thread, pass straight to the real function), call the real function, record.
//! Every call takes a `&Guard`: holding the reentrancy guard is part of the call's type
//! (docs/architecture.md, invariant 1). Frees are recorded before the real call,
//! allocations after it, and a realloc gets a time before and one after (invariant 2).
//!
//! Inside: each thread records into its own lock-free [`ring`] ([`slot`], [`producer`]);
//! one writer thread ([`writer`], [`chunk_builder`]) drains the rings into a `.msl` trace;
//! [`handoff`] is everything the two sides share besides the rings; [`lifecycle`] starts
//! the tracer with a [`Config`], follows forks and makes every way out of the process
//! leave a complete trace (invariant 3).
//!
//! Built for every target the platform crate supports. Stack capture into the slot, the
//! walk memo and the module records (`capture`, `module_list`) need the platform's
//! unwinder and module list, so they are built only where it has them (the
//! `stack_capture` configuration of build.rs: Linux and Windows on x86-64, macOS);
//! elsewhere events carry no stacks. The leak check at exit (`leak_check`) also needs
//! the platform's memory map and thread stopping: Linux only (the `leak_check`
//! configuration).

use std::ffi::c_void;

use memscope_format::{AllocKind, ExitHow, FreeKind};

#[cfg(stack_capture)]
mod capture;
mod chunk_builder;
pub mod config;
mod entry;
mod front_end;
mod guard;
mod handoff;
mod inherit;
#[cfg(leak_check)]
mod leak_check;
mod lifecycle;
mod live_map;
#[cfg(stack_capture)]
mod module_list;
#[cfg(unix)]
pub mod private_heap;
mod producer;
pub mod ring;
mod slot;
mod trace_name;
mod writer;
mod writer_thread;

pub use config::Config;
pub use front_end::{AllocatorInUse, FrontEnd, ProcessIdentity};
pub use guard::{Guard, ThreadState};
#[cfg(unix)]
pub use private_heap::PrivateHeap;

/// The time a realloc-like call started, stamped by [`on_realloc_start`] before the real
/// call.
#[derive(Debug, Clone, Copy)]
pub struct CallStart(u64);

/// Starts the tracer if nobody has (the front end's constructor; otherwise the first
/// event does it). True once it is running.
pub fn start<F: FrontEnd>(g: &Guard<F>) -> bool {
    lifecycle::ensure_started(g)
}

/// A successful allocation of `size` bytes at `ptr` (null: the call failed), recorded
/// after the real call returned; `align`: the alignment asked for (0: none); `usable`:
/// what the allocator really reserved (0 if unknown or if it failed).
#[inline(always)]
pub fn on_alloc<F: FrontEnd>(
    g: &Guard<F>,
    ptr: *mut c_void,
    size: usize,
    align: usize,
    kind: AllocKind,
    usable: impl FnOnce() -> usize,
) {
    if let Some(mut me) = lifecycle::current(g) {
        let usable = if ptr.is_null() { 0 } else { usable() };
        me.alloc(ptr as u64, size, align, kind, usable);
    }
}

/// A release of `ptr`, recorded before the real call (null is ignored).
#[inline(always)]
pub fn on_free<F: FrontEnd>(g: &Guard<F>, ptr: *mut c_void, kind: FreeKind) {
    on_free_with_args(g, ptr, kind, 0, 0);
}

/// A release by a sized or aligned `operator delete`: `size` and `align` are the
/// arguments it was given (0: the form called takes none).
#[inline(always)]
pub fn on_free_with_args<F: FrontEnd>(
    g: &Guard<F>,
    ptr: *mut c_void,
    kind: FreeKind,
    size: usize,
    align: usize,
) {
    if ptr.is_null() {
        return;
    }
    if let Some(mut me) = lifecycle::current(g) {
        me.free(ptr as u64, kind, size, align);
    }
}

/// Stamps the start of a realloc-like call (when the old block is given up), before the
/// real call. The thread is attached first: no event of a thread may be stamped before
/// its stream opened (see `slot::solo_until`).
#[inline(always)]
pub fn on_realloc_start<F: FrontEnd>(g: &Guard<F>) -> CallStart {
    let _ = lifecycle::current(g);
    CallStart(producer::now())
}

/// A realloc-like call that turned `old` into `new` of `size` bytes, recorded after the
/// real call; `start`: from [`on_realloc_start`]; `usable` as in [`on_alloc`].
#[inline(always)]
pub fn on_realloc<F: FrontEnd>(
    g: &Guard<F>,
    start: CallStart,
    old: *mut c_void,
    new: *mut c_void,
    size: usize,
    kind: AllocKind,
    usable: impl FnOnce() -> usize,
) {
    if let Some(mut me) = lifecycle::current(g) {
        let usable = if new.is_null() { 0 } else { usable() };
        me.realloc(start.0, old as u64, new as u64, size, kind, usable);
    }
}

/// The calling thread is ending (e.g. from a thread-exit destructor).
pub fn on_thread_exit<F: FrontEnd>(g: &Guard<F>) {
    lifecycle::thread_exit(g);
}

/// This process forked child `pid` (called in the parent).
pub fn on_fork_parent<F: FrontEnd>(g: &Guard<F>, pid: i32) {
    if let Some(mut me) = lifecycle::current(g) {
        me.fork(pid);
    }
}

/// Before `fork`, on the forking thread (the front end's `pthread_atfork` prepare
/// handler): keeps the live-block map steady for the child to inherit.
pub fn on_fork_prepare() {
    inherit::before_fork();
}

/// After `fork`, in the parent (the front end's `pthread_atfork` parent handler).
pub fn on_fork_parent_resumes() {
    inherit::after_fork_in_parent();
}

/// In a forked child, before it runs on: the child starts a trace of its own.
pub fn on_fork_child<F: FrontEnd>(g: &Guard<F>) {
    lifecycle::fork_child(g);
}

/// `exit(code)` was called: the status is recorded now; the trace is completed later by
/// [`on_exit`] (`ExitHow::Shutdown`), after the program's own exit handlers ran.
pub fn on_exit_called<F: FrontEnd>(g: &Guard<F>, code: i32) {
    lifecycle::exit_called(g, code);
}

/// The process is ending (or replacing its image) in the way `how` says: records it
/// (once), writes everything and the end marker, and flushes every later event at once.
pub fn on_exit<F: FrontEnd>(g: &Guard<F>, how: ExitHow, code: i32) {
    lifecycle::flush_before_death(g, how, code, true);
}

/// The process is likely, not certainly, about to end (a signal it sent itself that kills
/// only once unblocked): as [`on_exit`], but later events are still left to the writer's
/// rounds.
pub fn on_likely_exit<F: FrontEnd>(g: &Guard<F>, how: ExitHow, code: i32) {
    lifecycle::flush_before_death(g, how, code, false);
}

/// An `exec` returned: the image lives on, so tracing goes on as before.
pub fn on_exec_failed<F: FrontEnd>(_: &Guard<F>) {
    lifecycle::exec_failed();
}

/// Whether this process is the one being traced (false in a `vfork` child, which shares
/// the parent's memory and must leave the tracer alone).
pub fn is_traced_process() -> bool {
    lifecycle::is_traced_process()
}

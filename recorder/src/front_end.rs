//! What the recorder core needs from the front end that embeds it: where the per-thread
//! state lives, how thread exit and fork are caught, and who the process is. Everything
//! about *how* allocations are intercepted stays in the front end; the core is generic
//! over this trait, so that its calls compile to direct, inlined code (no function
//! pointers on the hot path).

use std::ptr::NonNull;

use crate::guard::ThreadState;

/// Who the traced process is, for the trace header (docs/architecture.md, invariant 4).
pub struct ProcessIdentity {
    /// The executable's path (empty if unknown).
    pub executable: Vec<u8>,
    /// The command line, one argument per entry.
    pub arguments: Vec<Vec<u8>>,
}

/// The allocator that serves the program, for the trace's `Allocator` record.
pub struct AllocatorInUse {
    /// The path of the object that defines the `malloc` in use (empty if unknown).
    pub path: &'static [u8],
    /// The entry points whose calls do not reach the front end's hooks
    /// (`memscope_format::entry_points`).
    pub bypassed: u32,
}

/// A front end of the recorder (the ELF preload; next a Windows DLL, a macOS dylib, a
/// Rust `#[global_allocator]` wrapper).
///
/// # Safety
/// [`FrontEnd::thread_state`] must return the calling thread's own block, valid for the
/// thread's whole life, touched by no other thread, and reaching it must neither
/// allocate nor enter the front end's hooks (docs/architecture.md, invariant 1).
pub unsafe trait FrontEnd: 'static {
    /// The calling thread's state block (read on every hook call: keep it cheap).
    fn thread_state() -> NonNull<ThreadState>;

    /// Once per process, when tracing first starts (not again in a forked child): arrange
    /// for [`crate::on_thread_exit`] to run as threads end, for [`crate::on_fork_child`]
    /// in forked children, and for fatal signals to flush the trace.
    fn install_process_handlers();

    /// The calling thread has just attached (its first event): arrange for
    /// [`crate::on_thread_exit`] to run on it when it ends.
    fn watch_thread_exit();

    /// Whether the process runs in secure-execution mode (setuid, setgid, capabilities):
    /// then nothing is traced, because the environment names where to write.
    fn secure_execution() -> bool;

    /// The process's executable and arguments.
    fn process_identity() -> ProcessIdentity;

    /// Which allocator the program's calls reach, and which of them bypass the hooks.
    fn allocator_in_use() -> AllocatorInUse;
}

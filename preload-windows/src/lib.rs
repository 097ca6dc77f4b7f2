//! memscope_windows.dll: the Windows front end of memscope, injected into a program by
//! `memscope run` (a process created suspended, `CreateRemoteThread` + `LoadLibraryW`).
//!
//! At load ([`DllMain`]) it installs inline hooks (MinHook: the first instructions of
//! each target are replaced by a jump, so calls from every module reach the hook, the
//! C runtime's own internal calls included) on the allocation functions of each C
//! runtime present ([`install`]: `msvcrt.dll`, `ucrtbase.dll`) and on those loaded later
//! (a loader notification), on libstdc++'s `operator new`/`delete` when a mingw program
//! loads `libstdc++-6.dll`, and on the ways out of the process ([`hooks::process`]).
//! Each hook is guard, real call, record ([`hooks`]), through the recorder core;
//! [`front_end`] tells the core where the per-thread state lives (a TLS index) and who
//! the process is; [`heap`] is the tracer's private heap, never the program's.
//!
//! On other systems this crate is empty (it is a workspace member everywhere).

#![cfg_attr(not(windows), allow(unused))]

#[cfg(windows)]
mod front_end;
#[cfg(windows)]
mod heap;
#[cfg(windows)]
mod hooks;
#[cfg(windows)]
mod install;
#[cfg(windows)]
mod preexisting;

/// The tracer's own Rust allocations come from its private heap (`heap`), never from
/// the program's C runtime or process heap.
#[cfg(windows)]
#[global_allocator]
static HEAP: heap::PrivateHeap = heap::PrivateHeap;

#[cfg(windows)]
pub use entry::DllMain;

#[cfg(windows)]
mod entry {
    use std::ffi::c_void;

    use windows_sys::core::BOOL;
    use windows_sys::Win32::Foundation::{HINSTANCE, TRUE};
    use windows_sys::Win32::System::SystemServices::{
        DLL_PROCESS_ATTACH, DLL_PROCESS_DETACH, DLL_THREAD_DETACH,
    };

    /// The DLL's entry point: hooks at attach, a thread's last entry at thread detach,
    /// the final flush at process detach (when no exit hook ran first).
    ///
    /// # Safety
    /// Called by the loader only.
    #[no_mangle]
    pub unsafe extern "system" fn DllMain(
        _module: HINSTANCE,
        reason: u32,
        _reserved: *mut c_void,
    ) -> BOOL {
        match reason {
            DLL_PROCESS_ATTACH if crate::front_end::init_tls() => crate::install::at_attach(),
            DLL_THREAD_DETACH => crate::front_end::on_thread_detach(),
            DLL_PROCESS_DETACH => crate::hooks::process::on_process_detach(),
            _ => {}
        }
        TRUE
    }
}

//! Starts the writer thread: a POSIX thread that blocks every signal and holds the
//! reentrancy guard for its whole life (docs/architecture.md, invariant 1). A front end
//! on a system without POSIX threads needs its own start here.

use std::ffi::c_void;

use memscope_platform::file::write_stderr;

use crate::front_end::FrontEnd;
use crate::guard::Guard;
use crate::handoff::HANDOFF;
use crate::writer::Writer;

/// Starts the writer thread, which holds the guard for its whole life.
pub fn spawn<F: FrontEnd>(writer: Writer) -> bool {
    extern "C" fn writer_main<F: FrontEnd>(arg: *mut c_void) -> *mut c_void {
        let _guard = Guard::<F>::force();
        HANDOFF.writer_started();
        // SAFETY: `arg` is the Box<Writer> leaked by `spawn`, handed over once.
        let writer = unsafe { Box::from_raw(arg as *mut Writer) };
        writer.run()
    }
    let arg = Box::into_raw(Box::new(writer)) as *mut c_void;
    // SAFETY: the writer thread blocks every signal (so process-directed signals land on
    // the program's threads, whose handlers may wait for the writer); the old mask is
    // restored right after pthread_create.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut t: libc::pthread_t = 0;
        let r = libc::pthread_create(&mut t, std::ptr::null(), writer_main::<F>, arg);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if r != 0 {
            drop(Box::from_raw(arg as *mut Writer));
            write_stderr(b"memscope: cannot start the writer thread; not tracing\n");
            return false;
        }
        libc::pthread_detach(t);
        #[cfg(target_os = "linux")]
        libc::pthread_setname_np(t, c"memscope-writer".as_ptr());
    }
    true
}

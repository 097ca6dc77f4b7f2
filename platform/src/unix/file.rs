//! The trace file on Unix-like systems (Linux, macOS): created exclusively (never
//! following a symlink, never truncating what is there, mode 0600, close-on-exec) and
//! written with raw `write(2)`, never stdio, because the traced program may have closed or
//! redirected its standard streams. Each OS's `file.rs` re-exports this and adds what is
//! its own.

use std::ffi::CStr;

/// The error [`RawFile::create_exclusive`] returns when something is at the path already.
pub const ALREADY_EXISTS: i32 = libc::EEXIST;

/// An open trace file descriptor.
#[derive(Debug)]
pub struct RawFile {
    fd: libc::c_int,
}

impl RawFile {
    /// Creates `path` exclusively. Returns the errno on failure.
    pub fn create_exclusive(path: &CStr) -> Result<RawFile, i32> {
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `path` is NUL-terminated.
        let fd = unsafe { libc::open(path.as_ptr(), flags, 0o600 as libc::c_uint) };
        if fd < 0 {
            return Err(errno());
        }
        Ok(RawFile { fd })
    }

    /// Writes all of `bytes`, retrying on EINTR and short writes.
    pub fn write_all(&self, mut bytes: &[u8]) -> Result<(), i32> {
        while !bytes.is_empty() {
            // SAFETY: the pointer and length describe `bytes`.
            let n = unsafe { libc::write(self.fd, bytes.as_ptr().cast(), bytes.len()) };
            if n < 0 {
                let e = errno();
                if e == libc::EINTR {
                    continue;
                }
                return Err(e);
            }
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }
}

impl Drop for RawFile {
    fn drop(&mut self) {
        // SAFETY: we own fd.
        unsafe { libc::close(self.fd) };
    }
}

/// Writes a message to standard error with one `write(2)` (for the tracer's single
/// "cannot create trace" line).
pub fn write_stderr(msg: &[u8]) {
    // SAFETY: the pointer and length describe `msg`.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// This thread's `errno` (std reads it without allocating).
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

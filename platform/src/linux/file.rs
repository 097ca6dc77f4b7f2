//! The trace file on Linux: created exclusively (never following a symlink, never
//! truncating what is there, mode 0600, close-on-exec) and written with raw `write(2)`,
//! never stdio, because the traced program may have closed or redirected its standard
//! streams.

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
            // SAFETY: reading errno of this thread.
            return Err(unsafe { *libc::__errno_location() });
        }
        Ok(RawFile { fd })
    }

    /// Writes all of `bytes`, retrying on EINTR and short writes.
    pub fn write_all(&self, mut bytes: &[u8]) -> Result<(), i32> {
        while !bytes.is_empty() {
            // SAFETY: the pointer and length describe `bytes`.
            let n = unsafe { libc::write(self.fd, bytes.as_ptr().cast(), bytes.len()) };
            if n < 0 {
                // SAFETY: reading errno of this thread.
                let e = unsafe { *libc::__errno_location() };
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

/// Reads a whole small file such as `/proc/self/cmdline` (allocates: call with tracking
/// suspended).
pub fn read_small_file(path: &CStr) -> Option<Vec<u8>> {
    // SAFETY: `path` is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 || out.len() > 1 << 20 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    // SAFETY: we own fd.
    unsafe { libc::close(fd) };
    Some(out)
}

/// The target of a symlink such as `/proc/self/exe`.
pub fn read_link(path: &CStr) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: buf is writable for its length; path is NUL-terminated.
    let n = unsafe { libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

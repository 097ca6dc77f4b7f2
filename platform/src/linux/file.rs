//! The trace file on Linux: the Unix way ([`crate::unix::file`]), plus reading the small
//! `/proc` files and links that describe the process.

use std::ffi::CStr;

pub use crate::unix::file::{
    process_exists, read_own_file_start, remove_file, write_stderr, RawFile, ALREADY_EXISTS,
};

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

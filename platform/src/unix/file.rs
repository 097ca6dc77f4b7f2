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

/// Reads the start of the regular file at `path` into `buf` (never through a symlink,
/// only a file owned by this process's effective user): `Some(bytes read)`, else `None`.
/// For deciding whether an earlier trace at a fixed name may be replaced.
pub fn read_own_file_start(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: `path` is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return None;
    }
    let file = RawFile { fd };
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `st` is writable.
    let ok = unsafe { libc::fstat(file.fd, &mut st) } == 0
        && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
        // SAFETY: geteuid has no preconditions.
        && st.st_uid == unsafe { libc::geteuid() };
    if !ok {
        return None;
    }
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is writable for its length.
        let n = unsafe { libc::read(file.fd, rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    Some(done)
}

/// Removes the directory entry at `path` (a symlink itself, never its target).
pub fn remove_file(path: &CStr) -> Result<(), i32> {
    // SAFETY: `path` is NUL-terminated.
    if unsafe { libc::unlink(path.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// Whether a process `pid` exists (also one of another user's).
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || errno() == libc::EPERM)
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

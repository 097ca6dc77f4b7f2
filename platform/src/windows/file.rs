//! The trace file on Windows: created only if nothing is at its path (`CREATE_NEW`),
//! never through a symlink or junction (`FILE_FLAG_OPEN_REPARSE_POINT`), readable and
//! writable by its owner only (a protected DACL with one entry), not inherited by child
//! processes, and written with `WriteFile`, never stdio, because the traced program may
//! have closed or redirected its standard streams.

use std::ffi::CStr;

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, LocalFree, ERROR_FILE_EXISTS, ERROR_INVALID_NAME, HANDLE,
    INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, WriteFile, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, FILE_FLAG_OPEN_REPARSE_POINT,
    FILE_GENERIC_WRITE,
};
use windows_sys::Win32::System::Console::{GetStdHandle, STD_ERROR_HANDLE};

/// The file's security descriptor: a protected DACL granting full access to the owner
/// only (the counterpart of mode 0600).
const OWNER_ONLY: &str = "D:P(A;;FA;;;OW)";

/// The error [`RawFile::create_exclusive`] returns when something is at the path already.
pub const ALREADY_EXISTS: i32 = ERROR_FILE_EXISTS as i32;

/// An open trace file handle.
#[derive(Debug)]
pub struct RawFile {
    handle: HANDLE,
}

// SAFETY: a file handle may be used and closed from any thread.
unsafe impl Send for RawFile {}

/// `text` as a NUL-terminated UTF-16 string.
fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

impl RawFile {
    /// Creates `path` (UTF-8) exclusively. Returns the Windows error code on failure.
    pub fn create_exclusive(path: &CStr) -> Result<RawFile, i32> {
        let path = wide(path.to_str().map_err(|_| ERROR_INVALID_NAME as i32)?);
        let sddl = wide(OWNER_ONLY);
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `sddl` is NUL-terminated; `descriptor` receives a LocalAlloc'd
        // descriptor, freed below.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            // SAFETY: reading this thread's last error.
            return Err(unsafe { GetLastError() } as i32);
        }
        let attributes = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: descriptor,
            bInheritHandle: 0,
        };
        // SAFETY: `path` is NUL-terminated; `attributes` and its descriptor are valid
        // for the call.
        let handle = unsafe {
            CreateFileW(
                path.as_ptr(),
                FILE_GENERIC_WRITE,
                0,
                &attributes,
                CREATE_NEW,
                FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT,
                std::ptr::null_mut(),
            )
        };
        // SAFETY: reading this thread's last error, before LocalFree can change it.
        let error = unsafe { GetLastError() };
        // SAFETY: the descriptor came from LocalAlloc and is used no more.
        unsafe { LocalFree(descriptor) };
        if handle == INVALID_HANDLE_VALUE {
            return Err(error as i32);
        }
        Ok(RawFile { handle })
    }

    /// Writes all of `bytes`, retrying on short writes.
    pub fn write_all(&self, bytes: &[u8]) -> Result<(), i32> {
        write_all(self.handle, bytes)
    }
}

impl Drop for RawFile {
    fn drop(&mut self) {
        // SAFETY: we own the handle.
        unsafe { CloseHandle(self.handle) };
    }
}

/// Writes all of `bytes` to `handle`.
fn write_all(handle: HANDLE, mut bytes: &[u8]) -> Result<(), i32> {
    while !bytes.is_empty() {
        let chunk = bytes.len().min(u32::MAX as usize) as u32;
        let mut written = 0u32;
        // SAFETY: the pointer and length describe (a prefix of) `bytes`; no overlapped I/O.
        let ok = unsafe {
            WriteFile(
                handle,
                bytes.as_ptr(),
                chunk,
                &mut written,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            // SAFETY: reading this thread's last error.
            return Err(unsafe { GetLastError() } as i32);
        }
        bytes = &bytes[written as usize..];
    }
    Ok(())
}

/// Writes a message to standard error with one `WriteFile` (for the tracer's single
/// "cannot create trace" line); nothing if the process has no standard error.
pub fn write_stderr(msg: &[u8]) {
    // SAFETY: GetStdHandle has no preconditions.
    let handle = unsafe { GetStdHandle(STD_ERROR_HANDLE) };
    if handle.is_null() || handle == INVALID_HANDLE_VALUE {
        return;
    }
    let _ = write_all(handle, msg);
}

/// An earlier trace at a fixed name is never replaced on Windows yet: `None` (the new
/// trace takes the next free name).
pub fn read_own_file_start(_path: &CStr, _buf: &mut [u8]) -> Option<usize> {
    None
}

/// Not used on Windows yet (see [`read_own_file_start`]).
pub fn remove_file(_path: &CStr) -> Result<(), i32> {
    Err(ERROR_INVALID_NAME as i32)
}

/// Not known on Windows yet: every process is taken to exist.
pub fn process_exists(_pid: u32) -> bool {
    true
}

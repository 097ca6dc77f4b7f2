//! The loaded modules on Windows: every PE image of the process (`K32EnumProcessModules`)
//! with what offline symbolization needs: path, runtime span, load bias (runtime base
//! minus the image base the file was linked for, read from the file itself, since the
//! loader may rewrite the mapped header), the span of its code, and its identity (link
//! time stamp, size of image, CodeView GUID and age: `pe_header::identity`).
//!
//! The loader bumps no counter that can be read without its lock, so the front end
//! tells this module about loads and unloads ([`note_load`], [`note_unload`], from its
//! `LdrRegisterDllNotification` callback), and [`load_generation`] reads those counts.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use windows_sys::Win32::Foundation::{CloseHandle, HMODULE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, ReadFile, FILE_GENERIC_READ, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    OPEN_EXISTING,
};
use windows_sys::Win32::System::LibraryLoader::GetModuleFileNameW;
use windows_sys::Win32::System::ProcessStatus::K32EnumProcessModules;
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use crate::pe_header::{self, PeHeader};

static ADDS: AtomicU64 = AtomicU64::new(0);
static SUBS: AtomicU64 = AtomicU64::new(0);

/// One loaded module.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// The module's path as the loader knows it (UTF-8, `\` separators).
    pub path: Vec<u8>,
    /// Runtime address minus the address in the file (the image base it was linked for).
    pub bias: u64,
    /// Runtime span of the image.
    pub start: u64,
    pub end: u64,
    /// Runtime span of its first code section (the whole image if none is found).
    pub text_start: u64,
    pub text_end: u64,
    /// `pe_header::identity` of the mapped image.
    pub build_id: Vec<u8>,
}

/// A module was loaded (the front end's loader notification).
pub fn note_load() {
    ADDS.fetch_add(1, Relaxed);
}

/// A module was unloaded (the front end's loader notification).
pub fn note_unload() {
    SUBS.fetch_add(1, Relaxed);
}

/// Loads and unloads counted so far; a change means the module list must be read again.
pub fn load_generation() -> (u64, u64) {
    (ADDS.load(Relaxed), SUBS.load(Relaxed))
}

/// Lists the loaded modules. `_wants_unwind` is for the Linux unwinder's section copies:
/// Windows unwinds from the mapped images, so it is not asked. Allocates: call with
/// tracking suspended.
pub fn loaded_modules(_wants_unwind: &mut dyn FnMut(&[u8], u64) -> bool) -> Vec<ModuleInfo> {
    let mut handles: Vec<HMODULE> = vec![std::ptr::null_mut(); 1024];
    loop {
        let mut needed = 0u32;
        let bytes = (handles.len() * std::mem::size_of::<HMODULE>()) as u32;
        // SAFETY: `handles` has room for `bytes`; `needed` is writable.
        let ok = unsafe {
            K32EnumProcessModules(
                GetCurrentProcess(),
                handles.as_mut_ptr(),
                bytes,
                &mut needed,
            )
        };
        if ok == 0 {
            return Vec::new();
        }
        let count = needed as usize / std::mem::size_of::<HMODULE>();
        if count <= handles.len() {
            handles.truncate(count);
            break;
        }
        handles.resize(count, std::ptr::null_mut());
    }
    handles.into_iter().filter_map(module_info).collect()
}

/// The headers of the image mapped at `base` (its first page, which the loader keeps
/// mapped and readable for the module's life).
fn mapped_header(base: u64) -> Option<(PeHeader, &'static [u8])> {
    // SAFETY: `base` is a loaded module's base, whose header page stays mapped while it
    // is loaded (the caller lists modules under no unload of its own).
    let page = unsafe { std::slice::from_raw_parts(base as *const u8, 4096) };
    Some((pe_header::parse(page)?, page))
}

fn module_info(handle: HMODULE) -> Option<ModuleInfo> {
    let base = handle as u64;
    let (header, _) = mapped_header(base)?;
    let mut wide = vec![0u16; 1024];
    // SAFETY: `wide` has room for its length in UTF-16 units.
    let n = unsafe { GetModuleFileNameW(handle, wide.as_mut_ptr(), wide.len() as u32) } as usize;
    wide.truncate(n);
    let path = String::from_utf16_lossy(&wide).into_bytes();
    wide.push(0);
    let linked_base = file_image_base(&wide).unwrap_or(header.image_base);
    let end = base + header.size_of_image as u64;
    let codeview = header.debug_directory.and_then(|(rva, size)| {
        let read = |rva: u32, len: usize| -> Option<Vec<u8>> {
            if rva as u64 + len as u64 > header.size_of_image as u64 {
                return None;
            }
            // SAFETY: inside the mapped image (checked against its size just above).
            Some(
                unsafe { std::slice::from_raw_parts((base + rva as u64) as *const u8, len) }
                    .to_vec(),
            )
        };
        let directory = read(rva, size as usize)?;
        pe_header::codeview(&directory, read)
    });
    let (text_start, text_end) = match header.code {
        Some((rva, size)) => (base + rva as u64, base + rva as u64 + size as u64),
        None => (base, end),
    };
    Some(ModuleInfo {
        path,
        bias: base.wrapping_sub(linked_base),
        start: base,
        end,
        text_start,
        text_end,
        build_id: pe_header::identity(&header, codeview.as_ref()),
    })
}

/// The image base the file at `path` (NUL-terminated UTF-16) was linked for, from its
/// first page on disk.
fn file_image_base(path: &[u16]) -> Option<u64> {
    // SAFETY: `path` is NUL-terminated; the handle is closed below.
    let handle = unsafe {
        CreateFileW(
            path.as_ptr(),
            FILE_GENERIC_READ,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            std::ptr::null(),
            OPEN_EXISTING,
            0,
            std::ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return None;
    }
    let mut page = vec![0u8; 4096];
    let mut read = 0u32;
    // SAFETY: `page` has room for its length; no overlapped I/O.
    let ok = unsafe {
        ReadFile(
            handle,
            page.as_mut_ptr(),
            page.len() as u32,
            &mut read,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: we own the handle.
    unsafe { CloseHandle(handle) };
    if ok == 0 {
        return None;
    }
    page.truncate(read as usize);
    Some(pe_header::parse(&page)?.image_base)
}

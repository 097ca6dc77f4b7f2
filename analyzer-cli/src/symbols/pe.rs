//! What symbolizing PE modules (Windows traces) needs beyond what `object` and
//! `addr2line` already read from them (DWARF of mingw `-g` builds, COFF and export
//! symbols):
//!
//! - [`identity`]: the bytes the Windows tracer records as a PE module's "build-id"
//!   (link time stamp, size of image, then the CodeView GUID and age when the image has
//!   them; `memscope-platform`'s `pe_header::identity`), computed from the file, so that
//!   a changed binary is noticed as with ELF build-ids.
//! - [`host_path`]: a recorded Windows path (`Z:\tmp\app.exe`) as a path on this host.
//!   Wine maps drive `Z:` to the Unix root, so a trace made under Wine is symbolized on
//!   Linux from the same files; other drives are looked up under `--sysroot`
//!   (`SYSROOT/c/windows/system32/...`, or a Wine prefix as the sysroot:
//!   `PREFIX/drive_c/windows/system32/...`).
//!
//! PDB files (MSVC builds) are not read: their frames fall back to the export table.

use std::path::{Path, PathBuf};

use object::pe::ImageNtHeaders64;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile};
use object::{LittleEndian as LE, Object, ReadRef};

/// The recorded identity of a PE32+ image (`None` for anything else).
pub fn identity<'data, R: ReadRef<'data>>(obj: &object::File<'data, R>) -> Option<Vec<u8>> {
    let object::File::Pe64(pe) = obj else {
        return None;
    };
    Some(identity_of(pe))
}

fn identity_of<'data, R: ReadRef<'data>>(pe: &PeFile<'data, ImageNtHeaders64, R>) -> Vec<u8> {
    let nt = pe.nt_headers();
    let mut id = Vec::with_capacity(28);
    id.extend_from_slice(&nt.file_header().time_date_stamp.get(LE).to_le_bytes());
    id.extend_from_slice(&nt.optional_header().size_of_image().to_le_bytes());
    if let Ok(Some(cv)) = pe.pdb_info() {
        id.extend_from_slice(&cv.guid());
        id.extend_from_slice(&cv.age().to_le_bytes());
    }
    id
}

/// A recorded path with a drive letter (`X:\...` or `X:/...`) as a path on this host,
/// `None` if it is not one or this host is Windows (where it opens as it is).
pub fn host_path(recorded: &str, sysroot: Option<&Path>) -> Option<PathBuf> {
    if cfg!(windows) {
        return None;
    }
    let bytes = recorded.as_bytes();
    let is_drive = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && (bytes[2] == b'\\' || bytes[2] == b'/');
    if !is_drive {
        return None;
    }
    let rest = recorded[3..].replace('\\', "/");
    let drive = bytes[0].to_ascii_lowercase() as char;
    // `SYSROOT/c/...`, or a Wine prefix given as the sysroot (`PREFIX/drive_c/...`).
    let candidates = sysroot.into_iter().flat_map(|root| {
        [
            root.join(drive.to_string()).join(&rest),
            root.join(format!("drive_{drive}")).join(&rest),
        ]
    });
    let mut first = None;
    for c in candidates {
        if c.is_file() {
            return Some(c);
        }
        first.get_or_insert(c);
    }
    match drive {
        'z' => Some(PathBuf::from(format!("/{rest}"))),
        _ => first,
    }
}

/// The file name of a recorded path, whichever separator it uses.
pub fn file_name(recorded: &str) -> &str {
    recorded.rsplit(['/', '\\']).next().unwrap_or(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(windows))]
    fn wine_drive_z_is_the_unix_root() {
        assert_eq!(
            host_path(r"Z:\tmp\w\app.exe", None),
            Some(PathBuf::from("/tmp/w/app.exe"))
        );
        assert_eq!(
            host_path(r"C:\windows\system32\msvcrt.dll", Some(Path::new("/sys"))),
            Some(PathBuf::from("/sys/c/windows/system32/msvcrt.dll"))
        );
        assert_eq!(host_path(r"C:\windows\system32\msvcrt.dll", None), None);
        assert_eq!(host_path("/usr/lib/libc.so.6", None), None);
    }

    #[test]
    fn file_names_of_both_kinds_of_path() {
        assert_eq!(file_name(r"Z:\tmp\w\app.exe"), "app.exe");
        assert_eq!(file_name("/usr/lib/libc.so.6"), "libc.so.6");
    }
}

//! Whether `memscope run` can trace a program on macOS, decided before it starts, so that
//! the user hears why instead of getting an empty report. dyld ignores
//! `DYLD_INSERT_LIBRARIES` in two cases that can be told from the file:
//!
//! - **SIP**: System Integrity Protection strips `DYLD_*` variables when a protected
//!   binary starts (everything under `/System`, `/usr` but `/usr/local`, `/bin`,
//!   `/sbin`), and a script run through a protected interpreter (`#!/bin/sh`) loses
//!   them the same way.
//! - **Hardened runtime**: a binary signed with the runtime flag (`CS_RUNTIME`, 0x10000,
//!   in the flags of its code signature's CodeDirectory) ignores `DYLD_*` variables
//!   unless entitled with `com.apple.security.cs.allow-dyld-environment-variables`, and
//!   loads only libraries signed by its own team unless entitled with
//!   `com.apple.security.cs.disable-library-validation` (the tracer is signed ad hoc).
//!
//! The code signature is read from the file: the `LC_CODE_SIGNATURE` load command names
//! a SuperBlob (big-endian) whose index leads to the CodeDirectory and the XML
//! entitlements. Universal (fat) files are read for the slice of the running machine.
//! Pure parsing: it builds and is tested everywhere, and runs on macOS only.

use std::path::{Path, PathBuf};

/// The tracer library's file name on macOS.
pub const TRACER_NAME: &str = "libmemscope_macos.dylib";
/// Where an installed tracer sits relative to the folder of `memscope`.
pub const INSTALLED_TRACER: &str = "../lib/memscope/libmemscope_macos.dylib";
/// The variable dyld reads the inserted libraries from.
pub const INSERT_VARIABLE: &str = "DYLD_INSERT_LIBRARIES";

/// `CS_RUNTIME` of `<kern/cs_blobs.h>`: the hardened runtime.
pub const CS_RUNTIME: u32 = 0x0001_0000;
/// The entitlements a hardened-runtime program needs to load the tracer.
pub const NEEDED_ENTITLEMENTS: [&str; 2] = [
    "com.apple.security.cs.allow-dyld-environment-variables",
    "com.apple.security.cs.disable-library-validation",
];

/// Folders whose binaries SIP protects (`/usr/local` excepted).
const PROTECTED: [&str; 4] = ["/System", "/usr", "/bin", "/sbin"];

const LC_CODE_SIGNATURE: u32 = 0x1d;
const MH_MAGIC_64: u32 = 0xfeed_facf;
const FAT_MAGIC: u32 = 0xcafe_babe;
const SUPERBLOB_MAGIC: u32 = 0xfade_0cc0;
const CODEDIRECTORY_MAGIC: u32 = 0xfade_0c02;
const ENTITLEMENTS_MAGIC: u32 = 0xfade_7171;
/// SuperBlob slot types: the CodeDirectory, the XML entitlements.
const SLOT_CODEDIRECTORY: u32 = 0;
const SLOT_ENTITLEMENTS: u32 = 5;
/// `CPU_TYPE_ARM64` and `CPU_TYPE_X86_64` of `<mach/machine.h>`.
pub const CPU_ARM64: u32 = 0x0100_000c;
pub const CPU_X86_64: u32 = 0x0100_0007;

/// Why a program cannot be traced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untraceable {
    /// SIP strips `DYLD_*` from this binary (or from the interpreter of this script).
    SipProtected { binary: PathBuf },
    /// Hardened runtime without these entitlements.
    HardenedRuntime { missing: Vec<&'static str> },
}

impl std::fmt::Display for Untraceable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Untraceable::SipProtected { binary } => write!(
                f,
                "{} is protected by System Integrity Protection: macOS removes \
                 DYLD_INSERT_LIBRARIES when it starts, so memscope cannot trace it; \
                 trace a copy outside /System, /usr, /bin and /sbin, or your own build",
                binary.display()
            ),
            Untraceable::HardenedRuntime { missing } => write!(
                f,
                "the program is signed with the hardened runtime and lacks the \
                 entitlement{} {}: macOS ignores DYLD_INSERT_LIBRARIES for it; re-sign a \
                 copy without the runtime flag (codesign --force --sign - COPY) or with \
                 the entitlements",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(" and ")
            ),
        }
    }
}

/// Whether SIP protects the binary at `path` (an absolute, resolved path).
pub fn sip_protected(path: &Path) -> bool {
    if path.starts_with("/usr/local") {
        return false;
    }
    PROTECTED.iter().any(|p| path.starts_with(p))
}

/// The interpreter a script names on its `#!` line.
pub fn interpreter(bytes: &[u8]) -> Option<PathBuf> {
    let line = bytes.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = std::str::from_utf8(line).ok()?.trim();
    let first = line.split_whitespace().next()?;
    Some(PathBuf::from(first))
}

/// What a code signature says: the CodeDirectory's flags and the XML entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub flags: u32,
    pub entitlements: Option<String>,
}

/// The code signature of the Mach-O slice for `cpu` in `file` (thin or universal);
/// `None` if it is not Mach-O, has no such slice, or is not signed.
pub fn signature(file: &[u8], cpu: u32) -> Option<Signature> {
    let slice = if be32(file, 0)? == FAT_MAGIC {
        let count = be32(file, 4)? as usize;
        (0..count.min(64)).find_map(|i| {
            let at = 8 + 20 * i;
            (be32(file, at)? == cpu).then_some(())?;
            let offset = be32(file, at + 8)? as usize;
            let size = be32(file, at + 12)? as usize;
            file.get(offset..offset.checked_add(size)?)
        })?
    } else {
        file
    };
    if le32(slice, 0)? != MH_MAGIC_64 || le32(slice, 4)? != cpu {
        return None;
    }
    let commands = le32(slice, 16)? as usize;
    let mut at = 32;
    for _ in 0..commands.min(4096) {
        let (cmd, size) = (le32(slice, at)?, le32(slice, at + 4)? as usize);
        if cmd == LC_CODE_SIGNATURE {
            let offset = le32(slice, at + 8)? as usize;
            let len = le32(slice, at + 12)? as usize;
            return superblob(slice.get(offset..offset.checked_add(len)?)?);
        }
        if size < 8 {
            return None;
        }
        at += size;
    }
    None
}

/// Reads the CodeDirectory's flags and the entitlements from a SuperBlob.
fn superblob(blob: &[u8]) -> Option<Signature> {
    if be32(blob, 0)? != SUPERBLOB_MAGIC {
        return None;
    }
    let count = be32(blob, 8)? as usize;
    let mut flags = None;
    let mut entitlements = None;
    for i in 0..count.min(64) {
        let kind = be32(blob, 12 + 8 * i)?;
        let offset = be32(blob, 16 + 8 * i)? as usize;
        let magic = be32(blob, offset)?;
        let len = be32(blob, offset + 4)? as usize;
        match kind {
            SLOT_CODEDIRECTORY if magic == CODEDIRECTORY_MAGIC => {
                flags = Some(be32(blob, offset + 12)?);
            }
            SLOT_ENTITLEMENTS if magic == ENTITLEMENTS_MAGIC => {
                let xml = blob.get(offset + 8..offset.checked_add(len)?)?;
                entitlements = Some(String::from_utf8_lossy(xml).into_owned());
            }
            _ => {}
        }
    }
    Some(Signature {
        flags: flags?,
        entitlements,
    })
}

/// Whether an XML entitlements plist grants `key` (`<key>KEY</key>` then `<true/>`).
pub fn entitled(xml: &str, key: &str) -> bool {
    let tag = format!("<key>{key}</key>");
    xml.find(&tag)
        .map(|i| xml[i + tag.len()..].trim_start())
        .is_some_and(|rest| rest.starts_with("<true/>"))
}

/// Why the binary at `path` (absolute, resolved), whose contents are `file`, cannot be
/// traced on a machine of processor type `cpu`; `None` if nothing says it cannot.
pub fn untraceable(path: &Path, file: &[u8], cpu: u32) -> Option<Untraceable> {
    if sip_protected(path) {
        return Some(Untraceable::SipProtected {
            binary: path.to_path_buf(),
        });
    }
    if let Some(interp) = interpreter(file).filter(|i| sip_protected(i)) {
        return Some(Untraceable::SipProtected { binary: interp });
    }
    let sig = signature(file, cpu)?;
    if sig.flags & CS_RUNTIME == 0 {
        return None;
    }
    let xml = sig.entitlements.unwrap_or_default();
    let missing: Vec<_> = NEEDED_ENTITLEMENTS
        .into_iter()
        .filter(|k| !entitled(&xml, k))
        .collect();
    (!missing.is_empty()).then_some(Untraceable::HardenedRuntime { missing })
}

/// The program `memscope run` will start, as the system will find it: a path as given,
/// or a bare name looked up in `PATH`; resolved through symlinks.
pub fn resolve_program(program: &Path, path_variable: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let found = if program.components().count() > 1 {
        Some(program.to_path_buf())
    } else {
        std::env::split_paths(path_variable?)
            .map(|dir| dir.join(program))
            .find(|c| c.is_file())
    }?;
    std::fs::canonicalize(found).ok()
}

/// The check `memscope run` makes on macOS before starting `program`: an error message
/// if it cannot be traced.
pub fn check_traceable(program: &Path) -> Result<(), String> {
    let Some(path) = resolve_program(program, std::env::var_os("PATH").as_deref()) else {
        return Ok(()); // not found: spawning it reports that
    };
    let cpu = if cfg!(target_arch = "aarch64") {
        CPU_ARM64
    } else {
        CPU_X86_64
    };
    let file = std::fs::read(&path).unwrap_or_default();
    match untraceable(&path, &file, cpu) {
        Some(why) => Err(why.to_string()),
        None => Ok(()),
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::symbols::macho::fixture::{build, SOURCE};

    /// Where `LC_CODE_SIGNATURE`'s (dataoff, datasize) sit in a thin 64-bit file.
    fn signature_command(file: &[u8]) -> usize {
        let mut at = 32;
        for _ in 0..le32(file, 16).unwrap() {
            if le32(file, at).unwrap() == LC_CODE_SIGNATURE {
                return at + 8;
            }
            at += le32(file, at + 4).unwrap() as usize;
        }
        panic!("not signed");
    }

    /// `file` with its signature replaced by a SuperBlob of `blobs` (slot type, blob),
    /// appended at the end.
    fn resigned(file: &[u8], blobs: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut sb = Vec::new();
        let header = 12 + 8 * blobs.len();
        let total = header + blobs.iter().map(|(_, b)| b.len()).sum::<usize>();
        sb.extend(SUPERBLOB_MAGIC.to_be_bytes());
        sb.extend((total as u32).to_be_bytes());
        sb.extend((blobs.len() as u32).to_be_bytes());
        let mut offset = header;
        for (kind, blob) in blobs {
            sb.extend(kind.to_be_bytes());
            sb.extend((offset as u32).to_be_bytes());
            offset += blob.len();
        }
        for (_, blob) in blobs {
            sb.extend(blob);
        }
        let mut out = file.to_vec();
        out.resize(file.len().next_multiple_of(16), 0);
        let at = signature_command(&out);
        let start = out.len() as u32;
        out[at..at + 4].copy_from_slice(&start.to_le_bytes());
        out[at + 4..at + 8].copy_from_slice(&(sb.len() as u32).to_le_bytes());
        out.extend(sb);
        out
    }

    /// The file's CodeDirectory with its flags set to `flags`.
    fn code_directory(file: &[u8], flags: u32) -> Vec<u8> {
        let at = signature_command(file);
        let sb = le32(file, at).unwrap() as usize;
        let cd = sb + be32(file, sb + 16).unwrap() as usize;
        let len = be32(file, cd + 4).unwrap() as usize;
        let mut out = file[cd..cd + len].to_vec();
        out[12..16].copy_from_slice(&flags.to_be_bytes());
        out
    }

    fn entitlements(keys: &[(&str, &str)]) -> Vec<u8> {
        let mut xml = String::from("<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict>\n");
        for (k, v) in keys {
            xml += &format!("\t<key>{k}</key>\n\t<{v}/>\n");
        }
        xml += "</dict></plist>\n";
        let mut blob = ENTITLEMENTS_MAGIC.to_be_bytes().to_vec();
        blob.extend((8 + xml.len() as u32).to_be_bytes());
        blob.extend(xml.as_bytes());
        blob
    }

    #[test]
    fn sip_protected_paths() {
        for (path, protected) in [
            ("/usr/bin/true", true),
            ("/bin/sh", true),
            ("/sbin/ping", true),
            ("/usr/libexec/x", true),
            (
                "/System/Applications/Calculator.app/Contents/MacOS/Calculator",
                true,
            ),
            ("/usr/local/bin/app", false),
            ("/opt/homebrew/bin/python3", false),
            ("/Users/me/build/app", false),
            ("/Applications/App.app/Contents/MacOS/App", false),
            ("/usrlocal/app", false),
        ] {
            assert_eq!(sip_protected(Path::new(path)), protected, "{path}");
        }
    }

    #[test]
    fn scripts_run_by_a_protected_interpreter_are_untraceable() {
        assert_eq!(
            interpreter(b"#!/bin/sh\necho\n"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            interpreter(b"#! /usr/bin/env python3\n"),
            Some(PathBuf::from("/usr/bin/env"))
        );
        assert_eq!(interpreter(b"\xcf\xfa\xed\xfe"), None);
        assert_eq!(
            untraceable(
                Path::new("/Users/me/run.sh"),
                b"#!/bin/bash\nls\n",
                CPU_ARM64
            ),
            Some(Untraceable::SipProtected {
                binary: PathBuf::from("/bin/bash")
            })
        );
        assert_eq!(
            untraceable(
                Path::new("/Users/me/run.sh"),
                b"#!/opt/homebrew/bin/bash\n",
                CPU_ARM64
            ),
            None
        );
    }

    #[test]
    fn code_signature_flags_and_entitlements_decide() {
        let dir = tempfile::tempdir().unwrap();
        let path = build(dir.path(), SOURCE);
        let file = std::fs::read(&path).unwrap();
        // ld64.lld signs arm64 output ad hoc: CS_ADHOC | CS_LINKER_SIGNED, no runtime.
        assert_eq!(
            signature(&file, CPU_ARM64),
            Some(Signature {
                flags: 0x0002_0002,
                entitlements: None
            })
        );
        assert_eq!(signature(&file, CPU_X86_64), None);
        assert_eq!(untraceable(&path, &file, CPU_ARM64), None);
        // The same program with the hardened runtime: both entitlements are missing.
        let hardened = code_directory(&file, 0x0002_0002 | CS_RUNTIME);
        let runtime = resigned(&file, &[(SLOT_CODEDIRECTORY, hardened.clone())]);
        assert_eq!(signature(&runtime, CPU_ARM64).unwrap().flags, 0x0003_0002);
        let why = untraceable(&path, &runtime, CPU_ARM64).unwrap();
        assert_eq!(
            why,
            Untraceable::HardenedRuntime {
                missing: NEEDED_ENTITLEMENTS.to_vec()
            }
        );
        assert!(why.to_string().contains(
            "lacks the entitlements com.apple.security.cs.allow-dyld-environment-variables and"
        ));
        // Entitled to DYLD variables only: library validation still refuses the tracer.
        let one = entitlements(&[
            (NEEDED_ENTITLEMENTS[0], "true"),
            (NEEDED_ENTITLEMENTS[1], "false"),
        ]);
        let signed = resigned(
            &file,
            &[
                (SLOT_CODEDIRECTORY, hardened.clone()),
                (SLOT_ENTITLEMENTS, one),
            ],
        );
        assert_eq!(
            untraceable(&path, &signed, CPU_ARM64),
            Some(Untraceable::HardenedRuntime {
                missing: vec![NEEDED_ENTITLEMENTS[1]]
            })
        );
        // Both: traceable.
        let both = entitlements(&[
            (NEEDED_ENTITLEMENTS[0], "true"),
            (NEEDED_ENTITLEMENTS[1], "true"),
        ]);
        let signed = resigned(
            &file,
            &[(SLOT_CODEDIRECTORY, hardened), (SLOT_ENTITLEMENTS, both)],
        );
        assert_eq!(untraceable(&path, &signed, CPU_ARM64), None);
        // A universal file: the slice of the machine's processor is read.
        let mut fat = FAT_MAGIC.to_be_bytes().to_vec();
        fat.extend(1u32.to_be_bytes());
        for word in [CPU_ARM64, 0, 0x4000, runtime.len() as u32, 14] {
            fat.extend(word.to_be_bytes());
        }
        fat.resize(0x4000, 0);
        fat.extend(&runtime);
        assert_eq!(signature(&fat, CPU_ARM64).unwrap().flags, 0x0003_0002);
        assert_eq!(signature(&fat, CPU_X86_64), None);
        // Under /usr/bin it is SIP that says no, whatever the signature.
        assert_eq!(
            untraceable(Path::new("/usr/bin/app"), &file, CPU_ARM64),
            Some(Untraceable::SipProtected {
                binary: PathBuf::from("/usr/bin/app")
            })
        );
    }

    #[test]
    fn bare_names_are_found_in_path() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("prog");
        std::fs::write(&exe, b"#!/bin/sh\n").unwrap();
        let path_var =
            std::env::join_paths(["/nonexistent", dir.path().to_str().unwrap()]).unwrap();
        let found = resolve_program(Path::new("prog"), Some(&path_var));
        assert_eq!(found, Some(std::fs::canonicalize(&exe).unwrap()));
        assert_eq!(resolve_program(Path::new("nope"), Some(&path_var)), None);
    }
}

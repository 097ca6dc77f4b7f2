//! Which frames are the program's own code, where an item is located, and its
//! fingerprint: the stable identity the baseline, SARIF `partialFingerprints` and the
//! text summary share.
//!
//! A frame is the program's own when its module is known and is not the C runtime, the
//! dynamic loader, libstdc++, libgcc or the tracer, and its source is not library code
//! compiled into the program (Rust's standard library, C/C++ headers, C start-up code). A fingerprint hashes the detector's
//! name and the function names of the innermost [`DEFAULT_FRAMES`] such frames: no
//! addresses, files or line numbers, so that a rebuild, or an edit elsewhere in the file,
//! keeps it. Compiler clone suffixes (`.constprop.0`, `.isra.0`, `.part.0`, `.cold`) are
//! dropped for the same reason. SHA-256 (a well-kept crate, stable across platforms and
//! versions, unlike `std`'s hasher) cut to 128 bits, in hex.

use sha2::{Digest, Sha256};

use super::input::{Frame, Item};

/// Frames of the program's own code in a fingerprint, unless `--baseline-frames`.
pub const DEFAULT_FRAMES: usize = 5;

/// Fingerprint version, hashed in: a change of the recipe changes every id.
const RECIPE: &str = "memscope-fingerprint/1";

/// Module base-name prefixes that are not the program's own code.
const SYSTEM_MODULES: &[&str] = &[
    "libc.so",
    "libc-",
    "ld-linux",
    "ld64.so",
    "ld.so",
    "libstdc++",
    "libgcc_s",
    "libgcc",
    "libm.so",
    "libm-",
    "libpthread",
    "libdl.so",
    "libdl-",
    "librt.so",
    "libmemscope",
    "linux-vdso",
];

/// C runtime start-up code linked into every executable: not the program's own.
const CRT_FUNCTIONS: &[&str] = &[
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
    "__libc_csu_init",
    "_init",
    "_fini",
];

/// Source paths of library code compiled into the program (Rust's standard library,
/// C and C++ headers, glibc's own build tree): inlined or generic code that is not the
/// program's own, and changes with the toolchain.
const LIBRARY_SOURCES: &[&str] = &[
    "/rustc/",
    "/usr/include/",
    "/usr/lib/gcc/",
    "./csu/",
    "./nptl/",
    "./malloc/",
];

/// Whether `frame` lies in the program's own code: a known, non-system module, not the
/// C runtime's start-up code linked into it, and not library source compiled into it.
pub fn is_program_frame(frame: &Frame) -> bool {
    let Some(module) = frame.module.as_deref().filter(|m| !m.is_empty()) else {
        return false;
    };
    if frame
        .function
        .as_deref()
        .is_some_and(|f| CRT_FUNCTIONS.contains(&f))
    {
        return false;
    }
    if frame
        .file
        .as_deref()
        .is_some_and(|f| LIBRARY_SOURCES.iter().any(|p| f.starts_with(p)))
    {
        return false;
    }
    let base = module.rsplit('/').next().unwrap_or(module);
    !SYSTEM_MODULES.iter().any(|p| base.starts_with(p))
}

/// A function name without compiler clone suffixes: `f.constprop.0` → `f`.
pub fn clean_function(name: &str) -> &str {
    const CLONES: &[&str] = &[".constprop.", ".isra.", ".part.", ".cold", ".lto_priv."];
    let cut = CLONES
        .iter()
        .filter_map(|c| name.find(c))
        .min()
        .unwrap_or(name.len());
    &name[..cut]
}

/// The innermost frame of the program's own code that has a file and a line; else the
/// innermost with a file; else `None`.
pub fn location(stack: &[Frame]) -> Option<&Frame> {
    let program = || stack.iter().filter(|f| is_program_frame(f));
    program()
        .find(|f| f.file.is_some() && f.line.is_some())
        .or_else(|| program().find(|f| f.file.is_some()))
}

/// The innermost named function of the program's own code (else any named function).
pub fn function(stack: &[Frame]) -> Option<&str> {
    stack
        .iter()
        .filter(|f| is_program_frame(f))
        .find_map(|f| f.function.as_deref())
        .or_else(|| stack.iter().find_map(|f| f.function.as_deref()))
        .map(clean_function)
}

/// A stable identity: 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub String);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The frames a fingerprint is made of: function names of the innermost `n` program
/// frames that have one; when there are none (a stripped program), of the innermost
/// `n` named frames anywhere; when nothing is named, the module base names.
pub fn key_frames(stack: &[Frame], n: usize) -> Vec<String> {
    let named = |program_only: bool| -> Vec<String> {
        stack
            .iter()
            .filter(|f| !program_only || is_program_frame(f))
            .filter_map(|f| f.function.as_deref())
            .map(|f| clean_function(f).to_string())
            .take(n)
            .collect()
    };
    let program = named(true);
    if !program.is_empty() {
        return program;
    }
    let any = named(false);
    if !any.is_empty() {
        return any;
    }
    stack
        .iter()
        .filter_map(|f| f.module.as_deref())
        .map(|m| format!("<{}>", m.rsplit('/').next().unwrap_or(m)))
        .take(n)
        .collect()
}

/// The fingerprint of `kind` (a detector name) with `frames` (from [`key_frames`]).
pub fn fingerprint_of(kind: &str, frames: &[String]) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(RECIPE.as_bytes());
    h.update([0]);
    h.update(kind.as_bytes());
    for f in frames {
        h.update([0]);
        h.update(f.as_bytes());
    }
    let digest = h.finalize();
    Fingerprint(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
}

/// An item's fingerprint and the frames it was made of.
pub fn fingerprint(item: &Item, n: usize) -> (Fingerprint, Vec<String>) {
    let frames = key_frames(item.primary_stack(), n);
    (fingerprint_of(item.detector.name(), &frames), frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::input::{Detector, StackRole};

    fn frame(function: &str, line: u32, module: &str) -> Frame {
        Frame {
            function: Some(function.into()),
            file: Some("/src/app.c".into()),
            line: Some(line),
            module: Some(module.into()),
        }
    }

    fn leak(stack: Vec<Frame>) -> Item {
        Item {
            detector: Detector::Leak,
            message: String::new(),
            bytes: 1,
            blocks: 1,
            count: 1,
            runtime_internal: false,
            type_name: None,
            leak_kind: None,
            inherited: false,
            stacks: vec![(StackRole::Allocation, stack)],
        }
    }

    #[test]
    fn program_frames_skip_system_and_unknown_modules() {
        assert!(is_program_frame(&frame("f", 1, "/t/app")));
        assert!(is_program_frame(&frame("f", 1, "/t/libfoo.so")));
        assert!(!is_program_frame(&frame(
            "malloc",
            1,
            "/lib/x86_64-linux-gnu/libc.so.6"
        )));
        assert!(!is_program_frame(&frame(
            "f",
            1,
            "/lib64/ld-linux-x86-64.so.2"
        )));
        assert!(!is_program_frame(&frame("f", 1, "/usr/lib/libstdc++.so.6")));
        assert!(!is_program_frame(&Frame {
            function: Some("f".into()),
            ..Frame::default()
        }));
    }

    #[test]
    fn fingerprint_ignores_addresses_lines_and_system_frames() {
        let a = leak(vec![
            frame("strdup", 10, "/lib/x86_64-linux-gnu/libc.so.6"),
            frame("leak_here", 12, "/t/app"),
            frame("main", 30, "/t/app"),
            frame(
                "__libc_start_call_main",
                1,
                "/lib/x86_64-linux-gnu/libc.so.6",
            ),
        ]);
        // Rebuilt with lines inserted above, and another libc.
        let b = leak(vec![
            frame("strdup", 99, "/lib/libc.so.6"),
            frame("leak_here", 15, "/t/app"),
            frame("main", 33, "/t/app"),
        ]);
        let (fa, frames) = fingerprint(&a, DEFAULT_FRAMES);
        assert_eq!(frames, vec!["leak_here", "main"]);
        assert_eq!(fa, fingerprint(&b, DEFAULT_FRAMES).0);
        assert_eq!(fa.0.len(), 32);
        assert!(fa.0.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn fingerprint_differs_by_function_and_kind() {
        let a = leak(vec![
            frame("leak_here", 12, "/t/app"),
            frame("main", 30, "/t/app"),
        ]);
        let b = leak(vec![
            frame("leak_there", 12, "/t/app"),
            frame("main", 30, "/t/app"),
        ]);
        assert_ne!(fingerprint(&a, 5).0, fingerprint(&b, 5).0);
        let frames = vec!["leak_here".to_string()];
        assert_ne!(
            fingerprint_of("leak", &frames),
            fingerprint_of("double-free", &frames)
        );
        // Pinned: the recipe must not change silently (baselines on disk depend on it).
        assert_eq!(
            fingerprint_of("leak", &frames).0,
            "54a3dbf943102558ddfa0228de8ecf8a"
        );
    }

    #[test]
    fn clone_suffixes_are_dropped() {
        assert_eq!(clean_function("f.constprop.0"), "f");
        assert_eq!(clean_function("g.isra.0.part.1"), "g");
        assert_eq!(clean_function("h.cold"), "h");
        assert_eq!(
            clean_function("std::vector<int>::push_back"),
            "std::vector<int>::push_back"
        );
    }

    #[test]
    fn location_is_innermost_program_frame_with_line() {
        let stack = vec![
            frame("malloc", 1, "/lib/libc.so.6"),
            Frame {
                function: Some("helper".into()),
                file: None,
                line: None,
                module: Some("/t/app".into()),
            },
            frame("leak_here", 12, "/t/app"),
        ];
        assert_eq!(location(&stack).and_then(|f| f.line), Some(12));
        assert_eq!(function(&stack), Some("helper"));
        assert_eq!(location(&[frame("malloc", 1, "/lib/libc.so.6")]), None);
    }

    #[test]
    fn stripped_program_falls_back_to_named_then_modules() {
        let unnamed = Frame {
            module: Some("/usr/bin/python3".into()),
            ..Frame::default()
        };
        let stack = vec![frame("malloc", 1, "/lib/libc.so.6"), unnamed.clone()];
        assert_eq!(key_frames(&stack, 5), vec!["malloc"]);
        assert_eq!(key_frames(&[unnamed], 5), vec!["<python3>"]);
    }
}

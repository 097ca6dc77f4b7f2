//! Where an item is, and its fingerprint: the stable identity the baseline, SARIF
//! `partialFingerprints` and the text summary share.
//!
//! An item is named by its *site*, the program's own frame the report chose (past the
//! allocator, the containers and the C library's wrappers: `report/` decides it,
//! `memscope_report::LocationDoc`). A fingerprint (recipe 2) hashes the detector's name
//! and the function names of the program's frames from the site outward, at most
//! [`DEFAULT_FRAMES`]: no addresses, files or line numbers, so that a rebuild, or an edit
//! elsewhere in the file, keeps it, and no frame of a standard library or of the runtime's
//! start-up, so that another compiler version keeps it too. A stripped program (no
//! names) is keyed by its module's name. Compiler clone suffixes (`.constprop.0`,
//! `.isra.0`, `.part.0`, `.cold`) are dropped.
//!
//! Recipe 1, of baselines written before sites existed, hashed the innermost frames this
//! module judged the program's own by their module and source path ([`is_program_frame`],
//! [`legacy_fingerprint`]); the gate still matches such baselines by it, and says they
//! should be written again ([`super::baseline`]). SHA-256 (a well-kept crate, stable
//! across platforms and versions, unlike `std`'s hasher) cut to 128 bits, in hex.

use sha2::{Digest, Sha256};

use super::input::{Frame, Item};
use memscope_report::{clean_function, LocationDoc};

/// Frames of the program's own code in a fingerprint, unless `--baseline-frames`.
pub const DEFAULT_FRAMES: usize = 5;

/// Fingerprint versions, hashed in: a change of the recipe changes every id.
const RECIPE_1: &str = "memscope-fingerprint/1";
const RECIPE_2: &str = "memscope-fingerprint/2";

/// The fingerprint recipe a baseline was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Recipe {
    /// Innermost program frames by module and source path (before sites).
    V1,
    /// The program's frames from the site outward.
    V2,
}

impl Recipe {
    /// The recipe this version writes.
    pub const CURRENT: Recipe = Recipe::V2;

    pub fn number(self) -> u32 {
        match self {
            Recipe::V1 => 1,
            Recipe::V2 => 2,
        }
    }
}

/// Module base-name prefixes that are not the program's own code, as recipe 1 judged
/// them. This list, [`CRT_FUNCTIONS`] and [`LIBRARY_SOURCES`] are frozen with recipe 1
/// (a change would stop old baselines from matching); the sites of current reports are
/// judged by the report's own classifier (`analysis/classify/site.rs`), whose lists
/// may grow.
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

/// The recipe-1 fingerprint of `kind` (a detector name) with `frames` (from
/// [`key_frames`]).
pub fn fingerprint_of(kind: &str, frames: &[String]) -> Fingerprint {
    hash(RECIPE_1, kind, frames)
}

fn hash(recipe: &str, kind: &str, frames: &[String]) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(recipe.as_bytes());
    h.update([0]);
    h.update(kind.as_bytes());
    for f in frames {
        h.update([0]);
        h.update(f.as_bytes());
    }
    let digest = h.finalize();
    Fingerprint(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
}

/// The recipe-1 fingerprint of an item (baselines written before sites).
pub fn legacy_fingerprint(item: &Item, n: usize) -> Fingerprint {
    fingerprint_of(item.detector.name(), &key_frames(item.primary_stack(), n))
}

/// The frames a recipe-2 fingerprint is made of: the program's function names from the
/// site outward; a stripped program's module name; for an item without a site (a report
/// of an older version), recipe 1's frames.
pub fn site_frames(item: &Item, n: usize) -> Vec<String> {
    match &item.site {
        Some(site) if !site.program_frames.is_empty() => {
            site.program_frames.iter().take(n).cloned().collect()
        }
        Some(site) if site.program => site
            .module_name()
            .map(|m| vec![format!("<{m}>")])
            .unwrap_or_default(),
        _ => key_frames(item.primary_stack(), n),
    }
}

/// An item's fingerprint (recipe 2) and the frames it was made of.
pub fn fingerprint(item: &Item, n: usize) -> (Fingerprint, Vec<String>) {
    let frames = site_frames(item, n);
    (hash(RECIPE_2, item.detector.name(), &frames), frames)
}

/// An item's site: the report's, else (a report of an older version) the innermost
/// program frame with a line, as one frame.
pub fn site(item: &Item) -> Option<LocationDoc> {
    if let Some(s) = &item.site {
        return Some(s.clone());
    }
    let stack = item.primary_stack();
    let f = location(stack).or_else(|| stack.iter().find(|f| is_program_frame(f)))?;
    Some(LocationDoc {
        frame: 0,
        function: f.function.as_deref().map(|n| clean_function(n).to_string()),
        file: f.file.clone(),
        line: f.line,
        module: f.module.clone(),
        module_offset: None,
        program: true,
        program_frames: Vec::new(),
        runtime_frames: 0,
    })
}

/// `function (file:line)` with the file as recorded (a path CI can open); what of it is
/// known; `prog+0x1149` for a stripped program.
pub fn site_words(item: &Item) -> String {
    let Some(s) = site(item) else {
        return function(item.primary_stack())
            .unwrap_or("<unknown function>")
            .to_string();
    };
    let Some(func) = s.function.as_deref() else {
        return s.to_string();
    };
    let func = clean_function(func);
    match (&s.file, s.line) {
        (Some(file), Some(line)) => format!("{func} ({file}:{line})"),
        (Some(file), None) => format!("{func} ({file})"),
        _ => func.to_string(),
    }
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
            site: None,
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

//! What the trace cannot see. libmemscope interposes the allocation entry points, so a
//! program whose allocator is reached otherwise (its own `malloc` in the executable or an
//! allocator preloaded before libmemscope, whose definitions come first; mimalloc or
//! jemalloc linked in as Rust's `#[global_allocator]` or under its own names) allocates
//! behind memscope's back. A report that then looks clean would be a lie: the tracer's
//! `Allocator` record says which entry points bypassed it, and the modules of the trace
//! are searched for allocators other than libc's; each becomes a [`Warning`] in the
//! report. So do events the tracer dropped (its writer made no room for too long).

use object::{Object, ObjectSection, ObjectSymbol};

use crate::trace::reader::TraceIndex;

pub use memscope_report::{Warning, WarningKind};

/// Symbol-name prefixes of allocators other than libc's, with the allocator's name.
/// Several per allocator: a statically linked one keeps only the entry points used.
const ALLOCATORS: &[(&str, &str)] = &[
    ("mi_malloc", "mimalloc"),
    ("mi_free", "mimalloc"),
    ("mi_zalloc", "mimalloc"),
    ("_rjem_", "jemalloc"),
    ("je_malloc", "jemalloc"),
    ("je_free", "jemalloc"),
    ("tc_malloc", "tcmalloc"),
    ("tc_free", "tcmalloc"),
    ("rpmalloc", "rpmalloc"),
    ("rpfree", "rpmalloc"),
    ("snmalloc", "snmalloc"),
    ("sn_malloc", "snmalloc"),
    ("dlmalloc", "dlmalloc"),
];

/// Modules that are expected to define `malloc`: libc and the tracer itself.
fn is_libc_or_tracer(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("libc.so")
        || name.starts_with("ld-linux")
        || name.starts_with("libmemscope")
        || name == "[vdso]"
}

/// The report's warnings: dropped events, then every loaded module (each path once) that
/// carries its own allocator.
pub fn warnings(index: &TraceIndex) -> Vec<Warning> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    if index.lost_events > 0 {
        out.push(Warning {
            kind: WarningKind::LostEvents,
            message: format!(
                "the tracer dropped {} events (a thread's buffer stayed full longer than MEMSCOPE_FULL_RING_WAIT_MS): the counts, leaks and findings here miss them",
                index.lost_events
            ),
        });
    }
    let in_use = index.allocator.as_ref().map(|a| allocator_path(a, index));
    if let (Some(a), Some(path)) = (&index.allocator, &in_use) {
        if a.bypassed != 0 {
            out.push(Warning {
                kind: WarningKind::PrivateAllocator,
                message: bypass_message(path, a.bypassed, &index.header.exe),
            });
        }
    }
    for m in &index.modules {
        if is_libc_or_tracer(&m.path) || !seen.insert(m.path.as_str()) {
            continue;
        }
        if let Some(what) = allocator_in(&m.path) {
            let message = match what {
                // The `malloc` in use is the tracer's `Allocator` record's business (one
                // that comes after libmemscope is traced in full).
                Found::OwnMalloc if index.allocator.is_some() => continue,
                Found::OwnMalloc => format!(
                    "{} defines its own malloc (a private allocator): the blocks it serves never reach libc, and memscope sees only what still does (the counts and leaks here are partial)",
                    m.path
                ),
                Found::Named(name) => format!(
                    "{} contains the {name} allocator: blocks it serves are invisible to memscope, which sees only what goes through libc's malloc (the counts and leaks here are partial)",
                    m.path
                ),
            };
            out.push(Warning {
                kind: WarningKind::PrivateAllocator,
                message,
            });
        }
    }
    out
}

/// The path of the allocator in use: the loader names the executable as it was started
/// (possibly relative), the header has its full path.
pub fn allocator_path(a: &crate::trace::reader::AllocatorInfo, index: &TraceIndex) -> String {
    if a.path.starts_with('/') || a.path.is_empty() {
        a.path.clone()
    } else {
        index.header.exe.clone()
    }
}

/// The warning for entry points whose calls went to `path` ahead of libmemscope.
fn bypass_message(path: &str, bypassed: u32, exe: &str) -> String {
    use memscope_format::entry_points::{names, NAMES};
    let missed: Vec<&str> = names(bypassed).collect();
    let seen: Vec<&str> = names(!bypassed & ((1 << NAMES.len()) - 1)).collect();
    // The record names the object of the `malloc` in use: the definer of what bypassed
    // us only if `malloc` is among it.
    let malloc_bypassed = bypassed & 1 != 0;
    let whose = match (malloc_bypassed, path == exe) {
        (true, true) => format!("the program ({path}) defines"),
        (true, false) => format!("{path} defines"),
        (false, _) => "the program or a library loaded before libmemscope defines".to_string(),
    };
    let remedy = match (malloc_bypassed, path == exe) {
        (true, true) => "the program's own allocator cannot be interposed",
        (true, false) => "put libmemscope first in LD_PRELOAD (memscope run does) to see them",
        (false, _) => "a definition linked into the program cannot be interposed",
    };
    format!(
        "{whose} {} ahead of libmemscope: the program's calls of them go there directly and memscope does not see them ({remedy}); memscope sees only the calls of {} (the counts and leaks here are partial)",
        missed.join(", "),
        if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
    )
}

enum Found {
    OwnMalloc,
    Named(&'static str),
}

/// Looks for a defined `malloc` or a known allocator entry point in the file at `path`.
fn allocator_in(path: &str) -> Option<Found> {
    let data = symbol_image(path)?;
    let obj = object::File::parse(&*data).ok()?;
    let mut own_malloc = false;
    for sym in obj.symbols().chain(obj.dynamic_symbols()) {
        if sym.is_undefined() || !sym.is_definition() {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        if let Some(&(_, allocator)) = ALLOCATORS
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
        {
            return Some(Found::Named(allocator));
        }
        own_malloc |= name == "malloc";
    }
    own_malloc.then_some(Found::OwnMalloc)
}

/// Sections larger than this are left unread unless they are symbol or string tables.
const SKIP_ABOVE: u64 = 64 << 10;

/// The file at `path` as parsing its symbols needs it: headers, symbol and string tables
/// and every small section read, large sections (code, read-only data, debug info) left
/// as zeros. A trace names every module its process loaded, and a compiler's are
/// hundreds of megabytes (`rustc`'s driver library), which an analysis of a trace
/// without a single event used to read in full (0.2-3 s and 200 MB). The buffer is
/// zeroed memory the kernel backs only where it is written.
fn symbol_image(path: &str) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut skip: Vec<(u64, u64)> = {
        let cache = object::read::ReadCache::new(&file);
        let obj = object::File::parse(&cache).ok()?;
        obj.sections()
            .filter(|s| {
                let name = s.name().unwrap_or("");
                !matches!(
                    name,
                    ".symtab" | ".strtab" | ".dynsym" | ".dynstr" | ".shstrtab"
                )
            })
            .filter_map(|s| s.file_range())
            .filter(|&(_, size)| size > SKIP_ABOVE)
            .map(|(start, size)| (start.min(len), start.saturating_add(size).min(len)))
            .collect()
    };
    skip.sort_unstable();
    let mut data = vec![0u8; usize::try_from(len).ok()?];
    let mut at = 0u64;
    for (start, end) in skip.into_iter().chain([(len, len)]) {
        if start > at {
            file.seek(SeekFrom::Start(at)).ok()?;
            file.read_exact(&mut data[at as usize..start as usize])
                .ok()?;
        }
        at = at.max(end);
    }
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_and_the_tracer_are_expected_to_define_malloc() {
        assert!(is_libc_or_tracer("/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(is_libc_or_tracer("/work/target/release/libmemscope.so"));
        assert!(!is_libc_or_tracer("/usr/bin/python3.11"));
    }

    #[test]
    fn a_program_defining_malloc_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("own.c");
        std::fs::write(&src, "#include <stddef.h>\nstatic char pool[1<<16]; static size_t used;\nvoid *malloc(size_t n) { void *p = pool + used; used += (n + 15) & ~15UL; return p; }\nvoid free(void *p) { (void)p; }\nint main(void) { return malloc(3) == 0; }\n").unwrap();
        let exe = dir.path().join("own");
        let ok = std::process::Command::new("gcc")
            .arg("-O1")
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .status()
            .unwrap()
            .success();
        assert!(ok, "gcc failed");
        assert!(matches!(
            allocator_in(exe.to_str().unwrap()),
            Some(Found::OwnMalloc)
        ));
        assert!(allocator_in("/bin/ls").is_none(), "ls uses libc's malloc");
    }
}

//! What the trace cannot see. libmemscope interposes libc's allocation functions, so a
//! program whose allocator is linked into it (its own `malloc` in the executable, or
//! mimalloc/jemalloc/tcmalloc/... as Rust's `#[global_allocator]` or C++'s allocator)
//! allocates mostly behind memscope's back. A report that then looks clean would be a lie,
//! so the modules of the trace are searched for allocators other than libc's, and each
//! one found becomes a [`Warning`] in the report. So do events the tracer dropped (its
//! writer made no room for too long).

use object::{Object, ObjectSymbol};

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
    for m in &index.modules {
        if is_libc_or_tracer(&m.path) || !seen.insert(m.path.as_str()) {
            continue;
        }
        if let Some(what) = allocator_in(&m.path) {
            let message = match what {
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

enum Found {
    OwnMalloc,
    Named(&'static str),
}

/// Looks for a defined `malloc` or a known allocator entry point in the file at `path`.
fn allocator_in(path: &str) -> Option<Found> {
    let file = std::fs::File::open(path).ok()?;
    let data = read_file(file)?;
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

fn read_file(mut file: std::fs::File) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut data = Vec::new();
    file.read_to_end(&mut data).ok()?;
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

//! The interpose table as dyld will read it, checked on Linux: the front end is compiled
//! for both Apple targets as a static library (no Apple linker or SDK needed), and the
//! `__DATA,__interpose` section of its object is read back with the `object` crate: one
//! 16-byte (replacement, replacee) pair per entry point, each slot relocated to the
//! expected symbol.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};

/// (module and function of the replacement, replacee's C-level name), in table order.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("malloc", "malloc", "malloc"),
    ("malloc", "calloc", "calloc"),
    ("malloc", "realloc", "realloc"),
    ("malloc", "reallocf", "reallocf"),
    ("malloc", "free", "free"),
    ("malloc", "valloc", "valloc"),
    ("malloc", "posix_memalign", "posix_memalign"),
    ("malloc", "aligned_alloc", "aligned_alloc"),
    ("malloc", "malloc_size", "malloc_size"),
    ("zone", "malloc_zone_malloc", "malloc_zone_malloc"),
    ("zone", "malloc_zone_calloc", "malloc_zone_calloc"),
    ("zone", "malloc_zone_realloc", "malloc_zone_realloc"),
    ("zone", "malloc_zone_free", "malloc_zone_free"),
    ("zone", "malloc_zone_memalign", "malloc_zone_memalign"),
    ("typed", "malloc_type_malloc", "malloc_type_malloc"),
    ("typed", "malloc_type_calloc", "malloc_type_calloc"),
    ("typed", "malloc_type_realloc", "malloc_type_realloc"),
    ("typed", "malloc_type_free", "malloc_type_free"),
    ("typed", "malloc_type_valloc", "malloc_type_valloc"),
    (
        "typed",
        "malloc_type_aligned_alloc",
        "malloc_type_aligned_alloc",
    ),
    (
        "typed",
        "malloc_type_posix_memalign",
        "malloc_type_posix_memalign",
    ),
    (
        "typed",
        "malloc_type_zone_malloc",
        "malloc_type_zone_malloc",
    ),
    (
        "typed",
        "malloc_type_zone_calloc",
        "malloc_type_zone_calloc",
    ),
    (
        "typed",
        "malloc_type_zone_realloc",
        "malloc_type_zone_realloc",
    ),
    ("typed", "malloc_type_zone_free", "malloc_type_zone_free"),
    (
        "typed",
        "malloc_type_zone_memalign",
        "malloc_type_zone_memalign",
    ),
    ("cxx", "new", "_Znwm"),
    ("cxx", "new_array", "_Znam"),
    ("cxx", "new_nothrow", "_ZnwmRKSt9nothrow_t"),
    ("cxx", "new_array_nothrow", "_ZnamRKSt9nothrow_t"),
    ("cxx", "new_aligned", "_ZnwmSt11align_val_t"),
    ("cxx", "new_array_aligned", "_ZnamSt11align_val_t"),
    (
        "cxx",
        "new_aligned_nothrow",
        "_ZnwmSt11align_val_tRKSt9nothrow_t",
    ),
    (
        "cxx",
        "new_array_aligned_nothrow",
        "_ZnamSt11align_val_tRKSt9nothrow_t",
    ),
    ("cxx", "delete", "_ZdlPv"),
    ("cxx", "delete_array", "_ZdaPv"),
    ("cxx", "delete_sized", "_ZdlPvm"),
    ("cxx", "delete_array_sized", "_ZdaPvm"),
    ("cxx", "delete_nothrow", "_ZdlPvRKSt9nothrow_t"),
    ("cxx", "delete_array_nothrow", "_ZdaPvRKSt9nothrow_t"),
    ("cxx", "delete_aligned", "_ZdlPvSt11align_val_t"),
    ("cxx", "delete_array_aligned", "_ZdaPvSt11align_val_t"),
    ("cxx", "delete_sized_aligned", "_ZdlPvmSt11align_val_t"),
    (
        "cxx",
        "delete_array_sized_aligned",
        "_ZdaPvmSt11align_val_t",
    ),
    (
        "cxx",
        "delete_aligned_nothrow",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    ),
    (
        "cxx",
        "delete_array_aligned_nothrow",
        "_ZdaPvSt11align_val_tRKSt9nothrow_t",
    ),
    ("process", "fork", "fork"),
    ("process", "exit", "exit"),
    ("process", "underscore_exit", "_exit"),
    ("process", "execve", "execve"),
];

/// Builds the front end for `target` as a static library and returns its path.
fn build_staticlib(target: &str) -> PathBuf {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .expect("rustup runs");
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l == target)
    {
        let ok = Command::new("rustup")
            .args(["target", "add", target])
            .status()
            .expect("rustup runs");
        assert!(ok.success(), "rustup target add {target}");
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = manifest.join("../target/apple-objects");
    let status = Command::new(env!("CARGO"))
        .current_dir(manifest)
        .args(["rustc", "--quiet", "-p", "memscope-preload-macos", "--lib"])
        .args(["--crate-type", "staticlib", "--target", target])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the static library for {target}");
    target_dir.join(target).join("debug/libmemscope_macos.a")
}

/// The (replacement, replacee) symbol names of each 16-byte pair of the table, read
/// from the one archive member that has an `__interpose` section.
fn table_of(archive: &Path) -> Vec<(String, String)> {
    let bytes = std::fs::read(archive).unwrap();
    let ar = object::read::archive::ArchiveFile::parse(&*bytes).unwrap();
    let mut tables = Vec::new();
    for member in ar.members() {
        let member = member.unwrap();
        let data = member.data(&*bytes).unwrap();
        let Ok(obj) = object::File::parse(data) else {
            continue;
        };
        assert_eq!(obj.format(), object::BinaryFormat::MachO);
        let Some(section) = obj.section_by_name("__interpose") else {
            continue;
        };
        assert_eq!(section.segment_name().unwrap(), Some("__DATA"));
        assert_eq!(section.size(), 16 * EXPECTED.len() as u64);
        assert_eq!(section.align(), 8);
        let mut slots = vec![String::new(); 2 * EXPECTED.len()];
        for (offset, reloc) in section.relocations() {
            assert_eq!(offset % 8, 0);
            assert_eq!(reloc.size(), 64);
            let RelocationTarget::Symbol(i) = reloc.target() else {
                panic!("slot {offset} is not relocated to a symbol");
            };
            let name = obj.symbol_by_index(i).unwrap().name().unwrap();
            slots[offset as usize / 8] = name.to_string();
        }
        let pairs = slots
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        tables.push(pairs);
    }
    assert_eq!(tables.len(), 1, "one object holds the table");
    tables.pop().unwrap()
}

fn check(target: &str) {
    let table = table_of(&build_staticlib(target));
    assert_eq!(table.len(), EXPECTED.len());
    for ((replacement, replacee), (module, function, c_name)) in table.iter().zip(EXPECTED) {
        // Mach-O prefixes C names with an underscore.
        assert_eq!(replacee, &format!("_{c_name}"));
        // The replacement is this crate's hook (legacy Rust mangling: length-prefixed
        // path segments).
        let path = format!(
            "14memscope_macos5hooks{}{module}{}{function}",
            module.len(),
            function.len()
        );
        assert!(
            replacement.contains(&path),
            "{replacee} replaced by {replacement}, not by hooks::{module}::{function}"
        );
    }
}

#[test]
fn interpose_table_for_aarch64_apple_darwin() {
    check("aarch64-apple-darwin");
}

#[test]
fn interpose_table_for_x86_64_apple_darwin() {
    check("x86_64-apple-darwin");
}

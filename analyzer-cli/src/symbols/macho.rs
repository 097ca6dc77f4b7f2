//! Mach-O modules (traces written on macOS): their `LC_UUID` plays the part of the GNU
//! build-id (the tracer records it as the module's build id, and a module file whose
//! UUID differs is another build), and their DWARF lives in a dSYM bundle rather than
//! in the module: `Foo.dSYM/Contents/Resources/DWARF/Foo` next to the module, the same
//! under each `--debug-dir`, or a plain `Foo` with the module's UUID there (what
//! `dsymutil --flat` and symbol servers hand out). `object` and `addr2line` read
//! Mach-O and dSYM files as they read ELF (and `addr2line` follows an executable's debug
//! map to its object files when they are still where they were built); only finding
//! the dSYM is macOS's own.

use std::path::{Path, PathBuf};

use object::Object;

use super::symbolize::read_build_id;

/// The `LC_UUID` of a Mach-O file (`None` for other formats or without one).
pub fn uuid<'data, R: object::ReadRef<'data>>(obj: &object::File<'data, R>) -> Option<Vec<u8>> {
    obj.mach_uuid().ok().flatten().map(|u| u.to_vec())
}

/// Whether the file at `path` is Mach-O (thin or universal), by its magic number.
pub fn is_macho(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    let read =
        std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    read.is_ok()
        && matches!(
            u32::from_le_bytes(magic),
            0xfeed_facf | 0xfeed_face | 0xbeba_feca | 0xbfba_feca
        )
}

/// A Mach-O symbol's name as the source spells it: without the `_` the C compilers put
/// before every name (`_main`, `__ZN...` for C++ and Rust).
pub fn c_name(symbol: &str) -> &str {
    symbol.strip_prefix('_').unwrap_or(symbol)
}

/// The dSYM DWARF file of the Mach-O module at `path` whose UUID is `uuid`: in the dSYM
/// bundle next to it, then in such a bundle or as a plain file of the module's name
/// under each debug root. Only a file whose UUID is `uuid` is taken.
pub fn dsym_file(path: &Path, uuid: Option<&[u8]>, debug_roots: &[PathBuf]) -> Option<PathBuf> {
    let uuid = uuid.filter(|u| u.len() == 16)?;
    let name = path.file_name()?;
    let mut bundle = name.to_os_string();
    bundle.push(".dSYM");
    let in_bundle = |dir: &Path| {
        dir.join(&bundle)
            .join("Contents/Resources/DWARF")
            .join(name)
    };
    let mut candidates = vec![in_bundle(path.parent()?)];
    for root in debug_roots {
        candidates.push(in_bundle(root));
        candidates.push(root.join(name));
    }
    candidates
        .into_iter()
        .filter(|c| c != path && c.is_file())
        .find(|c| read_build_id(c).is_some_and(|id| id.as_deref() == Some(uuid)))
}

/// Mach-O test programs built on Linux: Debian's `clang` compiles for
/// `arm64-apple-macos11` without an SDK, `ld64.lld` links a program that calls nothing,
/// and `dsymutil` writes its dSYM.
#[cfg(test)]
pub(crate) mod fixture {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A C program of three functions.
    pub const SOURCE: &str = "static int helper(int x) { return x * 3 + 1; }\n\
        __attribute__((noinline)) int compute(int x) { return helper(x) + 7; }\n\
        int main(void) { return compute(5); }\n";

    /// The first of `names` that runs, installing Debian's `clang`, `lld` and `llvm`
    /// (dsymutil) if none does.
    pub fn tool(names: &[&str]) -> String {
        let found = || {
            names.iter().find(|n| {
                Command::new(n)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
        };
        if found().is_none() {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ensure_packages.sh");
            let ok = Command::new("bash")
                .arg(script)
                .args(["clang", "lld", "llvm"])
                .status()
                .unwrap();
            assert!(ok.success());
        }
        found()
            .unwrap_or_else(|| panic!("none of {names:?}"))
            .to_string()
    }

    fn run(cmd: &mut Command) {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Builds `app` (arm64 macOS executable, no DWARF of its own: ld64 leaves it in the
    /// object files) and `app.dSYM` next to it, in `dir`, from `source`.
    pub fn build(dir: &Path, source: &str) -> PathBuf {
        std::fs::write(dir.join("app.c"), source).unwrap();
        run(Command::new(tool(&["clang", "clang-14"]))
            .current_dir(dir)
            .args([
                "-target",
                "arm64-apple-macos11",
                "-c",
                "-g",
                "-O0",
                "app.c",
                "-o",
                "app.o",
            ]));
        run(Command::new(tool(&["ld64.lld", "ld64.lld-14"]))
            .current_dir(dir)
            .args([
                "-arch",
                "arm64",
                "-platform_version",
                "macos",
                "11.0",
                "11.0",
            ])
            .args(["-e", "_main", "-o", "app", "app.o"]));
        run(Command::new(tool(&["dsymutil", "dsymutil-14"]))
            .current_dir(dir)
            .args(["app", "-o", "app.dSYM"]));
        dir.join("app")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use memscope_format::{AllocKind, Origin, Record, StackId};
    use object::{Object, ObjectSymbol};

    use super::dsym_file;
    use super::fixture::{build, SOURCE};
    use crate::symbols::symbolize::{detached_debug_file, read_build_id, Symbolizer};
    use crate::trace::synth::{alloc, stack, TraceBuilder};

    /// `LC_UUID` read by hand: load commands start after the 32-byte header; each is
    /// (cmd, cmdsize); `LC_UUID` is 0x1b with the 16 bytes after those two words.
    fn uuid_by_hand(path: &Path) -> Vec<u8> {
        let b = std::fs::read(path).unwrap();
        let word = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        assert_eq!(word(0), 0xfeed_facf);
        let mut at = 32;
        for _ in 0..word(16) {
            if word(at) == 0x1b {
                return b[at + 8..at + 24].to_vec();
            }
            at += word(at + 4);
        }
        panic!("no LC_UUID");
    }

    fn address_of(path: &Path, name: &str) -> u64 {
        let data = std::fs::read(path).unwrap();
        let obj = object::File::parse(&*data).unwrap();
        obj.symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap()
            .address()
    }

    #[test]
    fn dsym_next_to_the_module_or_in_a_debug_dir_is_found_by_uuid() {
        let dir = tempfile::tempdir().unwrap();
        let app = build(dir.path(), SOURCE);
        let uuid = uuid_by_hand(&app);
        assert_eq!(read_build_id(&app), Some(Some(uuid.clone())));
        let next_to = dir.path().join("app.dSYM/Contents/Resources/DWARF/app");
        assert_eq!(dsym_file(&app, Some(&uuid), &[]), Some(next_to.clone()));
        assert_eq!(
            detached_debug_file(&app, Some(&uuid), &[]),
            Some(next_to.clone())
        );
        // Moved into a debug directory: found there, as a bundle.
        let debug = tempfile::tempdir().unwrap();
        std::fs::rename(dir.path().join("app.dSYM"), debug.path().join("app.dSYM")).unwrap();
        assert_eq!(dsym_file(&app, Some(&uuid), &[]), None);
        let roots = [debug.path().to_path_buf()];
        assert_eq!(
            dsym_file(&app, Some(&uuid), &roots),
            Some(debug.path().join("app.dSYM/Contents/Resources/DWARF/app"))
        );
        // Another build's dSYM (other code, other UUID) is not taken.
        let other = tempfile::tempdir().unwrap();
        let other_app = build(other.path(), &SOURCE.replace("+ 7", "+ 8"));
        std::fs::remove_dir_all(other.path().join("app.dSYM")).unwrap();
        assert_ne!(uuid_by_hand(&other_app), uuid);
        assert_eq!(
            dsym_file(&other_app, Some(&uuid_by_hand(&other_app)), &roots),
            None
        );
        // No UUID, no dSYM.
        assert_eq!(dsym_file(&app, None, &roots), None);
    }

    #[test]
    fn macho_stacks_symbolize_through_the_dsym() {
        let dir = tempfile::tempdir().unwrap();
        let app = build(dir.path(), SOURCE);
        let uuid = uuid_by_hand(&app);
        let compute = address_of(&app, "_compute");
        let main = address_of(&app, "_main");
        // Loaded with an ASLR slide of 0x4000: base is the slide (what the macOS tracer
        // records), the span the slid __TEXT.
        let slide = 0x4000u64;
        let path = app.to_str().unwrap().as_bytes().to_vec();
        let mut t = TraceBuilder::new(Origin::Start);
        let module = Record::Module {
            id: 1,
            base: slide,
            start: 0x1_0000_0000 + slide,
            end: 0x1_0000_4000 + slide,
            path: &path,
            build_id: &uuid,
        };
        // Return addresses: inside compute (after its call of helper) and inside main.
        let frames = [compute + slide + 12, main + slide + 20];
        t.chunk(0, 1000, &[module, stack(StackId(1), &frames)]);
        t.chunk(
            1,
            1001,
            &[
                Record::ThreadStart { time: 1001, tid: 1 },
                alloc(1002, 0x10, 8, AllocKind::Malloc, StackId(1)),
            ],
        );
        t.end(1010);
        let trace = dir.path().join("t.msl");
        std::fs::write(&trace, t.bytes()).unwrap();
        let index = crate::trace::reader::read_index(&trace).unwrap();
        let out = Symbolizer::cold().symbolize_stack(&index, index.stack(StackId(1)));
        let named: Vec<_> = out
            .iter()
            .map(|f| {
                let file = f.file.as_deref().map(|p| p.rsplit('/').next().unwrap());
                (f.function.as_deref(), file, f.line)
            })
            .collect();
        assert_eq!(
            named,
            [
                (Some("compute"), Some("app.c"), Some(2)),
                (Some("main"), Some("app.c"), Some(3)),
            ]
        );
        // Without the dSYM, `addr2line` follows the executable's debug map to the
        // object file (app.o, still there); without that too, only the symbol table
        // names them.
        let lines = || {
            let out = Symbolizer::cold().symbolize_stack(&index, index.stack(StackId(1)));
            out.iter()
                .map(|f| (f.function.clone(), f.line))
                .collect::<Vec<_>>()
        };
        let named = |a: Option<u32>, b: Option<u32>| {
            vec![
                (Some("compute".to_string()), a),
                (Some("main".to_string()), b),
            ]
        };
        std::fs::remove_dir_all(dir.path().join("app.dSYM")).unwrap();
        assert_eq!(lines(), named(Some(2), Some(3)));
        std::fs::remove_file(dir.path().join("app.o")).unwrap();
        assert_eq!(lines(), named(None, None));
    }
}

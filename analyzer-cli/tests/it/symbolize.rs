//! The symbolizer on a real binary: a tiny C program compiled with `gcc -g -O2`, looked
//! up through a synthetic trace whose module record maps it at a PIE-like load bias.

use std::path::{Path, PathBuf};
use std::process::Command;

use memscope_analyzer::symbols::symbolize::{read_build_id, Symbolizer};
use memscope_analyzer::trace::reader::read_index;
use memscope_analyzer::trace::synth::{module, stack, TraceBuilder};
use memscope_format::{Origin, Record, StackId};
use object::{Object, ObjectSymbol};

const SOURCE: &str = r#"#include <stdlib.h>
volatile int sink;

__attribute__((noinline)) void *make_block(int n) {
    void *p = malloc((size_t)n * 3);
    sink += n;
    return p;
}

static inline __attribute__((always_inline)) void *helper(int n) {
    sink += n * 7;
    return make_block(n + 1);
}

__attribute__((noinline)) void *outer(int n) {
    void *p = helper(n);
    sink += 1;
    return p;
}

int main(int argc, char **argv) {
    (void)argv;
    return outer(argc) != 0;
}
"#;

const BIAS: u64 = 0x5555_0000_0000;

fn compile(dir: &Path) -> PathBuf {
    let src = dir.join("symtest.c");
    std::fs::write(&src, SOURCE).unwrap();
    let exe = dir.join("symtest");
    let st = Command::new("gcc")
        .args(["-g", "-O2", "-fPIE", "-pie", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(st.success());
    exe
}

/// (address, size) of a function in the file's symbol table.
fn function(exe: &Path, name: &str) -> (u64, u64) {
    let data = std::fs::read(exe).unwrap();
    let obj = object::File::parse(&*data).unwrap();
    let sym = obj
        .symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("no symbol {name}"));
    (sym.address(), sym.size())
}

/// A trace whose module record maps `exe` at `BIAS`, with one stack per address given.
fn index_for(
    dir: &Path,
    exe: &Path,
    build_id: &[u8],
    stacks: &[Vec<u64>],
) -> memscope_analyzer::trace::reader::TraceIndex {
    let size = std::fs::metadata(exe).unwrap().len() + 0x10000;
    let mut t = TraceBuilder::new(Origin::Start);
    let path = exe.to_str().unwrap().as_bytes().to_vec();
    let mut records = vec![module(1, BIAS, BIAS + size, &path, build_id)];
    for (i, frames) in stacks.iter().enumerate() {
        records.push(stack(StackId(i as u64 + 1), frames));
    }
    records.push(Record::End { time: 1001 });
    t.chunk(0, 1000, &records);
    let trace = dir.join("t.msl");
    std::fs::write(&trace, t.bytes()).unwrap();
    read_index(&trace).unwrap()
}

#[test]
fn symbolizes_function_file_line_and_inlined_frames() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path());
    let build_id = read_build_id(&exe)
        .flatten()
        .expect("gcc on Debian writes a build-id");
    let (make_block, _) = function(&exe, "make_block");
    let (outer, outer_size) = function(&exe, "outer");

    // Every frame is a return address (looked up at address − 1). Stack 1: "returning"
    // to the second byte of make_block, i.e. its first instruction.
    // Stacks 2..: every byte of `outer` as a return address, to find the inlined helper.
    let mut stacks = vec![vec![BIAS + make_block + 1]];
    for off in 1..=outer_size {
        stacks.push(vec![BIAS + make_block + 1, BIAS + outer + off]);
    }
    let index = index_for(dir.path(), &exe, &build_id, &stacks);
    let mut sym = Symbolizer::new();

    let frames = sym.symbolize_stack(&index, index.stack(StackId(1)));
    assert_eq!(frames.len(), 1, "{frames:?}");
    let f = &frames[0];
    assert_eq!(f.function.as_deref(), Some("make_block"));
    assert!(
        f.file.as_deref().is_some_and(|p| p.ends_with("symtest.c")),
        "{f:?}"
    );
    assert!(matches!(f.line, Some(4..=5)), "{f:?}");
    assert_eq!(f.module.as_deref(), exe.to_str());
    assert!(!f.inlined && !f.binary_changed);

    let mut saw_inlined = false;
    for id in 2..=stacks.len() as u64 {
        let frames = sym.symbolize_stack(&index, index.stack(StackId(id)));
        let callers = &frames[1..];
        if callers.len() == 2 {
            assert_eq!(
                callers[0].function.as_deref(),
                Some("helper"),
                "{callers:?}"
            );
            assert!(callers[0].inlined);
            assert!(matches!(callers[0].line, Some(10..=13)), "{callers:?}");
            assert_eq!(callers[1].function.as_deref(), Some("outer"));
            assert!(!callers[1].inlined);
            assert!(matches!(callers[1].line, Some(15..=17)), "{callers:?}");
            saw_inlined = true;
        }
    }
    assert!(
        saw_inlined,
        "no address of `outer` symbolized to the inlined `helper`"
    );
}

#[test]
fn symbol_table_names_functions_without_dwarf() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path());
    let st = Command::new("strip")
        .arg("--strip-debug")
        .arg(&exe)
        .status()
        .expect("strip");
    assert!(st.success());
    let (make_block, _) = function(&exe, "make_block");
    let index = index_for(dir.path(), &exe, b"", &[vec![BIAS + make_block + 2]]);
    let frames = Symbolizer::new().symbolize_stack(&index, index.stack(StackId(1)));
    assert_eq!(frames[0].function.as_deref(), Some("make_block"));
    assert_eq!(frames[0].file, None);
}

#[test]
fn changed_binary_is_not_symbolized() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path());
    let (make_block, _) = function(&exe, "make_block");
    let index = index_for(
        dir.path(),
        &exe,
        &[0xde, 0xad, 0xbe, 0xef],
        &[vec![BIAS + make_block]],
    );
    let frames = Symbolizer::new().symbolize_stack(&index, index.stack(StackId(1)));
    assert_eq!(frames.len(), 1);
    assert!(frames[0].binary_changed);
    assert_eq!(frames[0].function, None);
}

#[test]
fn demangles_rust_and_cpp() {
    use memscope_analyzer::symbols::demangle::demangle;
    assert_eq!(
        demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE"),
        "core::ptr::drop_in_place"
    );
    assert_eq!(demangle("_RNvCs1234_7mycrate4main"), "mycrate::main");
    assert_eq!(demangle("_Z3fooi"), "foo(int)");
    assert_eq!(demangle("malloc"), "malloc");
}

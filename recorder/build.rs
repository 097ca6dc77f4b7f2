//! Says which parts of the recorder core this target builds. `stack_capture`: the
//! platform crate captures stacks and lists the loaded modules here (Linux on x86-64, the
//! condition under which platform/src/lib.rs exports `modules` and `unwind`); then the
//! recorder captures stacks into the thread's slot, memoizes walks and writes module
//! records. Elsewhere (macOS and Windows until their front ends, issues 17 and 18, bring
//! stack capture and module lists) events carry no stacks and the rest is the same.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(stack_capture)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux" && arch == "x86_64" {
        println!("cargo::rustc-cfg=stack_capture");
    }
}

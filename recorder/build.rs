//! Says which parts of the recorder core this target builds.
//!
//! - `stack_capture`: the platform crate captures stacks and lists the loaded modules
//!   here (Linux and Windows on x86-64, macOS on arm64 and x86-64: the conditions under
//!   which platform/src/lib.rs exports `modules` and `unwind`); then the recorder
//!   captures stacks into the thread's slot, memoizes walks (where the platform does)
//!   and writes module records. Elsewhere events carry no stacks and the rest is the
//!   same.
//! - `leak_check`: the platform also reads the process's memory map and stops the other
//!   threads (Linux on x86-64): then the writer keeps the live blocks and runs the
//!   reachability check at exit.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(stack_capture)");
    println!("cargo::rustc-check-cfg=cfg(leak_check)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if ((os == "linux" || os == "windows") && arch == "x86_64") || os == "macos" {
        println!("cargo::rustc-cfg=stack_capture");
    }
    if os == "linux" && arch == "x86_64" {
        println!("cargo::rustc-cfg=leak_check");
    }
}

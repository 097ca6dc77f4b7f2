//! Where things are: the workspace, the cargo target folder, the release artifacts the
//! tests run (`memscope`, `libmemscope.so`), the fixtures' sources and outputs, and the
//! system programs some tests trace.
//!
//! The tests use the release build of the CLI and of the preload library, never a build
//! of their own: a missing artifact is a panic that says to run `cargo build --release`.

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent folder")
        .to_path_buf()
}

/// The cargo target folder: `$CARGO_TARGET_DIR` if set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

fn release_artifact(name: &str) -> PathBuf {
    let path = target_dir().join("release").join(name);
    if !path.is_file() {
        panic!(
            "{} is missing: run `cargo build --release` in {} first \
             (the integration tests use the release build of the CLI and the preload library)",
            path.display(),
            workspace_root().display()
        );
    }
    path
}

/// `target/release/memscope`, or a panic telling to build it.
pub fn memscope_bin() -> PathBuf {
    release_artifact("memscope")
}

/// `target/release/libmemscope.so` (absolute), or a panic telling to build it.
pub fn preload_lib() -> PathBuf {
    release_artifact("libmemscope.so")
}

/// The folder of the tests' C/C++/Rust fixture sources.
pub fn fixtures_src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Where compiled fixtures go: `target/fixtures/`.
pub fn fixtures_out_dir() -> PathBuf {
    target_dir().join("fixtures")
}

/// Debian's python3, not a version-manager shim (a shell script that would be traced
/// instead of the interpreter).
pub fn python3() -> PathBuf {
    let system = Path::new("/usr/bin/python3");
    if system.is_file() {
        system.to_path_buf()
    } else {
        which("python3").expect("python3 is not installed (`bash .ci/run` installs it)")
    }
}

/// Finds `name` in `$PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

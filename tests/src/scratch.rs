//! Fresh temporary folders for what a run leaves behind (traces, valgrind's log), named
//! for what they hold so that one left over after a crash says where it came from. Each
//! is deleted when its [`TempDir`] is dropped.

use tempfile::TempDir;

fn fresh(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary folder {prefix}*: {e}"))
}

/// A folder for the traces of one traced run (`memscope-test-*`).
pub(crate) fn trace_dir() -> TempDir {
    fresh("memscope-test-")
}

/// A folder for the log of one valgrind run (`memscope-vg-*`).
pub(crate) fn valgrind_log_dir() -> TempDir {
    fresh("memscope-vg-")
}

//! Compiling a test program, cached: `compiler flags... sources... libs... -o
//! target/fixtures/<output>` runs only when the output is missing, older than a source,
//! or was built with another command line (kept beside it in `<output>.flags`).
//!
//! Tests run in threads of one process, so compilations are serialised by a lock, and
//! each builds into a temporary name and renames: a test that runs a fixture never sees
//! a half-written file. Two tests that build the same output must pass the same command
//! line, or each would rebuild what the other is running.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::paths::{fixtures_out_dir, fixtures_src_dir};

/// Serialises compilation within the test process (tests run in threads).
static COMPILE_LOCK: Mutex<()> = Mutex::new(());

/// How to build one output: sources, compiler and flags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CompileSpec<'a> {
    /// Output file name in `target/fixtures/`.
    pub output: &'a str,
    /// Source files, relative to `tests/fixtures/` (or absolute).
    pub sources: &'a [&'a str],
    pub compiler: &'a str,
    /// Flags before the sources.
    pub flags: &'a [&'a str],
    /// Flags after the sources (libraries).
    pub libs: &'a [&'a str],
}

impl CompileSpec<'_> {
    /// The command line, as recorded in the `.flags` file.
    fn command_line(&self) -> String {
        format!(
            "{} {} {} {}",
            self.compiler,
            self.flags.join(" "),
            self.sources.join(" "),
            self.libs.join(" ")
        )
    }
}

/// Builds `spec` unless its output is fresh; returns the output's absolute path.
pub(crate) fn compile_cached(spec: CompileSpec<'_>) -> PathBuf {
    let CompileSpec {
        output,
        compiler,
        flags,
        libs,
        ..
    } = spec;
    let _lock = COMPILE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = fixtures_out_dir();
    fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
    let out = out_dir.join(output);
    let flags_file = out_dir.join(format!("{output}.flags"));
    let paths: Vec<PathBuf> = spec
        .sources
        .iter()
        .map(|s| fixtures_src_dir().join(s))
        .collect();
    let command_line = spec.command_line();
    if is_fresh(&out, &paths)
        && fs::read_to_string(&flags_file).ok().as_deref() == Some(command_line.as_str())
    {
        return out;
    }
    let tmp = out_dir.join(format!(".{output}.{}.tmp", std::process::id()));
    let result = Command::new(compiler)
        .args(flags)
        .args(&paths)
        .args(libs)
        .arg("-o")
        .arg(&tmp)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {compiler} to build fixture {output}: {e} (install gcc and g++, e.g. with `bash .ci/run`)")
        });
    if !result.status.success() {
        panic!(
            "building fixture {output} failed: {command_line}\n{}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    fs::rename(&tmp, &out)
        .unwrap_or_else(|e| panic!("cannot move {} to {}: {e}", tmp.display(), out.display()));
    fs::write(&flags_file, &command_line).expect("write fixture flags file");
    out
}

/// Whether `output` exists and is at least as new as every source.
fn is_fresh(output: &Path, sources: &[PathBuf]) -> bool {
    let Ok(out_time) = fs::metadata(output).and_then(|m| m.modified()) else {
        return false;
    };
    sources
        .iter()
        .all(|s| match fs::metadata(s).and_then(|m| m.modified()) {
            Ok(t) => t <= out_time,
            Err(_) => false,
        })
}

/// Writes `text` to `path` unless the file holds it already, whole under another name and
/// then renamed: a test that builds from `path` while another test writes it never reads
/// a half-written file, and an unchanged file keeps its time (so its build stays cached).
pub fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).ok().as_deref() == Some(text) {
        return;
    }
    let dir = path
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent folder", path.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .unwrap_or_else(|e| panic!("cannot create a temporary file in {}: {e}", dir.display()));
    tmp.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.path().display()));
    tmp.persist(path)
        .unwrap_or_else(|e| panic!("cannot move {}: {e}", path.display()));
}

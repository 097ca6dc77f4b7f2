//! Output files checked before the work that fills them: `memscope run` checks its
//! `--report`, the gate's `--sarif`, `--junit` and `--write-baseline` before the program
//! starts, `memscope check` before it analyzes anything, so that a path that cannot be
//! written fails at once with exit 2 and one line, instead of after a long run with the
//! result lost (and, for `run`, exit 0).
//!
//! The check opens the file for writing without truncating it; a file that did not exist
//! is removed again, so that nothing is left behind when the run fails later.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::Path;

use crate::error::CliError;

/// Fails with `what: PATH: cannot be written: REASON` unless `path` can be opened for
/// writing.
pub fn check_writable(what: &str, path: &Path) -> Result<(), CliError> {
    let existed = path.symlink_metadata().is_ok();
    let opened = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path);
    match opened {
        Ok(_) => {
            if !existed {
                // Best effort: an empty file left behind is harmless.
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        }
        Err(e) => Err(CliError::Usage(format!(
            "{what} {}: cannot be written: {}",
            path.display(),
            reason(&e)
        ))),
    }
}

/// The I/O error in words, without Rust's "(os error N)" suffix.
fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "no such directory".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(cut) => text[..cut].to_string(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_is_refused_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("nope").join("r.txt");
        let err = check_writable("--report", &bad).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "--report {}: cannot be written: no such directory",
                bad.display()
            )
        );
        let good = dir.path().join("r.txt");
        check_writable("--report", &good).unwrap();
        assert!(!good.exists(), "the probe leaves no file behind");
        std::fs::write(&good, b"old").unwrap();
        check_writable("--report", &good).unwrap();
        assert_eq!(std::fs::read(&good).unwrap(), b"old", "not truncated");
    }
}

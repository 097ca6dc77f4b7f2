//! Valgrind's memcheck, the oracle for allocation counts: running a program under it
//! ([`Run::valgrind`]) and parsing the heap summary of its log ([`ValgrindCounts`]).

use std::fs;
use std::path::PathBuf;

use crate::paths::which;
use crate::process::{run_with_timeout, Output};
use crate::run::Run;
use crate::scratch::valgrind_log_dir;

/// Memcheck's `HEAP SUMMARY`: "in use at exit: B bytes in N blocks" and
/// "total heap usage: N allocs, M frees, B bytes allocated".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValgrindCounts {
    pub allocs: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub live_blocks: u64,
    pub live_bytes: u64,
}

impl ValgrindCounts {
    /// Parses a memcheck log (the last summary in it, if several).
    pub fn parse(log: &str) -> Option<ValgrindCounts> {
        let mut in_use = None;
        let mut total = None;
        for line in log.lines() {
            if let Some(rest) = after(line, "in use at exit:") {
                // "10,142 bytes in 5 blocks"
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.len() >= 5 && words[1] == "bytes" && words[2] == "in" {
                    in_use = Some((number(words[0])?, number(words[3])?));
                }
            } else if let Some(rest) = after(line, "total heap usage:") {
                // "18 allocs, 13 frees, 31,213 bytes allocated"
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.len() >= 6
                    && words[1].starts_with("allocs")
                    && words[3].starts_with("frees")
                {
                    total = Some((number(words[0])?, number(words[2])?, number(words[4])?));
                }
            }
        }
        let (live_bytes, live_blocks) = in_use?;
        let (allocs, frees, bytes_allocated) = total?;
        Some(ValgrindCounts {
            allocs,
            frees,
            bytes_allocated,
            live_blocks,
            live_bytes,
        })
    }
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

/// "1,535,638" -> 1535638.
fn number(s: &str) -> Option<u64> {
    let digits: String = s.chars().filter(|c| *c != ',').collect();
    digits.parse().ok()
}

/// The valgrind executable, or a panic saying it is needed.
pub(crate) fn valgrind_path() -> PathBuf {
    which("valgrind").unwrap_or_else(|| {
        panic!("valgrind is not installed: it is the oracle of these tests (`bash .ci/run` installs it)")
    })
}

impl Run {
    /// Runs the program under valgrind's memcheck (no leak check, no libc or
    /// libstdc++ freeres so that what is live at exit matches a native run)
    /// and parses its heap summary. The valgrind log goes to a file, so the
    /// program's stderr stays its own.
    pub fn valgrind(&self) -> (Output, ValgrindCounts) {
        let valgrind = valgrind_path();
        let dir = valgrind_log_dir();
        let log = dir.path().join("valgrind.log");
        let prefix = vec![
            "--tool=memcheck".to_string(),
            "--leak-check=no".to_string(),
            "--run-libc-freeres=no".to_string(),
            "--run-cxx-freeres=no".to_string(),
            format!("--log-file={}", log.display()),
        ];
        let cmd = self.command(&valgrind, &prefix);
        let output = run_with_timeout(cmd, self.timeout, &format!("(valgrind) {}", self.display()));
        let text = fs::read_to_string(&log).unwrap_or_else(|e| {
            panic!(
                "no valgrind log at {}: {e}; {}",
                log.display(),
                output.describe()
            )
        });
        let counts = ValgrindCounts::parse(&text).unwrap_or_else(|| {
            panic!(
                "cannot find the heap summary in valgrind's log of `{}`:\n{text}",
                self.display()
            )
        });
        (output, counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valgrind_summary_with_commas() {
        let log = "\
==2510== HEAP SUMMARY:
==2510==     in use at exit: 10,142 bytes in 5 blocks
==2510==   total heap usage: 18 allocs, 13 frees, 31,213 bytes allocated
==2510== ";
        assert_eq!(
            ValgrindCounts::parse(log),
            Some(ValgrindCounts {
                allocs: 18,
                frees: 13,
                bytes_allocated: 31213,
                live_blocks: 5,
                live_bytes: 10142
            })
        );
    }

    #[test]
    fn parses_valgrind_summary_with_one_alloc() {
        // valgrind still writes "allocs"/"frees" for 1, but be tolerant.
        let log = "==1==     in use at exit: 0 bytes in 0 blocks\n==1==   total heap usage: 1 allocs, 1 frees, 1,024 bytes allocated\n";
        let c = ValgrindCounts::parse(log).unwrap();
        assert_eq!(
            (
                c.allocs,
                c.frees,
                c.bytes_allocated,
                c.live_blocks,
                c.live_bytes
            ),
            (1, 1, 1024, 0, 0)
        );
    }

    #[test]
    fn missing_summary_is_none() {
        assert_eq!(
            ValgrindCounts::parse("==1== Memcheck, a memory error detector\n"),
            None
        );
    }
}

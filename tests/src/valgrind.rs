//! Valgrind's memcheck, the oracle for allocation counts and leak kinds: running a
//! program under it ([`Run::valgrind`], [`Run::valgrind_leaks`], both through one
//! [`Run::memcheck`]) and parsing its log: the heap summary ([`ValgrindCounts`]) and,
//! with the leak check, the leak summary ([`ValgrindLeaks`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use crate::report::{LeakKinds, Live};

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

/// Blocks and bytes of one line of memcheck's leak summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlocksBytes {
    pub blocks: u64,
    pub bytes: u64,
}

impl From<BlocksBytes> for Live {
    fn from(b: BlocksBytes) -> Live {
        Live {
            blocks: b.blocks,
            bytes: b.bytes,
        }
    }
}

/// Memcheck's `LEAK SUMMARY` (valgrind 3.19, `--leak-check=full`):
///
/// ```text
/// ==1== LEAK SUMMARY:
/// ==1==    definitely lost: 841 bytes in 2 blocks
/// ==1==    indirectly lost: 256 bytes in 4 blocks
/// ==1==      possibly lost: 0 bytes in 0 blocks
/// ==1==    still reachable: 4,736 bytes in 11 blocks
/// ==1==                       of which reachable via heuristic:
/// ==1==                         stdstring          : 125 bytes in 1 blocks
/// ==1==         suppressed: 0 bytes in 0 blocks
/// ```
///
/// or, when nothing is live at exit, "All heap blocks were freed -- no leaks are
/// possible" (every kind 0). Blocks counted in `suppressed` are in none of the four kinds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValgrindLeaks {
    pub definitely_lost: BlocksBytes,
    pub indirectly_lost: BlocksBytes,
    pub possibly_lost: BlocksBytes,
    pub still_reachable: BlocksBytes,
    pub suppressed: BlocksBytes,
    /// "of which reachable via heuristic": the part of `still_reachable` kept only by an
    /// interior pointer that a heuristic accepted, by heuristic name (`stdstring`,
    /// `length64`, `newarray`, `multipleinheritance`); empty when the line is absent.
    pub via_heuristic: BTreeMap<String, BlocksBytes>,
}

impl ValgrindLeaks {
    /// Parses a memcheck log: its last leak summary, or "All heap blocks were freed" as
    /// zeros; `None` when the log has neither (no leak check ran, or the process died
    /// before it could).
    pub fn parse(log: &str) -> Option<ValgrindLeaks> {
        let mut found = None;
        let mut current: Option<ValgrindLeaks> = None;
        let mut in_heuristics = false;
        for line in log.lines() {
            // Drop the "==pid== " prefix.
            let body = match line.strip_prefix("==") {
                Some(rest) => rest.split_once("==").map_or(rest, |(_, b)| b),
                None => line,
            }
            .trim();
            if body.starts_with("All heap blocks were freed") {
                found = Some(ValgrindLeaks::default());
                current = None;
                continue;
            }
            if body == "LEAK SUMMARY:" {
                current = Some(ValgrindLeaks::default());
                in_heuristics = false;
                continue;
            }
            let Some(summary) = current.as_mut() else {
                continue;
            };
            if body.starts_with("of which reachable via heuristic") {
                in_heuristics = true;
                continue;
            }
            let Some((label, counts)) = body.split_once(':') else {
                continue;
            };
            let Some(counts) = bytes_in_blocks(counts) else {
                continue;
            };
            let label = label.trim();
            match label {
                "definitely lost" => summary.definitely_lost = counts,
                "indirectly lost" => summary.indirectly_lost = counts,
                "possibly lost" => summary.possibly_lost = counts,
                "still reachable" => summary.still_reachable = counts,
                "suppressed" => {
                    summary.suppressed = counts;
                    // The last line of a summary.
                    found = current.take();
                    in_heuristics = false;
                }
                name if in_heuristics => {
                    summary.via_heuristic.insert(name.to_string(), counts);
                }
                _ => {}
            }
        }
        found
    }

    /// The four kinds as the report writes them (`summary.leak_kinds`).
    pub fn kinds(&self) -> LeakKinds {
        LeakKinds {
            definitely_lost: self.definitely_lost.into(),
            indirectly_lost: self.indirectly_lost.into(),
            possibly_lost: self.possibly_lost.into(),
            still_reachable: self.still_reachable.into(),
        }
    }

    /// The counts reachable via heuristic `name` (zeros when valgrind names none).
    pub fn heuristic(&self, name: &str) -> BlocksBytes {
        self.via_heuristic.get(name).copied().unwrap_or_default()
    }
}

/// " 4,736 bytes in 11 blocks" (also "1 blocks").
fn bytes_in_blocks(s: &str) -> Option<BlocksBytes> {
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.len() == 5 && words[1] == "bytes" && words[2] == "in" && words[4].starts_with("block")
    {
        Some(BlocksBytes {
            bytes: number(words[0])?,
            blocks: number(words[3])?,
        })
    } else {
        None
    }
}

/// Whether memcheck runs its leak check when the program ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakCheck {
    /// `--leak-check=no`: the heap summary only.
    No,
    /// `--leak-check=full --show-leak-kinds=all`: also every leak kind's blocks, listed
    /// by allocation stack, and the leak summary.
    Full,
}

/// The valgrind executable, or a panic saying it is needed.
pub(crate) fn valgrind_path() -> PathBuf {
    which("valgrind").unwrap_or_else(|| {
        panic!("valgrind is not installed: it is the oracle of these tests (`bash .ci/run` installs it)")
    })
}

impl Run {
    /// Runs the program under valgrind's memcheck, no libc or libstdc++ freeres so that
    /// what is live at exit matches a native run, with or without the leak check; returns
    /// the program's output and memcheck's log. The log goes to a file, so the program's
    /// stderr stays its own. The one way these tests run valgrind.
    pub fn memcheck(&self, leak_check: LeakCheck) -> (Output, String) {
        let valgrind = valgrind_path();
        let dir = valgrind_log_dir();
        let log = dir.path().join("valgrind.log");
        let mut prefix = vec!["--tool=memcheck".to_string()];
        match leak_check {
            LeakCheck::No => prefix.push("--leak-check=no".to_string()),
            LeakCheck::Full => {
                prefix.push("--leak-check=full".to_string());
                prefix.push("--show-leak-kinds=all".to_string());
            }
        }
        prefix.extend([
            "--run-libc-freeres=no".to_string(),
            "--run-cxx-freeres=no".to_string(),
            format!("--log-file={}", log.display()),
        ]);
        let cmd = self.command(&valgrind, &prefix);
        let output = run_with_timeout(cmd, self.timeout, &format!("(valgrind) {}", self.display()));
        let text = fs::read_to_string(&log).unwrap_or_else(|e| {
            panic!(
                "no valgrind log at {}: {e}; {}",
                log.display(),
                output.describe()
            )
        });
        (output, text)
    }

    /// [`Run::memcheck`] without the leak check, and its heap summary.
    pub fn valgrind(&self) -> (Output, ValgrindCounts) {
        let (output, text) = self.memcheck(LeakCheck::No);
        (output, self.heap_summary(&text))
    }

    /// [`Run::memcheck`] with the leak check: the heap summary and the leak summary.
    pub fn valgrind_leaks(&self) -> (Output, ValgrindCounts, ValgrindLeaks) {
        let (output, text) = self.memcheck(LeakCheck::Full);
        let counts = self.heap_summary(&text);
        let leaks = self.leak_summary(&text);
        (output, counts, leaks)
    }

    /// The heap summary of a memcheck log of this run, or a panic showing the log.
    pub(crate) fn heap_summary(&self, log: &str) -> ValgrindCounts {
        ValgrindCounts::parse(log).unwrap_or_else(|| {
            panic!(
                "cannot find the heap summary in valgrind's log of `{}`:\n{log}",
                self.display()
            )
        })
    }

    /// The leak summary of a memcheck log of this run, or a panic showing the log.
    pub(crate) fn leak_summary(&self, log: &str) -> ValgrindLeaks {
        ValgrindLeaks::parse(log).unwrap_or_else(|| {
            panic!(
                "cannot find the leak summary in valgrind's log of `{}`:\n{log}",
                self.display()
            )
        })
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
    fn parses_leak_summary_with_heuristics_and_separators() {
        let log = "\
==23487== LEAK SUMMARY:
==23487==    definitely lost: 841 bytes in 2 blocks
==23487==    indirectly lost: 256 bytes in 4 blocks
==23487==      possibly lost: 300 bytes in 1 blocks
==23487==    still reachable: 1,234,567 bytes in 1,011 blocks
==23487==                       of which reachable via heuristic:
==23487==                         stdstring          : 125 bytes in 1 blocks
==23487==                         multipleinheritance: 32 bytes in 1 blocks
==23487==         suppressed: 7 bytes in 1 blocks
==23487== ";
        let l = ValgrindLeaks::parse(log).unwrap();
        let bb = |bytes, blocks| BlocksBytes { blocks, bytes };
        assert_eq!(l.definitely_lost, bb(841, 2));
        assert_eq!(l.indirectly_lost, bb(256, 4));
        assert_eq!(l.possibly_lost, bb(300, 1));
        assert_eq!(l.still_reachable, bb(1_234_567, 1011));
        assert_eq!(l.suppressed, bb(7, 1));
        assert_eq!(l.heuristic("stdstring"), bb(125, 1));
        assert_eq!(l.heuristic("multipleinheritance"), bb(32, 1));
        assert_eq!(l.heuristic("newarray"), bb(0, 0));
        assert_eq!(l.kinds().still_reachable.bytes, 1_234_567);
    }

    #[test]
    fn all_freed_is_zero_leaks() {
        let log = "==9== HEAP SUMMARY:\n==9==     in use at exit: 0 bytes in 0 blocks\n==9==   total heap usage: 1 allocs, 1 frees, 10 bytes allocated\n==9== \n==9== All heap blocks were freed -- no leaks are possible\n";
        assert_eq!(ValgrindLeaks::parse(log), Some(ValgrindLeaks::default()));
    }

    #[test]
    fn no_leak_check_is_none() {
        let log = "==2510== HEAP SUMMARY:\n==2510==     in use at exit: 10,142 bytes in 5 blocks\n==2510==   total heap usage: 18 allocs, 13 frees, 31,213 bytes allocated\n";
        assert_eq!(ValgrindLeaks::parse(log), None);
    }

    #[test]
    fn missing_summary_is_none() {
        assert_eq!(
            ValgrindCounts::parse("==1== Memcheck, a memory error detector\n"),
            None
        );
    }
}

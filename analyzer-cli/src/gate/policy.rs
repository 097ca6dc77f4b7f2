//! The gate's policy: what makes it fail. Built from the defaults, then `memscope.toml`,
//! then the command line (each overriding the one before).

use std::collections::BTreeSet;

use memscope_report::LeakKindDoc;

use super::input::Detector;

/// The leak kinds that fail the gate unless `--fail-on-leak-kinds` says otherwise
/// (valgrind's default for `--errors-for-leak-kinds`).
pub const DEFAULT_LEAK_KINDS: [LeakKindDoc; 2] =
    [LeakKindDoc::DefinitelyLost, LeakKindDoc::IndirectlyLost];

/// What fails the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The program's leaked bytes allowed in total (new or grown ones, with a baseline).
    pub max_leaked_bytes: u64,
    /// The program's leaked blocks allowed in total.
    pub max_leaked_blocks: u64,
    /// Bytes one leak group (one allocation stack) may hold, whatever the total.
    pub max_site_bytes: Option<u64>,
    /// Blocks one leak group may hold.
    pub max_site_blocks: Option<u64>,
    /// Detectors whose findings fail the gate.
    pub fail_on: BTreeSet<Detector>,
    /// Leak kinds whose groups count as leaks (traces with a leak check; without one
    /// every live block counts).
    pub fail_on_leak_kinds: BTreeSet<LeakKindDoc>,
    /// Count runtime-internal blocks (libc, ld.so, runtimes) as leaks too.
    pub include_runtime: bool,
    /// A non-zero exit status or a signal of the traced program fails the gate.
    pub fail_on_program_error: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_leaked_bytes: 0,
            max_leaked_blocks: 0,
            max_site_bytes: None,
            max_site_blocks: None,
            fail_on: Detector::ERROR_CLASS.into_iter().collect(),
            fail_on_leak_kinds: DEFAULT_LEAK_KINDS.into_iter().collect(),
            include_runtime: false,
            fail_on_program_error: false,
        }
    }
}

/// Parses a `--fail-on` list: detector names; `none` for no detector; `all` for every
/// known one. Unknown names are an error.
pub fn parse_fail_on<S: AsRef<str>>(names: &[S]) -> Result<BTreeSet<Detector>, String> {
    let mut set = BTreeSet::new();
    for name in names
        .iter()
        .map(|s| s.as_ref().trim())
        .filter(|s| !s.is_empty())
    {
        match name {
            "none" => {}
            "all" => set.extend(Detector::KNOWN.into_iter().filter(|d| *d != Detector::Leak)),
            _ => match Detector::parse(name) {
                Detector::Other(_) | Detector::Leak => {
                    return Err(format!(
                        "--fail-on: unknown detector {name:?} (known: {}, or all, none; leaks are governed by --max-leaked-bytes/--max-leaked-blocks)",
                        Detector::KNOWN[1..].iter().map(Detector::name).collect::<Vec<_>>().join(", ")
                    ))
                }
                d => {
                    set.insert(d);
                }
            },
        }
    }
    Ok(set)
}

/// Parses a `--fail-on-leak-kinds` list, with valgrind's `--errors-for-leak-kinds`
/// words: `definite`, `indirect`, `possible`, `reachable`; `all`; `none`. Unknown words
/// are an error.
pub fn parse_leak_kinds<S: AsRef<str>>(words: &[S]) -> Result<BTreeSet<LeakKindDoc>, String> {
    let mut set = BTreeSet::new();
    for word in words
        .iter()
        .map(|s| s.as_ref().trim())
        .filter(|s| !s.is_empty())
    {
        match word {
            "none" => {}
            "all" => set.extend(LeakKindDoc::ALL),
            "definite" => {
                set.insert(LeakKindDoc::DefinitelyLost);
            }
            "indirect" => {
                set.insert(LeakKindDoc::IndirectlyLost);
            }
            "possible" => {
                set.insert(LeakKindDoc::PossiblyLost);
            }
            "reachable" => {
                set.insert(LeakKindDoc::StillReachable);
            }
            _ => {
                return Err(format!(
                    "--fail-on-leak-kinds: unknown leak kind {word:?} (known: definite, indirect, possible, reachable, or all, none)"
                ))
            }
        }
    }
    Ok(set)
}

/// The word `--fail-on-leak-kinds` takes for a kind.
pub fn leak_kind_word(kind: LeakKindDoc) -> &'static str {
    match kind {
        LeakKindDoc::DefinitelyLost => "definite",
        LeakKindDoc::IndirectlyLost => "indirect",
        LeakKindDoc::PossiblyLost => "possible",
        LeakKindDoc::StillReachable => "reachable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fails_on_error_class_only() {
        let p = Policy::default();
        // Every error-class detector (the mismatch kinds included), no other.
        assert_eq!(
            p.fail_on,
            Detector::ERROR_CLASS.into_iter().collect::<BTreeSet<_>>()
        );
        for d in [
            Detector::DoubleFree,
            Detector::InvalidFree,
            Detector::ReallocOfFreed,
            Detector::MismatchedFree,
        ] {
            assert!(p.fail_on.contains(&d), "{d:?}");
        }
        for d in [Detector::Leak, Detector::Growth, Detector::FishySize] {
            assert!(!p.fail_on.contains(&d), "{d:?}");
        }
        assert_eq!((p.max_leaked_bytes, p.max_leaked_blocks), (0, 0));
    }

    #[test]
    fn fail_on_lists() {
        assert_eq!(parse_fail_on(&["growth", "double-free"]).unwrap().len(), 2);
        assert!(parse_fail_on(&["none"]).unwrap().is_empty());
        // `all`: every known detector but leaks (governed by the budget).
        let all = parse_fail_on(&["all"]).unwrap();
        assert_eq!(all.len(), Detector::KNOWN.len() - 1);
        assert!(!all.contains(&Detector::Leak));
        assert!(all.contains(&Detector::Growth) && all.contains(&Detector::FishySize));
        assert!(parse_fail_on(&["double_free"]).is_err());
        assert!(parse_fail_on(&["leak"]).is_err());
    }

    #[test]
    fn leak_kind_lists() {
        let p = Policy::default();
        assert_eq!(
            p.fail_on_leak_kinds.into_iter().collect::<Vec<_>>(),
            DEFAULT_LEAK_KINDS
        );
        assert_eq!(
            parse_leak_kinds(&["possible", " reachable"])
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            [LeakKindDoc::PossiblyLost, LeakKindDoc::StillReachable]
        );
        assert_eq!(parse_leak_kinds(&["all"]).unwrap().len(), 4);
        assert!(parse_leak_kinds(&["none"]).unwrap().is_empty());
        assert!(parse_leak_kinds(&["definitely_lost"]).is_err());
    }
}

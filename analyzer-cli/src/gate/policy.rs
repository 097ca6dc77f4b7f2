//! The gate's policy: what makes it fail. Built from the defaults, then `memscope.toml`,
//! then the command line (each overriding the one before).
//!
//! The leak budget ([`LeakBudget::resolve`]): with no leak limit set anywhere (neither
//! total nor per-site, neither option nor config key) any leak fails, as both totals are
//! 0; once one limit is set, a total that is not set is [`Limit::Unlimited`], so
//! `--max-leaked-bytes 1000` alone allows 1000 bytes in any number of blocks.

use std::collections::BTreeSet;

use memscope_report::LeakKindDoc;

use super::input::Detector;

/// The leak kinds that fail the gate unless `--fail-on-leak-kinds` says otherwise
/// (valgrind's default for `--errors-for-leak-kinds`).
pub const DEFAULT_LEAK_KINDS: [LeakKindDoc; 2] =
    [LeakKindDoc::DefinitelyLost, LeakKindDoc::IndirectlyLost];

/// A ceiling on leaked bytes or blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many.
    AtMost(u64),
    /// No ceiling (not set, while another limit is).
    Unlimited,
}

impl Limit {
    /// Whether `n` is over the limit.
    pub fn exceeded_by(self, n: u64) -> bool {
        match self {
            Limit::AtMost(max) => n > max,
            Limit::Unlimited => false,
        }
    }

    /// `1000 bytes`, `1 block`, `any number of blocks`: `unit` is the singular.
    pub fn words(self, unit: &str) -> String {
        match self {
            Limit::AtMost(n) => format!("{n} {unit}{}", if n == 1 { "" } else { "s" }),
            Limit::Unlimited => format!("any number of {unit}s"),
        }
    }
}

/// The limits a user may set on leaks, each from the command line or else the config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeakLimits {
    pub total_bytes: Option<u64>,
    pub total_blocks: Option<u64>,
    pub site_bytes: Option<u64>,
    pub site_blocks: Option<u64>,
}

/// The totals the leaks of a process may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakBudget {
    pub bytes: Limit,
    pub blocks: Limit,
}

impl LeakBudget {
    /// No leak at all: what applies when no limit is set.
    pub const NONE: LeakBudget = LeakBudget {
        bytes: Limit::AtMost(0),
        blocks: Limit::AtMost(0),
    };

    /// The budget the set limits mean (see the module doc): none set, no leak allowed;
    /// any set, the totals not set are unlimited.
    pub fn resolve(limits: LeakLimits) -> LeakBudget {
        let any_set = limits.total_bytes.is_some()
            || limits.total_blocks.is_some()
            || limits.site_bytes.is_some()
            || limits.site_blocks.is_some();
        if !any_set {
            return LeakBudget::NONE;
        }
        let limit = |v: Option<u64>| v.map_or(Limit::Unlimited, Limit::AtMost);
        LeakBudget {
            bytes: limit(limits.total_bytes),
            blocks: limit(limits.total_blocks),
        }
    }

    /// Whether leaks of these totals are over the budget.
    pub fn exceeded_by(self, bytes: u64, blocks: u64) -> bool {
        self.bytes.exceeded_by(bytes) || self.blocks.exceeded_by(blocks)
    }

    /// `1000 bytes, any number of blocks`.
    pub fn words(self) -> String {
        format!(
            "{}, {}",
            self.bytes.words("byte"),
            self.blocks.words("block")
        )
    }
}

/// What fails the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The program's leaked bytes allowed in total (new or grown ones, with a baseline).
    pub max_leaked_bytes: Limit,
    /// The program's leaked blocks allowed in total.
    pub max_leaked_blocks: Limit,
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

impl Policy {
    /// The total budget.
    pub fn budget(&self) -> LeakBudget {
        LeakBudget {
            bytes: self.max_leaked_bytes,
            blocks: self.max_leaked_blocks,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_leaked_bytes: LeakBudget::NONE.bytes,
            max_leaked_blocks: LeakBudget::NONE.blocks,
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
        assert_eq!(p.budget(), LeakBudget::NONE);
        assert_eq!(p.budget().words(), "0 bytes, 0 blocks");
    }

    #[test]
    fn an_unset_limit_is_unlimited_once_any_is_set() {
        let r = LeakBudget::resolve;
        assert_eq!(r(LeakLimits::default()), LeakBudget::NONE);
        assert!(r(LeakLimits::default()).exceeded_by(1, 0));
        assert!(r(LeakLimits::default()).exceeded_by(0, 1));
        let bytes = r(LeakLimits {
            total_bytes: Some(1000),
            ..Default::default()
        });
        assert_eq!(bytes.blocks, Limit::Unlimited);
        assert!(!bytes.exceeded_by(1000, 500));
        assert!(bytes.exceeded_by(1001, 1));
        assert_eq!(bytes.words(), "1000 bytes, any number of blocks");
        let blocks = r(LeakLimits {
            total_blocks: Some(1),
            ..Default::default()
        });
        assert!(!blocks.exceeded_by(1 << 40, 1));
        assert!(blocks.exceeded_by(1, 2));
        assert_eq!(blocks.words(), "any number of bytes, 1 block");
        let site = r(LeakLimits {
            site_bytes: Some(10),
            ..Default::default()
        });
        assert_eq!(
            (site.bytes, site.blocks),
            (Limit::Unlimited, Limit::Unlimited)
        );
        let both = r(LeakLimits {
            total_bytes: Some(0),
            total_blocks: Some(0),
            ..Default::default()
        });
        assert_eq!(both, LeakBudget::NONE);
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

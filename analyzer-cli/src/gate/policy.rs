//! The gate's policy: what makes it fail. Built from the defaults, then `memscope.toml`,
//! then the command line (each overriding the one before).

use std::collections::BTreeSet;

use super::input::Detector;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fails_on_error_class_only() {
        let p = Policy::default();
        assert_eq!(p.fail_on.len(), 4);
        assert!(p.fail_on.contains(&Detector::MismatchedFree));
        assert!(!p.fail_on.contains(&Detector::Growth));
        assert_eq!((p.max_leaked_bytes, p.max_leaked_blocks), (0, 0));
    }

    #[test]
    fn fail_on_lists() {
        assert_eq!(parse_fail_on(&["growth", "double-free"]).unwrap().len(), 2);
        assert!(parse_fail_on(&["none"]).unwrap().is_empty());
        assert_eq!(parse_fail_on(&["all"]).unwrap().len(), 6);
        assert!(parse_fail_on(&["double_free"]).is_err());
        assert!(parse_fail_on(&["leak"]).is_err());
    }
}

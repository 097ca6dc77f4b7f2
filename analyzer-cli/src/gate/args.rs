//! The gate's command-line options, shared by `memscope check TRACE` and `memscope run
//! --check`, and how they combine with `memscope.toml` into [`Settings`].

use std::path::{Path, PathBuf};

use clap::Args;

use super::config::{self, Config};
use super::frames::DEFAULT_FRAMES;
use super::policy::{parse_fail_on, parse_leak_kinds, LeakBudget, LeakLimits, Policy};
use super::EXIT_FAILED;

/// `memscope check TRACE... [options]`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The trace files (.msl) to check, or directories (every .msl in them): each
    /// process is judged on its own, the gate fails if any fails.
    #[arg(required = true, num_args = 1.., value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    #[command(flatten)]
    pub gate: GateArgs,
}

/// The gate's options (see docs/ci-gate.md).
#[derive(Debug, Clone, Default, Args)]
pub struct GateArgs {
    /// Leaked bytes of the program allowed in total. With no leak limit set, any leak
    /// fails; once one is set (here or in memscope.toml), an unset one is unlimited.
    #[arg(long, value_name = "N")]
    pub max_leaked_bytes: Option<u64>,
    /// Leaked blocks of the program allowed in total (unset: as --max-leaked-bytes).
    #[arg(long, value_name = "N")]
    pub max_leaked_blocks: Option<u64>,
    /// Bytes a single leak site (allocation stack) may hold.
    #[arg(long, value_name = "N")]
    pub max_site_bytes: Option<u64>,
    /// Blocks a single leak site may hold.
    #[arg(long, value_name = "N")]
    pub max_site_blocks: Option<u64>,
    /// Detectors whose findings fail the gate, comma-separated; `all` or `none`
    /// [default: double-free,invalid-free,realloc-of-freed,mismatched-free,
    /// new-delete-size-mismatch,new-delete-alignment-mismatch].
    #[arg(long, value_name = "DETECTORS", value_delimiter = ',')]
    pub fail_on: Option<Vec<String>>,
    /// Leak kinds that count as leaks, comma-separated: definite, indirect, possible,
    /// reachable; `all` or `none` [default: definite,indirect]. A trace without the
    /// tracer's leak check counts every block live at exit.
    #[arg(long, value_name = "KINDS", value_delimiter = ',')]
    pub fail_on_leak_kinds: Option<Vec<String>>,
    /// Count runtime-internal blocks (libc, ld.so, language runtimes) as leaks.
    #[arg(long)]
    pub include_runtime: bool,
    /// Fail when the traced program exits non-zero or is killed by a signal.
    #[arg(long)]
    pub fail_on_program_error: bool,
    /// LeakSanitizer-style suppression file (repeatable).
    #[arg(long = "suppressions", value_name = "FILE")]
    pub suppressions: Vec<PathBuf>,
    /// List each suppression with what it matched.
    #[arg(long)]
    pub print_suppressions: bool,
    /// Fail only on leaks and findings that are new or grew since this baseline.
    #[arg(long, value_name = "FILE", conflicts_with = "no_baseline")]
    pub baseline: Option<PathBuf>,
    /// Ignore the baseline named in memscope.toml.
    #[arg(long)]
    pub no_baseline: bool,
    /// Write a baseline of the current leaks and findings to FILE (and pass).
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Program frames per fingerprint [default: 5].
    #[arg(long, value_name = "N")]
    pub baseline_frames: Option<usize>,
    /// Write a SARIF 2.1.0 log to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Exit code when the gate fails [default: 1].
    #[arg(long, value_name = "N")]
    pub exit_code: Option<i32>,
    /// Settings file [default: memscope.toml in this directory or a parent, up to the
    /// git root].
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Do not read memscope.toml.
    #[arg(long)]
    pub no_config: bool,
}

/// Everything the gate needs to run, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub policy: Policy,
    pub suppressions: Vec<PathBuf>,
    pub print_suppressions: bool,
    pub baseline: Option<PathBuf>,
    pub write_baseline: Option<PathBuf>,
    pub frames: usize,
    pub sarif: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub exit_code: i32,
    /// The config file used, if any.
    pub config: Option<PathBuf>,
}

impl GateArgs {
    /// Whether any gate option was given (they need `run --check`).
    pub fn any_given(&self) -> bool {
        self.max_leaked_bytes.is_some()
            || self.max_leaked_blocks.is_some()
            || self.max_site_bytes.is_some()
            || self.max_site_blocks.is_some()
            || self.fail_on.is_some()
            || self.fail_on_leak_kinds.is_some()
            || self.include_runtime
            || self.fail_on_program_error
            || !self.suppressions.is_empty()
            || self.print_suppressions
            || self.baseline.is_some()
            || self.no_baseline
            || self.write_baseline.is_some()
            || self.baseline_frames.is_some()
            || self.sarif.is_some()
            || self.junit.is_some()
            || self.exit_code.is_some()
            || self.config.is_some()
            || self.no_config
    }

    /// Loads the config (named, or discovered from `cwd`) and combines it with the
    /// options; `Err` is a usage error.
    pub fn resolve(&self, cwd: &Path) -> Result<Settings, String> {
        let config = if self.no_config {
            None
        } else {
            let path = match &self.config {
                Some(p) => Some(cwd.join(p)),
                None => config::discover(cwd),
            };
            match path {
                Some(p) => {
                    let text =
                        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    Some(config::parse(&text, &p)?)
                }
                None => None,
            }
        };
        self.combine(config, cwd)
    }

    /// The options over the config's values over the defaults.
    pub fn combine(&self, config: Option<Config>, cwd: &Path) -> Result<Settings, String> {
        let (c, config_path) = match config {
            Some(c) => (c.check, Some(c.path)),
            None => (Default::default(), None),
        };
        let defaults = Policy::default();
        let fail_on = match self.fail_on.as_ref().or(c.fail_on.as_ref()) {
            Some(list) => parse_fail_on(list)?,
            None => defaults.fail_on,
        };
        let fail_on_leak_kinds = match self
            .fail_on_leak_kinds
            .as_ref()
            .or(c.fail_on_leak_kinds.as_ref())
        {
            Some(list) => parse_leak_kinds(list)?,
            None => defaults.fail_on_leak_kinds,
        };
        let limits = LeakLimits {
            total_bytes: self.max_leaked_bytes.or(c.max_leaked_bytes),
            total_blocks: self.max_leaked_blocks.or(c.max_leaked_blocks),
            site_bytes: self.max_site_bytes.or(c.max_site_bytes),
            site_blocks: self.max_site_blocks.or(c.max_site_blocks),
        };
        let budget = LeakBudget::resolve(limits);
        let policy = Policy {
            max_leaked_bytes: budget.bytes,
            max_leaked_blocks: budget.blocks,
            max_site_bytes: limits.site_bytes,
            max_site_blocks: limits.site_blocks,
            fail_on,
            fail_on_leak_kinds,
            include_runtime: self.include_runtime || c.include_runtime.unwrap_or(false),
            fail_on_program_error: self.fail_on_program_error
                || c.fail_on_program_error.unwrap_or(false),
        };
        let mut suppressions = c.suppressions;
        suppressions.extend(self.suppressions.iter().map(|p| cwd.join(p)));
        let baseline = if self.no_baseline {
            None
        } else {
            self.baseline.as_ref().map(|p| cwd.join(p)).or(c.baseline)
        };
        let frames = self
            .baseline_frames
            .or(c.baseline_frames)
            .unwrap_or(DEFAULT_FRAMES);
        if frames == 0 {
            return Err("--baseline-frames must be at least 1".into());
        }
        Ok(Settings {
            policy,
            suppressions,
            print_suppressions: self.print_suppressions,
            baseline,
            write_baseline: self.write_baseline.as_ref().map(|p| cwd.join(p)),
            frames,
            sarif: self.sarif.as_ref().map(|p| cwd.join(p)),
            junit: self.junit.as_ref().map(|p| cwd.join(p)),
            exit_code: self.exit_code.or(c.exit_code).unwrap_or(EXIT_FAILED),
            config: config_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::config::CheckConfig;
    use crate::gate::input::Detector;
    use crate::gate::policy::Limit;

    #[test]
    fn options_override_config_which_overrides_defaults() {
        let config = Config {
            path: PathBuf::from("/p/memscope.toml"),
            check: CheckConfig {
                max_leaked_bytes: Some(100),
                max_leaked_blocks: Some(3),
                fail_on: Some(vec!["growth".into()]),
                suppressions: vec![PathBuf::from("/p/a.supp")],
                baseline: Some(PathBuf::from("/p/base.json")),
                exit_code: Some(7),
                ..Default::default()
            },
        };
        let args = GateArgs {
            max_leaked_bytes: Some(5),
            suppressions: vec![PathBuf::from("b.supp")],
            ..Default::default()
        };
        let s = args.combine(Some(config.clone()), Path::new("/w")).unwrap();
        assert_eq!(s.policy.max_leaked_bytes, Limit::AtMost(5));
        assert_eq!(s.policy.max_leaked_blocks, Limit::AtMost(3));
        assert_eq!(
            s.policy.fail_on.iter().collect::<Vec<_>>(),
            vec![&Detector::Growth]
        );
        assert_eq!(
            s.suppressions,
            vec![PathBuf::from("/p/a.supp"), PathBuf::from("/w/b.supp")]
        );
        assert_eq!(s.baseline, Some(PathBuf::from("/p/base.json")));
        assert_eq!(s.exit_code, 7);
        let no_base = GateArgs {
            no_baseline: true,
            ..Default::default()
        };
        assert_eq!(
            no_base
                .combine(Some(config), Path::new("/w"))
                .unwrap()
                .baseline,
            None
        );
        let d = GateArgs::default().combine(None, Path::new("/w")).unwrap();
        assert_eq!((d.policy, d.exit_code, d.frames), (Policy::default(), 1, 5));
    }

    #[test]
    fn a_limit_from_the_config_or_the_options_makes_unset_totals_unlimited() {
        let config = |check| Config {
            path: PathBuf::from("/p/memscope.toml"),
            check,
        };
        let w = Path::new("/w");
        let bytes_in_config = config(CheckConfig {
            max_leaked_bytes: Some(1000),
            ..Default::default()
        });
        let s = GateArgs::default()
            .combine(Some(bytes_in_config.clone()), w)
            .unwrap();
        assert_eq!(
            (s.policy.max_leaked_bytes, s.policy.max_leaked_blocks),
            (Limit::AtMost(1000), Limit::Unlimited)
        );
        // The config sets the bytes, the options the blocks: both hold.
        let blocks = GateArgs {
            max_leaked_blocks: Some(2),
            ..Default::default()
        };
        let s = blocks.combine(Some(bytes_in_config), w).unwrap();
        assert_eq!(
            (s.policy.max_leaked_bytes, s.policy.max_leaked_blocks),
            (Limit::AtMost(1000), Limit::AtMost(2))
        );
        let s = blocks.combine(None, w).unwrap();
        assert_eq!(
            (s.policy.max_leaked_bytes, s.policy.max_leaked_blocks),
            (Limit::Unlimited, Limit::AtMost(2))
        );
        // A per-site limit alone: the totals are unlimited.
        let site = config(CheckConfig {
            max_site_bytes: Some(64),
            ..Default::default()
        });
        let s = GateArgs::default().combine(Some(site), w).unwrap();
        assert_eq!(
            (s.policy.max_leaked_bytes, s.policy.max_leaked_blocks),
            (Limit::Unlimited, Limit::Unlimited)
        );
        assert_eq!(s.policy.max_site_bytes, Some(64));
        // None anywhere: no leak allowed.
        let s = GateArgs::default()
            .combine(Some(config(CheckConfig::default())), w)
            .unwrap();
        assert_eq!(
            (s.policy.max_leaked_bytes, s.policy.max_leaked_blocks),
            (Limit::AtMost(0), Limit::AtMost(0))
        );
    }

    #[test]
    fn bad_fail_on_is_a_usage_error() {
        let args = GateArgs {
            fail_on: Some(vec!["nope".into()]),
            ..Default::default()
        };
        assert!(args.combine(None, Path::new("/")).is_err());
    }
}

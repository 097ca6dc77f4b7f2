//! `memscope.toml`: the project's gate settings, so that the CI step is one line.
//!
//! Found automatically: `memscope.toml` in the current directory or the nearest parent,
//! stopping at the git root (a directory holding `.git`) or the filesystem root;
//! `--config FILE` names one, `--no-config` ignores it. Everything sits in a `[check]`
//! table; paths are relative to the file's directory; unknown keys are an error (a typo
//! must not silently weaken the gate).
//!
//! ```toml
//! [check]
//! max-leaked-bytes = 0
//! max-leaked-blocks = 0
//! max-site-bytes = 4096
//! fail-on = ["double-free", "invalid-free", "realloc-of-freed", "mismatched-free", ...]
//! fail-on-leak-kinds = ["definite", "indirect"]
//! include-runtime = false
//! fail-on-program-error = true
//! suppressions = ["memscope.supp"]
//! baseline = "memscope-baseline.json"
//! baseline-frames = 5
//! exit-code = 1
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file name looked for.
pub const CONFIG_NAME: &str = "memscope.toml";

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub check: CheckConfig,
}

/// The `[check]` table; every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CheckConfig {
    pub max_leaked_bytes: Option<u64>,
    pub max_leaked_blocks: Option<u64>,
    pub max_site_bytes: Option<u64>,
    pub max_site_blocks: Option<u64>,
    pub fail_on: Option<Vec<String>>,
    pub fail_on_leak_kinds: Option<Vec<String>>,
    pub include_runtime: Option<bool>,
    pub fail_on_program_error: Option<bool>,
    #[serde(default)]
    pub suppressions: Vec<PathBuf>,
    pub baseline: Option<PathBuf>,
    pub baseline_frames: Option<usize>,
    pub exit_code: Option<i32>,
}

/// A loaded config with its paths made relative to the current directory's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
    pub check: CheckConfig,
}

/// The nearest `memscope.toml` from `start` upward (see the module doc).
pub fn discover(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let candidate = d.join(CONFIG_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if d.join(".git").exists() {
            return None;
        }
        dir = d.parent();
    }
    None
}

/// Parses the text of `path`; relative paths in it are resolved against its directory.
pub fn parse(text: &str, path: &Path) -> Result<Config, String> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut check = file.check;
    check.suppressions = check.suppressions.iter().map(|p| base.join(p)).collect();
    check.baseline = check.baseline.map(|p| base.join(p));
    Ok(Config {
        path: path.to_path_buf(),
        check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves_paths() {
        let text = "[check]\nmax-leaked-bytes = 100\nfail-on = [\"growth\"]\nsuppressions = [\"a.supp\"]\nbaseline = \"b.json\"\n";
        let c = parse(text, Path::new("/proj/memscope.toml")).unwrap();
        assert_eq!(c.check.max_leaked_bytes, Some(100));
        assert_eq!(c.check.fail_on, Some(vec!["growth".to_string()]));
        assert_eq!(c.check.suppressions, vec![PathBuf::from("/proj/a.supp")]);
        assert_eq!(c.check.baseline, Some(PathBuf::from("/proj/b.json")));
        assert_eq!(c.check.max_leaked_blocks, None);
        let c = parse(
            "[check]\nfail-on-leak-kinds = [\"definite\", \"possible\"]\n",
            Path::new("/p/m.toml"),
        )
        .unwrap();
        assert_eq!(
            c.check.fail_on_leak_kinds,
            Some(vec!["definite".to_string(), "possible".to_string()])
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = parse("[check]\nmax-leak-bytes = 1\n", Path::new("m.toml")).unwrap_err();
        assert!(e.contains("m.toml"), "{e}");
        assert!(parse("[chek]\n", Path::new("m.toml")).is_err());
        assert_eq!(
            parse("", Path::new("m.toml")).unwrap().check,
            CheckConfig::default()
        );
    }

    #[test]
    fn the_documented_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/memscope.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let c = parse(&text, &path).unwrap();
        // The example's `fail-on` names the six error-class detectors (the default).
        assert_eq!(c.check.fail_on.map(|f| f.len()), Some(6));
        assert_eq!(c.check.fail_on_program_error, Some(true));
        assert_eq!(c.check.exit_code, Some(1));
    }

    #[test]
    fn discovery_stops_at_git_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let sub = root.join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        assert_eq!(discover(&sub), None);
        std::fs::write(dir.path().join(CONFIG_NAME), "").unwrap();
        assert_eq!(discover(&sub), None, "above the git root is not looked at");
        std::fs::write(root.join(CONFIG_NAME), "").unwrap();
        assert_eq!(discover(&sub), Some(root.join(CONFIG_NAME)));
        std::fs::write(sub.join(CONFIG_NAME), "").unwrap();
        assert_eq!(discover(&sub), Some(sub.join(CONFIG_NAME)));
    }
}

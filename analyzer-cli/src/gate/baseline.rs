//! Baselines: the leaks and findings a project accepts for now, by fingerprint, so that
//! the gate fails only on what is new or grew.
//!
//! The file is JSON (`"schema": "memscope-baseline/1"`), one entry per fingerprint, with
//! the frames it was made of (for people: which code it is) and its size:
//!
//! ```json
//! { "schema": "memscope-baseline/1", "recipe": 2, "frames": 5,
//!   "entries": [ { "fingerprint": "3f0c…", "kind": "leak", "frames": ["leak_one", "main"],
//!                  "bytes": 42, "blocks": 1, "count": 1 } ] }
//! ```
//!
//! `recipe` is the fingerprint recipe ([`super::frames::Recipe`]); a file without it was
//! written before recipe 2 and is matched by recipe 1 (the gate says once that it should
//! be written again).
//!
//! Items with the same fingerprint (stacks that differ only in addresses, lines or
//! library frames) are summed. An entry is *unchanged* when its bytes, blocks and count
//! are at most the baseline's, *updated* when one of them grew, *new* when the baseline
//! has no such fingerprint; baseline entries no longer seen are *absent*.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::frames::{Fingerprint, Recipe};

pub const BASELINE_SCHEMA: &str = "memscope-baseline/1";

/// A baseline file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub schema: String,
    /// The fingerprint recipe (absent before recipe 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<u32>,
    /// Program frames per fingerprint when it was written.
    pub frames: usize,
    pub entries: Vec<Entry>,
}

/// One accepted leak or finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub fingerprint: String,
    /// Detector name (`leak`, `double-free`, ...).
    pub kind: String,
    /// The function names hashed into the fingerprint, innermost first.
    pub frames: Vec<String>,
    pub bytes: u64,
    pub blocks: u64,
    /// Leak groups or finding occurrences.
    pub count: u64,
}

/// How an item compares with the baseline (SARIF's `baselineState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    New,
    Unchanged,
    Updated,
    Absent,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::New => "new",
            State::Unchanged => "unchanged",
            State::Updated => "updated",
            State::Absent => "absent",
        }
    }
}

impl Baseline {
    /// A baseline from the summed entries.
    pub fn new(frames: usize, entries: Vec<Entry>) -> Self {
        Baseline {
            schema: BASELINE_SCHEMA.to_string(),
            recipe: Some(Recipe::CURRENT.number()),
            frames,
            entries,
        }
    }

    /// Parses a baseline file's text.
    pub fn parse(text: &str) -> Result<Baseline, String> {
        let b: Baseline = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if b.schema != BASELINE_SCHEMA {
            return Err(format!("schema {:?} is not {BASELINE_SCHEMA:?}", b.schema));
        }
        match b.recipe {
            None | Some(1) | Some(2) => Ok(b),
            Some(n) => Err(format!(
                "fingerprint recipe {n} is newer than this memscope's ({})",
                Recipe::CURRENT.number()
            )),
        }
    }

    /// The recipe its fingerprints were made with.
    pub fn recipe(&self) -> Recipe {
        match self.recipe {
            None | Some(1) => Recipe::V1,
            _ => Recipe::V2,
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    pub fn get(&self, fp: &Fingerprint) -> Option<&Entry> {
        self.entries.iter().find(|e| e.fingerprint == fp.0)
    }

    /// Compares a current (summed) entry with the baseline.
    pub fn state_of(&self, current: &Entry) -> State {
        match self
            .entries
            .iter()
            .find(|e| e.fingerprint == current.fingerprint)
        {
            None => State::New,
            Some(b)
                if current.bytes > b.bytes
                    || current.blocks > b.blocks
                    || current.count > b.count =>
            {
                State::Updated
            }
            Some(_) => State::Unchanged,
        }
    }

    /// The entries whose fingerprint is not among `current`.
    pub fn absent<'a>(&'a self, current: &BTreeMap<String, Entry>) -> Vec<&'a Entry> {
        self.entries
            .iter()
            .filter(|e| !current.contains_key(&e.fingerprint))
            .collect()
    }
}

/// Adds one item into the map of summed entries.
pub fn add(
    sum: &mut BTreeMap<String, Entry>,
    fp: &Fingerprint,
    kind: &str,
    frames: &[String],
    bytes: u64,
    blocks: u64,
    count: u64,
) {
    let e = sum.entry(fp.0.clone()).or_insert_with(|| Entry {
        fingerprint: fp.0.clone(),
        kind: kind.to_string(),
        frames: frames.to_vec(),
        bytes: 0,
        blocks: 0,
        count: 0,
    });
    e.bytes = e.bytes.saturating_add(bytes);
    e.blocks = e.blocks.saturating_add(blocks);
    e.count = e.count.saturating_add(count);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fp: &str, bytes: u64, blocks: u64) -> Entry {
        Entry {
            fingerprint: fp.into(),
            kind: "leak".into(),
            frames: vec!["f".into()],
            bytes,
            blocks,
            count: 1,
        }
    }

    #[test]
    fn round_trips_and_refuses_other_schema() {
        let b = Baseline::new(5, vec![entry("aa", 10, 1)]);
        assert_eq!(Baseline::parse(&b.to_json()).unwrap(), b);
        assert!(Baseline::parse(&b.to_json().replace("memscope-baseline/1", "x/2")).is_err());
        assert!(Baseline::parse("{").is_err());
    }

    #[test]
    fn a_file_without_recipe_is_recipe_1() {
        let old = r#"{ "schema": "memscope-baseline/1", "frames": 5, "entries": [] }"#;
        assert_eq!(Baseline::parse(old).unwrap().recipe(), Recipe::V1);
        let new = Baseline::new(5, vec![]);
        assert_eq!(new.recipe(), Recipe::V2);
        assert!(new.to_json().contains("\"recipe\": 2"));
        let future =
            r#"{ "schema": "memscope-baseline/1", "recipe": 9, "frames": 5, "entries": [] }"#;
        assert!(Baseline::parse(future).unwrap_err().contains("recipe 9"));
    }

    #[test]
    fn states() {
        let b = Baseline::new(5, vec![entry("aa", 10, 1), entry("bb", 5, 1)]);
        assert_eq!(b.state_of(&entry("aa", 10, 1)), State::Unchanged);
        assert_eq!(b.state_of(&entry("aa", 8, 1)), State::Unchanged);
        assert_eq!(b.state_of(&entry("aa", 11, 1)), State::Updated);
        assert_eq!(b.state_of(&entry("aa", 10, 2)), State::Updated);
        assert_eq!(b.state_of(&entry("cc", 1, 1)), State::New);
        let mut cur = BTreeMap::new();
        cur.insert("aa".to_string(), entry("aa", 10, 1));
        let absent: Vec<&str> = b
            .absent(&cur)
            .iter()
            .map(|e| e.fingerprint.as_str())
            .collect();
        assert_eq!(absent, vec!["bb"]);
    }

    #[test]
    fn add_sums_same_fingerprint() {
        let mut sum = BTreeMap::new();
        let fp = Fingerprint("aa".into());
        add(&mut sum, &fp, "leak", &["f".into()], 10, 1, 1);
        add(&mut sum, &fp, "leak", &["f".into()], 5, 2, 1);
        assert_eq!(
            (sum["aa"].bytes, sum["aa"].blocks, sum["aa"].count),
            (15, 3, 2)
        );
    }
}

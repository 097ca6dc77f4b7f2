//! Suppression files in LeakSanitizer's syntax: one `KIND:PATTERN` a line, `#` starts a
//! comment, blank lines are ignored. `KIND` is `leak` or the name of another detector
//! (`double-free`, `invalid-free`, `realloc-of-freed`, `mismatched-free`, `fishy-size`,
//! `growth`).
//!
//! A pattern matches an item when it matches the function, file or module name of any
//! frame of the item's stacks (a leak has its allocation stack). As in the sanitizers:
//! `*` matches any run of characters, `^` anchors at the start, `$` at the end, and an
//! unanchored pattern may match anywhere in the name (`leak:foo` matches `my_foo_bar`).
//! The first suppression in order that matches an item takes it (and its counts).

use std::fmt;

use super::input::{Detector, Item};

/// One line of a suppression file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub detector: Detector,
    pub pattern: String,
    /// `FILE:LINE` where it was written.
    pub origin: String,
}

impl fmt::Display for Suppression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.detector, self.pattern)
    }
}

/// What one suppression took: items, blocks and bytes (leaks), occurrences (findings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Matched {
    pub items: u64,
    pub blocks: u64,
    pub bytes: u64,
    pub occurrences: u64,
}

/// Parses the text of a suppression file named `name`; `Err` names the bad line.
pub fn parse(text: &str, name: &str) -> Result<Vec<Suppression>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let origin = format!("{name}:{}", i + 1);
        let Some((kind, pattern)) = line.split_once(':') else {
            return Err(format!(
                "{origin}: expected KIND:PATTERN (e.g. leak:my_function), found {line:?}"
            ));
        };
        let detector = Detector::parse(kind.trim());
        if let Detector::Other(k) = &detector {
            return Err(format!(
                "{origin}: unknown suppression kind {k:?} (known: {})",
                Detector::KNOWN
                    .iter()
                    .map(Detector::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let pattern = pattern.trim();
        if pattern.is_empty() || pattern == "^" || pattern == "$" || pattern == "^$" {
            return Err(format!("{origin}: empty pattern"));
        }
        out.push(Suppression {
            detector,
            pattern: pattern.to_string(),
            origin,
        });
    }
    Ok(out)
}

/// The sanitizers' template match: `*` wildcards, `^`/`$` anchors, else a substring.
pub fn template_matches(pattern: &str, name: &str) -> bool {
    let (start, rest) = match pattern.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, pattern),
    };
    let (end, body) = match rest.strip_suffix('$') {
        Some(b) => (true, b),
        None => (false, rest),
    };
    let mut glob = String::with_capacity(body.len() + 2);
    if !start {
        glob.push('*');
    }
    glob.push_str(body);
    if !end {
        glob.push('*');
    }
    wildcard(glob.as_bytes(), name.as_bytes())
}

/// `*`-only glob over bytes, linear backtracking on the last star.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether `s` matches `item`: same detector, and the pattern matches a function, file
/// or module name of a frame of any of its stacks.
pub fn suppresses(s: &Suppression, item: &Item) -> bool {
    s.detector == item.detector
        && item.stacks.iter().flat_map(|(_, st)| st.iter()).any(|f| {
            [&f.function, &f.file, &f.module]
                .into_iter()
                .flatten()
                .any(|name| template_matches(&s.pattern, name))
        })
}

/// The index of the first suppression of `list` that matches `item`.
pub fn first_match(list: &[Suppression], item: &Item) -> Option<usize> {
    list.iter().position(|s| suppresses(s, item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::input::{Frame, StackRole};

    fn leak(function: &str, file: &str, module: &str) -> Item {
        Item {
            detector: Detector::Leak,
            message: String::new(),
            bytes: 8,
            blocks: 1,
            count: 1,
            runtime_internal: false,
            type_name: None,
            leak_kind: None,
            inherited: false,
            stacks: vec![(
                StackRole::Allocation,
                vec![
                    Frame {
                        function: Some("malloc".into()),
                        file: None,
                        line: None,
                        module: Some("/lib/x86_64-linux-gnu/libc.so.6".into()),
                    },
                    Frame {
                        function: Some(function.into()),
                        file: Some(file.into()),
                        line: Some(3),
                        module: Some(module.into()),
                    },
                ],
            )],
            site: None,
        }
    }

    #[test]
    fn unanchored_is_substring() {
        assert!(template_matches("foo", "my_foo_bar"));
        assert!(!template_matches("foo", "fo"));
    }

    #[test]
    fn anchors() {
        assert!(template_matches("^foo", "foo_bar"));
        assert!(!template_matches("^foo", "my_foo"));
        assert!(template_matches("foo$", "my_foo"));
        assert!(!template_matches("foo$", "foo_bar"));
        assert!(template_matches("^foo$", "foo"));
        assert!(!template_matches("^foo$", "foox"));
    }

    #[test]
    fn wildcards() {
        assert!(template_matches("^a*c$", "abbbc"));
        assert!(template_matches("^a*c$", "ac"));
        assert!(!template_matches("^a*c$", "abcd"));
        assert!(template_matches(
            "^std::*::push_back$",
            "std::vector<int>::push_back"
        ));
        assert!(template_matches("*", ""));
        assert!(template_matches("^*a*a*a$", "aaaa"));
        assert!(!template_matches("^*a*a*b$", "aaaaaaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn parses_kinds_comments_and_errors() {
        let text = "# header\n\nleak:leak_one  # trailing\ndouble-free:^bad$\n";
        let list = parse(text, "s.supp").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].to_string(), "leak:leak_one");
        assert_eq!(list[0].origin, "s.supp:3");
        assert_eq!(list[1].detector, Detector::DoubleFree);
        assert!(parse("interceptor_via_fun:x\n", "s")
            .unwrap_err()
            .contains("s:1"));
        assert!(parse("leak\n", "s").is_err());
        assert!(parse("leak:\n", "s").is_err());
    }

    #[test]
    fn matches_function_file_or_module_of_any_frame() {
        let item = leak("leak_one", "/src/app/leaky.c", "/build/libplugin.so");
        let s = |p: &str| parse(&format!("leak:{p}"), "s").unwrap().remove(0);
        assert!(suppresses(&s("^leak_one$"), &item));
        assert!(suppresses(&s("leaky.c$"), &item));
        assert!(suppresses(&s("libplugin.so"), &item));
        assert!(
            suppresses(&s("^malloc$"), &item),
            "libc frames count too, as in LSan"
        );
        assert!(!suppresses(&s("^leak_two$"), &item));
        let df = parse("double-free:leak_one", "s").unwrap();
        assert!(!suppresses(&df[0], &item), "kind must match");
        assert_eq!(first_match(&[s("nomatch"), s("leak_")], &item), Some(1));
    }
}

//! The site of a stack: the one frame a report names a leak or a finding by, the first
//! frame (from the innermost) of the program's own code, past the allocator, the
//! containers of the standard libraries and the C library's wrappers (`strdup`). The
//! analyzer decides it (`analyzer-cli/src/analysis/classify/site.rs`); renderers and the
//! gate only read it. Its function, file and line come from that one frame, never from
//! two (an inlined library frame's name paired with the program's line).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a stack's problem lies, and what of the stack is the program's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationDoc {
    /// Index in the stack (innermost is 0) of the frame named.
    pub frame: usize,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub module: Option<String>,
    /// The frame's address in its module file (`0x1149`): with the module's name, how a
    /// frame without symbols is named (`prog+0x1149`).
    pub module_offset: Option<String>,
    /// The frame is the program's own code; `false` when no frame of the stack is (the
    /// site is then the innermost frame, e.g. inside libstdc++'s start-up).
    pub program: bool,
    /// Function names of the program's own frames from the site outward (the site's
    /// first), without library and runtime start-up frames: what the gate's fingerprints
    /// hash, so that they do not change with the compiler's standard library.
    pub program_frames: Vec<String>,
    /// Frames at the outer end of the stack that are runtime start-up (`_start`,
    /// `__libc_start_main`, Rust's `std::rt::lang_start` and its `main`): the text report
    /// folds them into one line.
    pub runtime_frames: usize,
}

impl LocationDoc {
    /// The module's file name (`/usr/bin/prog` → `prog`).
    pub fn module_name(&self) -> Option<&str> {
        self.module.as_deref().map(base_name)
    }
}

/// `function (file:line)` with the file's base name; `function [module]` without a file;
/// `module+0x1149` without a function.
impl fmt::Display for LocationDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.function, &self.file) {
            (Some(func), Some(file)) => match self.line {
                Some(line) => write!(f, "{func} ({}:{line})", base_name(file)),
                None => write!(f, "{func} ({})", base_name(file)),
            },
            (Some(func), None) => match self.module_name() {
                Some(m) => write!(f, "{func} [{m}]"),
                None => f.write_str(func),
            },
            (None, _) => match (self.module_name(), &self.module_offset) {
                (Some(m), Some(off)) => write!(f, "{m}+{off}"),
                (Some(m), None) => write!(f, "[{m}]"),
                _ => f.write_str("<unknown>"),
            },
        }
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A function name without compiler clone suffixes: `f.constprop.0` → `f`.
pub fn clean_function(name: &str) -> &str {
    const CLONES: &[&str] = &[".constprop.", ".isra.", ".part.", ".cold", ".lto_priv."];
    let cut = CLONES
        .iter()
        .filter_map(|c| name.find(c))
        .min()
        .unwrap_or(name.len());
    &name[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(function: Option<&str>, file: Option<&str>, line: Option<u32>) -> LocationDoc {
        LocationDoc {
            frame: 3,
            function: function.map(str::to_string),
            file: file.map(str::to_string),
            line,
            module: Some("/b/prog".into()),
            module_offset: Some("0x1149".into()),
            program: true,
            program_frames: Vec::new(),
            runtime_frames: 0,
        }
    }

    #[test]
    fn named_by_function_and_line_else_module_offset() {
        let s = site(Some("rleak::forget"), Some("src/main.rs"), Some(15));
        assert_eq!(s.to_string(), "rleak::forget (main.rs:15)");
        assert_eq!(site(Some("f"), None, None).to_string(), "f [prog]");
        assert_eq!(site(None, None, None).to_string(), "prog+0x1149");
    }
}

//! The comparison with valgrind: one program run traced and under valgrind with
//! environments made alike ([`Run::traced_and_valgrind`]), and the two sides' counts
//! ([`Counts`]) asserted equal field by field.
//!
//! Valgrind adds variables to its client's environment (`LD_PRELOAD` of its own
//! libraries, `LD_LIBRARY_PATH`, `GLIBCXX_FORCE_NEW`, `PWD`, ...), and programs that copy
//! their environment (perl's `%ENV`) allocate by its size. So the traced run gets the
//! same variables with the same values, its `LD_PRELOAD` is padded with `:` (empty
//! entries, ignored by ld.so) to the same length, and the valgrind run gets a
//! `MEMSCOPE_OUTPUT` of the same length. And since libmemscope.so has a TLS segment,
//! which changes what glibc allocates for TLS bookkeeping at dlopen, the valgrind run
//! preloads a tiny library with one `__thread` variable (`tls_module.c`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::elf::elf_has_tls;
use crate::fixtures::fixture;
use crate::paths::preload_lib;
use crate::preload::{output_pattern, Traced};
use crate::process::{run_with_timeout, Output};
use crate::report::Report;
use crate::run::Run;
use crate::valgrind::{valgrind_path, LeakCheck, ValgrindCounts, ValgrindLeaks};

impl Run {
    /// Runs the program traced and under valgrind, with environments made alike (see the
    /// module's documentation).
    pub fn traced_and_valgrind(&self) -> (Traced, Output, ValgrindCounts) {
        let (traced, vg_run, vg_out, log) = self.traced_and_memcheck(LeakCheck::No);
        let counts = vg_run.heap_summary(&log);
        (traced, vg_out, counts)
    }

    /// As [`Run::traced_and_valgrind`], with valgrind's leak check: also its leak summary.
    pub fn traced_and_valgrind_leaks(&self) -> (Traced, Output, ValgrindCounts, ValgrindLeaks) {
        let (traced, vg_run, vg_out, log) = self.traced_and_memcheck(LeakCheck::Full);
        let counts = vg_run.heap_summary(&log);
        let leaks = vg_run.leak_summary(&log);
        (traced, vg_out, counts, leaks)
    }

    /// The traced run, the valgrind run made alike, valgrind's output and its log.
    fn traced_and_memcheck(&self, leak_check: LeakCheck) -> (Traced, Run, Output, String) {
        let vg_env = self.valgrind_client_env();
        let preload = preload_lib().display().to_string();
        let vg_own = vg_env.get("LD_PRELOAD").cloned().unwrap_or_default();
        // If libmemscope.so has a TLS segment, give the valgrind run a TLS
        // module too (see tests/fixtures/tls_module.c).
        let mut theirs_user = if elf_has_tls(Path::new(&preload)) {
            fixture("libtlsmodule.so").display().to_string()
        } else {
            String::new()
        };
        // Valgrind's client sees "<its own list>:<ours>" (or just its own list
        // when we give none). Pad the shorter side with ':'.
        let theirs_len =
            |user: &str| vg_own.len() + if user.is_empty() { 0 } else { 1 + user.len() };
        let mut ours = preload.clone();
        while ours.len() != theirs_len(&theirs_user) {
            if ours.len() < theirs_len(&theirs_user) {
                ours.push(':');
            } else {
                theirs_user.push(':');
            }
        }
        let mut traced_run = self.clone();
        for (k, v) in &vg_env {
            if k != "LD_PRELOAD" {
                traced_run.env.insert(k.clone(), v.clone());
            }
        }
        let traced = traced_run.traced_with_preload(ours.as_ref());
        assert!(
            traced.trace.is_file(),
            "no trace at {} after running `{}` under LD_PRELOAD={}; {}",
            traced.trace.display(),
            self.display(),
            preload,
            traced.output.describe()
        );
        let output_pattern_len = output_pattern(traced.dir.path())
            .display()
            .to_string()
            .len();

        let mut vg_run = self.clone();
        vg_run
            .env
            .insert("MEMSCOPE_OUTPUT".into(), "x".repeat(output_pattern_len));
        if !theirs_user.is_empty() {
            vg_run.env_remove.retain(|k| k != "LD_PRELOAD");
            vg_run.env.insert("LD_PRELOAD".into(), theirs_user);
        }
        let (vg_out, log) = vg_run.memcheck(leak_check);
        (traced, vg_run, vg_out, log)
    }

    /// The variables valgrind adds or changes in its client's environment,
    /// found by running `env` under valgrind with this run's environment.
    fn valgrind_client_env(&self) -> BTreeMap<String, String> {
        let valgrind = valgrind_path();
        let probe = Run {
            program: PathBuf::from("/usr/bin/env"),
            args: Vec::new(),
            ..self.clone()
        };
        let cmd = probe.command(
            &valgrind,
            &["-q".to_string(), "--log-file=/dev/null".to_string()],
        );
        let out = run_with_timeout(cmd, self.timeout, "valgrind env");
        assert!(
            out.status.success(),
            "valgrind /usr/bin/env failed: {}",
            out.describe()
        );
        let plain = run_with_timeout(probe.command(&probe.program, &[]), self.timeout, "env");
        let parse = |o: &Output| -> BTreeMap<String, String> {
            o.stdout_str()
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let under_vg = parse(&out);
        let native = parse(&plain);
        under_vg
            .into_iter()
            .filter(|(k, v)| native.get(k) != Some(v))
            .collect()
    }
}

/// One side of a comparison with valgrind: the five numbers of memcheck's heap summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub allocs: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub live_blocks: u64,
    pub live_bytes: u64,
}

impl From<&Report> for Counts {
    fn from(r: &Report) -> Counts {
        Counts {
            allocs: r.summary.allocations,
            frees: r.summary.frees,
            bytes_allocated: r.summary.bytes_allocated,
            live_blocks: r.summary.live_at_exit.blocks,
            live_bytes: r.summary.live_at_exit.bytes,
        }
    }
}

impl From<ValgrindCounts> for Counts {
    fn from(v: ValgrindCounts) -> Counts {
        Counts {
            allocs: v.allocs,
            frees: v.frees,
            bytes_allocated: v.bytes_allocated,
            live_blocks: v.live_blocks,
            live_bytes: v.live_bytes,
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} allocs, {} frees, {} bytes allocated; live at exit: {} blocks, {} bytes",
            self.allocs, self.frees, self.bytes_allocated, self.live_blocks, self.live_bytes
        )
    }
}

/// Asserts memscope's counts equal valgrind's, field by field, with both in
/// the message.
pub fn assert_counts_eq(what: &str, memscope: Counts, valgrind: Counts) {
    assert_eq!(
        memscope, valgrind,
        "{what}: memscope and valgrind disagree\n  memscope: {memscope}\n  valgrind: {valgrind}"
    );
}

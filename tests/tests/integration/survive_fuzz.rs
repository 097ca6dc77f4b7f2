//! Hostile traces: a mutator over real traces, run against the real
//! `memscope analyze --format json` under `prlimit --as=2G` (address space
//! bounded: an unbounded allocation aborts, and the test sees the signal).
//! Every case must end in exit 0 with a `memscope-report/1` document (a
//! truncated trace is analyzed) or exit 2 with exactly one stderr line naming
//! the file and a byte offset; never a panic, a signal, or a hang.
//!
//! Cases:
//! - truncation at every byte of a small real trace without stacks, and at
//!   every 7th byte (plus the last 32) of the same program's trace with stacks;
//! - proptest-generated mutation lists (bit flips, random bytes, 10-byte
//!   varints of 2^64-1 patched in, u32 length/count fields set to extremes,
//!   deleted and duplicated ranges, truncation), half of them "resealed":
//!   header and chunk CRCs recomputed after the mutation, so that the record
//!   decoder and the analyzer see garbage behind valid checksums.
//!
//! Time-bounded: `SURV_FUZZ_SECONDS` (default 35) for the mutation phase;
//! `SURV_FUZZ_SEED` (default: from the clock, printed) reproduces a run.
//! Statistics are printed (`--nocapture`); a failing input is kept in
//! `target/fuzz-findings/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memscope_tests::ReportExt as _;
use memscope_tests::{
    build_test_program, memscope_bin, run_with_timeout, target_dir, Output, Report, Run,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// The address-space limit the CLI runs under.
const AS_LIMIT: &str = "--as=2147483648";

fn surv_proc() -> PathBuf {
    build_test_program(
        "surv_proc",
        "surv_proc.c",
        "gcc",
        &["-O1", "-g", "-Wall", "-Wextra"],
    )
}

fn surv_threads() -> PathBuf {
    build_test_program(
        "surv_threads",
        "surv_threads.c",
        "gcc",
        &["-O1", "-g", "-pthread", "-Wall", "-Wextra"],
    )
}

/// A real trace: `program args` under the preload, with `MEMSCOPE_STACK_DEPTH`.
fn seed_trace(program: PathBuf, arg: &str, depth: &str) -> Vec<u8> {
    let traced = Run::new(program)
        .arg(arg)
        .env("MEMSCOPE_STACK_DEPTH", depth)
        .traced();
    assert!(
        traced.output.status.success(),
        "{}",
        traced.output.describe()
    );
    std::fs::read(&traced.trace).unwrap()
}

/// Where the current case is written (kept after a failure).
fn work_file(name: &str) -> PathBuf {
    let dir = target_dir().join("fuzz-work");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{}.msl", std::process::id()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Report,
    Truncated,
    Error,
}

/// Runs the CLI on `bytes`; returns the outcome or a description of the bug.
fn check(bytes: &[u8], path: &Path) -> Result<Outcome, String> {
    std::fs::write(path, bytes).unwrap();
    let mut cmd = Command::new("prlimit");
    cmd.args([AS_LIMIT, "--cpu=60", "--"])
        .arg(memscope_bin())
        .args([
            "analyze".as_ref(),
            path.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ])
        .env_remove("LD_PRELOAD");
    let out: Output = run_with_timeout(cmd, Duration::from_secs(60), "prlimit memscope analyze");
    let err = out.stderr_str();
    if err.contains("panicked") {
        return Err(format!("panic: {}", out.describe()));
    }
    match out.status.code() {
        Some(0) => match Report::parse(&out.stdout) {
            Ok(r) if r.trace.truncated => Ok(Outcome::Truncated),
            Ok(_) => Ok(Outcome::Report),
            Err(e) => Err(format!(
                "exit 0 without a valid report ({e}): {}",
                out.describe()
            )),
        },
        Some(2) => {
            let lines: Vec<&str> = err.trim_end().lines().collect();
            let name = path.display().to_string();
            if lines.len() == 1 && lines[0].contains(&name) && lines[0].contains("offset") {
                Ok(Outcome::Error)
            } else {
                Err(format!(
                    "exit 2 without one line naming the file and the offset: {}",
                    out.describe()
                ))
            }
        }
        _ => Err(format!("unexpected status: {}", out.describe())),
    }
}

/// Keeps a failing input in target/fuzz-findings/ and returns its path.
fn keep_finding(bytes: &[u8], tag: &str) -> PathBuf {
    let dir = target_dir().join("fuzz-findings");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}-{}.msl", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn truncation_at_every_byte() {
    let no_stacks = seed_trace(surv_proc(), "leaf", "0");
    let with_stacks = seed_trace(surv_proc(), "leaf", "64");
    let path = work_file("trunc");
    let mut stats: BTreeMap<Outcome, u64> = BTreeMap::new();
    let mut cases = 0u64;
    let mut failures = Vec::new();
    let mut cuts: Vec<(&[u8], usize)> = (0..no_stacks.len()).map(|n| (&no_stacks[..], n)).collect();
    let len = with_stacks.len();
    cuts.extend(
        (0..len)
            .filter(|n| n % 7 == 0 || *n + 32 >= len)
            .map(|n| (&with_stacks[..], n)),
    );
    for (seed, cut) in cuts {
        cases += 1;
        match check(&seed[..cut], &path) {
            Ok(o) => *stats.entry(o).or_default() += 1,
            Err(e) => {
                let kept = keep_finding(&seed[..cut], &format!("trunc{cut}"));
                failures.push(format!(
                    "cut at {cut} of {} ({}): {e}",
                    seed.len(),
                    kept.display()
                ));
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    eprintln!(
        "survive_fuzz truncation: {cases} cases over traces of {} and {} bytes: {stats:?}, {} failures",
        no_stacks.len(),
        with_stacks.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} truncations failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // A prefix that cuts inside the first chunk is either truncated or an
    // error, never a complete report.
    assert!(
        stats.get(&Outcome::Report).copied().unwrap_or(0) <= 2,
        "{stats:?}"
    );
}

/// One change to a trace; offsets are resolved against the trace's length.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: prop::sample::Index,
        bit: u8,
    },
    SetByte {
        at: prop::sample::Index,
        value: u8,
    },
    /// Ten bytes encoding 2^64-1 as a varint (LEB128).
    HugeVarint {
        at: prop::sample::Index,
    },
    /// A little-endian u32 set to an extreme value.
    PatchU32 {
        at: prop::sample::Index,
        value: u32,
    },
    DeleteRange {
        at: prop::sample::Index,
        len: usize,
    },
    DuplicateRange {
        at: prop::sample::Index,
        len: usize,
    },
    Truncate {
        at: prop::sample::Index,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        4 => (at(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        2 => (at(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        2 => at().prop_map(|at| Mutation::HugeVarint { at }),
        2 => (at(), prop::sample::select(vec![0u32, 1, 0x7f, 0x80, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 64 << 20, (64 << 20) + 1, 16 << 20]))
            .prop_map(|(at, value)| Mutation::PatchU32 { at, value }),
        1 => (at(), 1usize..64).prop_map(|(at, len)| Mutation::DeleteRange { at, len }),
        1 => (at(), 1usize..256).prop_map(|(at, len)| Mutation::DuplicateRange { at, len }),
        1 => at().prop_map(|at| Mutation::Truncate { at }),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    seed: prop::sample::Index,
    mutations: Vec<Mutation>,
    reseal: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<prop::sample::Index>(),
        prop::collection::vec(mutation(), 1..5),
        any::<bool>(),
    )
        .prop_map(|(seed, mutations, reseal)| Case {
            seed,
            mutations,
            reseal,
        })
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match m {
        Mutation::FlipBit { at, bit } => bytes[at.index(n)] ^= 1 << bit,
        Mutation::SetByte { at, value } => bytes[at.index(n)] = *value,
        Mutation::HugeVarint { at } => {
            let i = at.index(n);
            let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
            for (k, b) in huge.iter().enumerate() {
                if i + k < n {
                    bytes[i + k] = *b;
                }
            }
        }
        Mutation::PatchU32 { at, value } => {
            let i = at.index(n);
            for (k, b) in value.to_le_bytes().iter().enumerate() {
                if i + k < n {
                    bytes[i + k] = *b;
                }
            }
        }
        Mutation::DeleteRange { at, len } => {
            let i = at.index(n);
            let end = (i + len).min(n);
            bytes.drain(i..end);
        }
        Mutation::DuplicateRange { at, len } => {
            let i = at.index(n);
            let end = (i + len).min(n);
            let copy: Vec<u8> = bytes[i..end].to_vec();
            bytes.splice(end..end, copy);
        }
        Mutation::Truncate { at } => bytes.truncate(at.index(n)),
    }
}

/// CRC-32 (IEEE, the zlib polynomial), as the format uses.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = !0u32;
    for part in parts {
        for &b in *part {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
    }
    !c
}

/// Recomputes the checksums of the file header (20-byte prefix: magic,
/// version, reserved, payload length at 12, CRC at 16) and of every chunk
/// that fits in the file (16-byte header: payload length, CRC of bytes 8..16
/// and the payload, stream, codec, reserved), following the lengths as they
/// now are. See format/src/header.rs and format/src/chunk.rs.
fn reseal(bytes: &mut [u8]) {
    let u32_at =
        |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    if bytes.len() < 20 {
        return;
    }
    let hlen = u32_at(bytes, 12);
    let Some(mut off) = 20usize.checked_add(hlen).filter(|e| *e <= bytes.len()) else {
        return;
    };
    let crc = crc32(&[&bytes[20..off]]);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    while off + 16 <= bytes.len() {
        let len = u32_at(bytes, off);
        let Some(end) = (off + 16).checked_add(len).filter(|e| *e <= bytes.len()) else {
            return;
        };
        let crc = crc32(&[&bytes[off + 8..off + 16], &bytes[off + 16..end]]);
        bytes[off + 4..off + 8].copy_from_slice(&crc.to_le_bytes());
        off = end;
    }
}

fn fuzz_seconds() -> u64 {
    std::env::var("SURV_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(35)
}

#[test]
fn mutated_traces_never_crash_the_cli() {
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("leaf, no stacks", seed_trace(surv_proc(), "leaf", "0")),
        (
            "fork child + parent, no stacks",
            seed_trace(surv_proc(), "fork", "0"),
        ),
        (
            "2 threads, no stacks",
            seed_trace(surv_threads(), "quick", "0"),
        ),
        ("leaf, stacks", seed_trace(surv_proc(), "leaf", "64")),
    ];
    // Sanity: the seeds themselves are clean reports (resealing them changes nothing).
    let path = work_file("mut");
    for (name, bytes) in &seeds {
        let mut resealed = bytes.clone();
        reseal(&mut resealed);
        assert_eq!(
            &resealed, bytes,
            "{name}: resealing an intact trace must not change it"
        );
        assert_eq!(check(bytes, &path), Ok(Outcome::Report), "seed {name}");
    }
    let rng_seed: u64 = std::env::var("SURV_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&rng_seed.to_le_bytes());
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = case();
    let budget = Duration::from_secs(fuzz_seconds());
    let start = Instant::now();
    let mut stats: BTreeMap<(bool, Outcome), u64> = BTreeMap::new();
    let mut per_seed = vec![0u64; seeds.len()];
    let mut cases = 0u64;
    while start.elapsed() < budget {
        let c = strategy
            .new_tree(&mut runner)
            .expect("generate a case")
            .current();
        let s = c.seed.index(seeds.len());
        let mut bytes = seeds[s].1.clone();
        for m in &c.mutations {
            apply(&mut bytes, m);
        }
        if c.reseal {
            reseal(&mut bytes);
        }
        cases += 1;
        per_seed[s] += 1;
        match check(&bytes, &path) {
            Ok(o) => *stats.entry((c.reseal, o)).or_default() += 1,
            Err(e) => {
                let kept = keep_finding(&bytes, "mut");
                panic!(
                    "SURV_FUZZ_SEED={rng_seed}, case {cases} (seed trace {:?}, {c:?}): {e}\ninput kept at {}",
                    seeds[s].0,
                    kept.display()
                );
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    eprintln!(
        "survive_fuzz mutations: SURV_FUZZ_SEED={rng_seed}, {cases} cases in {:.1} s, per seed trace {:?}, outcomes (resealed, outcome): {stats:?}",
        start.elapsed().as_secs_f64(),
        seeds.iter().map(|s| s.0).zip(per_seed).collect::<Vec<_>>()
    );
    assert!(cases >= 50, "only {cases} cases ran in {budget:?}");
    // The resealed cases reach the record decoder: some of them must get past
    // the checksums into a report (else the mutator tests only the CRC).
    let resealed_reports: u64 = stats
        .iter()
        .filter(|((r, o), _)| *r && *o != Outcome::Error)
        .map(|(_, n)| n)
        .sum();
    assert!(
        resealed_reports > 0,
        "no resealed case was analyzed: {stats:?}"
    );
}

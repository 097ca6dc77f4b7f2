//! Support for memscope's integration tests.
//!
//! The tests run real programs (the C/C++ fixtures in `tests/fixtures/`, and a
//! few system programs) three ways: natively, under the real
//! `target/release/libmemscope.so` (then analyzed by the real
//! `target/release/memscope analyze --format json`), and under valgrind, which
//! is the oracle for allocation counts. This crate holds what they share:
//!
//! - [`memscope_bin`] / [`preload_lib`]: the release artifacts, with a clear
//!   message when `cargo build --release` has not been run;
//! - [`fixture`]: compiles a fixture with gcc/g++ into `target/fixtures/`,
//!   cached by source mtime and flags;
//! - [`Run`]: a command line with environment, working directory and timeout,
//!   run natively ([`Run::native`]), traced ([`Run::traced`]) or under
//!   valgrind ([`Run::valgrind`]);
//! - [`analyze`] / [`Report`]: the JSON report (`memscope-report/1`), typed;
//! - [`ValgrindCounts`]: the two summary lines of memcheck, parsed.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tempfile::TempDir;

/// How long any one program may run before it is killed and the test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// Locations
// ---------------------------------------------------------------------------

/// The workspace root (the folder holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent folder")
        .to_path_buf()
}

/// The cargo target folder: `$CARGO_TARGET_DIR` if set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

fn release_artifact(name: &str) -> PathBuf {
    let path = target_dir().join("release").join(name);
    if !path.is_file() {
        panic!(
            "{} is missing: run `cargo build --release` in {} first \
             (the integration tests use the release build of the CLI and the preload library)",
            path.display(),
            workspace_root().display()
        );
    }
    path
}

/// `target/release/memscope`, or a panic telling to build it.
pub fn memscope_bin() -> PathBuf {
    release_artifact("memscope")
}

/// `target/release/libmemscope.so` (absolute), or a panic telling to build it.
pub fn preload_lib() -> PathBuf {
    release_artifact("libmemscope.so")
}

/// The folder of the tests' C/C++ sources.
pub fn fixtures_src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Where compiled fixtures go: `target/fixtures/`.
pub fn fixtures_out_dir() -> PathBuf {
    target_dir().join("fixtures")
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// How one fixture is built: sources, compiler and flags.
struct FixtureSpec {
    /// Output file name in `target/fixtures/`.
    output: &'static str,
    /// Source files in `tests/fixtures/`.
    sources: &'static [&'static str],
    compiler: &'static str,
    /// Flags before the sources.
    flags: &'static [&'static str],
    /// Flags after the sources (libraries).
    libs: &'static [&'static str],
}

const FIXTURES: &[FixtureSpec] = &[
    FixtureSpec {
        output: "every_entry",
        sources: &["every_entry.c"],
        compiler: "gcc",
        flags: &["-O0", "-g", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "threads2",
        sources: &["threads2.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "solo_then_shared",
        sources: &["solo_then_shared.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "cxx_newdelete",
        sources: &["cxx_newdelete.cpp"],
        compiler: "g++",
        flags: &["-O0", "-g", "-std=c++17", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "leak3",
        sources: &["leak3.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-fomit-frame-pointer", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "exits",
        sources: &["exits.c"],
        compiler: "gcc",
        flags: &["-O1", "-g", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "bigtls.so",
        sources: &["bigtls.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-fPIC", "-shared", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "dlopen_tls",
        sources: &["dlopen_tls.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &["-ldl"],
    },
    FixtureSpec {
        output: "libtlsmodule.so",
        sources: &["tls_module.c"],
        compiler: "gcc",
        flags: &["-O2", "-fPIC", "-shared", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "forks",
        sources: &["forks.c"],
        compiler: "gcc",
        flags: &["-O1", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "getattr_first",
        sources: &["getattr_first.c"],
        compiler: "gcc",
        flags: &["-O1", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "rust_alloc",
        sources: &["rust_alloc.rs"],
        compiler: "rustc",
        flags: &["-O", "-g", "--edition", "2021"],
        libs: &[],
    },
    FixtureSpec {
        output: "rust_stack_overflow",
        sources: &["rust_stack_overflow.rs"],
        compiler: "rustc",
        flags: &["-O", "-g", "--edition", "2021"],
        libs: &[],
    },
    FixtureSpec {
        output: "plugin.so",
        sources: &["plugin.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-fPIC", "-shared", "-Wall", "-Wextra"],
        libs: &[],
    },
    FixtureSpec {
        output: "dlopen_stacks",
        sources: &["dlopen_stacks.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-Wall", "-Wextra"],
        libs: &["-ldl"],
    },
    FixtureSpec {
        output: "dlopen_deepbind",
        sources: &["dlopen_deepbind.c"],
        compiler: "gcc",
        flags: &[
            "-O2",
            "-g",
            "-Wall",
            "-Wextra",
            "-Wl,--enable-new-dtags,-rpath,$ORIGIN",
        ],
        libs: &["-ldl"],
    },
    FixtureSpec {
        output: "mt",
        sources: &["mt.c"],
        compiler: "gcc",
        flags: &["-O2", "-g", "-pthread", "-Wall", "-Wextra"],
        libs: &[],
    },
];

/// Serialises compilation within one test binary (tests run in threads).
static COMPILE_LOCK: Mutex<()> = Mutex::new(());

/// `count` copies of the fixture library `name` (e.g. `"bigtls.so"`) in `dir`, as
/// `lib<stem><i>.so`: separate files, which the loader maps as separate modules.
pub fn fixture_lib_copies(name: &str, dir: &Path, count: usize) -> Vec<PathBuf> {
    let lib = fixture(name);
    let stem = name.trim_end_matches(".so");
    (0..count)
        .map(|i| {
            let copy = dir.join(format!("lib{stem}{i}.so"));
            fs::copy(&lib, &copy).unwrap_or_else(|e| panic!("copy {name}: {e}"));
            copy
        })
        .collect()
}

/// Compiles fixture `name` (e.g. `"leak3"`, `"bigtls.so"`) if its output is
/// missing or older than its sources or was built with other flags, and
/// returns the absolute path of the output in `target/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    let spec = FIXTURES
        .iter()
        .find(|s| s.output == name)
        .unwrap_or_else(|| panic!("no fixture named {name:?} in tests/src/lib.rs"));
    compile_cached(
        spec.output,
        spec.sources,
        spec.compiler,
        spec.flags,
        spec.libs,
    )
}

/// Compiles `compiler flags... sources... libs... -o target/fixtures/<output>` (sources
/// in `tests/fixtures/`) unless the output is newer than every source and was built with
/// the same command line; returns the output's absolute path. Builds into a temporary
/// name and renames, so a concurrent reader never sees a half-written file.
fn compile_cached(
    output: &str,
    sources: &[&str],
    compiler: &str,
    flags: &[&str],
    libs: &[&str],
) -> PathBuf {
    let _lock = COMPILE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = fixtures_out_dir();
    fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
    let out = out_dir.join(output);
    let flags_file = out_dir.join(format!("{output}.flags"));
    let paths: Vec<PathBuf> = sources.iter().map(|s| fixtures_src_dir().join(s)).collect();
    let command_line = format!(
        "{compiler} {} {} {}",
        flags.join(" "),
        sources.join(" "),
        libs.join(" ")
    );
    if is_fresh(&out, &paths)
        && fs::read_to_string(&flags_file).ok().as_deref() == Some(command_line.as_str())
    {
        return out;
    }
    let tmp = out_dir.join(format!(".{output}.{}.tmp", std::process::id()));
    let result = Command::new(compiler)
        .args(flags)
        .args(&paths)
        .args(libs)
        .arg("-o")
        .arg(&tmp)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {compiler} to build fixture {output}: {e} (install gcc and g++, e.g. with `bash .ci/run`)")
        });
    if !result.status.success() {
        panic!(
            "building fixture {output} failed: {command_line}\n{}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    fs::rename(&tmp, &out)
        .unwrap_or_else(|e| panic!("cannot move {} to {}: {e}", tmp.display(), out.display()));
    fs::write(&flags_file, &command_line).expect("write fixture flags file");
    out
}

fn is_fresh(output: &Path, sources: &[PathBuf]) -> bool {
    let Ok(out_time) = fs::metadata(output).and_then(|m| m.modified()) else {
        return false;
    };
    sources
        .iter()
        .all(|s| match fs::metadata(s).and_then(|m| m.modified()) {
            Ok(t) => t <= out_time,
            Err(_) => false,
        })
}

// ---------------------------------------------------------------------------
// Running programs
// ---------------------------------------------------------------------------

/// What a finished program left: exit status, stdout, stderr.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The process id it ran as.
    pub pid: u32,
}

impl Output {
    /// The status as a shell reports it: the exit code, or 128 + signal.
    pub fn shell_status(&self) -> i32 {
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => unreachable!("a finished process has a code or a signal"),
        }
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status {} (shell {}), stdout:\n{}\nstderr:\n{}",
            self.status,
            self.shell_status(),
            truncate_for_message(&self.stdout_str()),
            truncate_for_message(&self.stderr_str())
        )
    }
}

fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 4000;
    if s.len() <= MAX {
        s.to_string()
    } else {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}... [{} more bytes]", &s[..cut], s.len() - cut)
    }
}

/// A program run under the preload: its output and the folder with its
/// trace(s). The folder is deleted when this is dropped.
pub struct Traced {
    pub output: Output,
    /// The trace of the process itself (`<dir>/<pid>.msl`).
    pub trace: PathBuf,
    pub dir: TempDir,
}

impl Traced {
    /// All `.msl` files in the trace folder (the process's and its children's).
    pub fn all_traces(&self) -> Vec<PathBuf> {
        let mut traces: Vec<PathBuf> = fs::read_dir(self.dir.path())
            .expect("read trace dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "msl"))
            .collect();
        traces.sort();
        traces
    }

    /// `memscope analyze --format json` of the process's own trace.
    pub fn report(&self) -> Report {
        analyze(&self.trace)
    }
}

/// A command line to run, with environment, working directory and timeout.
#[derive(Clone, Debug)]
pub struct Run {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub env_remove: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub timeout: Duration,
}

impl Run {
    pub fn new(program: impl AsRef<Path>) -> Run {
        Run {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env: BTreeMap::new(),
            env_remove: vec!["LD_PRELOAD".into(), "MEMSCOPE_OUTPUT".into()],
            cwd: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Run {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Run {
        self.env.insert(k.into(), v.into());
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Run {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Run {
        self.timeout = t;
        self
    }

    /// A human-readable command line for messages.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    fn command(&self, program: &Path, prefix_args: &[String]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(prefix_args);
        if !prefix_args.is_empty() {
            cmd.arg(&self.program);
        }
        cmd.args(&self.args);
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        cmd.envs(&self.env);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs the program natively (no preload).
    pub fn native(&self) -> Output {
        let cmd = self.command(&self.program, &[]);
        run_with_timeout(cmd, self.timeout, &self.display())
    }

    /// Runs the program with `LD_PRELOAD=<abs>/libmemscope.so` and
    /// `MEMSCOPE_OUTPUT=<fresh temp dir>/%p.msl`. Panics if the process's own
    /// trace file is missing afterwards.
    pub fn traced(&self) -> Traced {
        let traced = self.traced_allow_missing();
        assert!(
            traced.trace.is_file(),
            "no trace at {} after running `{}` under LD_PRELOAD={}; {}; files in the folder: {:?}",
            traced.trace.display(),
            self.display(),
            preload_lib().display(),
            traced.output.describe(),
            traced.all_traces()
        );
        traced
    }

    /// As [`Run::traced`], without checking the trace exists.
    pub fn traced_allow_missing(&self) -> Traced {
        let dir = tempfile::Builder::new()
            .prefix("memscope-test-")
            .tempdir()
            .expect("create temp dir");
        let mut cmd = self.command(&self.program, &[]);
        cmd.env("LD_PRELOAD", preload_lib());
        cmd.env("MEMSCOPE_OUTPUT", dir.path().join("%p.msl"));
        let output = run_with_timeout(cmd, self.timeout, &format!("(traced) {}", self.display()));
        let trace = dir.path().join(format!("{}.msl", output.pid));
        Traced { output, trace, dir }
    }

    /// Runs the program under valgrind's memcheck (no leak check, no libc or
    /// libstdc++ freeres so that what is live at exit matches a native run)
    /// and parses its heap summary. The valgrind log goes to a file, so the
    /// program's stderr stays its own.
    pub fn valgrind(&self) -> (Output, ValgrindCounts) {
        let valgrind = which("valgrind").unwrap_or_else(|| {
            panic!("valgrind is not installed: it is the oracle of these tests (`bash .ci/run` installs it)")
        });
        let dir = tempfile::Builder::new()
            .prefix("memscope-vg-")
            .tempdir()
            .expect("create temp dir");
        let log = dir.path().join("valgrind.log");
        let prefix = vec![
            "--tool=memcheck".to_string(),
            "--leak-check=no".to_string(),
            "--run-libc-freeres=no".to_string(),
            "--run-cxx-freeres=no".to_string(),
            format!("--log-file={}", log.display()),
        ];
        let cmd = self.command(&valgrind, &prefix);
        let output = run_with_timeout(cmd, self.timeout, &format!("(valgrind) {}", self.display()));
        let text = fs::read_to_string(&log).unwrap_or_else(|e| {
            panic!(
                "no valgrind log at {}: {e}; {}",
                log.display(),
                output.describe()
            )
        });
        let counts = ValgrindCounts::parse(&text).unwrap_or_else(|| {
            panic!(
                "cannot find the heap summary in valgrind's log of `{}`:\n{text}",
                self.display()
            )
        });
        (output, counts)
    }
}

impl Run {
    /// Runs the program traced and under valgrind, with environments made
    /// alike: valgrind adds variables to its client's environment
    /// (`LD_PRELOAD` of its own libraries, `LD_LIBRARY_PATH`,
    /// `GLIBCXX_FORCE_NEW`, `PWD`, ...), and programs that copy their
    /// environment (perl's `%ENV`) allocate by its size. So the traced run
    /// gets the same variables with the same values, its `LD_PRELOAD` is
    /// padded with `:` (empty entries, ignored by ld.so) to the same length,
    /// and the valgrind run gets a `MEMSCOPE_OUTPUT` of the same length.
    /// And since libmemscope.so has a TLS segment, which changes what glibc
    /// allocates for TLS bookkeeping at dlopen, the valgrind run preloads a
    /// tiny library with one `__thread` variable (`tls_module.c`).
    pub fn traced_and_valgrind(&self) -> (Traced, Output, ValgrindCounts) {
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
        let dir = tempfile::Builder::new()
            .prefix("memscope-test-")
            .tempdir()
            .expect("create temp dir");
        let output_pattern = dir.path().join("%p.msl").display().to_string();
        let mut cmd = traced_run.command(&traced_run.program, &[]);
        cmd.env("LD_PRELOAD", &ours);
        cmd.env("MEMSCOPE_OUTPUT", &output_pattern);
        let output = run_with_timeout(cmd, self.timeout, &format!("(traced) {}", self.display()));
        let trace = dir.path().join(format!("{}.msl", output.pid));
        let traced = Traced { output, trace, dir };
        assert!(
            traced.trace.is_file(),
            "no trace at {} after running `{}` under LD_PRELOAD={}; {}",
            traced.trace.display(),
            self.display(),
            preload,
            traced.output.describe()
        );

        let mut vg_run = self.clone();
        vg_run
            .env
            .insert("MEMSCOPE_OUTPUT".into(), "x".repeat(output_pattern.len()));
        if !theirs_user.is_empty() {
            vg_run.env_remove.retain(|k| k != "LD_PRELOAD");
            vg_run.env.insert("LD_PRELOAD".into(), theirs_user);
        }
        let (vg_out, counts) = vg_run.valgrind();
        (traced, vg_out, counts)
    }

    /// The variables valgrind adds or changes in its client's environment,
    /// found by running `env` under valgrind with this run's environment.
    fn valgrind_client_env(&self) -> BTreeMap<String, String> {
        let valgrind = which("valgrind").unwrap_or_else(|| {
            panic!("valgrind is not installed: it is the oracle of these tests (`bash .ci/run` installs it)")
        });
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

/// Whether the ELF file at `path` has a PT_TLS program header (64-bit
/// little-endian ELF only; anything else counts as "no").
pub fn elf_has_tls(path: &Path) -> bool {
    const PT_TLS: u32 = 7;
    let Ok(bytes) = fs::read(path) else {
        return false;
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let phentsize = u16_at(54);
    let phnum = u16_at(56);
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        bytes.len() >= at + 4 && u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) == PT_TLS
    })
}

/// Finds `name` in `$PATH`.
/// Debian's python3, not a version-manager shim (a shell script that would be traced
/// instead of the interpreter).
pub fn python3() -> PathBuf {
    let system = Path::new("/usr/bin/python3");
    if system.is_file() {
        system.to_path_buf()
    } else {
        which("python3").expect("python3 is not installed (`bash .ci/run` installs it)")
    }
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Spawns `cmd` with stdin from /dev/null and stdout/stderr captured, waits at
/// most `timeout`, and on timeout kills it (SIGKILL) and panics.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration, what: &str) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child: Child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let pid = child.id();
    let mut out_pipe = child.stdout.take().expect("stdout piped");
    let mut err_pipe = child.stderr.take().expect("stderr piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                if start.elapsed() > timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    // The readers may block if a grandchild holds the pipes;
                    // do not join them.
                    panic!("`{what}` did not finish within {timeout:?}: killed (pid {pid})");
                }
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("waiting for `{what}`: {e}"),
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Output {
        status,
        stdout,
        stderr,
        pid,
    }
}

// ---------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------

/// Runs `target/release/memscope ARGS...` (killed after [`DEFAULT_TIMEOUT`]) and returns its output.
pub fn memscope<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(memscope_bin());
    cmd.args(args);
    cmd.env_remove("LD_PRELOAD");
    cmd.env_remove("MEMSCOPE_OUTPUT");
    run_with_timeout(cmd, DEFAULT_TIMEOUT, "memscope")
}

/// Asserts that the CLI did not panic (its stderr has no `panicked`).
pub fn assert_no_panic(out: &Output, what: &str) {
    let err = out.stderr_str();
    assert!(
        !err.contains("panicked"),
        "memscope panicked on {what}: {}",
        out.describe()
    );
    assert!(
        out.status.signal().is_none(),
        "memscope died of a signal on {what}: {}",
        out.describe()
    );
}

/// `memscope analyze TRACE --format json`; panics unless it exits 0 with a
/// parseable report.
pub fn analyze(trace: &Path) -> Report {
    let text = analyze_text(trace);
    Report::parse(text.as_bytes()).unwrap_or_else(|e| {
        panic!(
            "memscope analyze {} printed no valid memscope-report/1 JSON ({e}):\n{}",
            trace.display(),
            truncate_for_message(&text)
        )
    })
}

/// The stdout of `memscope analyze TRACE --format json`, which must exit 0 without a panic.
fn analyze_text(trace: &Path) -> String {
    memscope_ok(&[
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ])
}

// ---------------------------------------------------------------------------
// The JSON report (schema memscope-report/1)
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, Clone)]
pub struct Report {
    pub schema: String,
    pub trace: TraceInfo,
    pub summary: Summary,
    pub leaks: Vec<Leak>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct TraceInfo {
    pub pid: u64,
    pub exe: String,
    pub args: Vec<String>,
    pub duration_ns: u64,
    pub truncated: bool,
    pub inconsistencies: u64,
    /// Events the tracer dropped.
    pub lost_events: u64,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Summary {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub peak_live_bytes: u64,
    pub live_at_exit: Live,
    pub threads: u64,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub blocks: u64,
    pub bytes: u64,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Leak {
    pub bytes: u64,
    pub blocks: u64,
    pub stack: Vec<Frame>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Frame {
    pub address: String,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u64>,
    pub module: Option<String>,
}

impl Report {
    /// Parses a report and checks its schema tag.
    pub fn parse(json: &[u8]) -> Result<Report, String> {
        let report: Report = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        if report.schema != "memscope-report/1" {
            return Err(format!(
                "schema is {:?}, expected \"memscope-report/1\"",
                report.schema
            ));
        }
        Ok(report)
    }

    /// Leaks whose total size is `bytes`.
    pub fn leaks_of_size(&self, bytes: u64) -> Vec<&Leak> {
        self.leaks.iter().filter(|l| l.bytes == bytes).collect()
    }

    /// A short listing of the leaks for assertion messages.
    pub fn describe_leaks(&self) -> String {
        let mut s = String::new();
        for l in self.leaks.iter().take(30) {
            s.push_str(&format!("  {} bytes in {} blocks:", l.bytes, l.blocks));
            for f in &l.stack {
                s.push_str(&format!(" {}", f.function.as_deref().unwrap_or(&f.address)));
            }
            s.push('\n');
        }
        if self.leaks.len() > 30 {
            s.push_str(&format!("  ... {} more\n", self.leaks.len() - 30));
        }
        s
    }
}

impl Leak {
    /// The function names of the stack, innermost first (`?` when unknown).
    pub fn functions(&self) -> Vec<&str> {
        self.stack
            .iter()
            .map(|f| f.function.as_deref().unwrap_or("?"))
            .collect()
    }

    /// Index of the first frame whose function is `name` (or a compiler
    /// clone of it such as `name.constprop.0`).
    pub fn frame_index(&self, name: &str) -> Option<usize> {
        self.stack.iter().position(|f| {
            f.function
                .as_deref()
                .is_some_and(|fun| fun == name || fun.starts_with(&format!("{name}.")))
        })
    }
}

// ---------------------------------------------------------------------------
// Valgrind's heap summary
// ---------------------------------------------------------------------------

/// Memcheck's `HEAP SUMMARY`: "in use at exit: B bytes in N blocks" and
/// "total heap usage: N allocs, M frees, B bytes allocated".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValgrindCounts {
    pub allocs: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub live_blocks: u64,
    pub live_bytes: u64,
}

impl ValgrindCounts {
    /// Parses a memcheck log (the last summary in it, if several).
    pub fn parse(log: &str) -> Option<ValgrindCounts> {
        let mut in_use = None;
        let mut total = None;
        for line in log.lines() {
            if let Some(rest) = after(line, "in use at exit:") {
                // "10,142 bytes in 5 blocks"
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.len() >= 5 && words[1] == "bytes" && words[2] == "in" {
                    in_use = Some((number(words[0])?, number(words[3])?));
                }
            } else if let Some(rest) = after(line, "total heap usage:") {
                // "18 allocs, 13 frees, 31,213 bytes allocated"
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.len() >= 6
                    && words[1].starts_with("allocs")
                    && words[3].starts_with("frees")
                {
                    total = Some((number(words[0])?, number(words[2])?, number(words[4])?));
                }
            }
        }
        let (live_bytes, live_blocks) = in_use?;
        let (allocs, frees, bytes_allocated) = total?;
        Some(ValgrindCounts {
            allocs,
            frees,
            bytes_allocated,
            live_blocks,
            live_bytes,
        })
    }
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

/// "1,535,638" -> 1535638.
fn number(s: &str) -> Option<u64> {
    let digits: String = s.chars().filter(|c| *c != ',').collect();
    digits.parse().ok()
}

/// The memscope side of a comparison with valgrind.
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

/// Asserts a trace was read completely and replayed without inconsistencies.
pub fn assert_clean(what: &str, r: &Report) {
    assert!(
        !r.trace.truncated,
        "{what}: the trace of a process that ended normally is reported truncated"
    );
    assert_eq!(
        r.trace.inconsistencies, 0,
        "{what}: the replay found {} inconsistencies (allocation of a live address or free of an unknown one) in a correct program's trace",
        r.trace.inconsistencies
    );
    assert_eq!(r.trace.lost_events, 0, "{what}: the tracer dropped events");
}

// ---------------------------------------------------------------------------
// Helpers of the survive_* tests (process trees, crashes, corpus, fuzzing)
// ---------------------------------------------------------------------------

/// Compiles `tests/fixtures/<source>` with `compiler flags... source libs... -o
/// target/fixtures/<output>`, cached like [`fixture`] (by source time and
/// command line), and returns the absolute path of the output.
pub fn build_surv_fixture(
    output: &str,
    source: &str,
    compiler: &str,
    flags: &[&str],
    libs: &[&str],
) -> PathBuf {
    compile_cached(output, &[source], compiler, flags, libs)
}

/// Every trace file in `dir`, sorted: `*.msl` (including `x.N.msl`, the name the
/// tracer takes when `x.msl` exists already: an exec in the same pid writes a
/// second trace), and also `*.msl.N`, for patterns not ending in `.msl`.
pub fn all_trace_files(dir: &Path) -> Vec<PathBuf> {
    let mut traces: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            match name.rsplit_once(".msl") {
                Some((_, rest)) => {
                    rest.is_empty()
                        || (rest.starts_with('.') && rest[1..].chars().all(|c| c.is_ascii_digit()))
                }
                None => false,
            }
        })
        .collect();
    traces.sort();
    traces
}

/// `memscope analyze TRACE --format json` as an untyped JSON value, for the
/// fields [`Report`] does not model (`origin`, `inherited_frees`, `exit`,
/// `warnings`, ...). Panics unless the CLI exits 0 with JSON.
pub fn analyze_json(trace: &Path) -> serde_json::Value {
    report_json(trace, &[])
}

// ---------------------------------------------------------------------------
// Detector, classifier and report tests (issue 3)
// ---------------------------------------------------------------------------

/// `memscope ARGS...` that must exit 0 without a panic; returns its stdout.
pub fn memscope_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = memscope(args);
    assert_no_panic(&out, &format!("{args:?}"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "memscope {args:?}: {}",
        out.describe()
    );
    out.stdout_str()
}

/// The records of `trace` in file order, each with its chunk's stream (0: process-wide
/// records), as `memscope dump` prints them (`Alloc { time: 5, ... }`).
pub fn dump_records(trace: &Path) -> Vec<(u32, String)> {
    let dump = memscope_ok(&["dump".as_ref(), trace.as_os_str()]);
    let mut stream = None;
    let mut records = Vec::new();
    for line in dump.lines() {
        if let Some(rest) = line.strip_prefix("chunk @") {
            stream = Some(
                rest.split_whitespace()
                    .nth(2)
                    .and_then(|s| s.parse().ok())
                    .expect("a chunk line names its stream"),
            );
        } else if let (Some(s), Some(record)) = (stream, line.strip_prefix("  ")) {
            records.push((s, record.to_string()));
        }
    }
    records
}

/// The function names of a JSON stack (innermost first; `?` when unknown).
pub fn stack_functions(stack: &serde_json::Value) -> Vec<String> {
    stack
        .as_array()
        .map(|frames| {
            frames
                .iter()
                .map(|f| f["function"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Compiles `tests/fixtures/<source>` with `compiler flags... source -o
/// target/fixtures/<output>` (cached like [`fixture`]) for the detector,
/// classifier and report tests; returns the output's path.
pub fn build_test_program(output: &str, source: &str, compiler: &str, flags: &[&str]) -> PathBuf {
    compile_cached(output, &[source], compiler, flags, &[])
}

/// `tests/fixtures/bug_free.c` (one known heap bug per mode), built the one way every
/// test that uses it needs.
pub fn bug_free() -> PathBuf {
    build_test_program(
        "bug_free",
        "bug_free.c",
        "gcc",
        &["-O0", "-g", "-Wall", "-Wextra", "-Wno-free-nonheap-object"],
    )
}

/// `memscope analyze TRACE --format json [EXTRA...]` as an untyped JSON value
/// (with `findings` and `metrics`).
pub fn report_json(trace: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "analyze".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    let text = memscope_ok(&args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valgrind_summary_with_commas() {
        let log = "\
==2510== HEAP SUMMARY:
==2510==     in use at exit: 10,142 bytes in 5 blocks
==2510==   total heap usage: 18 allocs, 13 frees, 31,213 bytes allocated
==2510== ";
        assert_eq!(
            ValgrindCounts::parse(log),
            Some(ValgrindCounts {
                allocs: 18,
                frees: 13,
                bytes_allocated: 31213,
                live_blocks: 5,
                live_bytes: 10142
            })
        );
    }

    #[test]
    fn parses_valgrind_summary_with_one_alloc() {
        // valgrind still writes "allocs"/"frees" for 1, but be tolerant.
        let log = "==1==     in use at exit: 0 bytes in 0 blocks\n==1==   total heap usage: 1 allocs, 1 frees, 1,024 bytes allocated\n";
        let c = ValgrindCounts::parse(log).unwrap();
        assert_eq!(
            (
                c.allocs,
                c.frees,
                c.bytes_allocated,
                c.live_blocks,
                c.live_bytes
            ),
            (1, 1, 1024, 0, 0)
        );
    }

    #[test]
    fn missing_summary_is_none() {
        assert_eq!(
            ValgrindCounts::parse("==1== Memcheck, a memory error detector\n"),
            None
        );
    }

    #[test]
    fn parses_report_example() {
        let json = br#"{ "schema": "memscope-report/1",
          "trace":   { "pid": 1234, "exe": "/usr/bin/sort", "args": ["sort", "x"], "duration_ns": 0, "truncated": false, "inconsistencies": 0, "lost_events": 0 },
          "summary": { "allocations": 3, "frees": 1, "bytes_allocated": 10, "peak_live_bytes": 9, "live_at_exit": { "blocks": 2, "bytes": 9 }, "threads": 1 },
          "leaks": [ { "bytes": 9, "blocks": 2, "stack": [ { "address": "0x401136", "function": "leak_one", "file": "exits.c", "line": 12, "module": "/path/to/exits" },
                                                          { "address": "0x401200", "function": null, "file": null, "line": null, "module": null } ] } ] }"#;
        let r = Report::parse(json).unwrap();
        assert_eq!(r.leaks[0].frame_index("leak_one"), Some(0));
        assert_eq!(r.leaks[0].functions(), vec!["leak_one", "?"]);
        assert_eq!(Counts::from(&r).live_bytes, 9);
    }

    #[test]
    fn rejects_other_schema() {
        let json = br#"{ "schema": "memscope-report/2", "trace": { "pid": 1, "exe": "", "args": [], "duration_ns": 0, "truncated": false, "inconsistencies": 0, "lost_events": 0 },
          "summary": { "allocations": 0, "frees": 0, "bytes_allocated": 0, "peak_live_bytes": 0, "live_at_exit": { "blocks": 0, "bytes": 0 }, "threads": 1 }, "leaks": [] }"#;
        assert!(Report::parse(json).is_err());
    }
}

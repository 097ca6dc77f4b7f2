//! Windows programs under Wine, for the Windows front end's tests: the tools (Wine 8's
//! `wine64` and `wineserver`, mingw-w64's compilers), one private Wine prefix for the
//! whole test process (created once, with the automatic debugger turned off so that a
//! crashing program ends with its exception code instead of waiting in `winedbg`), one
//! `wineserver -p` kept running across tests, and a stage folder holding the Windows
//! build of memscope (`memscope.exe`, `memscope_windows.dll`, built by
//! `cargo build --release --target x86_64-pc-windows-gnu -p memscope
//! -p memscope-preload-windows`) with the `ProcessPrng` stand-in DLL that Rust std
//! programs need under Wine 8 (`fixtures/windows/bcryptprimitives.c`).
//!
//! Fixtures are built into the stage folder (`-g -O2`), once per output name.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::paths::{fixtures_src_dir, target_dir, workspace_root};
use crate::process::{run_with_timeout, Output};
use crate::report::{Report, ReportExt};

/// Wine's 64-bit loader as Debian installs it.
const WINE64: &str = "/usr/lib/wine/wine64";
const WINESERVER: &str = "/usr/lib/wine/wineserver64";
/// mingw-w64's compilers (Debian's gcc-mingw-w64-x86-64 and g++-mingw-w64-x86-64).
pub const MINGW_CC: &str = "x86_64-w64-mingw32-gcc";
pub const MINGW_CXX: &str = "x86_64-w64-mingw32-g++";
/// The Windows build's folder.
const WINDOWS_RELEASE: &str = "x86_64-pc-windows-gnu/release";

/// The Wine setup every test shares.
#[derive(Debug)]
pub struct Wine {
    pub prefix: PathBuf,
    /// `memscope.exe`, its DLL, the stand-in DLL and the compiled fixtures.
    pub stage: PathBuf,
}

/// The shared setup, made on first use; panics saying what is missing.
pub fn wine() -> &'static Wine {
    static WINE: OnceLock<Wine> = OnceLock::new();
    WINE.get_or_init(setup)
}

fn setup() -> Wine {
    for tool in [WINE64, WINESERVER] {
        assert!(
            Path::new(tool).is_file(),
            "{tool} is missing: install wine64 (scripts/ensure_packages.sh wine64)"
        );
    }
    let prefix = target_dir().join("wine-prefix");
    let stage = target_dir().join("wine-stage");
    std::fs::create_dir_all(&stage).unwrap();
    let release = target_dir().join(WINDOWS_RELEASE);
    for name in ["memscope.exe", "memscope_windows.dll"] {
        let built = release.join(name);
        assert!(
            built.is_file(),
            "{} is missing: build it with `cargo build --release --target x86_64-pc-windows-gnu -p memscope -p memscope-preload-windows` (in {})",
            built.display(),
            workspace_root().display()
        );
        std::fs::copy(&built, stage.join(name)).unwrap();
    }
    let stand_in = fixtures_src_dir().join("windows/bcryptprimitives.c");
    compile(
        MINGW_CC,
        &stand_in,
        &stage.join("bcryptprimitives.dll"),
        &["-shared", "-O2"],
        &["-ladvapi32"],
    );
    let fresh = !prefix.join("system.reg").is_file();
    // The server first, kept alive across tests (`-p`: persistent): every later wine
    // command connects to it instead of starting one (seconds).
    let mut server = Command::new(WINESERVER);
    server.arg("-p").env("WINEPREFIX", &prefix);
    let _ = server.status();
    if fresh {
        let out = wine_command(&prefix, &["wineboot", "--init"], None)
            .output()
            .unwrap();
        assert!(out.status.success(), "wineboot failed: {out:?}");
        // No automatic debugger: an unhandled exception ends the program with its code.
        let key = r"HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug";
        for (name, value) in [("Debugger", "false"), ("Auto", "1")] {
            let out = wine_command(
                &prefix,
                &["reg", "add", key, "/v", name, "/d", value, "/f"],
                None,
            )
            .output()
            .unwrap();
            assert!(out.status.success(), "reg add {name} failed: {out:?}");
        }
    }
    Wine { prefix, stage }
}

/// A `wine64 ARGS...` command in the shared prefix, quiet, from `cwd`.
fn wine_command(prefix: &Path, args: &[&str], cwd: Option<&Path>) -> Command {
    let mut cmd = Command::new(WINE64);
    cmd.args(args)
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env_remove("LD_PRELOAD")
        .env_remove("MEMSCOPE_OUTPUT")
        .env_remove("DISPLAY");
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd
}

/// Compiles `source` into `output` unless `output` is newer.
fn compile(compiler: &str, source: &Path, output: &Path, flags: &[&str], libs: &[&str]) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let newer = |a: &Path, b: &Path| {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        matches!((m(a), m(b)), (Some(x), Some(y)) if x >= y)
    };
    if newer(output, source) {
        return;
    }
    let status = Command::new(compiler)
        .args(flags)
        .arg(source)
        .arg("-o")
        .arg(output)
        .args(libs)
        .status()
        .unwrap_or_else(|e| {
            panic!("{compiler}: {e} (install gcc-mingw-w64-x86-64 / g++-mingw-w64-x86-64-win32)")
        });
    assert!(
        status.success(),
        "{compiler} {} failed: {status}",
        source.display()
    );
}

/// `fixtures/windows/<source>` built with `compiler -g -O2` as `<stage>/<exe>`; a C++
/// fixture gets the mingw runtime DLLs it links (libstdc++, libgcc) beside it.
pub fn windows_fixture(exe: &str, source: &str, compiler: &str) -> PathBuf {
    let w = wine();
    let out = w.stage.join(exe);
    compile(
        compiler,
        &fixtures_src_dir().join("windows").join(source),
        &out,
        &["-g", "-O2"],
        &[],
    );
    if compiler == MINGW_CXX {
        for dll in ["libstdc++-6.dll", "libgcc_s_seh-1.dll"] {
            let found = std::fs::read_dir("/usr/lib/gcc/x86_64-w64-mingw32")
                .into_iter()
                .flatten()
                .flatten()
                .map(|d| d.path().join(dll))
                .find(|p| p.is_file())
                .unwrap_or_else(|| panic!("{dll} of mingw-w64 not found"));
            let to = w.stage.join(dll);
            if !to.is_file() {
                std::fs::copy(found, to).unwrap();
            }
        }
    }
    out
}

/// A path of this machine as Wine names it (drive `Z:` is the root).
pub fn windows_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// The low byte of a Windows exit code: what a Unix parent sees of `wine64`'s status.
pub fn shell_code(windows_code: i64) -> i32 {
    (windows_code & 0xff) as i32
}

/// One program run under `memscope.exe run` in Wine.
#[derive(Debug)]
pub struct WineRun {
    pub output: Output,
    pub report: Report,
    /// The trace (in the run's folder).
    pub trace: PathBuf,
}

/// Runs `<stage>/<exe> ARGS` natively under Wine; its status as Unix sees it.
pub fn run_native(exe: &Path, args: &[&str]) -> Option<i32> {
    let w = wine();
    let mut all = vec![exe.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run_with_timeout(
        wine_command(&w.prefix, &all, Some(&w.stage)),
        Duration::from_secs(120),
        "wine",
    );
    out.status.code()
}

/// Runs `memscope.exe run --format json --report R --output T -- <exe> ARGS` in Wine,
/// with the trace and report in the fresh folder `dir`.
pub fn run_traced(exe: &Path, args: &[&str], dir: &Path) -> WineRun {
    let w = wine();
    let report = dir.join("report.json");
    let template = dir.join("trace.%p.msl");
    let (report_w, template_w) = (windows_path(&report), windows_path(&template));
    let memscope = w.stage.join("memscope.exe");
    let mut all = vec![
        memscope.to_str().unwrap(),
        "run",
        "--format",
        "json",
        "--report",
        report_w.as_str(),
        "--output",
        template_w.as_str(),
        "--",
        exe.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let output = run_with_timeout(
        wine_command(&w.prefix, &all, Some(&w.stage)),
        Duration::from_secs(120),
        "memscope.exe run",
    );
    let json = std::fs::read(&report).unwrap_or_else(|e| {
        panic!(
            "no report at {} ({e}): {}",
            report.display(),
            output.describe()
        )
    });
    let report = Report::parse(&json).unwrap_or_else(|e| panic!("bad report: {e}"));
    let trace = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|d| d.path())
        .find(|p| p.extension().is_some_and(|e| e == "msl"))
        .expect("no trace in the run's folder");
    WineRun {
        output,
        report,
        trace,
    }
}

/// The exit status of a finished command (for messages).
pub fn describe_status(status: ExitStatus) -> String {
    format!("{status}")
}

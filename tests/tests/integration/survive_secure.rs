//! Secure defaults of the tracer: traces are created with mode 0600 whatever
//! the umask; a symlink planted at the trace path is never written through
//! (the tracer takes another name or writes nothing); in secure-execution
//! mode (a setuid-root program started by an unprivileged user) the preload
//! writes no trace at all.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use memscope_tests::{
    all_trace_files, build_test_program, copy_program, preload_lib, report_json, run_with_timeout,
};

fn surv_secure() -> PathBuf {
    build_test_program(
        "surv_secure",
        "surv_secure.c",
        "gcc",
        &["-O1", "-g", "-Wall", "-Wextra"],
    )
}

fn run(cmd: Command, what: &str) -> memscope_tests::Output {
    run_with_timeout(cmd, Duration::from_secs(60), what)
}

#[test]
fn traces_are_mode_0600_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    // umask 0 in the shell, then exec the program in the same process.
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "umask 000; exec \"$0\""])
        .arg(surv_secure())
        .env("LD_PRELOAD", preload_lib())
        .env("MEMSCOPE_OUTPUT", dir.path().join("%p.msl"));
    let out = run(cmd, "sh -c 'umask 000; exec surv_secure'");
    assert!(out.status.success(), "{}", out.describe());
    assert_eq!(out.stdout_str(), "secure=0 preloaded=1\n");
    let traces = all_trace_files(dir.path());
    assert_eq!(
        traces.len(),
        2,
        "the shell's and the program's traces: {traces:?}"
    );
    for t in &traces {
        let mode = std::fs::symlink_metadata(t).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", t.display());
    }
}

/// A symlink at the exact trace path, to an existing file and to a file
/// that does not exist yet: neither target is written or created.
#[test]
fn a_symlink_at_the_trace_path_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let absent = dir.path().join("created-through-link");
    for (name, target) in [("to-victim.msl", &victim), ("dangling.msl", &absent)] {
        let link = dir.path().join(name);
        std::os::unix::fs::symlink(target, &link).unwrap();
        let mut cmd = Command::new(surv_secure());
        cmd.env("LD_PRELOAD", preload_lib())
            .env("MEMSCOPE_OUTPUT", &link);
        let out = run(cmd, "surv_secure");
        assert!(out.status.success(), "{name}: {}", out.describe());
        assert_eq!(out.stdout_str(), "secure=0 preloaded=1\n", "{name}");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious\n",
            "{name}: the symlink's target was written"
        );
        assert!(
            !absent.exists(),
            "{name}: a file was created through the dangling symlink"
        );
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            *target,
            "{name}: the symlink was replaced"
        );
        // Whatever trace was written instead is a regular 0600 file and readable.
        for t in all_trace_files(dir.path()) {
            let meta = std::fs::symlink_metadata(&t).unwrap();
            if meta.file_type().is_symlink() {
                continue;
            }
            assert!(meta.is_file(), "{}", t.display());
            assert_eq!(meta.mode() & 0o7777, 0o600, "{}", t.display());
            let v = report_json(&t, &[]);
            assert_eq!(v["trace"]["inconsistencies"], 0, "{}", t.display());
        }
    }
}

/// Removes a file when dropped (the library copy in a system folder).
struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

/// A setuid-root copy of the fixture, started by `nobody`. In secure mode
/// ld.so loads an LD_PRELOAD entry only from a system folder and only if it
/// is setuid itself, so the test puts a setuid copy of libmemscope.so in
/// /usr/lib/x86_64-linux-gnu for the time of the test (as root). The fixture
/// prints that it runs in secure mode with the library mapped; the preload
/// must then write nothing.
#[test]
fn secure_execution_writes_no_trace() {
    assert_eq!(
        uid(),
        0,
        "this test makes a setuid-root program: run it as root (CI does)"
    );
    let libdir = Path::new("/usr/lib/x86_64-linux-gnu");
    assert!(
        libdir.is_dir(),
        "{} is missing (Debian x86-64 expected)",
        libdir.display()
    );
    let lib_name = format!("libmemscope-survtest-{}.so", std::process::id());
    let lib = libdir.join(&lib_name);
    std::fs::copy(preload_lib(), &lib).unwrap();
    let _cleanup = RemoveOnDrop(lib.clone());
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o4755)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let program = dir.path().join("surv_secure_setuid");
    copy_program(&surv_secure(), &program);
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let traces = dir.path().join("traces");
    std::fs::create_dir(&traces).unwrap();
    std::fs::set_permissions(&traces, std::fs::Permissions::from_mode(0o1777)).unwrap();

    // A plain copy (not setuid) run the same way is traced: the folder and
    // the library work for nobody, so the test can see a trace if one is written.
    let plain = dir.path().join("surv_secure_plain");
    copy_program(&surv_secure(), &plain);
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
    // setpriv drops to nobody, then env (not setuid) sets the preload and
    // execs the program.
    let as_nobody = |program: &Path| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/env",
        ])
        .arg(format!("LD_PRELOAD={lib_name}"))
        .arg(format!("MEMSCOPE_OUTPUT={}/%p.msl", traces.display()))
        .arg(program)
        .env_remove("LD_PRELOAD")
        .env_remove("MEMSCOPE_OUTPUT");
        run(cmd, "setpriv ... surv_secure")
    };
    let exes = || -> Vec<String> {
        all_trace_files(&traces)
            .iter()
            .map(|t| {
                report_json(t, &[])["trace"]["exe"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string()
            })
            .collect()
    };
    let out = as_nobody(&plain);
    assert!(out.status.success(), "{}", out.describe());
    assert_eq!(
        out.stdout_str(),
        "secure=0 preloaded=1\n",
        "the plain copy as nobody"
    );
    assert!(
        exes().contains(&plain.display().to_string()),
        "the plain copy run as nobody left no trace in {}: {:?}; {}",
        traces.display(),
        exes(),
        out.describe()
    );

    let out = as_nobody(&program);
    assert!(out.status.success(), "{}", out.describe());
    assert_eq!(
        out.stdout_str(),
        "secure=1 preloaded=1\n",
        "the program must run in secure mode with the preload mapped (else this test proves nothing)"
    );
    assert!(
        !exes().contains(&program.display().to_string()),
        "a trace of the setuid program was written in secure-execution mode: {:?}",
        all_trace_files(&traces)
    );
}

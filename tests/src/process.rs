//! Running a child process with a deadline: stdin from `/dev/null`, stdout and stderr
//! captured (read by two threads, so a chatty child never blocks on a full pipe), killed
//! with SIGKILL and the test failed when it runs too long. [`Output`] is what it left.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one program may run before it is killed and the test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

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

/// `s`, cut to a few kilobytes for an assertion message.
pub(crate) fn truncate_for_message(s: &str) -> String {
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

//! Signal forwarding for `memscope run`: while the program runs, SIGINT, SIGTERM, SIGHUP
//! and SIGQUIT sent to memscope go to the program instead of ending memscope, which keeps
//! waiting and reports when the program ends (with the program's status, 128 + signal).
//! Without this, `kill memscope` or `timeout 2 memscope run -- sleep 30` ended memscope
//! at once and left the program running, untraced by anyone, with no report.
//!
//! A signal the kernel raised (a terminal's Ctrl-C, Ctrl-\ or hangup, sent to the whole
//! foreground process group, which the program shares with memscope) reached the program
//! already: it is not sent again. Only signals another process sent to memscope (`kill`,
//! `timeout`, a CI runner) are passed on, to the program's pid (the program's own
//! children are the program's business, as they are when it runs without memscope).
//!
//! Forwarding must never hit a stranger: the program's pid stays its own until it is
//! reaped, so the waiter first waits without reaping ([`wait_for_exit`]), then stops
//! forwarding under the same lock the forwarder sends under ([`Forwarder::program_ended`]),
//! and only then reaps. Once the program has ended, these signals end memscope as their
//! default action would (a Ctrl-C during a long analysis still stops it), but not before
//! the run's traces are out of the per-run directory ([`Forwarder::release`]), and not
//! within a second of the program's end: a `timeout` or a CI runner signals memscope and
//! the program's whole group at once, and memscope may read its own copy only after it
//! saw the program end; that one must not cost the report.
//!
//! A signal memscope was started with ignored (`nohup` ignores SIGHUP; a shell ignores
//! SIGINT and SIGQUIT for background jobs) is left ignored, so that the program inherits
//! that too, as it would without memscope.
//!
//! The handlers are installed before the program is spawned (a signal in between is kept
//! and forwarded once the pid is known); `exec` resets caught signals to their default,
//! so the program starts with memscope's own dispositions.

use std::io::ErrorKind;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::{Cause, Origin};

/// The signals passed on to the program.
pub const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// How long after the program's end a signal is still taken for the one that ended it
/// (a `timeout` or a CI runner signals memscope and the program's group at once; the
/// program may be seen to end before memscope's copy is read).
const GRACE: Duration = Duration::from_secs(1);

/// Where forwarded signals go: nowhere yet (not spawned), the program, or nowhere any
/// more (it ended at `at`; `released`: the traces are in place, so a signal may end
/// memscope at once; `held`: one that came before).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    NotStarted,
    Program(u32),
    Ended {
        at: Instant,
        released: bool,
        held: Option<i32>,
    },
}

/// The handlers, and the thread that forwards what they catch.
#[derive(Debug)]
pub struct Forwarder {
    target: Arc<Mutex<Target>>,
    /// Signals caught before the program had a pid, sent once it has one.
    early: Arc<Mutex<Vec<i32>>>,
}

impl Forwarder {
    /// Installs the handlers (before the program is spawned). `None` if they cannot be
    /// installed: the signals then keep their default actions, as before forwarding.
    pub fn install() -> Option<Forwarder> {
        let ignored = ignored_signals();
        let wanted: Vec<i32> = FORWARDED
            .into_iter()
            .filter(|&s| ignored & (1u64 << (s - 1)) == 0)
            .collect();
        let mut signals = SignalsInfo::<WithOrigin>::new(wanted).ok()?;
        let target = Arc::new(Mutex::new(Target::NotStarted));
        let early = Arc::new(Mutex::new(Vec::new()));
        let (t, e) = (Arc::clone(&target), Arc::clone(&early));
        std::thread::Builder::new()
            .name("memscope-signals".into())
            .spawn(move || {
                for origin in signals.forever() {
                    deliver(&origin, &t, &e);
                }
            })
            .ok()?;
        Some(Forwarder { target, early })
    }

    /// The program was spawned as `pid`: forward to it from now on (and what came
    /// before).
    pub fn program_started(&self, pid: u32) {
        let mut target = lock(&self.target);
        *target = Target::Program(pid);
        for sig in lock(&self.early).drain(..) {
            send(pid, sig);
        }
    }

    /// The program has ended (not reaped yet): stop forwarding; a later signal is held
    /// until [`Forwarder::release`].
    pub fn program_ended(&self) {
        *lock(&self.target) = Target::Ended {
            at: Instant::now(),
            released: false,
            held: None,
        };
    }

    /// The traces are in place: a held signal ends memscope now, later ones at once.
    pub fn release(&self) {
        let mut target = lock(&self.target);
        let mut held = None;
        if let Target::Ended {
            released, held: h, ..
        } = &mut *target
        {
            *released = true;
            held = h.take();
        }
        drop(target);
        if let Some(sig) = held {
            let _ = signal_hook::low_level::emulate_default_handler(sig);
        }
    }
}

/// What to do with one caught signal.
fn deliver(origin: &Origin, target: &Mutex<Target>, early: &Mutex<Vec<i32>>) {
    let sig = origin.signal;
    let mut target = lock(target);
    match &mut *target {
        // Most likely the signal that ended the program, seen late.
        Target::Ended { at, .. } if at.elapsed() < GRACE => {}
        Target::Ended { released: true, .. } => {
            drop(target);
            // Ends memscope as the default action would (all four end a process).
            let _ = signal_hook::low_level::emulate_default_handler(sig);
        }
        Target::Ended { held, .. } => *held = Some(sig),
        // The terminal sent it to the whole foreground group: the program has it.
        _ if origin.cause == Cause::Kernel => {}
        Target::NotStarted => lock(early).push(sig),
        Target::Program(pid) => send(*pid, sig),
    }
}

/// Sends `sig` to `pid` (not reaped yet, see the module comment).
fn send(pid: u32, sig: i32) {
    let (Some(pid), Some(sig)) = (
        i32::try_from(pid).ok().and_then(Pid::from_raw),
        Signal::from_named_raw(sig),
    ) else {
        return;
    };
    // Fails only if the program is already gone; then nothing is left to tell.
    let _ = rustix::process::kill_process(pid, sig);
}

/// Waits until the child `pid` has ended, leaving it to be reaped (its pid stays its own
/// meanwhile). Returns early on an error other than an interruption; the caller's
/// `wait` then reports it.
pub fn wait_for_exit(pid: u32) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Err(e) if std::io::Error::from(e).kind() == ErrorKind::Interrupted => continue,
            _ => return,
        }
    }
}

/// The signals this process ignores, as the kernel's mask (bit `sig - 1`), read from
/// `/proc/self/status` (`SigIgn:`); none if it cannot be read.
fn ignored_signals() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

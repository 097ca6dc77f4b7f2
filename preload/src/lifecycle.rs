//! The tracer's life cycle: start, thread exit, flushes, fork, exit paths, fatal signals.
//!
//! ```text
//!   UNINIT ──first hook or library constructor──► STARTING ──► ACTIVE ──► (process ends)
//!                                                   │                 │
//!                                                   └──► OFF ◄────────┘ (no trace file,
//!                                                        secure-execution mode, write error)
//! ```
//! ACTIVE in a forked child starts over with a fresh writer and trace (or OFF when
//! children are not followed). Every way out of the process flushes first: `exit` and
//! return from `main` (library destructor), `_exit`/`_Exit`, `exec*`, fatal signals (then
//! re-raised with the default action, so the exit status is unchanged), and glibc's own
//! abort on a bad free (SIGABRT). After the final flush the tracer stays on in "final
//! mode", where each later event is flushed at once.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use memscope_format::{ExitHow, Header, Origin};
use memscope_platform::clock::{event_ns, now_ns, realtime_ns, sleep_ns, start_event_clock};
use memscope_platform::file::{read_link, read_small_file, write_stderr, RawFile};
use memscope_platform::modules::load_generation;
use memscope_platform::thread::{current_pid, futex_wait, futex_wake, parent_pid};
use memscope_platform::unwind::StackUnwinder;

use crate::config;
use crate::guard::{tls, Guard};
use crate::recorder;
use crate::slot::{self, ThreadSlot, EXITING};
use crate::writer::Writer;

const UNINIT: u8 = 0;
const STARTING: u8 = 1;
const ACTIVE: u8 = 2;
const OFF: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static UNWINDER: AtomicPtr<StackUnwinder> = AtomicPtr::new(std::ptr::null_mut());
static FLUSH_REQ: AtomicU32 = AtomicU32::new(0);
static FLUSH_DONE: AtomicU32 = AtomicU32::new(0);
static DOORBELL: AtomicU32 = AtomicU32::new(0);
static END_WANTED: AtomicBool = AtomicBool::new(false);
static FINAL_MODE: AtomicBool = AtomicBool::new(false);
static EXIT_RECORDED: AtomicBool = AtomicBool::new(false);
static LOST_EVENTS: AtomicU64 = AtomicU64::new(0);
/// Set when a producer gave up waiting for the writer, cleared by the writer's next
/// round: while set, a full ring drops its event at once instead of waiting again.
static WRITER_STALLED: AtomicBool = AtomicBool::new(false);
/// Set while the writer waits for work (see [`writer_idle_wait`]).
static WRITER_SLEEPING: AtomicBool = AtomicBool::new(false);
const DEFAULT_FULL_RING_WAIT_NS: u64 = 10_000_000_000;
/// How long a producer waits on a full ring before it drops the event
/// (`MEMSCOPE_FULL_RING_WAIT_MS`).
pub static FULL_RING_WAIT_NS: AtomicU64 = AtomicU64::new(DEFAULT_FULL_RING_WAIT_NS);
static WRITER_TID: AtomicU32 = AtomicU32::new(0);
static THREAD_KEY: AtomicU32 = AtomicU32::new(u32::MAX);
static TRACED_PID: AtomicU32 = AtomicU32::new(0);

/// Whether events are being recorded.
#[inline(always)]
pub fn tracing() -> bool {
    STATE.load(Ordering::Relaxed) == ACTIVE
}

/// Starts the tracer if nobody has; true once it is running. Call with the guard held.
pub fn ensure_started() -> bool {
    loop {
        match STATE.compare_exchange(UNINIT, STARTING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let ok = start(Origin::Start);
                STATE.store(if ok { ACTIVE } else { OFF }, Ordering::Release);
                return ok;
            }
            Err(ACTIVE) => return true,
            Err(OFF) => return false,
            Err(_) => sleep_ns(50_000), // another thread is starting the tracer
        }
    }
}

/// Opens the trace, reads the modules, installs the handlers and starts the writer.
fn start(origin: Origin) -> bool {
    // SAFETY: getauxval has no preconditions.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return false; // setuid/setgid: never write where the environment says.
    }
    config::load();
    if origin == Origin::ForkChild && !config::FOLLOW_CHILDREN.load(Ordering::Relaxed) {
        return false;
    }
    TRACED_PID.store(current_pid(), Ordering::Relaxed);
    // A forked child keeps its parent's event clock, so that the two traces' times agree.
    let start_ns = if origin == Origin::Start {
        start_event_clock()
    } else {
        event_ns()
    };
    let Some(file) = open_trace(origin, start_ns) else {
        return false;
    };
    let writer = Writer::new(file);
    publish_unwinder(writer.unwinder());
    if origin == Origin::Start {
        install_once();
    }
    spawn_writer(writer)
}

/// Creates the trace file and writes its header (`start_ns`: the trace's start time).
fn open_trace(origin: Origin, start_ns: u64) -> Option<RawFile> {
    let pid = current_pid();
    let exe = read_link(c"/proc/self/exe").unwrap_or_default();
    let cmdline = read_small_file(c"/proc/self/cmdline").unwrap_or_default();
    let args: Vec<&[u8]> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .collect();
    let exe_name = exe
        .rsplit(|&b| b == b'/')
        .next()
        .unwrap_or(b"unknown")
        .to_vec();
    let pattern = config::output_pattern();
    let base = config::expand_pattern(&pattern, pid, &exe_name);
    // The same pid can trace twice (after exec): never clobber, take the next free name,
    // `x.1.msl` for `x.msl` (so that `*.msl` still finds it), else `x.1`.
    let mut file = None;
    let mut last_err = 0;
    for n in 0..100 {
        let mut path = base.clone();
        if n > 0 {
            let at = if path.ends_with(b".msl") {
                path.len() - 4
            } else {
                path.len()
            };
            path.splice(at..at, format!(".{n}").into_bytes());
        }
        path.push(0);
        let cpath = std::ffi::CStr::from_bytes_with_nul(&path).ok()?;
        match RawFile::create_exclusive(cpath) {
            Ok(f) => {
                file = Some(f);
                break;
            }
            Err(libc::EEXIST) => continue,
            Err(e) => {
                last_err = e;
                break;
            }
        }
    }
    let Some(file) = file else {
        let msg = format!(
            "memscope: cannot create trace file {} (errno {last_err}); not tracing\n",
            String::from_utf8_lossy(&base)
        );
        write_stderr(msg.as_bytes());
        return None;
    };
    let mut header = vec![0u8; 256 + exe.len() + cmdline.len() * 2];
    let depth = config::STACK_DEPTH.load(Ordering::Relaxed);
    let free_stacks = config::FREE_STACKS.load(Ordering::Relaxed);
    let encoded = Header::encode_raw(
        &mut header,
        pid,
        parent_pid(),
        origin,
        realtime_ns(),
        start_ns,
        &exe,
        &args,
        depth,
        free_stacks,
    );
    let Ok(n) = encoded else {
        write_stderr(b"memscope: cannot encode the trace header; not tracing\n");
        return None;
    };
    if file.write_all(&header[..n]).is_err() {
        write_stderr(b"memscope: cannot write the trace file; not tracing\n");
        return None;
    }
    Some(file)
}

/// Process-wide hooks that survive fork: thread-exit key, fork handler, signal handlers.
fn install_once() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain pthread/signal API calls with valid arguments; the handlers are
    // `extern "C"` functions that never unwind.
    unsafe {
        if libc::pthread_key_create(&mut key, Some(on_thread_exit)) == 0 {
            THREAD_KEY.store(key, Ordering::Relaxed);
        }
        libc::pthread_atfork(None, None, Some(on_fork_child));
    }
    crate::signals::install();
}

fn spawn_writer(writer: Writer) -> bool {
    extern "C" fn writer_main(arg: *mut c_void) -> *mut c_void {
        let _guard = Guard::force();
        WRITER_TID.store(memscope_platform::thread::current_tid(), Ordering::Relaxed);
        // SAFETY: `arg` is the Box<Writer> leaked by spawn_writer, handed over once.
        let writer = unsafe { Box::from_raw(arg as *mut Writer) };
        writer.run()
    }
    let arg = Box::into_raw(Box::new(writer)) as *mut c_void;
    // SAFETY: the writer thread blocks every signal (so process-directed signals land on
    // the program's threads, whose handlers may wait for the writer); the old mask is
    // restored right after pthread_create.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut t: libc::pthread_t = 0;
        let r = libc::pthread_create(&mut t, std::ptr::null(), writer_main, arg);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if r != 0 {
            drop(Box::from_raw(arg as *mut Writer));
            write_stderr(b"memscope: cannot start the writer thread; not tracing\n");
            return false;
        }
        libc::pthread_detach(t);
        libc::pthread_setname_np(t, c"memscope-writer".as_ptr());
    }
    true
}

/// The unwinder hooks use now.
#[inline(always)]
pub fn unwinder() -> Option<&'static StackUnwinder> {
    let p = UNWINDER.load(Ordering::Acquire);
    // SAFETY: published unwinders are leaked, never freed, so the pointer stays valid.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Makes `u` the unwinder for new captures. The previous one is leaked on purpose: a hook
/// on another thread may still be walking it (one per module-list change).
pub fn publish_unwinder(u: StackUnwinder) {
    UNWINDER.store(Box::into_raw(Box::new(u)), Ordering::Release);
}

/// Arranges for `on_thread_exit` to run when the calling thread ends.
pub fn watch_thread_exit(s: &'static ThreadSlot) {
    let key = THREAD_KEY.load(Ordering::Relaxed);
    if key != u32::MAX {
        // SAFETY: a key we created; the value is a leaked slot.
        unsafe { libc::pthread_setspecific(key, s as *const ThreadSlot as *const c_void) };
    }
}

extern "C" fn on_thread_exit(value: *mut c_void) {
    let _g = Guard::force();
    // SAFETY: the value set by watch_thread_exit: a leaked slot.
    let s = unsafe { &*(value as *const ThreadSlot) };
    recorder::thread_exit(s);
    // The thread keeps its slot (through TLS) for the frees glibc still does on its way
    // out; the writer frees the slot once the kernel says the thread is gone.
    s.state.store(EXITING, Ordering::Release);
}

extern "C" fn on_fork_child() {
    let _g = Guard::force();
    if STATE.load(Ordering::Relaxed) != ACTIVE {
        return;
    }
    let current = tls().slot;
    // SAFETY: a non-null TLS slot pointer is a leaked slot of this thread.
    let current = (!current.is_null()).then(|| unsafe { &*(current as *const ThreadSlot) });
    let stream = slot::reset_after_fork(current);
    FLUSH_REQ.store(0, Ordering::Relaxed);
    FLUSH_DONE.store(0, Ordering::Relaxed);
    END_WANTED.store(false, Ordering::Relaxed);
    FINAL_MODE.store(false, Ordering::Relaxed);
    EXIT_RECORDED.store(false, Ordering::Relaxed);
    // The parent's dropped events are in the parent's trace.
    LOST_EVENTS.store(0, Ordering::Relaxed);
    WRITER_STALLED.store(false, Ordering::Relaxed);
    STATE.store(STARTING, Ordering::Release);
    let ok = start(Origin::ForkChild);
    STATE.store(if ok { ACTIVE } else { OFF }, Ordering::Release);
    if let (true, Some(s)) = (ok, current) {
        recorder::thread_start(s, stream);
    }
}

// ---- flushing -------------------------------------------------------------------------

pub fn flush_requested() -> u32 {
    FLUSH_REQ.load(Ordering::Acquire)
}

pub fn flush_done(requested: u32) {
    if FLUSH_DONE.load(Ordering::Relaxed) != requested {
        FLUSH_DONE.store(requested, Ordering::Release);
        futex_wake(&FLUSH_DONE);
    }
}

pub fn take_end_request() -> bool {
    END_WANTED.swap(false, Ordering::AcqRel)
}

/// The writer's idle wait: until a flush request or a full ring rings the doorbell, at
/// most a millisecond.
pub fn writer_idle_wait() {
    WRITER_SLEEPING.store(true, Ordering::Relaxed);
    let v = DOORBELL.load(Ordering::Acquire);
    futex_wait(&DOORBELL, v, 1_000_000);
    WRITER_SLEEPING.store(false, Ordering::Relaxed);
}

fn ring_doorbell() {
    DOORBELL.fetch_add(1, Ordering::Release);
    futex_wake(&DOORBELL);
}

/// A producer's wait for room in its full ring.
#[derive(Default)]
pub struct FullRingWait {
    tries: u32,
    /// When to give up (monotonic ns), set when the naps start.
    deadline: u64,
}

impl FullRingWait {
    /// Wakes the writer and waits a little — spinning first (the writer, on another core,
    /// frees space within microseconds), then yielding (it may need this core), then
    /// napping. Returns false when the writer has not made room within
    /// `MEMSCOPE_FULL_RING_WAIT_MS` (ten seconds: it is stuck or gone): the event is then
    /// dropped rather than hanging the program, and until the writer completes another
    /// round every thread drops on a full ring at once. `patient`: a process-wide record
    /// (exit, fork), which waits even when the setting is 0.
    pub fn wait(&mut self, patient: bool) -> bool {
        if WRITER_TID.load(Ordering::Relaxed) == memscope_platform::thread::current_tid() {
            return false;
        }
        let mut limit = FULL_RING_WAIT_NS.load(Ordering::Relaxed);
        if limit == 0 && patient {
            limit = DEFAULT_FULL_RING_WAIT_NS;
        }
        if limit == 0 || WRITER_STALLED.load(Ordering::Relaxed) {
            // Dropping: no syscall unless the writer sleeps through a full ring.
            if WRITER_SLEEPING.load(Ordering::Relaxed) {
                ring_doorbell();
            }
            return false;
        }
        if self.tries.is_multiple_of(256) {
            ring_doorbell(); // a futex wake: not on every spin
        }
        self.tries += 1;
        match self.tries {
            0..1024 => std::hint::spin_loop(),
            1024..2048 => {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
            _ => {
                // A deadline, not a count of naps: timer slack makes a 20 µs nap last
                // several times longer.
                let now = now_ns();
                if self.deadline == 0 {
                    self.deadline = now.saturating_add(limit);
                } else if now >= self.deadline {
                    WRITER_STALLED.store(true, Ordering::Relaxed);
                    return false;
                }
                sleep_ns(20_000);
            }
        }
        true
    }
}

pub fn note_lost_event() {
    LOST_EVENTS.fetch_add(1, Ordering::Relaxed);
}

/// Events dropped so far (see [`FullRingWait::wait`]).
pub fn lost_events() -> u64 {
    LOST_EVENTS.load(Ordering::Relaxed)
}

/// The writer completed a round: producers wait for it again.
pub fn writer_alive() {
    if WRITER_STALLED.load(Ordering::Relaxed) {
        WRITER_STALLED.store(false, Ordering::Relaxed);
    }
}

pub fn final_mode() -> bool {
    FINAL_MODE.load(Ordering::Relaxed)
}

/// Waits until the writer has written every event pushed before this call (at most five
/// seconds). Async-signal-safe.
pub fn flush_all() {
    if STATE.load(Ordering::Acquire) != ACTIVE
        || WRITER_TID.load(Ordering::Relaxed) == memscope_platform::thread::current_tid()
    {
        return;
    }
    let target = FLUSH_REQ.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
    ring_doorbell();
    let deadline = now_ns() + 5_000_000_000;
    loop {
        let done = FLUSH_DONE.load(Ordering::Acquire);
        if (done.wrapping_sub(target) as i32) >= 0 || now_ns() > deadline {
            return;
        }
        futex_wait(&FLUSH_DONE, done, 10_000_000);
    }
}

/// Asks the writer to re-read the module list now and waits for it (it re-reads when the
/// loader's counters moved, as in every round): a stack ran into code outside every
/// module the unwinder knows. Right away when the loader loaded or unloaded something
/// since the last such request (a library a program calls just after `dlopen`),
/// otherwise at most once per two milliseconds, so that code outside any module (JIT
/// compilers) costs little. True if the unwinder now published is another than `used`
/// (the one the cut stack came from).
pub fn refresh_modules_now(used: &StackUnwinder) -> bool {
    static LAST: AtomicU64 = AtomicU64::new(0);
    static LAST_LOADS: AtomicU64 = AtomicU64::new(u64::MAX);
    let now = now_ns();
    let last = LAST.load(Ordering::Relaxed);
    let (adds, subs) = load_generation();
    let loads = adds.wrapping_add(subs.rotate_left(32));
    let loader_moved = LAST_LOADS.swap(loads, Ordering::Relaxed) != loads;
    if !loader_moved
        && (now.saturating_sub(last) < 2_000_000
            || LAST
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err())
    {
        return false;
    }
    LAST.store(now, Ordering::Relaxed);
    flush_all();
    !std::ptr::eq(UNWINDER.load(Ordering::Acquire), used)
}

/// Records how the process ends (once), writes everything and the end marker, and turns
/// on final mode.
pub fn final_flush(how: ExitHow, code: i32) {
    flush_before_death(how, code, true);
}

/// As [`final_flush`]; `final_mode` false leaves later events to the writer's rounds (for
/// a death that is likely but not certain).
pub fn flush_before_death(how: ExitHow, code: i32, final_mode: bool) {
    if STATE.load(Ordering::Acquire) != ACTIVE {
        return;
    }
    if !EXIT_RECORDED.swap(true, Ordering::AcqRel) || how == ExitHow::Exec {
        recorder::process_exit(how, code);
    }
    END_WANTED.store(true, Ordering::Release);
    if final_mode {
        FINAL_MODE.store(true, Ordering::Release);
    }
    flush_all();
}

/// Whether this process is the one being traced (false in a `vfork` child, which shares
/// the parent's memory and must leave the tracer alone).
pub fn is_traced_process() -> bool {
    tracing() && TRACED_PID.load(Ordering::Relaxed) == current_pid()
}

/// An `exec` returned: the image lives on, so leave final mode and keep tracing.
pub fn exec_failed() {
    FINAL_MODE.store(false, Ordering::Release);
    EXIT_RECORDED.store(false, Ordering::Release);
}

/// `exit(code)` was called: remember the status; the destructor flushes later, after the
/// program's own atexit handlers and destructors have freed what they free.
pub fn exit_called(code: i32) {
    if tracing() && !EXIT_RECORDED.swap(true, Ordering::AcqRel) {
        recorder::process_exit(ExitHow::Exit, code);
    }
}

/// Runs as a library destructor: return from `main` or `exit`.
pub extern "C" fn on_library_fini() {
    let _g = Guard::force();
    final_flush(ExitHow::Shutdown, 0);
}

/// Runs as a library constructor: start tracing before `main`.
pub extern "C" fn on_library_init() {
    if let Some(_g) = Guard::enter() {
        ensure_started();
    }
}

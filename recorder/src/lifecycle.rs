//! The tracer's life cycle: start, thread attach and exit, fork, and every way out of
//! the process.
//!
//! ```text
//!   UNINIT ──first event or front end's start──► STARTING ──► ACTIVE ──► (process ends)
//!                                                   │                 │
//!                                                   └──► OFF ◄────────┘ (no trace file,
//!                                                        secure-execution mode, write error)
//! ```
//! ACTIVE in a forked child starts over with a fresh writer and trace (or OFF when
//! children are not followed). Every way out of the process flushes first (the front end
//! calls in: `exit` and return from `main`, `_exit`/`_Exit`, `exec*`, fatal signals, a
//! libc's own abort on a bad free). After the final flush the tracer stays on in "final
//! mode", where each later event is flushed at once (docs/architecture.md, invariant 3).

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, Ordering};

use memscope_format::{ExitHow, Header, Origin, RawHeader};
use memscope_platform::clock::{event_ns, realtime_ns, sleep_ns, start_event_clock};
use memscope_platform::file::{write_stderr, RawFile};
use memscope_platform::thread::{current_pid, parent_pid};

use crate::config::{expand_pattern, Config};
use crate::front_end::{FrontEnd, ProcessIdentity};
use crate::guard::Guard;
use crate::handoff::HANDOFF;
use crate::live_map::LiveMap;
use crate::producer::Attached;
use crate::slot::{self, ThreadSlot, EXITING};
use crate::writer::Writer;
use crate::writer_thread;

const UNINIT: u8 = 0;
const STARTING: u8 = 1;
const ACTIVE: u8 = 2;
const OFF: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static EXIT_RECORDED: AtomicBool = AtomicBool::new(false);
static TRACED_PID: AtomicU32 = AtomicU32::new(0);
/// The settings of the current trace (leaked: one per traced process), published before
/// the state turns ACTIVE.
static CONFIG: AtomicPtr<Config> = AtomicPtr::new(std::ptr::null_mut());

/// Whether events are being recorded.
#[inline(always)]
pub fn tracing() -> bool {
    STATE.load(Ordering::Relaxed) == ACTIVE
}

/// Starts the tracer if nobody has; true once it is running.
pub fn ensure_started<F: FrontEnd>(_: &Guard<F>) -> bool {
    loop {
        match STATE.compare_exchange(UNINIT, STARTING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                // The C library's allocations while starting (the writer thread's TLS,
                // ...) are the tracer's: from its private heap.
                let _own_work = Guard::<F>::force();
                let ok = start::<F>(Origin::Start, Config::from_env(), None);
                STATE.store(if ok { ACTIVE } else { OFF }, Ordering::Release);
                return ok;
            }
            Err(ACTIVE) => return true,
            Err(OFF) => return false,
            Err(_) => sleep_ns(50_000), // another thread is starting the tracer
        }
    }
}

/// The settings of the running trace.
fn config() -> Option<&'static Config> {
    let p = CONFIG.load(Ordering::Acquire);
    // SAFETY: published configurations are leaked, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Opens the trace, reads the modules, installs the handlers and starts the writer;
/// `inherited`: a forked child's live blocks from its parent.
fn start<F: FrontEnd>(origin: Origin, config: Config, inherited: Option<Box<LiveMap>>) -> bool {
    if F::secure_execution() {
        return false; // setuid/setgid: never write where the environment says.
    }
    if origin == Origin::ForkChild && !config.follow_children {
        return false;
    }
    TRACED_PID.store(current_pid(), Ordering::Relaxed);
    // A forked child keeps its parent's event clock, so that the two traces' times agree.
    let start_ns = if origin == Origin::Start {
        start_event_clock()
    } else {
        event_ns()
    };
    let Some(file) = open_trace(origin, start_ns, &config, F::process_identity()) else {
        return false;
    };
    HANDOFF.configure(&config);
    let leak_check = config.leak_check;
    CONFIG.store(Box::into_raw(Box::new(config)), Ordering::Release);
    let writer = Writer::new(file, leak_check, F::allocator_in_use(), inherited);
    #[cfg(stack_capture)]
    HANDOFF.publish_unwinder(writer.unwinder());
    if origin == Origin::Start {
        F::install_process_handlers();
    }
    writer_thread::spawn::<F>(writer)
}

/// Creates the trace file and writes its header (`start_ns`: the trace's start time).
fn open_trace(
    origin: Origin,
    start_ns: u64,
    config: &Config,
    identity: ProcessIdentity,
) -> Option<RawFile> {
    let pid = current_pid();
    let exe = identity.executable;
    let args: Vec<&[u8]> = identity.arguments.iter().map(Vec::as_slice).collect();
    let exe_name = exe
        .rsplit(|&b| b == b'/' || (cfg!(windows) && b == b'\\'))
        .next()
        .unwrap_or(b"unknown")
        .to_vec();
    let base = expand_pattern(&config.output_pattern, pid, &exe_name);
    // The same pid can trace twice (after exec): never clobber a trace being written;
    // a fixed name's trace from an earlier run is replaced (trace_name.rs).
    let fixed = crate::trace_name::is_fixed(&config.output_pattern);
    let file = match crate::trace_name::create_trace_file(&base, fixed, pid) {
        Ok(f) => f,
        Err(last_err) => {
            let msg = format!(
                "memscope: cannot create trace file {} (errno {last_err}); not tracing\n",
                String::from_utf8_lossy(&base)
            );
            write_stderr(msg.as_bytes());
            return None;
        }
    };
    let args_len: usize = args.iter().map(|a| a.len() + 1).sum();
    let mut header = vec![0u8; 256 + exe.len() + args_len * 2];
    let raw = RawHeader {
        pid,
        ppid: parent_pid(),
        origin,
        start_realtime_ns: realtime_ns(),
        start_clock_ns: start_ns,
        exe: &exe,
        args: &args,
        stack_depth: config.stack_depth,
        free_stacks: config.free_stacks,
    };
    let encoded = Header::encode_raw(&mut header, &raw);
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

// ---- threads ---------------------------------------------------------------------------

/// The calling thread, attached (and the tracer started) on first use. `None` when
/// tracing is off.
#[inline(always)]
pub fn current<F: FrontEnd>(g: &Guard<F>) -> Option<Attached<'_>> {
    if !tracing() {
        return ensure_started(g).then(|| attach(g)).flatten();
    }
    let state = g.state();
    if state.slot.is_null() {
        return attach(g);
    }
    // SAFETY: a non-null slot pointer was set by `attach` from a leaked slot.
    let slot = unsafe { &*(state.slot as *const ThreadSlot) };
    Some(Attached { state, slot })
}

/// The calling thread if it already has a slot, without attaching it (attaching
/// allocates).
fn already_attached<F: FrontEnd>(g: &Guard<F>) -> Option<Attached<'_>> {
    let state = g.state();
    // SAFETY: a non-null slot pointer was set by `attach` from a leaked slot.
    let slot = (!state.slot.is_null()).then(|| unsafe { &*(state.slot as *const ThreadSlot) })?;
    Some(Attached { state, slot })
}

#[cold]
fn attach<F: FrontEnd>(g: &Guard<F>) -> Option<Attached<'_>> {
    if !tracing() {
        return None;
    }
    if let Some(existing) = already_attached(g) {
        return Some(existing);
    }
    let (slot, stream) = slot::acquire(config()?)?;
    {
        // Watching for the thread's exit may make the C library allocate: the tracer's.
        let _own_work = Guard::<F>::force();
        F::watch_thread_exit();
    }
    let state = g.state();
    state.slot = slot as *const ThreadSlot as *mut c_void;
    let mut me = Attached { state, slot };
    me.thread_start(stream);
    Some(me)
}

/// The calling thread is ending: push its last entry. It keeps its slot for the frees
/// the C library still does on its way out; the writer frees the slot once the kernel
/// says the thread is gone.
pub fn thread_exit<F: FrontEnd>(g: &Guard<F>) {
    if let Some(mut me) = already_attached(g) {
        me.thread_exit();
        me.slot.state.store(EXITING, Ordering::Release);
    }
}

/// In a forked child: start its own trace (or stop tracing when children are not
/// followed); the thread that forked keeps its slot, with a fresh stream.
pub fn fork_child<F: FrontEnd>(g: &Guard<F>) {
    if STATE.load(Ordering::Relaxed) != ACTIVE {
        return;
    }
    let config = Config::from_env();
    // The parent's live blocks, with what its writer had not read yet: before the rings
    // are reset.
    let inherited = crate::inherit::take_in_child(crate::writer::follow_unread);
    let current = already_attached(g).map(|me| me.slot);
    let stream = slot::reset_after_fork(current, &config);
    HANDOFF.reset_after_fork();
    #[cfg(leak_check)]
    crate::leak_check::reset_after_fork();
    EXIT_RECORDED.store(false, Ordering::Relaxed);
    STATE.store(STARTING, Ordering::Release);
    let ok = start::<F>(Origin::ForkChild, config, inherited);
    STATE.store(if ok { ACTIVE } else { OFF }, Ordering::Release);
    if let (true, Some(mut me)) = (ok, already_attached(g)) {
        me.thread_start(stream);
    }
}

// ---- ways out --------------------------------------------------------------------------

/// Records how the process ends (once), writes everything and the end marker;
/// `final_mode`: from now on flush every event at once (false for a death that is likely
/// but not certain, whose later events the writer's rounds still write).
pub fn flush_before_death<F: FrontEnd>(g: &Guard<F>, how: ExitHow, code: i32, final_mode: bool) {
    if STATE.load(Ordering::Acquire) != ACTIVE {
        return;
    }
    if !EXIT_RECORDED.swap(true, Ordering::AcqRel) || how == ExitHow::Exec {
        record_exit(g, how, code);
    }
    // The image ends here (not replaced by exec): find what is still reachable, from
    // this thread's stack as the program left it.
    #[cfg(leak_check)]
    if how != ExitHow::Exec {
        let sp = memscope_platform::thread::stack_pointer();
        // Not from a signal handler: it may run on a small alternate stack.
        if how != ExitHow::Signal {
            crate::leak_check::clear_dead_stack(sp);
        }
        crate::leak_check::request(sp);
    }
    HANDOFF.request_end(final_mode);
    flush_all();
}

/// Pushes the process-exit entry from the calling thread.
fn record_exit<F: FrontEnd>(g: &Guard<F>, how: ExitHow, code: i32) {
    // From a signal handler: only a thread that already has a slot (attaching allocates)
    // and did not interrupt its own push.
    let me = if how == ExitHow::Signal {
        if g.interrupted_a_push() {
            return;
        }
        already_attached(g)
    } else {
        current(g)
    };
    if let Some(mut me) = me {
        me.process_exit(how, code);
    }
}

/// Waits until the writer has written every event pushed before this call (at most five
/// seconds), if a writer runs. Async-signal-safe.
pub fn flush_all() {
    if STATE.load(Ordering::Acquire) == ACTIVE {
        HANDOFF.flush_all();
    }
}

/// Whether this process is the one being traced (false in a `vfork` child, which shares
/// the parent's memory and must leave the tracer alone).
pub fn is_traced_process() -> bool {
    tracing() && TRACED_PID.load(Ordering::Relaxed) == current_pid()
}

/// An `exec` returned: the image lives on, so leave final mode and keep tracing.
pub fn exec_failed() {
    HANDOFF.leave_final_mode();
    EXIT_RECORDED.store(false, Ordering::Release);
}

/// `exit(code)` was called: remember the status; the final flush comes later, after the
/// program's own exit handlers and destructors have freed what they free.
pub fn exit_called<F: FrontEnd>(g: &Guard<F>, code: i32) {
    if tracing() && !EXIT_RECORDED.swap(true, Ordering::AcqRel) {
        record_exit(g, ExitHow::Exit, code);
    }
}

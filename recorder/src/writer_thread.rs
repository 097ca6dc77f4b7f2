//! Starts the writer thread: a thread of its own that blocks every signal and holds the
//! reentrancy guard for its whole life (docs/architecture.md, invariant 1).

use memscope_platform::file::write_stderr;
use memscope_platform::thread::spawn_detached;

use crate::front_end::FrontEnd;
use crate::guard::Guard;
use crate::handoff::HANDOFF;
use crate::writer::Writer;

/// Starts the writer thread, which holds the guard for its whole life. Signals are
/// blocked on it so that process-directed signals land on the program's threads, whose
/// handlers may wait for the writer.
pub fn spawn<F: FrontEnd>(writer: Writer) -> bool {
    let started = spawn_detached(c"memscope-writer", move || {
        let _guard = Guard::<F>::force();
        HANDOFF.writer_started();
        writer.run()
    });
    if !started {
        write_stderr(b"memscope: cannot start the writer thread; not tracing\n");
    }
    started
}

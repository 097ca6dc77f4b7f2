//! Reading a trace: pass 1 ([`reader`]: header, modules, interned stacks, the chunk index
//! of each thread stream, the tracer's [`leak_check`], with a [`progress`] bar for long
//! reads) and pass 2 ([`merge`]:
//! the thread streams in one global order, their chunks decoded ahead by [`prefetch`]),
//! sharing the typed [`event`] they hand on; [`family`]: the traces of a process tree by
//! their headers. [`synth`] builds synthetic traces for tests
//! through the format crate's own encoder.
//!
//! Uses nothing of the analyzer but `ids` and `error`.

pub mod event;
pub mod family;
pub mod leak_check;
pub mod merge;
pub mod prefetch;
pub mod progress;
pub mod reader;
pub mod synth;

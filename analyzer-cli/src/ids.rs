//! Typed indices used across the analyzer, so that a thread stream, a module record and
//! a stack id can never be mixed up with each other or with a plain count.

pub use memscope_format::StackId;

/// The stream a chunk belongs to: 0 holds process-wide records, every traced thread
/// writes to one stream of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

impl StreamId {
    /// The stream of blocks a forked child inherited from its parent (seeded from the
    /// parent's trace; the tracer never numbers a stream so).
    pub const INHERITED: StreamId = StreamId(u32::MAX);
}

/// Index of a `Module` record in the list of modules pass 1 keeps (`TraceIndex::modules`,
/// file order).
/// Module ids in the trace can be reused after an unload; this index cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleIdx(pub usize);

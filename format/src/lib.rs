//! The `.msl` trace format shared by the memscope tracer (which writes it) and the
//! memscope CLI (which reads it).
//!
//! A trace is a [`header`] followed by [`chunk`]s. Each chunk belongs to one stream
//! (stream 0 holds process-wide records: modules, stacks, exit; every traced thread has a
//! stream of its own), carries a CRC-32 of its bytes and a payload of [`record`]s, coded
//! against a model of the chunk's earlier records (recent pointers, stacks, sizes) and
//! split into streams by field so that zstd compresses each well. Chunks are the unit of
//! recovery: every chunk decodes alone, so a reader finds a torn tail (a process killed
//! mid-write), analyzes everything before it, and tells that apart from corruption in the
//! middle.
//!
//! The encode side allocates once ([`ChunkEnc::new`]) and never while recording: the
//! main stream goes into a caller-given byte slice ([`Enc`]), the side streams into
//! buffers the encoder reuses, because the tracer encodes on a thread that must not touch
//! the traced heap more than necessary. The decode side never trusts a length: every
//! count is checked against the bytes that are left before anything is allocated for it,
//! and no input makes it panic.
//!
//! Version history: 1 = first release; 2 = allocations and reallocs carry the
//! allocator's slack (usable minus requested size); 3 = records coded against a per-chunk
//! model (pointer rings, stack and size predictions, opcodes that fold kind and modes)
//! and laid out as a main stream and ten side streams (see [`record`]); 4 = the chunk
//! header counts its records (pass 1 of the analyzer indexes thread chunks without
//! decompressing them); 5 = the leak check's `Root`, `Reach` and `ReachEnd` records; 6 = `Free` carries
//! the size and alignment arguments of sized and aligned `operator delete` (`FREE_ARGS`),
//! and the `Allocator` record (which allocator serves the program; what bypasses the tracer).

#![forbid(unsafe_code)]

mod crc32;
mod decode;
mod encode;
mod model;
pub mod varint;
#[cfg(not(target_vendor = "apple"))]
mod zstd_c;
#[cfg(any(target_vendor = "apple", test))]
mod zstd_rust;

pub mod chunk;
pub mod entry_points;
pub mod error;
pub mod header;
pub mod reader;
pub mod record;
pub mod stack_ids;

pub use chunk::{ChunkHeader, CHUNK_HEADER_LEN};
pub use crc32::crc32;
pub use error::{FormatError, FormatErrorKind};
pub use header::{Header, Origin, RawHeader, FORMAT_VERSION, MAGIC};
pub use reader::{Chunk, TraceReader};
pub use record::{path_text, ChunkEnc};
pub use record::{
    AllocKind, ExitHow, FreeKind, Heuristic, Holder, LeakKind, Record, RecordDecoder, RootKind,
    StackId,
};
pub use stack_ids::StackIds;
pub use varint::{Dec, Enc, Full};

/// The stream number of process-wide records (modules, stacks, exit, fork, end).
pub const GLOBAL_STREAM: u32 = 0;

//! `memscope dump`, read back: the records of a trace in file order, each with the stream
//! of its chunk, for tests that count or order what the tracer wrote.

use std::path::Path;

use crate::cli::memscope_ok;

/// The records of `trace` in file order, each with its chunk's stream (0: process-wide
/// records), as `memscope dump` prints them (`Alloc { time: 5, ... }`).
pub fn dump_records(trace: &Path) -> Vec<(u32, String)> {
    let dump = memscope_ok(&["dump".as_ref(), trace.as_os_str()]);
    let mut stream = None;
    let mut records = Vec::new();
    for line in dump.lines() {
        if let Some(rest) = line.strip_prefix("chunk @") {
            stream = Some(
                rest.split_whitespace()
                    .nth(2)
                    .and_then(|s| s.parse().ok())
                    .expect("a chunk line names its stream"),
            );
        } else if let (Some(s), Some(record)) = (stream, line.strip_prefix("  ")) {
            records.push((s, record.to_string()));
        }
    }
    records
}

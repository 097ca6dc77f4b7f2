//! `memscope dump`: the header and every record of a trace in file order, one line each,
//! for debugging the tracer and the format (addresses in hex, a leak check's holders as
//! `root N` or `block 0x...`). No merging, no interpretation: a corrupt record ends the
//! dump with the usual one-line error.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use memscope_format::{path_text, Holder, Record, RecordDecoder, TraceReader};

use crate::error::CliError;

/// Writes the dump of `path` to `out`.
pub fn dump(path: &Path, out: &mut dyn Write) -> Result<(), CliError> {
    let file = File::open(path).map_err(|e| CliError::io(path, e))?;
    let fmt_err = |e| CliError::format(path, e);
    let io_err = |e| CliError::io(Path::new("<stdout>"), e);
    let (header, mut reader) = TraceReader::open(BufReader::new(file)).map_err(fmt_err)?;
    writeln!(out, "header {header:?}").map_err(io_err)?;
    while let Some(chunk) = reader.next_chunk().map_err(fmt_err)? {
        let base = chunk.payload_offset();
        let dec = RecordDecoder::new(&chunk.payload).map_err(|e| fmt_err(e.shifted(base)))?;
        writeln!(
            out,
            "chunk @{} stream {} base_time {} ({} bytes)",
            chunk.offset,
            chunk.stream,
            dec.base_time(),
            chunk.payload.len()
        )
        .map_err(io_err)?;
        for rec in dec {
            let rec = rec.map_err(|e| fmt_err(e.shifted(base)))?;
            match rec {
                Record::Module { id, base, start, end, path, build_id } => {
                    let id_hex: String = build_id.iter().map(|b| format!("{b:02x}")).collect();
                    writeln!(out, "  Module {{ id: {id}, base: {base:#x}, start: {start:#x}, end: {end:#x}, path: {:?}, build_id: {id_hex} }}", path_text(path))
                }
                Record::Stack { id, frames } => {
                    let frames: Vec<String> = frames.iter().map(|f| format!("{f:#x}")).collect();
                    writeln!(out, "  Stack {{ id: {}, frames: [{}] }}", id.0, frames.join(", "))
                }
                Record::Root { id, kind, addr, tid, pc } => writeln!(
                    out,
                    "  Root {{ id: {id}, kind: {kind:?}, addr: {addr:#x}, tid: {tid}, pc: {pc:#x} }}"
                ),
                Record::Reach { ptr, kind, heuristic, holder } => {
                    let holder = match holder {
                        Holder::None => "none".to_string(),
                        Holder::Root(id) => format!("root {id}"),
                        Holder::Block(p) => format!("block {p:#x}"),
                    };
                    writeln!(
                        out,
                        "  Reach {{ ptr: {ptr:#x}, kind: {kind:?}, heuristic: {heuristic:?}, holder: {holder} }}"
                    )
                }
                other => writeln!(out, "  {other:?}"),
            }
            .map_err(io_err)?;
        }
    }
    match reader.truncated_at() {
        Some(at) => writeln!(out, "truncated at byte offset {at}"),
        None => writeln!(out, "end of file at byte offset {}", reader.offset()),
    }
    .map_err(io_err)
}

//! Sequential trace reading: the header, then one checked chunk at a time.
//!
//! The reader tells a torn tail (the file ends inside a chunk, or its last chunk fails its
//! checksum: a process killed mid-write) from corruption (a complete chunk in the middle
//! whose bytes do not match): the first ends iteration and is reported by
//! [`TraceReader::truncated_at`], the second is an error with the byte offset.

use std::io::{BufRead, ErrorKind, Read, Seek, SeekFrom};

use crate::chunk::{decode_stored, ChunkHeader, CHUNK_HEADER_LEN, CODEC_PLAIN};
use crate::error::{FormatError, FormatErrorKind};
use crate::header::{Header, HEADER_PREFIX_LEN};

/// One verified chunk, its payload decompressed (or left out, see
/// [`TraceReader::next_chunk_where`]).
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Absolute file offset of the chunk header.
    pub offset: u64,
    pub stream: u32,
    /// Records in the payload, as the chunk header says.
    pub records: u32,
    pub payload: Vec<u8>,
    /// Whether the payload was stored compressed (then payload positions are not file
    /// positions).
    pub compressed: bool,
}

impl Chunk {
    /// Absolute file offset of the payload's first byte, for error messages: add a
    /// position within the payload. For a compressed chunk, positions inside it cannot be
    /// mapped to the file, so this is the chunk's own offset.
    pub fn payload_offset(&self) -> u64 {
        if self.compressed {
            self.offset
        } else {
            self.offset + CHUNK_HEADER_LEN as u64
        }
    }
}

pub struct TraceReader<R> {
    r: R,
    offset: u64,
    truncated_at: Option<u64>,
}

fn io_err(at: u64, e: std::io::Error) -> FormatError {
    FormatError::new(at, FormatErrorKind::Io(e.to_string()))
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8], at: u64) -> Result<usize, FormatError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(at + n as u64, e)),
        }
    }
    Ok(n)
}

impl<R: BufRead> TraceReader<R> {
    /// Reads and checks the header.
    pub fn open(mut r: R) -> Result<(Header, Self), FormatError> {
        let mut prefix = [0u8; HEADER_PREFIX_LEN];
        let n = read_full(&mut r, &mut prefix, 0)?;
        if n < 8 || &prefix[..8] != crate::MAGIC {
            return Err(FormatError::new(
                0,
                if n == 0 {
                    FormatErrorKind::UnexpectedEnd
                } else {
                    FormatErrorKind::BadMagic
                },
            ));
        }
        if n < HEADER_PREFIX_LEN {
            return Err(FormatError::new(n as u64, FormatErrorKind::UnexpectedEnd));
        }
        let len = Header::payload_len(&prefix)?;
        let mut payload = vec![0u8; len];
        let got = read_full(&mut r, &mut payload, HEADER_PREFIX_LEN as u64)?;
        if got < len {
            return Err(FormatError::new(
                (HEADER_PREFIX_LEN + got) as u64,
                FormatErrorKind::UnexpectedEnd,
            ));
        }
        let header = Header::decode(&prefix, &payload)?;
        Ok((
            header,
            Self {
                r,
                offset: (HEADER_PREFIX_LEN + len) as u64,
                truncated_at: None,
            },
        ))
    }

    /// The next verified chunk, `None` at the end of the readable data.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, FormatError> {
        self.next_chunk_where(|_| true)
    }

    /// As [`TraceReader::next_chunk`], but the payload is decompressed only when
    /// `wanted(stream)`; otherwise the chunk is checked (checksum) and its payload left
    /// empty.
    pub fn next_chunk_where(
        &mut self,
        wanted: impl FnOnce(u32) -> bool,
    ) -> Result<Option<Chunk>, FormatError> {
        if self.truncated_at.is_some() {
            return Ok(None);
        }
        let at = self.offset;
        let mut hdr = [0u8; CHUNK_HEADER_LEN];
        let n = read_full(&mut self.r, &mut hdr, at)?;
        if n == 0 {
            return Ok(None);
        }
        if n < CHUNK_HEADER_LEN {
            self.truncated_at = Some(at);
            return Ok(None);
        }
        let h = match ChunkHeader::parse(&hdr, at) {
            Ok(h) => h,
            // A garbage header at the very end is a torn write, elsewhere corruption.
            Err(e) => {
                return if self.at_eof()? {
                    self.torn(at)
                } else {
                    Err(e)
                }
            }
        };
        let mut payload = vec![0u8; h.payload_len as usize];
        let got = read_full(&mut self.r, &mut payload, at + CHUNK_HEADER_LEN as u64)?;
        if got < payload.len() {
            return self.torn(at);
        }
        if !ChunkHeader::verify(&hdr, &payload) {
            return if self.at_eof()? {
                self.torn(at)
            } else {
                Err(FormatError::new(at, FormatErrorKind::BadChecksum))
            };
        }
        self.offset = at + (CHUNK_HEADER_LEN + payload.len()) as u64;
        let payload = if wanted(h.stream) {
            decode_stored(h.codec, payload, at)?
        } else {
            Vec::new()
        };
        Ok(Some(Chunk {
            offset: at,
            stream: h.stream,
            records: h.records,
            payload,
            compressed: h.codec != CODEC_PLAIN,
        }))
    }

    fn torn(&mut self, at: u64) -> Result<Option<Chunk>, FormatError> {
        self.truncated_at = Some(at);
        Ok(None)
    }

    fn at_eof(&mut self) -> Result<bool, FormatError> {
        let at = self.offset;
        Ok(self.r.fill_buf().map_err(|e| io_err(at, e))?.is_empty())
    }

    /// Where the readable data ended early, if the tail was torn.
    pub fn truncated_at(&self) -> Option<u64> {
        self.truncated_at
    }

    /// Absolute offset of the next unread chunk.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// Reads the one chunk at absolute `offset` (found by an earlier sequential pass), for
/// readers that revisit streams out of file order.
pub fn read_chunk_at<R: Read + Seek>(r: &mut R, offset: u64) -> Result<Chunk, FormatError> {
    r.seek(SeekFrom::Start(offset))
        .map_err(|e| io_err(offset, e))?;
    let mut hdr = [0u8; CHUNK_HEADER_LEN];
    if read_full(r, &mut hdr, offset)? < CHUNK_HEADER_LEN {
        return Err(FormatError::new(offset, FormatErrorKind::UnexpectedEnd));
    }
    let h = ChunkHeader::parse(&hdr, offset)?;
    let mut payload = vec![0u8; h.payload_len as usize];
    if read_full(r, &mut payload, offset + CHUNK_HEADER_LEN as u64)? < payload.len() {
        return Err(FormatError::new(offset, FormatErrorKind::UnexpectedEnd));
    }
    if !ChunkHeader::verify(&hdr, &payload) {
        return Err(FormatError::new(offset, FormatErrorKind::BadChecksum));
    }
    let payload = decode_stored(h.codec, payload, offset)?;
    Ok(Chunk {
        offset,
        stream: h.stream,
        records: h.records,
        payload,
        compressed: h.codec != CODEC_PLAIN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AllocKind, ChunkEnc, Record, RecordDecoder, StackId};
    use crate::varint::Enc;
    use crate::{Origin, RawHeader};

    fn raw_header() -> RawHeader<'static> {
        RawHeader {
            pid: 1,
            ppid: 0,
            origin: Origin::Start,
            start_realtime_ns: 0,
            start_clock_ns: 0,
            exe: b"/x",
            args: &[b"x"],
            stack_depth: 8,
            free_stacks: true,
        }
    }

    /// Three one-record chunks; returns the bytes, the header length and the chunk length.
    fn sample_trace() -> (Vec<u8>, usize, usize) {
        let mut out = vec![0u8; 256];
        let n = Header::encode_raw(&mut out, &raw_header()).unwrap();
        out.truncate(n);
        let mut chunk_len = 0;
        for i in 0..3u64 {
            let mut payload = vec![0u8; 512];
            let mut e = Enc::new(&mut payload);
            let mut c = ChunkEnc::begin(&mut e, i * 10).unwrap();
            let alloc = Record::Alloc {
                time: i * 10 + 1,
                ptr: 0x1000 + i,
                size: 8,
                align: 0,
                kind: AllocKind::Malloc,
                stack: StackId::NONE,
                slack: 0,
            };
            c.put(&mut e, &alloc).unwrap();
            c.finish(&mut e).unwrap();
            let len = e.len();
            payload.truncate(len);
            let mut hdr = [0u8; CHUNK_HEADER_LEN];
            ChunkHeader::write(&mut hdr, 1, 0, 1, &payload);
            out.extend_from_slice(&hdr);
            out.extend_from_slice(&payload);
            chunk_len = CHUNK_HEADER_LEN + payload.len();
        }
        (out, n, chunk_len)
    }

    fn read_all(bytes: &[u8]) -> Result<(usize, Option<u64>), FormatError> {
        let (_, mut r) = TraceReader::open(bytes)?;
        let mut n = 0;
        while let Some(c) = r.next_chunk()? {
            for rec in RecordDecoder::new(&c.payload)? {
                assert!(matches!(rec?, Record::Alloc { .. }));
            }
            n += 1;
        }
        Ok((n, r.truncated_at()))
    }

    #[test]
    fn reads_all_chunks() {
        assert_eq!(read_all(&sample_trace().0).unwrap(), (3, None));
    }

    #[test]
    fn every_truncation_is_torn_or_header_error() {
        let (t, header_len, chunk_len) = sample_trace();
        for cut in 0..t.len() {
            match read_all(&t[..cut]) {
                Ok((n, torn)) => {
                    assert!(cut >= header_len);
                    assert!(n < 3 || cut == t.len());
                    assert_eq!(
                        torn.is_some(),
                        cut != t.len() && (cut - header_len) % chunk_len != 0
                    );
                }
                Err(_) => assert!(cut < header_len),
            }
        }
    }

    #[test]
    fn reads_a_compressed_chunk() {
        let mut out = vec![0u8; 256];
        let n = Header::encode_raw(&mut out, &raw_header()).unwrap();
        out.truncate(n);
        let mut payload = vec![0u8; 8192];
        let mut e = Enc::new(&mut payload);
        let mut c = ChunkEnc::begin(&mut e, 0).unwrap();
        for i in 0..500u64 {
            let alloc = Record::Alloc {
                time: i,
                ptr: 0x1000 + 16 * i,
                size: 16,
                align: 0,
                kind: AllocKind::Malloc,
                stack: StackId(1),
                slack: 0,
            };
            c.put(&mut e, &alloc).unwrap();
        }
        c.finish(&mut e).unwrap();
        let len = e.len();
        payload.truncate(len);
        let mut stored = vec![0u8; crate::chunk::compressed_bound(len)];
        let m = crate::chunk::ChunkCompressor::new()
            .unwrap()
            .compress(&payload, &mut stored)
            .expect("repetitive records compress");
        assert!(m < len / 2);
        let mut hdr = [0u8; CHUNK_HEADER_LEN];
        ChunkHeader::write(&mut hdr, 1, crate::chunk::CODEC_ZSTD, 500, &stored[..m]);
        out.extend_from_slice(&hdr);
        out.extend_from_slice(&stored[..m]);
        let (_, mut r) = TraceReader::open(&out[..]).unwrap();
        let chunk = r.next_chunk().unwrap().unwrap();
        assert!(chunk.compressed);
        assert_eq!(chunk.records, 500);
        assert_eq!(chunk.payload, payload);
        assert_eq!(RecordDecoder::new(&chunk.payload).unwrap().count(), 500);
    }

    #[test]
    fn unwanted_chunks_are_checked_and_counted_not_decompressed() {
        let (mut t, first_chunk, _) = sample_trace();
        let (_, mut r) = TraceReader::open(&t[..]).unwrap();
        let c = r.next_chunk_where(|_| false).unwrap().unwrap();
        assert_eq!(
            (c.offset, c.stream, c.records, c.payload.len()),
            (first_chunk as u64, 1, 1, 0)
        );
        t[first_chunk + CHUNK_HEADER_LEN + 2] ^= 0x40;
        let (_, mut r) = TraceReader::open(&t[..]).unwrap();
        assert_eq!(
            r.next_chunk_where(|_| false).unwrap_err().kind,
            FormatErrorKind::BadChecksum
        );
    }

    #[test]
    fn flipped_byte_in_middle_is_corruption_with_offset() {
        let (mut t, first_chunk, _) = sample_trace();
        t[first_chunk + CHUNK_HEADER_LEN + 2] ^= 0x40;
        let e = read_all(&t).unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::BadChecksum);
        assert_eq!(e.offset, first_chunk as u64);
    }
}

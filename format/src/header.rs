//! The file header: what the trace is of, written once at the start.
//!
//! Layout: `MAGIC` (8 bytes), version (u16 LE), reserved (u16), payload length (u32 LE),
//! CRC-32 of the payload (u32 LE), then the payload of varints and length-prefixed strings.

use crate::error::{FormatError, FormatErrorKind};
use crate::varint::{Dec, Enc, Full};

pub const MAGIC: &[u8; 8] = b"MEMSCOPE";
/// The format this crate writes and reads (see the version history in the crate docs);
/// a trace of any other version is refused with [`FormatErrorKind::UnsupportedVersion`].
pub const FORMAT_VERSION: u16 = 6;
/// Bytes before the header payload.
pub const HEADER_PREFIX_LEN: usize = 20;

/// How the traced process came to be traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Origin {
    /// Loaded at program start (or after an `exec`).
    Start = 0,
    /// The child side of a `fork`: it inherits its parent's live heap, so frees of blocks
    /// this trace never saw allocated are expected.
    ForkChild = 1,
}

/// The process a trace describes and how it was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub pointer_width: u8,
    pub arch: String,
    pub os: String,
    pub pid: u32,
    pub ppid: u32,
    pub origin: Origin,
    /// Wall clock at trace start, nanoseconds since the Unix epoch.
    pub start_realtime_ns: u64,
    /// The event clock (CLOCK_MONOTONIC) at trace start, nanoseconds.
    pub start_clock_ns: u64,
    /// Name of the clock the event timestamps come from.
    pub clock: String,
    pub exe: String,
    pub args: Vec<String>,
    /// Deepest stack recorded (0 = no stacks).
    pub stack_depth: u32,
    /// Whether frees carry stacks.
    pub free_stacks: bool,
}

/// What the tracer knows of its process at trace start, as the bytes it has (it need not
/// build `String`s): the fields of a [`Header`] that are not this build's (pointer width,
/// architecture, OS and clock are).
#[derive(Debug, Clone, Copy)]
pub struct RawHeader<'a> {
    pub pid: u32,
    pub ppid: u32,
    pub origin: Origin,
    pub start_realtime_ns: u64,
    pub start_clock_ns: u64,
    pub exe: &'a [u8],
    pub args: &'a [&'a [u8]],
    pub stack_depth: u32,
    pub free_stacks: bool,
}

impl Header {
    /// Encodes the whole header (prefix and payload) of `raw` into `out`; returns the
    /// bytes used.
    pub fn encode_raw(out: &mut [u8], raw: &RawHeader<'_>) -> Result<usize, Full> {
        let RawHeader {
            pid,
            ppid,
            origin,
            start_realtime_ns,
            start_clock_ns,
            exe,
            args,
            stack_depth,
            free_stacks,
        } = *raw;
        let (prefix, payload_buf) = out.split_at_mut(HEADER_PREFIX_LEN.min(out.len()));
        if prefix.len() < HEADER_PREFIX_LEN {
            return Err(Full);
        }
        let mut e = Enc::new(payload_buf);
        e.u8(core::mem::size_of::<usize>() as u8 * 8)?;
        e.blob(std::env::consts::ARCH.as_bytes())?;
        e.blob(std::env::consts::OS.as_bytes())?;
        e.var(pid as u64)?;
        e.var(ppid as u64)?;
        e.u8(origin as u8)?;
        e.var(start_realtime_ns)?;
        e.var(start_clock_ns)?;
        e.blob(b"CLOCK_MONOTONIC")?;
        e.blob(exe)?;
        e.var(args.len() as u64)?;
        for a in args {
            e.blob(a)?;
        }
        e.var(stack_depth as u64)?;
        e.u8(free_stacks as u8)?;
        let payload_len = e.len();
        let crc = crate::crc32(e.written());
        prefix[..8].copy_from_slice(MAGIC);
        prefix[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        prefix[10..12].copy_from_slice(&0u16.to_le_bytes());
        prefix[12..16].copy_from_slice(&(payload_len as u32).to_le_bytes());
        prefix[16..20].copy_from_slice(&crc.to_le_bytes());
        Ok(HEADER_PREFIX_LEN + payload_len)
    }

    /// The payload length announced by a header prefix, after checking magic and version.
    pub fn payload_len(prefix: &[u8; HEADER_PREFIX_LEN]) -> Result<usize, FormatError> {
        if &prefix[..8] != MAGIC {
            return Err(FormatError::new(0, FormatErrorKind::BadMagic));
        }
        let version = u16::from_le_bytes([prefix[8], prefix[9]]);
        if version != FORMAT_VERSION {
            return Err(FormatError::new(
                8,
                FormatErrorKind::UnsupportedVersion(version),
            ));
        }
        let len = u32::from_le_bytes([prefix[12], prefix[13], prefix[14], prefix[15]]) as usize;
        if len > 16 << 20 {
            return Err(FormatError::new(12, FormatErrorKind::BadLength));
        }
        Ok(len)
    }

    /// Decodes a header from its prefix and payload. Offsets in errors are absolute.
    pub fn decode(prefix: &[u8; HEADER_PREFIX_LEN], payload: &[u8]) -> Result<Self, FormatError> {
        Self::payload_len(prefix)?;
        let crc = u32::from_le_bytes([prefix[16], prefix[17], prefix[18], prefix[19]]);
        if crate::crc32(payload) != crc {
            return Err(FormatError::new(16, FormatErrorKind::BadChecksum));
        }
        let base = HEADER_PREFIX_LEN as u64;
        let mut d = Dec::new(payload);
        let r = (|| {
            let pointer_width = d.u8()?;
            let arch = lossy(d.blob()?);
            let os = lossy(d.blob()?);
            let pid = d.var_u32()?;
            let ppid = d.var_u32()?;
            let origin = match d.u8()? {
                0 => Origin::Start,
                1 => Origin::ForkChild,
                _ => return Err(d.err(FormatErrorKind::BadValue("origin"))),
            };
            let start_realtime_ns = d.var()?;
            let start_clock_ns = d.var()?;
            let clock = lossy(d.blob()?);
            let exe = lossy(d.blob()?);
            let n = d.count(1)?;
            let mut args = Vec::with_capacity(n);
            for _ in 0..n {
                args.push(lossy(d.blob()?));
            }
            let stack_depth = d.var_u32()?;
            let free_stacks = d.u8()? != 0;
            Ok(Header {
                version: FORMAT_VERSION,
                pointer_width,
                arch,
                os,
                pid,
                ppid,
                origin,
                start_realtime_ns,
                start_clock_ns,
                clock,
                exe,
                args,
                stack_depth,
                free_stacks,
            })
        })();
        r.map_err(|e: FormatError| e.shifted(base))
    }
}

pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 512];
        let raw = RawHeader {
            pid: 42,
            ppid: 1,
            origin: Origin::ForkChild,
            start_realtime_ns: 5,
            start_clock_ns: 6,
            exe: b"/bin/x",
            args: &[b"x", b"-y"],
            stack_depth: 64,
            free_stacks: true,
        };
        let n = Header::encode_raw(&mut buf, &raw).unwrap();
        let prefix: [u8; HEADER_PREFIX_LEN] = buf[..HEADER_PREFIX_LEN].try_into().unwrap();
        let len = Header::payload_len(&prefix).unwrap();
        assert_eq!(HEADER_PREFIX_LEN + len, n);
        let h = Header::decode(&prefix, &buf[HEADER_PREFIX_LEN..n]).unwrap();
        assert_eq!(h.pid, 42);
        assert_eq!(h.origin, Origin::ForkChild);
        assert_eq!(h.args, vec!["x".to_string(), "-y".to_string()]);
        assert_eq!(h.exe, "/bin/x");
        assert!(h.free_stacks);
    }

    #[test]
    fn older_versions_are_refused_by_name() {
        let mut buf = [0u8; 512];
        let raw = RawHeader {
            pid: 42,
            ppid: 1,
            origin: Origin::Start,
            start_realtime_ns: 5,
            start_clock_ns: 6,
            exe: b"/bin/x",
            args: &[b"x"],
            stack_depth: 64,
            free_stacks: true,
        };
        Header::encode_raw(&mut buf, &raw).unwrap();
        for old in [1u16, 2, 3] {
            buf[8..10].copy_from_slice(&old.to_le_bytes());
            let prefix: [u8; HEADER_PREFIX_LEN] = buf[..HEADER_PREFIX_LEN].try_into().unwrap();
            let e = Header::payload_len(&prefix).unwrap_err();
            assert_eq!(
                e,
                FormatError::new(8, FormatErrorKind::UnsupportedVersion(old))
            );
            assert_eq!(
                e.to_string(),
                format!("unsupported trace format version {old} (this memscope reads version {FORMAT_VERSION}) at byte offset 8")
            );
        }
    }
}

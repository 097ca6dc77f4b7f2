//! Decode errors: what is wrong and at which byte offset of the file.

use std::fmt;

/// What the decoder found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatErrorKind {
    /// The file does not start with the memscope magic.
    BadMagic,
    /// A format version this reader does not know.
    UnsupportedVersion(u16),
    /// A chunk or header whose checksum does not match its bytes.
    BadChecksum,
    /// A length or count larger than the bytes that hold it.
    BadLength,
    /// A varint longer than 10 bytes or overflowing 64 bits.
    BadVarint,
    /// A record tag this reader does not know.
    UnknownRecord(u8),
    /// A field value outside its range (an unknown enum tag, say).
    BadValue(&'static str),
    /// The data ended inside a record.
    UnexpectedEnd,
    /// Reading the file failed.
    Io(String),
}

/// A decode error with the absolute byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub offset: u64,
    pub kind: FormatErrorKind,
}

impl FormatError {
    pub fn new(offset: u64, kind: FormatErrorKind) -> Self {
        Self { offset, kind }
    }

    /// The same error moved by `base` bytes (a payload-relative offset made absolute).
    pub fn shifted(mut self, base: u64) -> Self {
        self.offset += base;
        self
    }
}

impl fmt::Display for FormatErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => write!(f, "not a memscope trace (bad magic)"),
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported trace format version {v} (this memscope reads version {})",
                    crate::FORMAT_VERSION
                )
            }
            Self::BadChecksum => write!(f, "checksum mismatch"),
            Self::BadLength => write!(f, "length out of range"),
            Self::BadVarint => write!(f, "malformed varint"),
            Self::UnknownRecord(t) => write!(f, "unknown record tag {t}"),
            Self::BadValue(what) => write!(f, "invalid {what}"),
            Self::UnexpectedEnd => write!(f, "record cut short"),
            Self::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.kind, self.offset)
    }
}

impl std::error::Error for FormatError {}

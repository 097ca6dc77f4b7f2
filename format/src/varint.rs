//! LEB128 varints and the two byte cursors built on them: [`Enc`] writes into a
//! caller-given slice without allocating, [`Dec`] reads with every length checked.

use crate::error::{FormatError, FormatErrorKind};

/// Zigzag mapping so that small negative deltas stay small.
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Encoder over a caller-owned byte slice. Every write checks capacity and returns
/// `Err(Full)` rather than growing anything.
pub struct Enc<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

/// The slice given to [`Enc`] is too small for what was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl<'a> Enc<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// The written bytes.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    #[inline]
    pub fn u8(&mut self, v: u8) -> Result<(), Full> {
        *self.buf.get_mut(self.pos).ok_or(Full)? = v;
        self.pos += 1;
        Ok(())
    }

    #[inline]
    pub fn bytes(&mut self, v: &[u8]) -> Result<(), Full> {
        let end = self.pos.checked_add(v.len()).ok_or(Full)?;
        self.buf.get_mut(self.pos..end).ok_or(Full)?.copy_from_slice(v);
        self.pos = end;
        Ok(())
    }

    #[inline]
    pub fn u32_le(&mut self, v: u32) -> Result<(), Full> {
        self.bytes(&v.to_le_bytes())
    }

    #[inline]
    pub fn var(&mut self, mut v: u64) -> Result<(), Full> {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                return self.u8(byte);
            }
            self.u8(byte | 0x80)?;
        }
    }

    #[inline]
    pub fn svar(&mut self, v: i64) -> Result<(), Full> {
        self.var(zigzag(v))
    }

    /// A length-prefixed byte string.
    pub fn blob(&mut self, v: &[u8]) -> Result<(), Full> {
        self.var(v.len() as u64)?;
        self.bytes(v)
    }
}

/// Decoder over a byte slice; offsets in its errors are relative to the slice start.
pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn err(&self, kind: FormatErrorKind) -> FormatError {
        FormatError::new(self.pos as u64, kind)
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, FormatError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.err(FormatErrorKind::UnexpectedEnd))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if n > self.remaining() {
            return Err(self.err(FormatErrorKind::BadLength));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u16_le(&mut self) -> Result<u16, FormatError> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32_le(&mut self) -> Result<u32, FormatError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub fn var(&mut self) -> Result<u64, FormatError> {
        let start = self.pos;
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                self.pos = start;
                return Err(self.err(FormatErrorKind::BadVarint));
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                self.pos = start;
                return Err(self.err(FormatErrorKind::BadVarint));
            }
        }
    }

    pub fn var_u32(&mut self) -> Result<u32, FormatError> {
        let at = self.pos;
        let v = self.var()?;
        u32::try_from(v).map_err(|_| FormatError::new(at as u64, FormatErrorKind::BadValue("32-bit field")))
    }

    pub fn svar(&mut self) -> Result<i64, FormatError> {
        Ok(unzigzag(self.var()?))
    }

    /// A length-prefixed byte string; the length is checked against what is left.
    pub fn blob(&mut self) -> Result<&'a [u8], FormatError> {
        let n = self.var()?;
        if n > self.remaining() as u64 {
            return Err(self.err(FormatErrorKind::BadLength));
        }
        self.bytes(n as usize)
    }

    /// A count of items each taking at least `min_item_bytes`; rejected when the bytes
    /// left cannot hold that many, so a hostile count never drives an allocation.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize, FormatError> {
        let n = self.var()?;
        if n.saturating_mul(min_item_bytes.max(1) as u64) > self.remaining() as u64 {
            return Err(self.err(FormatErrorKind::BadLength));
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        let values = [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        let mut buf = [0u8; 128];
        let mut e = Enc::new(&mut buf);
        for v in values {
            e.var(v).unwrap();
        }
        e.svar(-5).unwrap();
        let n = e.len();
        let mut d = Dec::new(&buf[..n]);
        for v in values {
            assert_eq!(d.var().unwrap(), v);
        }
        assert_eq!(d.svar().unwrap(), -5);
        assert!(d.at_end());
    }

    #[test]
    fn enc_reports_full() {
        let mut buf = [0u8; 2];
        let mut e = Enc::new(&mut buf);
        assert_eq!(e.var(1 << 20), Err(Full));
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let bytes = [0xffu8; 11];
        assert_eq!(Dec::new(&bytes).var().unwrap_err().kind, FormatErrorKind::BadVarint);
    }

    #[test]
    fn hostile_count_is_rejected() {
        let mut buf = [0u8; 16];
        let mut e = Enc::new(&mut buf);
        e.var(1 << 40).unwrap();
        let n = e.len();
        assert_eq!(Dec::new(&buf[..n]).count(8).unwrap_err().kind, FormatErrorKind::BadLength);
    }
}

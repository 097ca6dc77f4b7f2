//! LEB128 varints and the two byte cursors built on them: [`Enc`] writes into a
//! caller-given slice without allocating, [`Dec`] reads with every length checked.
//!
//! Also the *split* varint of the record streams (see `streams`): a varint whose first
//! byte goes to one byte stream (its head) and whose continuation bytes go to another
//! (its tail), so that zstd sees the noisy low bits and the rarer high bits apart.

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

    /// An encoder over `buf` whose first `len` bytes are already written (by earlier
    /// encoders over the same buffer); later writes go after them.
    pub fn resume(buf: &'a mut [u8], len: usize) -> Self {
        let pos = len.min(buf.len());
        Self { buf, pos }
    }

    /// Bytes that can still be written.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Overwrites already-written bytes at `at` (a reserved field filled in later).
    pub fn patch(&mut self, at: usize, v: &[u8]) -> Result<(), Full> {
        let end = at
            .checked_add(v.len())
            .filter(|&end| end <= self.pos)
            .ok_or(Full)?;
        self.buf[at..end].copy_from_slice(v);
        Ok(())
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
        self.buf
            .get_mut(self.pos..end)
            .ok_or(Full)?
            .copy_from_slice(v);
        self.pos = end;
        Ok(())
    }

    #[inline]
    pub fn u32_le(&mut self, v: u32) -> Result<(), Full> {
        self.bytes(&v.to_le_bytes())
    }

    #[inline]
    pub fn var(&mut self, v: u64) -> Result<(), Full> {
        if v < 0x80 {
            return self.u8(v as u8);
        }
        let mut tmp = [0u8; 10];
        let n = put_var(&mut tmp, v);
        self.bytes(&tmp[..n])
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

/// Writes `v` as LEB128 into `out` (10 bytes suffice for any u64); returns the length.
#[inline]
pub fn put_var(out: &mut [u8; 10], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

/// Writes `v` as a split varint into `buf`: its first LEB128 byte at `*head`, the rest
/// at `*tail` (both advanced); returns the bytes written. Panics if `buf` is too short:
/// the caller checks room first.
#[inline(always)]
pub fn put_split(buf: &mut [u8], head: &mut usize, tail: &mut usize, v: u64) -> usize {
    if v < 0x80 {
        buf[*head] = v as u8;
        *head += 1;
        return 1;
    }
    buf[*head] = v as u8 | 0x80;
    *head += 1;
    let start = *tail;
    let mut v = v >> 7;
    while v >= 0x80 {
        buf[*tail] = v as u8 | 0x80;
        *tail += 1;
        v >>= 7;
    }
    buf[*tail] = v as u8;
    *tail += 1;
    1 + *tail - start
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

    /// A decoder of `buf[start..end]` whose offsets stay relative to `buf` (the caller
    /// checked `start <= end <= buf.len()`; otherwise it is empty).
    pub fn range(buf: &'a [u8], start: usize, end: usize) -> Self {
        let end = end.min(buf.len());
        Self {
            buf: &buf[..end],
            pos: start.min(end),
        }
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
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.err(FormatErrorKind::UnexpectedEnd))?;
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
        // One byte is by far the most common case.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u64);
            }
        }
        self.var_rest(0, 0)
    }

    /// The LEB128 continuation of a varint whose first `shift / 7` bytes (value `v`)
    /// were read elsewhere (`shift` 0: a whole varint from here).
    #[inline(never)]
    pub fn var_rest(&mut self, mut v: u64, mut shift: u32) -> Result<u64, FormatError> {
        let start = self.pos;
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

    /// A split varint: its head byte from `self`, its continuation from `tail`.
    #[inline]
    pub fn split_var(&mut self, tail: &mut Dec<'a>) -> Result<u64, FormatError> {
        let b = self.u8()?;
        if b < 0x80 {
            return Ok(b as u64);
        }
        tail.var_rest((b & 0x7f) as u64, 7)
    }

    pub fn var_u32(&mut self) -> Result<u32, FormatError> {
        let at = self.pos;
        let v = self.var()?;
        u32::try_from(v)
            .map_err(|_| FormatError::new(at as u64, FormatErrorKind::BadValue("32-bit field")))
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
    fn split_varint_round_trip() {
        let values = [
            0u64,
            1,
            127,
            128,
            300,
            1 << 20,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut buf = [0u8; 200];
        let (mut head, mut tail) = (0, 100);
        for v in values {
            put_split(&mut buf, &mut head, &mut tail, v);
        }
        let (mut h, mut t) = (Dec::new(&buf[..head]), Dec::new(&buf[100..tail]));
        for v in values {
            assert_eq!(h.split_var(&mut t).unwrap(), v);
        }
        assert!(h.at_end() && t.at_end());
    }

    #[test]
    fn overlong_split_varint_is_an_error() {
        let head = [0x80u8];
        let tail = [0xffu8; 10];
        assert_eq!(
            Dec::new(&head)
                .split_var(&mut Dec::new(&tail))
                .unwrap_err()
                .kind,
            FormatErrorKind::BadVarint
        );
        let tail = [0xffu8, 0x02];
        assert!(Dec::new(&head).split_var(&mut Dec::new(&tail)).is_ok());
        let tail = [0xffu8; 8];
        assert_eq!(
            Dec::new(&head)
                .split_var(&mut Dec::new(&tail))
                .unwrap_err()
                .kind,
            FormatErrorKind::UnexpectedEnd
        );
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
        assert_eq!(
            Dec::new(&bytes).var().unwrap_err().kind,
            FormatErrorKind::BadVarint
        );
    }

    #[test]
    fn hostile_count_is_rejected() {
        let mut buf = [0u8; 16];
        let mut e = Enc::new(&mut buf);
        e.var(1 << 40).unwrap();
        let n = e.len();
        assert_eq!(
            Dec::new(&buf[..n]).count(8).unwrap_err().kind,
            FormatErrorKind::BadLength
        );
    }
}

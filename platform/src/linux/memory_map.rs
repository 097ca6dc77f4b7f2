//! The process's memory map (`/proc/self/maps`), read for the leak check at the end of
//! the process: which ranges are readable and writable, which are a module's, the heap,
//! the main stack, anonymous memory or a device.
//!
//! The check reads it while the program's other threads are stopped, possibly inside
//! `malloc` holding its locks, so nothing here allocates: the text goes into an anonymous
//! mapping and each line is handed to the caller as it is parsed.

use crate::unix::memory::{map_zeroed, unmap};
use std::ptr::NonNull;

/// What backs a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingKind {
    /// No file: `mmap`ed memory, thread stacks, a module's `.bss` beyond its file,
    /// `malloc`'s arenas and large blocks.
    Anonymous,
    /// A file (a module's segments, `mmap`ed files, shared memory).
    File,
    /// A character or block device other than `/dev/zero`: reading it may hang.
    Device,
    /// `[heap]`: the area `brk` grows.
    Heap,
    /// `[stack]`: the main thread's stack.
    Stack,
    /// Another pseudo-mapping (`[vvar]`, `[vdso]`, `[vsyscall]`).
    Special,
}

/// One line of the memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
    pub kind: MappingKind,
}

/// The text of `/proc/self/maps`, read at one moment into an anonymous mapping (which
/// stays mapped, and so listed in itself, until this is dropped).
pub struct MapsText {
    at: NonNull<u8>,
    cap: usize,
    len: usize,
}

impl MapsText {
    /// Reads the map. `None` if it cannot be read.
    pub fn read() -> Option<MapsText> {
        // SAFETY: open of a constant path; the descriptor is closed below.
        let fd = unsafe {
            libc::open(
                c"/proc/self/maps".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        let mut text = MapsText {
            at: map_zeroed(1 << 20)?,
            cap: 1 << 20,
            len: 0,
        };
        let ok = loop {
            if text.len == text.cap && !text.grow() {
                break false;
            }
            // SAFETY: the destination is the unused tail of our mapping.
            let n = unsafe {
                libc::read(
                    fd,
                    text.at.as_ptr().add(text.len).cast(),
                    text.cap - text.len,
                )
            };
            if n < 0 {
                break false;
            }
            if n == 0 {
                break true;
            }
            text.len += n as usize;
        };
        // SAFETY: we own fd.
        unsafe { libc::close(fd) };
        ok.then_some(text)
    }

    /// Doubles the buffer, keeping what was read.
    fn grow(&mut self) -> bool {
        let Some(bigger) = map_zeroed(self.cap * 2) else {
            return false;
        };
        // SAFETY: both mappings are ours and at least `len` long; they do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(self.at.as_ptr(), bigger.as_ptr(), self.len);
            unmap(self.at, self.cap);
        }
        self.at = bigger;
        self.cap *= 2;
        true
    }

    /// Calls `f` with every mapping, in address order, and the mapping's path (empty
    /// for anonymous memory).
    pub fn for_each_mapping(&self, mut f: impl FnMut(Mapping, &[u8])) {
        for line in self.bytes().split(|&b| b == b'\n') {
            if let Some((m, path)) = parse_line(line) {
                f(m, path);
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of our mapping were written by read(2).
        unsafe { std::slice::from_raw_parts(self.at.as_ptr(), self.len) }
    }
}

impl Drop for MapsText {
    fn drop(&mut self) {
        // SAFETY: our own mapping, not used after this.
        unsafe { unmap(self.at, self.cap) };
    }
}

/// `start-end perms offset dev inode path`.
fn parse_line(line: &[u8]) -> Option<(Mapping, &[u8])> {
    let mut fields = line.splitn(6, |&b| b == b' ');
    let range = fields.next()?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _dev = fields.next()?;
    let inode = fields.next()?;
    let path = trim_start(fields.next().unwrap_or(b""));
    let dash = range.iter().position(|&b| b == b'-')?;
    let (start, end) = (hex(&range[..dash])?, hex(&range[dash + 1..])?);
    let kind = if path.is_empty() {
        MappingKind::Anonymous
    } else if path == b"[heap]" {
        MappingKind::Heap
    } else if path == b"[stack]" {
        MappingKind::Stack
    } else if path.starts_with(b"[") {
        MappingKind::Special
    } else if path.starts_with(b"/dev/") && path != b"/dev/zero" && inode != b"0" {
        // /dev/shm files and /dev/zero are memory; other device nodes are not.
        if path.starts_with(b"/dev/shm/") {
            MappingKind::File
        } else {
            MappingKind::Device
        }
    } else {
        MappingKind::File
    };
    let flag = |i: usize, c: u8| perms.get(i) == Some(&c);
    let m = Mapping {
        start,
        end,
        readable: flag(0, b'r'),
        writable: flag(1, b'w'),
        executable: flag(2, b'x'),
        kind,
    };
    Some((m, path))
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    &s[n..]
}

fn hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0u64, |v, &b| {
        let d = (b as char).to_digit(16)?;
        Some(v << 4 | d as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kinds_of_lines() {
        let (m, p) =
            parse_line(b"7f00-7f10 rw-p 00000000 00:00 0 ").expect("anonymous line parses");
        assert_eq!(
            (m.start, m.end, m.kind, p),
            (0x7f00, 0x7f10, MappingKind::Anonymous, &b""[..])
        );
        assert!(m.readable && m.writable && !m.executable);
        let (m, p) =
            parse_line(b"55d0-55e0 r-xp 00001000 08:01 1234                       /usr/bin/cat")
                .expect("file line parses");
        assert_eq!((m.kind, p), (MappingKind::File, &b"/usr/bin/cat"[..]));
        assert!(m.executable && !m.writable);
        let heap = parse_line(b"1000-2000 rw-p 00000000 00:00 0     [heap]").expect("heap");
        assert_eq!(heap.0.kind, MappingKind::Heap);
        let dev = parse_line(b"1000-2000 rw-s 00000000 00:05 77 /dev/dri/card0").expect("dev");
        assert_eq!(dev.0.kind, MappingKind::Device);
        let zero = parse_line(b"1000-2000 rw-s 00000000 00:05 77 /dev/zero").expect("zero");
        assert_eq!(zero.0.kind, MappingKind::File);
    }

    #[test]
    fn finds_this_threads_stack_and_a_global() {
        static GLOBAL: u64 = 7;
        let local = 5u64;
        let (sp, g) = (&local as *const u64 as u64, &GLOBAL as *const u64 as u64);
        let (mut stack_found, mut global_found) = (false, false);
        MapsText::read()
            .expect("readable")
            .for_each_mapping(|m, _| {
                stack_found |= (m.start..m.end).contains(&sp) && m.writable;
                global_found |= (m.start..m.end).contains(&g) && m.kind == MappingKind::File;
            });
        assert!(stack_found && global_found);
    }
}

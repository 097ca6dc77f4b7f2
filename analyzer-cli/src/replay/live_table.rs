//! The blocks live now as packed 32-byte records (address, time, size, stack, merged
//! position, stream, kind, realloc chain) in a vector whose vacant records are reused;
//! [`crate::replay::live_map`] indexes them by address.
//!
//! Why packed: the replay holds every live block of the traced program at once, so its
//! memory is the program's block count times this record (tens of millions of blocks
//! in a server's heap). The common block fits 32 bits of size, stack id and position, a
//! 16-bit stream and a chain below 255; one that does not (a 4 GiB block, a trace of
//! over 4 billion events) is kept whole in a side map and marked, so every value
//! read back is the one stored. The record vector only grows to the peak live count.

use rustc_hash::FxHashMap;

use memscope_format::AllocKind;

use crate::ids::{StackId, StreamId};
use crate::replay::block_events::LiveBlock;

/// `kind` of a record kept whole in [`LiveRecords::wide`].
const WIDE: u8 = 0xFE;
/// `kind` of a vacant record (on the free list).
const VACANT: u8 = 0xFF;
/// The packed stream of [`StreamId::INHERITED`].
const INHERITED: u16 = u16::MAX;

/// One live block, packed (see the module docs).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Packed {
    addr: u64,
    time: u64,
    size: u32,
    stack: u32,
    seq: u32,
    stream: u16,
    /// [`AllocKind`] as `u8`, or [`WIDE`], or [`VACANT`].
    kind: u8,
    chain: u8,
}

const _: () = assert!(std::mem::size_of::<Packed>() == 32);

impl Packed {
    /// The packed form of `block`, if every field fits.
    #[inline(always)]
    fn pack(addr: u64, b: &LiveBlock) -> Option<Packed> {
        let stream = if b.stream == StreamId::INHERITED {
            INHERITED
        } else {
            u16::try_from(b.stream.0).ok().filter(|&s| s != INHERITED)?
        };
        Some(Packed {
            addr,
            time: b.time,
            size: u32::try_from(b.size).ok()?,
            stack: u32::try_from(b.stack.0).ok()?,
            seq: u32::try_from(b.seq).ok()?,
            stream,
            kind: b.kind as u8,
            chain: u8::try_from(b.chain).ok()?,
        })
    }

    #[inline(always)]
    fn unpack(&self) -> LiveBlock {
        LiveBlock {
            size: self.size as u64,
            kind: AllocKind::from_u8(self.kind).unwrap_or(AllocKind::Malloc),
            stack: StackId(self.stack as u64),
            stream: if self.stream == INHERITED {
                StreamId::INHERITED
            } else {
                StreamId(self.stream as u32)
            },
            time: self.time,
            chain: self.chain as u32,
            seq: self.seq as u64,
        }
    }
}

/// Packed live blocks, by handle (see the module docs).
#[derive(Debug, Default)]
pub struct LiveRecords {
    records: Vec<Packed>,
    /// Vacant records, reused last-in first-out.
    vacant: Vec<u32>,
    /// Blocks that do not fit a record, by handle.
    wide: FxHashMap<u32, LiveBlock>,
    len: usize,
}

/// Handles stay below this (the index's handles give live blocks 31 bits).
pub const MAX_HANDLE: u32 = 1 << 31;

impl LiveRecords {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held (records and the vacant list), for the benchmarks.
    pub fn bytes(&self) -> usize {
        self.records.capacity() * std::mem::size_of::<Packed>() + self.vacant.capacity() * 4
    }

    /// The address of the record `h`.
    #[inline(always)]
    pub fn addr(&self, h: u32) -> u64 {
        self.records[h as usize].addr
    }

    /// The block of the record `h`.
    #[inline(always)]
    pub fn get(&self, h: u32) -> LiveBlock {
        let r = &self.records[h as usize];
        if r.kind == WIDE {
            self.wide[&h]
        } else {
            r.unpack()
        }
    }

    /// A new record of `block` at `addr`; its handle.
    #[inline(always)]
    pub fn push(&mut self, addr: u64, block: LiveBlock) -> u32 {
        let h = match self.vacant.pop() {
            Some(h) => h,
            None => {
                let h = u32::try_from(self.records.len())
                    .ok()
                    .filter(|&h| h < MAX_HANDLE)
                    .expect("fewer than 2^31 live blocks");
                self.records.push(VACANT_RECORD);
                h
            }
        };
        self.len += 1;
        self.store(h, addr, block);
        h
    }

    /// Replaces the block of the record `h`.
    #[inline(always)]
    pub fn replace(&mut self, h: u32, addr: u64, block: LiveBlock) {
        self.wide.remove(&h);
        self.store(h, addr, block);
    }

    #[inline(always)]
    fn store(&mut self, h: u32, addr: u64, block: LiveBlock) {
        self.records[h as usize] = match Packed::pack(addr, &block) {
            Some(p) => p,
            None => self.store_wide(h, addr, block),
        };
    }

    #[cold]
    #[inline(never)]
    fn store_wide(&mut self, h: u32, addr: u64, block: LiveBlock) -> Packed {
        self.wide.insert(h, block);
        Packed {
            addr,
            kind: WIDE,
            ..VACANT_RECORD
        }
    }

    /// Frees the record `h`; returns its block.
    #[inline(always)]
    pub fn remove(&mut self, h: u32) -> LiveBlock {
        let block = self.get(h);
        let r = &mut self.records[h as usize];
        if r.kind == WIDE {
            self.wide.remove(&h);
        }
        r.kind = VACANT;
        self.vacant.push(h);
        self.len -= 1;
        block
    }

    /// (start, block) of every live block, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, LiveBlock)> + '_ {
        self.records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind != VACANT)
            .map(|(h, r)| (r.addr, self.get(h as u32)))
    }
}

const VACANT_RECORD: Packed = Packed {
    addr: 0,
    time: 0,
    size: 0,
    stack: 0,
    seq: 0,
    stream: 0,
    kind: VACANT,
    chain: 0,
};

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn block(size: u64, stack: u64, stream: u32, seq: u64, chain: u32) -> LiveBlock {
        LiveBlock {
            size,
            kind: AllocKind::New,
            stack: StackId(stack),
            stream: StreamId(stream),
            time: seq * 3,
            chain,
            seq,
        }
    }

    proptest! {
        /// Every block reads back as stored, narrow or wide.
        #[test]
        fn blocks_read_back_as_stored(
            size in prop_oneof![0u64..1 << 20, Just(u64::MAX), Just(1u64 << 32)],
            stack in prop_oneof![0u64..1 << 10, Just(1u64 << 32)],
            stream in prop_oneof![0u32..4, Just(65535u32), Just(u32::MAX)],
            seq in prop_oneof![0u64..1 << 30, Just(1u64 << 32)],
            chain in prop_oneof![0u32..300, Just(u32::MAX)],
        ) {
            let mut r = LiveRecords::default();
            let b = block(size, stack, stream, seq, chain);
            let h = r.push(0x1230, b);
            prop_assert_eq!(r.get(h), b);
            prop_assert_eq!(r.addr(h), 0x1230);
            prop_assert_eq!(r.iter().collect::<Vec<_>>(), vec![(0x1230, b)]);
            prop_assert_eq!(r.remove(h), b);
            prop_assert!(r.wide.is_empty() && r.is_empty());
            // The vacant record is reused.
            prop_assert_eq!(r.push(0x40, block(1, 1, 1, 1, 1)), h);
        }
    }

    #[test]
    fn inherited_blocks_stay_narrow() {
        let mut r = LiveRecords::default();
        let inherited = LiveBlock {
            stream: StreamId::INHERITED,
            ..block(10, 1, 0, 0, 0)
        };
        let h = r.push(0x10, inherited);
        assert!(r.wide.is_empty());
        assert_eq!(r.get(h), inherited);
    }
}

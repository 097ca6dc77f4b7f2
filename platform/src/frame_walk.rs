//! Stack capture by frame pointers, OS-neutral: from a frame record (the saved frame
//! pointer, then the return address: the layout of the arm64 Apple ABI, which always
//! keeps frame pointers, and of x86-64 code built with them, macOS's default), follow
//! the chain of saved frame pointers and collect the return addresses. Used by macOS's
//! `unwind`; tested on any host over a synthetic stack.
//!
//! The bounds checks are those of the Linux unwinder: memory is read only inside the
//! thread's stack `[sp, high)`, each record must lie above the previous one (a stack
//! grows down, so callers' records are higher) and be aligned, so that a corrupt or
//! foreign frame pointer ends the walk instead of faulting or looping.

/// Collects return addresses into `out`, starting from the frame record at `fp`, for a
/// thread whose stack pointer is `sp` and whose stack ends at `high`; `read` loads the
/// 8-byte word at an address (only ever called inside `[sp, high)`). Returns how many
/// were written. A return address of 0 (the outermost frame) ends the walk.
pub fn walk(fp: u64, sp: u64, high: u64, read: impl Fn(u64) -> u64, out: &mut [u64]) -> usize {
    let mut n = 0;
    let mut fp = fp;
    let mut floor = sp;
    while n < out.len() {
        // The record (two words) must lie in the stack, above the last one, aligned.
        if fp < floor || !fp.is_multiple_of(8) || fp.checked_add(16).is_none_or(|end| end > high) {
            break;
        }
        let ret = read(fp + 8);
        if ret == 0 {
            break;
        }
        out[n] = ret;
        n += 1;
        floor = fp + 16;
        fp = read(fp);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::walk;

    /// A stack of 64 words at 0x1000..0x1200, records at the given word indexes.
    fn stack(records: &[(usize, u64, u64)]) -> impl Fn(u64) -> u64 {
        let mut words = vec![0u64; 64];
        for &(at, next_fp, ret) in records {
            words[at] = next_fp;
            words[at + 1] = ret;
        }
        move |addr| words[((addr - 0x1000) / 8) as usize]
    }

    #[test]
    fn follows_the_chain_up_to_the_outermost_frame() {
        let read = stack(&[(4, 0x1080, 0xaaa), (16, 0x1100, 0xbbb), (32, 0, 0)]);
        let mut out = [0u64; 8];
        assert_eq!(walk(0x1020, 0x1010, 0x1200, &read, &mut out), 2);
        assert_eq!(out[..2], [0xaaa, 0xbbb]);
        // A full buffer stops the walk.
        let mut one = [0u64; 1];
        assert_eq!(walk(0x1020, 0x1010, 0x1200, &read, &mut one), 1);
        assert_eq!(one, [0xaaa]);
    }

    #[test]
    fn bad_frame_pointers_end_the_walk_without_reading_outside() {
        // Points back down (a loop), out of the stack, misaligned, below sp.
        for (next, expect) in [(0x1020u64, 1usize), (0x5000, 1), (0x1083, 1), (0x0, 1)] {
            let read = stack(&[(4, next, 0xaaa)]);
            let mut out = [0u64; 8];
            assert_eq!(
                walk(0x1020, 0x1010, 0x1200, &read, &mut out),
                expect,
                "{next:#x}"
            );
        }
        let read = stack(&[(4, 0x1080, 0xaaa)]);
        let mut out = [0u64; 8];
        assert_eq!(walk(0x1020, 0x1030, 0x1200, &read, &mut out), 0);
        // A record whose second word would pass the stack's end.
        assert_eq!(walk(0x11f8, 0x1010, 0x1200, &read, &mut out), 0);
    }
}

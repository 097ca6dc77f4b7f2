//! A growable array of plain values in memory mapped straight from the kernel.
//!
//! The leak check runs while the program's other threads are stopped, one of them
//! possibly inside `malloc` holding a lock the writer thread's own `malloc` would wait
//! for: everything it builds lives in these arrays instead of `Vec`s. The mappings are
//! the tracer's own (never scanned as roots).

use std::ptr::NonNull;

use memscope_platform::memory::{map_zeroed, unmap};

/// A `Vec`-like array of `T` (plain data, for which all-zero bytes are a valid value).
pub struct MmapVec<T: Copy> {
    at: NonNull<T>,
    cap: usize,
    len: usize,
}

impl<T: Copy> MmapVec<T> {
    /// An empty array with room for `cap` values without growing.
    pub fn with_capacity(cap: usize) -> Option<MmapVec<T>> {
        let cap = cap.max(1024);
        let at = map_zeroed(cap * std::mem::size_of::<T>())?.cast();
        Some(MmapVec { at, cap, len: 0 })
    }

    /// `len` zeroed values.
    pub fn zeroed(len: usize) -> Option<MmapVec<T>> {
        let mut v = Self::with_capacity(len)?;
        v.len = len;
        Some(v)
    }

    /// Appends `v`; false if memory ran out (the value is dropped).
    pub fn push(&mut self, v: T) -> bool {
        if self.len == self.cap && !self.grow() {
            return false;
        }
        // SAFETY: len < cap slots of our mapping.
        unsafe { self.at.as_ptr().add(self.len).write(v) };
        self.len += 1;
        true
    }

    pub fn pop(&mut self) -> Option<T> {
        self.len = self.len.checked_sub(1)?;
        // SAFETY: the value at the old last index was written.
        Some(unsafe { self.at.as_ptr().add(self.len).read() })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn grow(&mut self) -> bool {
        let cap = self.cap * 2;
        let Some(new) = map_zeroed(cap * std::mem::size_of::<T>()) else {
            return false;
        };
        let new = new.cast::<T>();
        // SAFETY: both mappings are ours, `len` values fit in each, they do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(self.at.as_ptr(), new.as_ptr(), self.len);
            unmap(self.at.cast(), self.cap * std::mem::size_of::<T>());
        }
        self.at = new;
        self.cap = cap;
        true
    }
}

impl<T: Copy> std::ops::Deref for MmapVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the first `len` values are initialised (written or zeroed).
        unsafe { std::slice::from_raw_parts(self.at.as_ptr(), self.len) }
    }
}

impl<T: Copy> std::ops::DerefMut for MmapVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref; we hold the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.at.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for MmapVec<T> {
    fn drop(&mut self) {
        // SAFETY: our own mapping of `cap` values, used no more.
        unsafe { unmap(self.at.cast(), self.cap * std::mem::size_of::<T>()) };
    }
}

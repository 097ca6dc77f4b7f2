//! Memory straight from the kernel on macOS: the Unix way ([`crate::unix::memory`]).

pub use crate::unix::memory::{commit, for_each_own_mapping, map_zeroed, reserve, unmap};

//! Memory straight from the kernel on macOS: the Unix way ([`crate::unix::memory`]).

pub use crate::unix::memory::{map_zeroed, unmap};

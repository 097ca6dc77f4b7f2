//! From addresses to names: [`symbolize`] (addr2line over module files, build-id
//! checked, inlined frames, symbol-table fallback) over the [`debuginfo`] loader, with
//! module debug info loaded ahead on a background thread by [`warmup`], and names made
//! readable by [`demangle`]. Only the stacks a report shows are symbolized. [`globals`]
//! names global variables (the leak check's root words) by data symbol and
//! declaration. [`macho`] finds the dSYM of a Mach-O module by its UUID.
//! declaration. [`pe`] adds what Windows traces need (PE identities, Windows paths).
//!
//! Uses `trace/` (the trace's modules and stacks) only.

pub mod debuginfo;
pub mod demangle;
pub mod globals;
pub mod macho;
pub mod pe;
pub mod symbolize;
pub mod warmup;

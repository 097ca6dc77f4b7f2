//! Detectors: visitors that report findings. `misuse` holds the ones that judge single
//! releases and allocations (double free, invalid free, realloc of a freed block,
//! mismatched free, fishy sizes); `delete_args` the C++ releases whose size or alignment
//! argument contradicts the allocation; `leak` groups what is live at the end; `growth`
//! watches each call site's live bytes over the run.

pub mod delete_args;
pub mod growth;
pub mod leak;
pub mod misuse;

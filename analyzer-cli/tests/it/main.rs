//! The analyzer's integration tests, one binary (one link, one run): the real `memscope`
//! binary on synthetic traces ([`cli`]; with leak kinds, on a real compiled program:
//! [`leak_kinds`]) and the symbolizer on a real compiled program ([`symbolize`]).

mod cli;
mod leak_kinds;
mod symbolize;

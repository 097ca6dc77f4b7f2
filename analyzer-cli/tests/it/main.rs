//! The analyzer's integration tests, one binary (one link, one run): the real `memscope`
//! binary on synthetic traces ([`cli`]) and the symbolizer on a real compiled program
//! ([`symbolize`]).

mod cli;
mod symbolize;

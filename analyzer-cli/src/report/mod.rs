//! Reports: the typed, symbolized report document ([`model`]) built from an analysis, and
//! its renderers ([`json`], [`text`]). Renderers only format; every number is decided
//! before them.

pub mod flame;
pub mod json;
pub mod metrics;
pub mod model;
pub mod text;

pub use model::{build, ReportDoc};

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// Folded stacks (`frame;frame weight`), root first.
    Collapsed,
    /// An SVG flame graph.
    Svg,
}

/// Leak groups the text report shows (JSON shows all).
pub const TEXT_LEAK_GROUPS: usize = 10;

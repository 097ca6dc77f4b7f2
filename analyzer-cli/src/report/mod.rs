//! Reports: the typed, symbolized report document (the `memscope-report` crate's
//! [`ReportDoc`]) built from an analysis ([`build`], with [`metrics`] and the leak
//! groups' [`holders`]), and its renderers ([`json`], [`text`] with [`leak_text`],
//! [`html`], and [`flame`] for
//! folded stacks and SVG flame graphs). Renderers only format; every number is decided
//! before them.

pub mod build;
pub mod flame;
pub mod holders;
pub mod html;
pub mod json;
pub mod leak_text;
pub mod metrics;
pub mod text;
pub mod view;

pub use build::build;
pub use memscope_report::ReportDoc;

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// Folded stacks (`frame;frame weight`), root first.
    Collapsed,
    /// An SVG flame graph.
    Svg,
    /// One self-contained HTML page: summary, memory over time, interactive flame graph,
    /// findings, leaks, call sites, threads.
    Html,
}

/// Leak groups the text report shows by default (JSON shows all; [`view`]).
pub const TEXT_LEAK_GROUPS: usize = 10;

//! The replay of merged events: the live map and valgrind-style counts ([`engine`]), the
//! typed block events it hands to the visitors ([`block_events`]), live blocks grouped by
//! allocation stack ([`live_groups`]) and the per-stack table the busiest visitors keep
//! their state in ([`stack_table`]).
//!
//! Uses `trace/` only: the replay knows nothing of the detectors and metrics that
//! consume its events.

pub mod block_events;
pub mod engine;
pub mod live_groups;
pub mod stack_table;

pub use block_events::LiveBlock;
pub use engine::{Counters, LiveMap, Replay, ReplayResult, RECENTLY_FREED};

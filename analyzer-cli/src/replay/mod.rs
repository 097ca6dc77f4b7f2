//! The replay of merged events: valgrind-style counts ([`engine`]) over the live map
//! ([`live_map`]: packed live blocks in [`live_table`], packed recent frees in
//! [`recent_frees`], one [`addr_index`] over both); the
//! typed block events it hands to the visitors ([`block_events`]), live blocks grouped by
//! allocation stack ([`live_groups`]) and the per-stack table the busiest visitors keep
//! their state in ([`stack_table`]).
//!
//! Uses `trace/` only: the replay knows nothing of the detectors and metrics that
//! consume its events.

pub mod addr_index;
pub mod block_events;
pub mod engine;
pub mod live_groups;
pub mod live_map;
pub mod live_table;
pub mod recent_frees;
pub mod stack_table;

pub use block_events::LiveBlock;
pub use engine::{Counters, LiveMap, Replay, ReplayResult, RECENTLY_FREED};

//! Switchboard: a Phoenix Channels compatible real-time engine.
//!
//! Layers (see `DESIGN.md`), each knowing only the ones above it in this list (checked by
//! `tests/layers.rs`): [`wire`] (frames ⇄ messages, with [`outbox`]), [`topic`] (routing,
//! sharding), [`pubsub`] (sharded registry, fastlane fan-out), [`presence`] (CRDT),
//! [`handler`] (the contract an application implements), [`channel`] (per-connection
//! sessions, one actor per channel), [`endpoint`] (tokio WebSocket transport) and [`host`]
//! (the host API and the kernel the C, Python and Node front-ends translate). [`metrics`]
//! holds the counters every layer bumps for operators.

pub mod channel;
pub mod cluster;
pub mod endpoint;
pub mod handler;
#[cfg(feature = "heap-stats")]
#[doc(hidden)]
pub mod heap_stats;
pub mod host;
#[doc(hidden)]
pub mod logging;
pub mod metrics;
pub mod outbox;
pub mod presence;
pub mod pubsub;
pub mod topic;
pub mod wire;

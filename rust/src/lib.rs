//! Switchboard: a Phoenix Channels compatible real-time engine.
//!
//! Layers (see `DESIGN.md`), each knowing only the ones above it in this list:
//! [`wire`] (frames ⇄ messages), [`topic`] (routing, sharding), [`pubsub`] (sharded
//! registry, fastlane fan-out), [`presence`] (CRDT), [`channel`] (per-connection sessions),
//! [`endpoint`] (tokio WebSocket transport) and [`host`] (what an application writes).

pub mod channel;
pub mod endpoint;
pub mod handler;
#[cfg(feature = "heap-stats")]
#[doc(hidden)]
pub mod heap_stats;
pub mod host;
#[doc(hidden)]
pub mod logging;
pub mod outbox;
pub mod presence;
pub mod pubsub;
pub mod topic;
pub mod wire;

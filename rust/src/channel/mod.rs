//! Channel sessions (DESIGN layer 7, PROTOCOL.md 3-4): the per-connection state machine.
//!
//! A [`Session`] receives the decoded client messages of one connection in order and
//! produces frames into that connection's [`Outbox`](crate::outbox::Outbox): heartbeat replies, join / leave /
//! duplicate-join / unmatched-topic handling, the channel limit, stale join_ref rules, and one
//! task per joined channel that calls the host [`Channel`] handler one
//! request at a time under the request timeout. The [`Backplane`] is what all connections of an
//! endpoint share: PubSub, Presence, and the channel census.
//!
//! Submodules: `session` (routing, answers the session gives itself), `channel_task` (one
//! task per channel instance, handler calls and their results), `instance` (the state an
//! instance shares with the session and with publishers: life phase and output gate), `inbox`
//! (its bounded command queue), `behaviour` (the callbacks a channel actor calls), `socket` (what handlers get), `backplane` (shared state),
//! `topic_map` (a connection's topic → channel map).

mod backplane;
mod behaviour;
mod channel_task;
mod frames;
mod inbox;
mod instance;
mod rate;
mod recovery;
mod session;
mod socket;
mod topic_map;

#[cfg(test)]
mod tests;

pub use backplane::Backplane;
pub use behaviour::Channel;
pub(crate) use rate::Bucket;
pub use session::Session;
pub(crate) use socket::SocketExtension;
pub use socket::{ChannelHandle, HandleError, Socket, SocketError, SocketRef};

use crate::topic::Router;
use std::sync::Arc;
use std::time::Duration;

/// Limits and timeouts of one socket mount. Defaults in [`MountConfig::default`].
#[derive(Clone, Debug)]
pub struct MountConfig {
    /// Channels one connection may have joined at once (Phoenix
    /// `max_channels_per_transport`, default 100). A join beyond it is answered
    /// `{"reason":"too many channels joined"}`.
    pub max_channels: usize,
    /// How long a handler call (join, handle_in, handle_info, handle_out) may take before the
    /// channel is failed with `phx_error` (a join gets `{"reason":"join crashed"}`).
    pub request_timeout: Duration,
    /// Longest accepted topic in bytes (default 16 KiB). A join for a longer topic is
    /// answered `[J, R, T, "phx_reply", {"status":"error","response":{"reason":"topic too long"}}]`
    /// and keeps no state. Phoenix has no such limit; ours bounds what one join can pin.
    pub max_topic_bytes: usize,
    /// Commands (client messages, `send_info`, intercepted and external broadcasts) that may
    /// wait for one channel's handler (default 1024); one more crashes that channel
    /// (`phx_error`, `terminate` with `Crash`). Also bounds the actions a `join` may defer.
    pub channel_queue: usize,
    /// Runtime the channel tasks run on (default `None`: the connection's runtime). A
    /// queue-hosted endpoint gives them a runtime of their own: a host's answer then wakes its
    /// channel on a short run queue instead of behind every connection writer woken by the
    /// last broadcast, so one publisher's back-to-back pushes reach the host as fast as it
    /// answers them (and their broadcasts coalesce into shared writes).
    pub channel_runtime: Option<tokio::runtime::Handle>,
    /// Client messages per second one connection may send, joins and heartbeats aside (a
    /// token bucket with a one-second burst; default 0: no limit). One over it is answered
    /// `{"reason":"rate_limited"}` (when it has a ref) and dropped; a client that keeps going
    /// for another second's worth is closed (WebSocket 1008; a long-poll session ends).
    pub messages_per_second: u32,
    /// Joins per second one connection may send, the same way (default 0: no limit).
    pub joins_per_second: u32,
}

impl Default for MountConfig {
    fn default() -> Self {
        MountConfig {
            max_channels: 100,
            request_timeout: Duration::from_secs(10),
            max_topic_bytes: 16 * 1024,
            channel_queue: 1024,
            channel_runtime: None,
            messages_per_second: 0,
            joins_per_second: 0,
        }
    }
}

/// The channel routes and limits of one socket mount (Phoenix `use Phoenix.Socket` module).
pub struct Mount {
    pub routes: Router<Arc<dyn Channel>>,
    pub config: MountConfig,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

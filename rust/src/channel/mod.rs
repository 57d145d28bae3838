//! Channel sessions (DESIGN layer 5, PROTOCOL.md 3-4): the per-connection state machine.
//!
//! A [`Session`] receives the decoded client messages of one connection in order and
//! produces frames into that connection's [`Outbox`]: heartbeat replies, join / leave /
//! duplicate-join / unmatched-topic handling, the channel limit, stale join_ref rules, and one
//! task per joined channel that calls the host [`Channel`](crate::host::Channel) handler one
//! request at a time under the request timeout. The [`Hub`] is what all connections of an
//! endpoint share: PubSub, Presence, and the channel census.

use crate::host::{Assigns, Channel, Connected, TerminateReason};
use crate::outbox::Outbox;
use crate::presence::Presence;
use crate::pubsub::{Delivered, PubSub, PublishError};
use crate::topic::Router;
use crate::wire::{Message, Payload, Serializer, WireError};
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
    /// Longest accepted topic in bytes; longer topics get an error reply.
    pub max_topic_bytes: usize,
    /// Messages that may wait for one channel's handler; more crash that channel.
    pub channel_queue: usize,
}

impl Default for MountConfig {
    fn default() -> Self {
        MountConfig {
            max_channels: 100,
            request_timeout: Duration::from_secs(10),
            max_topic_bytes: 16 * 1024,
            channel_queue: 1024,
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

/// State shared by every connection of an endpoint.
#[derive(Debug)]
pub struct Hub {
    _todo: (),
}

impl Hub {
    /// A hub with `shards` PubSub and Presence shards (0 = one per core); `node` names this
    /// replica for presence.
    pub fn new(node: &str, shards: usize) -> Arc<Hub> {
        todo!("{node}{shards}")
    }

    /// The PubSub registry.
    pub fn pubsub(&self) -> &Arc<PubSub> {
        todo!()
    }

    /// The presence service.
    pub fn presence(&self) -> &Arc<Presence> {
        todo!()
    }

    /// Host-side broadcast to every subscriber of `topic` (Phoenix `Endpoint.broadcast/3`).
    pub fn broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: Payload,
    ) -> Result<Delivered, PublishError> {
        todo!("{topic}{event}{payload:?}")
    }

    /// Host-side broadcast to this node's subscribers only (`Endpoint.local_broadcast/3`).
    pub fn local_broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: Payload,
    ) -> Result<Delivered, PublishError> {
        todo!("{topic}{event}{payload:?}")
    }

    /// Closes every connection whose socket id is `socket_id` with 1001 (a `"disconnect"`
    /// broadcast on that topic, PROTOCOL.md 4.9).
    pub fn disconnect(&self, socket_id: &str) -> Result<Delivered, PublishError> {
        todo!("{socket_id}")
    }

    /// Live channels on `topic`, over all connections of this node.
    pub fn channel_count(&self, topic: &str) -> usize {
        todo!("{topic}")
    }
}

/// The per-connection channel state machine.
#[derive(Debug)]
pub struct Session {
    _todo: (),
}

impl Session {
    /// A session for a freshly connected socket. `transport` is `"websocket"` or
    /// `"longpoll"` (visible to handlers).
    pub fn new(
        hub: Arc<Hub>,
        mount: Arc<Mount>,
        outbox: Arc<Outbox>,
        serializer: Serializer,
        transport: &'static str,
        connected: Connected,
    ) -> Session {
        let _ = (hub, mount, outbox, serializer, transport, connected);
        todo!()
    }

    /// Handles one decoded client message. Never blocks: handler work runs on channel tasks;
    /// frames go to the outbox.
    pub fn handle(&mut self, msg: Message) {
        todo!("{msg:?}")
    }

    /// Number of channels currently joined (or joining) on this connection.
    pub fn channel_count(&self) -> usize {
        todo!()
    }

    /// The connection ended: every channel terminates with `reason` (running `terminate`,
    /// untracking its presences, unsubscribing). Returns when all have finished.
    pub async fn close(self, reason: TerminateReason) {
        todo!("{reason:?}")
    }
}

/// What a handler sees of its channel (Phoenix `%Phoenix.Socket{}` inside a channel).
#[derive(Debug)]
pub struct Socket {
    _todo: (),
}

impl Socket {
    /// The channel topic.
    pub fn topic(&self) -> &str {
        todo!()
    }

    /// Assigns: the socket's connect assigns, then whatever the channel stores.
    pub fn assigns(&self) -> &Assigns {
        todo!()
    }

    /// Mutable assigns.
    pub fn assigns_mut(&mut self) -> &mut Assigns {
        todo!()
    }

    /// Pushes `event` with `payload` (a JSON object or binary) to this channel's client only
    /// (`[join_ref, null, topic, event, payload]`, Phoenix `push/3`).
    pub fn push(&self, event: &str, payload: Payload) -> Result<(), WireError> {
        todo!("{event}{payload:?}")
    }
}

impl From<WireError> for crate::host::HandlerError {
    fn from(e: WireError) -> Self {
        crate::host::HandlerError(e.to_string())
    }
}

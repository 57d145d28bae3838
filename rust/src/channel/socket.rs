//! What a handler sees of its channel: the Phoenix `%Phoenix.Socket{}` inside a channel.

use super::hub::Hub;
use super::instance::{Cmd, Delivery, Instance};
use crate::host::{Assigns, HandlerError};
use crate::presence::{Meta, PresenceError};
use crate::pubsub::{self, Broadcast, PublishError, SubscriberId, Subscription};
use crate::wire::{Frame, Payload, Ref, WireError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// Why a [`Socket`] or [`SocketRef`] action failed. Converts into [`HandlerError`], so a
/// handler can use `?` (which then crashes the channel, like a Phoenix raise).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SocketError {
    /// The payload cannot be encoded: a non-object JSON payload for a push under V2, a
    /// binary payload under V1, or a binary frame field (topic, event, status) over 255
    /// bytes.
    #[error(transparent)]
    Encode(#[from] WireError),
    /// A broadcast was refused (see [`PublishError`]).
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// A presence call was refused (already tracked, no presence to update).
    #[error(transparent)]
    Presence(#[from] PresenceError),
    /// The channel's inbox is full (`MountConfig::channel_queue`); the channel crashes.
    #[error("channel queue full")]
    QueueFull,
    /// `socket_ref` outside a `handle_in` for a message that carried a `ref` (Phoenix
    /// raises the same way: there is nothing to reply to).
    #[error(
        "no ref to reply to: socket_ref is only available in handle_in for a message with a ref"
    )]
    NoRef,
}

impl From<SocketError> for HandlerError {
    fn from(e: SocketError) -> Self {
        HandlerError(e.to_string())
    }
}

/// An action taken during `join`, performed right after the join reply (see [`Socket`]).
#[derive(Debug)]
pub(crate) enum Deferred {
    Push(Frame),
    Broadcast { from_self: bool, b: Broadcast },
    Info(serde_json::Value),
}

/// What a handler sees of its channel (Phoenix `%Phoenix.Socket{}` inside a channel).
///
/// **During `join`** the channel is not joined yet. Phoenix raises on `push`/`broadcast`
/// there; we instead *defer* them: pushes, broadcasts and `send_info` made inside `join` are
/// performed in order right after an `ok` join reply (and dropped if the join fails), so the
/// join reply is always the first frame of the join_ref (PROTOCOL.md 3.3 rule 2) and the
/// channel's own client receives its broadcasts. At most `MountConfig::channel_queue`
/// actions may be deferred ([`SocketError::QueueFull`] beyond).
pub struct Socket {
    pub(crate) inst: Arc<Instance>,
    assigns: Assigns,
    socket_id: Option<String>,
    transport: &'static str,
    /// Id of the fastlane subscription to the channel topic (for `broadcast_from`); `None`
    /// while joining.
    pub(crate) fastlane_id: Option<SubscriberId>,
    external: HashMap<String, Subscription>,
    /// `ref` of the message being handled (for `socket_ref`).
    pub(crate) current_ref: Option<Ref>,
    /// `false` while `join` runs.
    pub(crate) joined: bool,
    pub(crate) deferred: Mutex<Vec<Deferred>>,
    deferred_limit: usize,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("topic", &self.inst.topic)
            .field("join_ref", &self.inst.join_ref)
            .field("id", &self.socket_id)
            .field("transport", &self.transport)
            .field("assigns", &self.assigns)
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(
        inst: Arc<Instance>,
        assigns: Assigns,
        socket_id: Option<String>,
        transport: &'static str,
        deferred_limit: usize,
    ) -> Socket {
        Socket {
            inst,
            assigns,
            socket_id,
            transport,
            fastlane_id: None,
            external: HashMap::new(),
            current_ref: None,
            joined: false,
            deferred: Mutex::new(Vec::new()),
            deferred_limit,
        }
    }

    /// The channel topic.
    pub fn topic(&self) -> &str {
        &self.inst.topic
    }

    /// The join_ref of this channel instance (the `phx_join` message's join_ref; `None` if
    /// the client sent null).
    pub fn join_ref(&self) -> Option<&Ref> {
        self.inst.join_ref.as_ref()
    }

    /// The socket id returned by connect (Phoenix `socket.id`), if any.
    pub fn id(&self) -> Option<&str> {
        self.socket_id.as_deref()
    }

    /// `"websocket"` or `"longpoll"` (Phoenix `socket.transport`).
    pub fn transport(&self) -> &'static str {
        self.transport
    }

    /// The hub, for host-side actions on other topics (`Hub::broadcast`, presence lists).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.inst.hub
    }

    /// Assigns: the socket's connect assigns (copied at join), then whatever the channel
    /// stores. Per channel instance.
    pub fn assigns(&self) -> &Assigns {
        &self.assigns
    }

    /// Mutable assigns.
    pub fn assigns_mut(&mut self) -> &mut Assigns {
        &mut self.assigns
    }

    fn defer(&self, d: Deferred) -> Result<(), SocketError> {
        let mut deferred = self.deferred.lock();
        if deferred.len() >= self.deferred_limit {
            return Err(SocketError::QueueFull);
        }
        deferred.push(d);
        Ok(())
    }

    /// Pushes `event` with `payload` (a JSON object or binary) to this channel's client only
    /// (`[join_ref, null, topic, event, payload]`, Phoenix `push/3`). Encoding errors are
    /// returned (nothing is sent); a push after the channel ended is silently dropped, like
    /// Phoenix's send to a gone transport. Deferred during `join` (see [`Socket`]).
    pub fn push(&self, event: &str, payload: Payload) -> Result<(), SocketError> {
        let frame = self.inst.encode_push(event, &payload)?;
        if !self.joined {
            return self.defer(Deferred::Push(frame));
        }
        self.inst.emit(frame);
        Ok(())
    }

    /// Broadcasts to every subscriber of the channel topic on every node, this channel's
    /// own client included (Phoenix `broadcast/3`). Deferred during `join`.
    pub fn broadcast(&self, event: &str, payload: Payload) -> Result<(), SocketError> {
        self.publish(false, event, payload)
    }

    /// Like [`broadcast`](Self::broadcast) but not to this channel itself (Phoenix
    /// `broadcast_from/3`). Deferred during `join`.
    pub fn broadcast_from(&self, event: &str, payload: Payload) -> Result<(), SocketError> {
        self.publish(true, event, payload)
    }

    fn publish(&self, from_self: bool, event: &str, payload: Payload) -> Result<(), SocketError> {
        let b = Broadcast {
            topic: self.inst.topic.clone(),
            event: event.to_owned(),
            payload,
        };
        if !self.joined {
            if matches!(b.payload, Payload::Json(_)) && !b.payload.is_json_object() {
                return Err(PublishError::Encode(WireError::PayloadNotObject).into());
            }
            return self.defer(Deferred::Broadcast { from_self, b });
        }
        self.publish_now(from_self, b)
    }

    pub(crate) fn publish_now(&self, from_self: bool, b: Broadcast) -> Result<(), SocketError> {
        let pubsub = self.inst.hub.pubsub();
        match (from_self, self.fastlane_id) {
            (true, Some(id)) => pubsub.broadcast_from(id, b)?,
            _ => pubsub.broadcast(b)?,
        };
        Ok(())
    }

    /// Queues `message` for `handle_info(Info::Message(message))` after the current request
    /// (Phoenix `send(self(), message)`; the `after_join` pattern). From `join` it runs right
    /// after the join reply, before any queued client message. A full inbox crashes the
    /// channel and returns [`SocketError::QueueFull`].
    pub fn send_info(&self, message: serde_json::Value) -> Result<(), SocketError> {
        if !self.joined {
            return self.defer(Deferred::Info(message));
        }
        deliver_internal(&self.inst, Cmd::Info(message))
    }

    /// Subscribes this channel to another topic: its broadcasts arrive in `handle_info` as
    /// `Info::Broadcast` (Phoenix `Endpoint.subscribe/1` from a channel, PROTOCOL.md 5.4).
    /// Idempotent per topic (Phoenix would deliver duplicates). Ends with the channel.
    pub fn subscribe(&mut self, topic: &str) {
        if self.external.contains_key(topic) {
            return;
        }
        let weak: Weak<Instance> = Arc::downgrade(&self.inst);
        let mailbox = Arc::new(move |b: &Arc<Broadcast>| {
            if let Some(inst) = weak.upgrade() {
                // Given back only when the channel is ending: dropped like a send to a
                // dead process.
                let _ = inst.deliver(Cmd::External(Arc::clone(b)));
            }
        });
        let sub = self
            .inst
            .hub
            .pubsub()
            .subscribe(topic, pubsub::Delivery::Mailbox(mailbox));
        self.external.insert(topic.to_owned(), sub);
    }

    /// Undoes [`subscribe`](Self::subscribe). Returns whether it was subscribed.
    pub fn unsubscribe(&mut self, topic: &str) -> bool {
        self.external.remove(topic).is_some()
    }

    /// Drops every subscription (the channel ended).
    pub(crate) fn unsubscribe_all(&mut self) {
        self.inst.unsubscribe();
        self.external.clear();
    }

    /// Tracks `key` with `meta` on the channel topic, owned by this channel instance: it
    /// leaves when the channel ends (Phoenix `Presence.track(socket, key, meta)`). Returns the
    /// `phx_ref`. The resulting `presence_diff` is broadcast to the topic.
    pub fn track(&self, key: &str, meta: Meta) -> Result<String, SocketError> {
        Ok(self
            .inst
            .hub
            .presence()
            .track(self.inst.owner, &self.inst.topic, key, meta)?)
    }

    /// Stops tracking `key` on the channel topic (idempotent).
    pub fn untrack(&self, key: &str) {
        self.inst
            .hub
            .presence()
            .untrack(self.inst.owner, &self.inst.topic, key);
    }

    /// Replaces the meta of this channel's `key`; returns the new `phx_ref`
    /// ([`PresenceError::NoPresence`] if not tracked).
    pub fn update(&self, key: &str, meta: Meta) -> Result<String, SocketError> {
        Ok(self
            .inst
            .hub
            .presence()
            .update(self.inst.owner, &self.inst.topic, key, meta)?)
    }

    /// The `presence_state` payload of the channel topic: `{key: {"metas": [...]}}`
    /// (Phoenix `Presence.list(socket)`), ready to `push("presence_state", ...)`.
    pub fn presence_list(&self) -> Payload {
        self.inst.hub.presence().list(&self.inst.topic)
    }

    /// A handle to reply later to the message being handled (Phoenix `socket_ref/1` +
    /// `reply/2`): return `Outcome::NoReply` now and call [`SocketRef::reply`] from anywhere.
    /// Only in `handle_in` for a message with a `ref` ([`SocketError::NoRef`] otherwise).
    pub fn socket_ref(&self) -> Result<SocketRef, SocketError> {
        match &self.current_ref {
            Some(r) if self.joined => Ok(SocketRef {
                inst: Arc::clone(&self.inst),
                r#ref: r.clone(),
            }),
            _ => Err(SocketError::NoRef),
        }
    }
}

/// `try_send` into the own inbox from inside the channel.
fn deliver_internal(inst: &Instance, cmd: Cmd) -> Result<(), SocketError> {
    match inst.deliver(cmd) {
        Delivery::Queued => Ok(()),
        // Dropped because the channel is ending: like a send to a dead pid, not an error.
        Delivery::Refused(_) => Ok(()),
        Delivery::Overflowed => Err(SocketError::QueueFull),
    }
}

/// A captured request to reply to later (Phoenix `socket_ref`). Cloneable and `Send`; the
/// reply is written only while the channel still exists (otherwise dropped silently).
#[derive(Clone)]
pub struct SocketRef {
    inst: Arc<Instance>,
    r#ref: Ref,
}

impl std::fmt::Debug for SocketRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketRef")
            .field("topic", &self.inst.topic)
            .field("join_ref", &self.inst.join_ref)
            .field("ref", &self.r#ref)
            .finish()
    }
}

impl SocketRef {
    /// The channel topic.
    pub fn topic(&self) -> &str {
        &self.inst.topic
    }

    /// Sends `[J, R, T, "phx_reply", {"status": status, "response": payload}]` (F11; Phoenix
    /// `reply/2`). `payload` may be any JSON value or binary.
    pub fn reply(&self, status: &str, payload: Payload) -> Result<(), SocketError> {
        let frame = self
            .inst
            .encode_reply(Some(&self.r#ref), status, &payload)?;
        self.inst.emit(frame);
        Ok(())
    }
}

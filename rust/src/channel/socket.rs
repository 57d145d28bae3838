//! What a handler sees of its channel: the Phoenix `%Phoenix.Socket{}` inside a channel.

use super::backplane::Backplane;
use super::instance::{Cmd, Delivery, Instance};
use crate::handler::{Assigns, HandlerError, TerminateReason};
use crate::presence::{Meta, PresenceError};
use crate::pubsub::{self, Broadcast, PublishError, SubscriberId, Subscription};
use crate::wire::{Frame, Payload, Ref, WireError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// Why a [`Socket`] or [`SocketRef`] action failed. Converts into [`HandlerError`], so a
/// handler can use `?` (which then crashes the channel, like a Phoenix raise).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// External subscriptions and deferred actions, shared with this channel's
    /// [`ChannelHandle`]s.
    shared: Arc<Shared>,
    /// `ref` of the message being handled (for `socket_ref`).
    pub(crate) current_ref: Option<Ref>,
    /// `false` while `join` runs.
    pub(crate) joined: bool,
    /// What a layer above attached to this channel (see [`SocketExtension`]).
    extension: Option<Box<dyn SocketExtension>>,
}

/// State a layer above the channel attaches to one channel instance's [`Socket`], e.g. the id
/// the host request layer gave the channel. One value per socket, found again by its type.
pub(crate) trait SocketExtension: std::any::Any + Send + Sync {
    /// Runs once when the channel instance is gone (its task ended or was aborted), whatever
    /// the path: how the layer frees what it keeps for the channel.
    fn socket_dropped(&mut self, socket: &Socket);
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(mut ext) = self.extension.take() {
            ext.socket_dropped(self);
        }
    }
}

/// The part of a channel instance that its [`Socket`] and its [`ChannelHandle`]s share. Its
/// lock also decides liveness for handles: once `open` is false (the channel is ending) no
/// handle action takes effect, so a presence tracked through a handle can never outlive
/// the channel's `untrack_owner`.
///
/// Lock order: `state` may be held while calling PubSub or Presence (they never call back
/// into it), never while holding the instance's life lock.
pub(crate) struct Shared {
    state: Mutex<SharedState>,
    deferred_limit: usize,
}

struct SharedState {
    /// False once the channel started ending (`unsubscribe_all`).
    open: bool,
    /// While a queue host handles the `Leave` of a channel that closed gracefully: handles
    /// may still push, reply and broadcast (what Phoenix's `terminate` may do after
    /// `phx_close`, PROTOCOL.md 3.3 rule 4), nothing else.
    terminating: bool,
    /// True until the channel task took the deferred actions after an `ok` join reply.
    joining: bool,
    deferred: Vec<Deferred>,
    external: HashMap<String, Subscription>,
}

impl Shared {
    fn defer(&self, d: Deferred) -> Result<(), SocketError> {
        let mut st = self.state.lock();
        if st.deferred.len() >= self.deferred_limit {
            return Err(SocketError::QueueFull);
        }
        st.deferred.push(d);
        Ok(())
    }
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
            shared: Arc::new(Shared {
                state: Mutex::new(SharedState {
                    open: true,
                    terminating: false,
                    joining: true,
                    deferred: Vec::new(),
                    external: HashMap::new(),
                }),
                deferred_limit,
            }),
            current_ref: None,
            joined: false,
            extension: None,
        }
    }

    /// The reason of a stop requested from outside that the task did not get to act on
    /// (e.g. the connection closed and the task was aborted at the close deadline).
    pub(crate) fn pending_stop(&self) -> Option<TerminateReason> {
        match self.inst.take_stop() {
            Some(super::instance::StopRequest::Session(reason)) => Some(reason),
            Some(super::instance::StopRequest::Overflow) => {
                Some(TerminateReason::Crash("channel queue full".to_owned()))
            }
            None => None,
        }
    }

    /// True when the channel ended with `phx_close` (leave, normal or shutdown stop), so
    /// what `terminate` pushes still reaches the client.
    pub(crate) fn closed_gracefully(&self) -> bool {
        self.inst.lock().phase == super::instance::Phase::Closing
    }

    /// Lets this channel's handles push, reply and broadcast after it ended, until the
    /// returned guard is dropped: how a queue host acts from `terminate` while it handles
    /// the `Leave` request on another thread.
    pub(crate) fn terminate_window(&self) -> TerminateWindow {
        self.shared.state.lock().terminating = true;
        TerminateWindow(Arc::clone(&self.shared))
    }

    /// Attaches `ext` to this socket (replacing any earlier extension, which is dropped
    /// without its `socket_dropped`).
    pub(crate) fn set_extension<E: SocketExtension>(&mut self, ext: E) {
        self.extension = Some(Box::new(ext));
    }

    /// The extension attached with [`set_extension`](Self::set_extension), if it is an `E`.
    pub(crate) fn extension<E: SocketExtension>(&self) -> Option<&E> {
        let any: &dyn std::any::Any = self.extension.as_deref()?;
        any.downcast_ref::<E>()
    }

    /// Ends the join phase for actions: returns what `join` (and handles meanwhile)
    /// deferred; later handle actions take effect at once.
    pub(crate) fn take_deferred(&self) -> Vec<Deferred> {
        let mut st = self.shared.state.lock();
        st.joining = false;
        std::mem::take(&mut st.deferred)
    }

    /// An owned handle to act on this channel from any thread, after the handler returned
    /// (see [`ChannelHandle`]).
    pub fn handle(&self) -> ChannelHandle {
        ChannelHandle {
            inst: Arc::clone(&self.inst),
            shared: Arc::clone(&self.shared),
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

    /// The backplane, for host-side actions on other topics (`Backplane::broadcast`, presence lists).
    pub fn backplane(&self) -> &Arc<Backplane> {
        &self.inst.backplane
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
        self.shared.defer(d)
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
        let pubsub = self.inst.backplane.pubsub();
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
        deliver_internal(&self.inst, Cmd::Info(Box::new(message)))
    }

    /// Subscribes this channel to another topic: its broadcasts arrive in `handle_info` as
    /// `Info::Broadcast` (Phoenix `Endpoint.subscribe/1` from a channel, PROTOCOL.md 5.4).
    /// Idempotent per topic (Phoenix would deliver duplicates). Ends with the channel.
    pub fn subscribe(&mut self, topic: &str) {
        // Only fails once the channel is ending, when a new subscription is pointless.
        let _ = subscribe_external(&self.inst, &self.shared, topic);
    }

    /// Undoes [`subscribe`](Self::subscribe). Returns whether it was subscribed.
    pub fn unsubscribe(&mut self, topic: &str) -> bool {
        let sub = self.shared.state.lock().external.remove(topic);
        sub.is_some()
    }

    /// Drops every subscription and closes the channel's handles (the channel ended).
    pub(crate) fn unsubscribe_all(&mut self) {
        self.inst.unsubscribe();
        let external = {
            let mut st = self.shared.state.lock();
            st.open = false;
            st.joining = false;
            st.deferred.clear();
            std::mem::take(&mut st.external)
        };
        // Dropped outside the lock: unsubscribing takes PubSub locks.
        drop(external);
    }

    /// Tracks `key` with `meta` on the channel topic, owned by this channel instance: it
    /// leaves when the channel ends (Phoenix `Presence.track(socket, key, meta)`). Returns the
    /// `phx_ref`. The resulting `presence_diff` is broadcast to the topic.
    pub fn track(&self, key: &str, meta: Meta) -> Result<String, SocketError> {
        Ok(self
            .inst
            .backplane
            .presence()
            .track(self.inst.owner, &self.inst.topic, key, meta)?)
    }

    /// Stops tracking `key` on the channel topic (idempotent).
    pub fn untrack(&self, key: &str) {
        self.inst
            .backplane
            .presence()
            .untrack(self.inst.owner, &self.inst.topic, key);
    }

    /// Replaces the meta of this channel's `key`; returns the new `phx_ref`
    /// ([`PresenceError::NoPresence`] if not tracked).
    pub fn update(&self, key: &str, meta: Meta) -> Result<String, SocketError> {
        Ok(self
            .inst
            .backplane
            .presence()
            .update(self.inst.owner, &self.inst.topic, key, meta)?)
    }

    /// The `presence_state` payload of the channel topic: `{key: {"metas": [...]}}`
    /// (Phoenix `Presence.list(socket)`), ready to `push("presence_state", ...)`.
    pub fn presence_list(&self) -> Payload {
        self.inst.backplane.presence().list(&self.inst.topic)
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

/// Subscribes `inst` to `topic` for `handle_info(Info::Broadcast)`; idempotent. `Err` once the
/// channel is ending.
fn subscribe_external(inst: &Arc<Instance>, shared: &Shared, topic: &str) -> Result<(), Gone> {
    let mut st = shared.state.lock();
    if !st.open {
        return Err(Gone);
    }
    if st.external.contains_key(topic) {
        return Ok(());
    }
    let weak: Weak<Instance> = Arc::downgrade(inst);
    let mailbox = Arc::new(move |b: &Arc<Broadcast>| {
        if let Some(inst) = weak.upgrade() {
            // Given back only when the channel is ending: dropped like a send to a
            // dead process.
            let _ = inst.deliver(Cmd::External(Arc::clone(b)));
        }
    });
    let sub = inst
        .backplane
        .pubsub()
        .subscribe(topic, pubsub::Delivery::Mailbox(mailbox));
    st.external.insert(topic.to_owned(), sub);
    Ok(())
}

/// The channel has ended (or is ending).
struct Gone;

/// See [`Socket::terminate_window`]; closes the window when dropped.
pub(crate) struct TerminateWindow(Arc<Shared>);

impl Drop for TerminateWindow {
    fn drop(&mut self) {
        self.0.state.lock().terminating = false;
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

/// Why a [`ChannelHandle`] action failed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The channel has ended or is ending (left, stopped, crashed, connection closed): the
    /// action had no effect. Like a send to a dead channel process in Phoenix, but reported.
    #[error("channel not found: it has ended")]
    NotFound,
    /// The action itself failed (encoding, publish, presence, inbox full); see
    /// [`SocketError`].
    #[error(transparent)]
    Socket(#[from] SocketError),
}

/// An owned, cloneable handle to one channel instance, usable from any thread (`Send + Sync`)
/// after the handler that produced it returned: how a host acts on a channel later (push on
/// a timer, `broadcast_from`, presence, subscriptions for `handle_info`). Obtained with
/// [`Socket::handle`].
///
/// Every method returns [`HandleError::NotFound`] once the channel started ending (leave,
/// stop, crash, connection end), except while a queue host handles the `Leave` of a channel
/// that closed with `phx_close`: then `push`, `reply`, `broadcast` and `broadcast_from` still
/// work (Phoenix's `terminate` pushing after `phx_close`). While the join is still being answered, pushes,
/// broadcasts and `send_info` are deferred until right after the `ok` join reply (like
/// [`Socket`] actions made inside `join`), and dropped if the join does not succeed.
#[derive(Clone)]
pub struct ChannelHandle {
    inst: Arc<Instance>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ChannelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelHandle")
            .field("topic", &self.inst.topic)
            .field("join_ref", &self.inst.join_ref)
            .finish_non_exhaustive()
    }
}

impl ChannelHandle {
    /// The channel topic.
    pub fn topic(&self) -> &str {
        &self.inst.topic
    }

    /// The join_ref of the channel instance.
    pub fn join_ref(&self) -> Option<&Ref> {
        self.inst.join_ref.as_ref()
    }

    /// The backplane of the channel's endpoint (host-level broadcast, disconnect).
    pub fn backplane(&self) -> &Arc<Backplane> {
        &self.inst.backplane
    }

    /// True until the channel starts ending.
    pub fn is_alive(&self) -> bool {
        self.shared.state.lock().open
    }

    /// True while some action still takes effect: alive, or in the window where a queue
    /// host handles the `Leave` of a channel that closed gracefully (pushes only).
    pub(crate) fn accepts_actions(&self) -> bool {
        let st = self.shared.state.lock();
        st.open || st.terminating
    }

    /// Defers `d` while joining (`Ok(None)`); otherwise gives it back to act on now.
    /// `NotFound` once ending, except pushes and broadcasts from `terminate`.
    fn act(&self, d: Deferred) -> Result<Option<Deferred>, HandleError> {
        let mut st = self.shared.state.lock();
        if !st.open {
            return match d {
                Deferred::Push(_) | Deferred::Broadcast { .. } if st.terminating => Ok(Some(d)),
                _ => Err(HandleError::NotFound),
            };
        }
        if st.joining {
            if st.deferred.len() >= self.shared.deferred_limit {
                return Err(SocketError::QueueFull.into());
            }
            st.deferred.push(d);
            return Ok(None);
        }
        Ok(Some(d))
    }

    /// Pushes `event` with `payload` (a JSON object or binary) to this channel's client only
    /// (Phoenix `push/3`): `[join_ref, null, topic, event, payload]`. Encoding errors are
    /// returned and nothing is sent.
    pub fn push(&self, event: &str, payload: Payload) -> Result<(), HandleError> {
        let frame = self
            .inst
            .encode_push(event, &payload)
            .map_err(SocketError::from)?;
        if let Some(Deferred::Push(frame)) = self.act(Deferred::Push(frame))? {
            self.inst.emit(frame);
        }
        Ok(())
    }

    /// Broadcasts to every subscriber of the channel topic, this channel's client included
    /// (Phoenix `broadcast/3`). `payload` must be a JSON object or binary.
    pub fn broadcast(&self, event: &str, payload: Payload) -> Result<(), HandleError> {
        self.publish(false, event, payload)
    }

    /// Like [`broadcast`](Self::broadcast) but not to this channel itself (Phoenix
    /// `broadcast_from/3`).
    pub fn broadcast_from(&self, event: &str, payload: Payload) -> Result<(), HandleError> {
        self.publish(true, event, payload)
    }

    fn publish(&self, from_self: bool, event: &str, payload: Payload) -> Result<(), HandleError> {
        if matches!(payload, Payload::Json(_)) && !payload.is_json_object() {
            return Err(
                SocketError::from(PublishError::Encode(WireError::PayloadNotObject)).into(),
            );
        }
        let b = Broadcast {
            topic: self.inst.topic.clone(),
            event: event.to_owned(),
            payload,
        };
        if let Some(Deferred::Broadcast { from_self, b }) =
            self.act(Deferred::Broadcast { from_self, b })?
        {
            let pubsub = self.inst.backplane.pubsub();
            match (from_self, self.inst.fastlane_id()) {
                (true, Some(id)) => pubsub.broadcast_from(id, b),
                _ => pubsub.broadcast(b),
            }
            .map_err(SocketError::from)?;
        }
        Ok(())
    }

    /// Queues `message` for the channel's `handle_info(Info::Message(message))` (Phoenix
    /// `send(channel_pid, message)`), after the request being handled.
    pub fn send_info(&self, message: serde_json::Value) -> Result<(), HandleError> {
        match self.act(Deferred::Info(message))? {
            Some(Deferred::Info(message)) => {
                match self.inst.deliver(Cmd::Info(Box::new(message))) {
                    Delivery::Queued => Ok(()),
                    Delivery::Refused(_) => Err(HandleError::NotFound),
                    Delivery::Overflowed => Err(SocketError::QueueFull.into()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Replies to a message handled earlier (Phoenix `reply(socket_ref, {status, payload})`):
    /// `[join_ref, ref, topic, "phx_reply", {"status": status, "response": payload}]`, for
    /// hosts that answered `NoReply` and reply later without holding up the channel's next
    /// message. `ref` is the message's ref as received. `payload` may be any JSON value or
    /// binary; encoding errors are returned and nothing is sent.
    pub fn reply(&self, r#ref: &Ref, status: &str, payload: Payload) -> Result<(), HandleError> {
        if !self.accepts_actions() {
            return Err(HandleError::NotFound);
        }
        let frame = self
            .inst
            .encode_reply(Some(r#ref), status, &payload)
            .map_err(SocketError::from)?;
        self.inst.emit(frame);
        Ok(())
    }

    /// Subscribes the channel to `topic`: its broadcasts arrive as `handle_info` with
    /// `Info::Broadcast` (see [`Socket::subscribe`]). Idempotent per topic.
    pub fn subscribe(&self, topic: &str) -> Result<(), HandleError> {
        subscribe_external(&self.inst, &self.shared, topic).map_err(|Gone| HandleError::NotFound)
    }

    /// Undoes [`subscribe`](Self::subscribe). Returns whether it was subscribed.
    pub fn unsubscribe(&self, topic: &str) -> Result<bool, HandleError> {
        let sub = {
            let mut st = self.shared.state.lock();
            if !st.open {
                return Err(HandleError::NotFound);
            }
            st.external.remove(topic)
        };
        Ok(sub.is_some())
    }

    /// Runs `f` while the channel is known to be open, so nothing it tracks can outlive the
    /// channel's own untrack at its end.
    fn while_open<T>(&self, f: impl FnOnce() -> Result<T, HandleError>) -> Result<T, HandleError> {
        let st = self.shared.state.lock();
        if !st.open {
            return Err(HandleError::NotFound);
        }
        let out = f();
        drop(st);
        out
    }

    /// Tracks `key` with `meta` on the channel topic, owned by this channel (Phoenix
    /// `Presence.track(socket, key, meta)`); returns the `phx_ref`. Leaves when the channel
    /// ends.
    pub fn track(&self, key: &str, meta: Meta) -> Result<String, HandleError> {
        self.while_open(|| {
            Ok(self
                .inst
                .backplane
                .presence()
                .track(self.inst.owner, &self.inst.topic, key, meta)
                .map_err(SocketError::from)?)
        })
    }

    /// Stops tracking `key` on the channel topic (idempotent).
    pub fn untrack(&self, key: &str) -> Result<(), HandleError> {
        self.while_open(|| {
            self.inst
                .backplane
                .presence()
                .untrack(self.inst.owner, &self.inst.topic, key);
            Ok(())
        })
    }

    /// Replaces the meta of this channel's `key`; returns the new `phx_ref`
    /// ([`PresenceError::NoPresence`] inside [`HandleError::Socket`] if not tracked).
    pub fn update(&self, key: &str, meta: Meta) -> Result<String, HandleError> {
        self.while_open(|| {
            Ok(self
                .inst
                .backplane
                .presence()
                .update(self.inst.owner, &self.inst.topic, key, meta)
                .map_err(SocketError::from)?)
        })
    }

    /// The `presence_state` payload of the channel topic: `{key: {"metas": [...]}}`
    /// (Phoenix `Presence.list(socket)`).
    pub fn presence_list(&self) -> Result<Payload, HandleError> {
        self.while_open(|| Ok(self.inst.backplane.presence().list(&self.inst.topic)))
    }
}

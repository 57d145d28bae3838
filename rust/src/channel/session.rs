//! The per-connection state machine (PROTOCOL.md 3-4): routes each client message to its
//! channel task or answers it directly, without ever waiting for a handler.

use super::Mount;
use super::backplane::Backplane;
use super::channel_task::{self, ChannelTask, Replaced};
use super::frames::{UNMATCHED_TOPIC, close_frame, unjoined_reply};
use super::instance::{Cmd, Delivery, Instance};
use super::rate::{Limits, Verdict};
use super::socket::Socket;
use super::topic_map::TopicMap;
use crate::handler::{Connected, TerminateReason};
use crate::logging::clip;
use crate::metrics::Limit;
use crate::outbox::{CloseReason, Outbox};
use crate::wire::{Frame, Message, Payload, Serializer};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The reserved topic of heartbeats.
const PHOENIX_TOPIC: &str = "phoenix";
const TOO_MANY_CHANNELS: &[u8] = br#"{"reason":"too many channels joined"}"#;
const TOPIC_TOO_LONG: &[u8] = br#"{"reason":"topic too long"}"#;
const RATE_LIMITED: &[u8] = br#"{"reason":"rate_limited"}"#;

/// Extra time `Session::close` allows beyond two request timeouts (the handler call in
/// progress, then `terminate`).
const CLOSE_SLACK: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Entry {
    inst: Arc<Instance>,
    task: JoinHandle<()>,
}

/// The per-connection channel state machine.
///
/// Owned by the connection's reader, which calls [`handle`](Self::handle) for every decoded
/// client message in arrival order. `handle` never waits: each joined (or joining) topic has
/// its own task running the host handler, and everything the session answers itself
/// (heartbeats, unmatched topics, limits, leaves of unjoined topics) costs O(1) and keeps no
/// state, however often a client repeats it.
///
/// Must be created and used inside a tokio runtime (channel tasks are spawned on it).
/// Dropping a session without [`close`](Self::close) stops its channels in the background
/// with [`TerminateReason::Closed`].
#[derive(Debug)]
pub struct Session {
    backplane: Arc<Backplane>,
    mount: Arc<Mount>,
    outbox: Arc<Outbox>,
    serializer: Serializer,
    transport: &'static str,
    connected: Connected,
    /// topic → newest channel instance. Entries of ended instances are removed when their
    /// topic is next touched, or swept when the map grows (see `insert`).
    channels: TopicMap<Entry>,
    /// Instances replaced by a duplicate join while still joining: they answer their join,
    /// then end (see `duplicate_join`). Kept so that `close` stops them too; finished ones are
    /// dropped at the next duplicate join.
    superseded: Vec<Entry>,
    /// Instances that are joining or joined (the channel-limit count).
    live: Arc<AtomicUsize>,
    runtime: tokio::runtime::Handle,
    /// The mount's `messages_per_second` and `joins_per_second`.
    limits: Limits,
}

impl Session {
    /// A session for a freshly connected socket. `transport` is `"websocket"` or
    /// `"longpoll"` (visible to handlers). Panics outside a tokio runtime. Channel tasks
    /// run on the mount's `channel_runtime`, else on the current runtime.
    pub fn new(
        backplane: Arc<Backplane>,
        mount: Arc<Mount>,
        outbox: Arc<Outbox>,
        serializer: Serializer,
        transport: &'static str,
        connected: Connected,
    ) -> Session {
        let runtime = mount
            .config
            .channel_runtime
            .clone()
            .unwrap_or_else(tokio::runtime::Handle::current);
        let limits = Limits::new(
            mount.config.messages_per_second,
            mount.config.joins_per_second,
        );
        Session {
            limits,
            backplane,
            mount,
            outbox,
            serializer,
            transport,
            connected,
            channels: TopicMap::default(),
            superseded: Vec::new(),
            live: Arc::new(AtomicUsize::new(0)),
            runtime,
        }
    }

    /// Handles one decoded client message. Never blocks: handler work runs on channel tasks;
    /// frames go to the outbox.
    pub fn handle(&mut self, msg: Message) {
        self.backplane.metrics().messages_received.inc();
        // F1: any join_ref, any payload, joined or not; the reply's join_ref is always null.
        if msg.topic == PHOENIX_TOPIC && msg.event == "heartbeat" {
            self.write(self.serializer.encode_reply(
                None,
                msg.r#ref.as_ref(),
                PHOENIX_TOPIC,
                "ok",
                &Payload::empty_object(),
            ));
            return;
        }
        match self.limits.check(msg.event == "phx_join") {
            Verdict::Pass => {}
            Verdict::Refuse => return self.rate_limited(&msg),
            Verdict::Close => {
                tracing::debug!("closing a connection that kept going over its rate limit");
                self.rate_limited(&msg);
                self.outbox.close(CloseReason::RateLimited);
                return;
            }
        }
        let msg = match self.channels.get(&msg.topic) {
            Some(entry) if entry.inst.phase().routable() => {
                if msg.event == "phx_join" {
                    self.duplicate_join(msg);
                    return;
                }
                if msg.join_ref.is_some() && msg.join_ref != entry.inst.join_ref {
                    // F10: a message for an older instance of this topic.
                    tracing::debug!(topic = %clip(&msg.topic), join_ref = ?msg.join_ref,
                        event = %clip(&msg.event), "dropping message with stale join_ref");
                    return;
                }
                match entry.inst.deliver(Cmd::In(Box::new(msg))) {
                    Delivery::Queued | Delivery::Overflowed => return,
                    // The instance ended just now: the topic is no longer joined.
                    Delivery::Refused(Cmd::In(msg)) => *msg,
                    Delivery::Refused(_) => return,
                }
            }
            _ => msg,
        };
        self.channels.remove(&msg.topic);
        self.unjoined(msg);
    }

    /// The connection's socket id (Phoenix `id/1`), if its connect gave one.
    pub fn socket_id(&self) -> Option<&str> {
        self.connected.id.as_deref()
    }

    /// Number of channels currently joined (or joining) on this connection.
    pub fn channel_count(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Topic entries held, live or ended-but-not-yet-swept (tests check that refused joins
    /// keep no state).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.channels.len()
    }

    /// The connection ended: every channel terminates with `reason` (running `terminate`,
    /// untracking its presences, unsubscribing), and no frame is written for them any more.
    /// Returns when all have finished, or after `2 × request_timeout` + 100 ms (a handler
    /// call in progress, then `terminate`), whichever comes first: channels still running
    /// then are aborted (their presences still leave and subscriptions end).
    pub async fn close(mut self, reason: TerminateReason) {
        let channels = std::mem::take(&mut self.channels);
        let superseded = std::mem::take(&mut self.superseded);
        let mut tasks = Vec::with_capacity(channels.len() + superseded.len());
        for entry in channels.into_values().chain(superseded) {
            entry.inst.request_stop(reason.clone());
            tasks.push(entry.task);
        }
        let deadline =
            tokio::time::Instant::now() + self.mount.config.request_timeout * 2 + CLOSE_SLACK;
        for task in &mut tasks {
            if tokio::time::timeout_at(deadline, &mut *task).await.is_err() {
                crate::warn_limited!("channel did not terminate in time; aborting");
                break;
            }
        }
        for task in &tasks {
            task.abort();
        }
    }

    /// Answers a message over the rate limit `{"reason":"rate_limited"}` (when it has a ref
    /// to answer) and drops it.
    fn rate_limited(&self, msg: &Message) {
        self.backplane
            .metrics()
            .rate_limited(if msg.event == "phx_join" {
                Limit::JoinsPerSecond
            } else {
                Limit::MessagesPerSecond
            });
        if msg.r#ref.is_some() {
            self.write(self.serializer.encode_reply(
                msg.join_ref.as_ref(),
                msg.r#ref.as_ref(),
                &msg.topic,
                "error",
                &Payload::Json(Bytes::from_static(RATE_LIMITED)),
            ));
        }
    }

    fn write(&self, frame: Result<Frame, crate::wire::WireError>) {
        match frame {
            // A full or closed outbox is the endpoint's business (slow consumer / closing).
            Ok(frame) => {
                let _ = self.outbox.push(frame);
            }
            Err(e) => crate::warn_limited!(error = %e, "cannot encode a session reply"),
        }
    }

    /// A message for a topic without a live channel on this connection.
    fn unjoined(&mut self, msg: Message) {
        if msg.event == "phx_join" {
            self.join(msg, Replaced::Nothing);
            return;
        }
        if msg.event != "phx_leave" {
            // A routine client mistake (a push after a leave, a stale tab): debug only.
            tracing::debug!(topic = %clip(&msg.topic), event = %clip(&msg.event),
                "message for a topic that is not joined: unmatched topic");
        }
        if let Some(frame) = unjoined_reply(self.serializer, &msg) {
            let _ = self.outbox.push(frame);
        }
    }

    /// F16 / PROTOCOL.md 4.5: the old instance stops without `terminate`; the new join is
    /// processed; the old join_ref's `phx_close` follows the new join's reply. Phoenix's
    /// socket process runs one join at a time, so a join still running when its duplicate
    /// arrives (both in one write) is answered first: the new join waits for it instead of
    /// killing it, and the wire reads J1 reply, J2 reply, J1 `phx_close`, for any number of
    /// joins in a row.
    fn duplicate_join(&mut self, msg: Message) {
        let Some(old) = self.channels.remove(&msg.topic) else {
            self.join(msg, Replaced::Nothing);
            return;
        };
        let replaced = if let Some(settled) = old.inst.supersede() {
            tracing::debug!(topic = %clip(&msg.topic), old_join_ref = ?old.inst.join_ref,
                join_ref = ?msg.join_ref, "duplicate join: after the pending join's answer");
            let join_ref = old.inst.join_ref.clone();
            self.superseded.retain(|e| !e.task.is_finished());
            self.superseded.push(old);
            Replaced::Joining { join_ref, settled }
        } else if old.inst.kill() {
            old.task.abort();
            tracing::debug!(topic = %clip(&msg.topic), old_join_ref = ?old.inst.join_ref,
                join_ref = ?msg.join_ref, "duplicate join: closing the previous channel");
            Replaced::Killed(old.inst.join_ref.clone())
        } else {
            Replaced::Nothing
        };
        self.join(msg, replaced);
    }

    /// A join for a topic without a live channel (or whose channel `replaced` describes:
    /// duplicate join).
    fn join(&mut self, msg: Message, replaced: Replaced) {
        let config = &self.mount.config;
        let refused = if msg.topic.len() > config.max_topic_bytes {
            // Our bounded-everything rule: Phoenix has no topic limit.
            tracing::debug!(
                bytes = msg.topic.len(),
                limit = config.max_topic_bytes,
                "join refused: topic too long"
            );
            Some((msg.join_ref.as_ref(), TOPIC_TOO_LONG))
        } else if self.mount.routes.route(&msg.topic).is_none() {
            tracing::debug!(topic = %clip(&msg.topic), "join refused: unmatched topic");
            // F6: join_ref null.
            Some((None, UNMATCHED_TOPIC))
        } else if self.live.load(Ordering::Acquire) >= config.max_channels {
            tracing::debug!(topic = %clip(&msg.topic), limit = config.max_channels,
                "join refused: too many channels");
            Some((msg.join_ref.as_ref(), TOO_MANY_CHANNELS))
        } else {
            None
        };
        if let Some((join_ref, reason)) = refused {
            self.write(self.serializer.encode_reply(
                join_ref,
                msg.r#ref.as_ref(),
                &msg.topic,
                "error",
                &Payload::Json(Bytes::from_static(reason)),
            ));
            // Not for `Replaced::Joining`: same topic, so same route and length, and the
            // superseded instance gave its slot up (`Instance::supersede`).
            if let Replaced::Killed(old) = replaced
                && let Some(frame) = close_frame(self.serializer, old.as_ref(), &msg.topic)
            {
                let _ = self.outbox.push(frame);
            }
            return;
        }
        let Some(handler) = self.mount.routes.route(&msg.topic) else {
            return;
        };
        let handler = Arc::clone(handler);
        let queue = config.channel_queue.max(1);
        let timeout = config.request_timeout;
        tracing::debug!(topic = %clip(&msg.topic), join_ref = ?msg.join_ref, "join");
        let inst = Arc::new(Instance::new(
            Arc::clone(&self.backplane),
            msg.topic.clone(),
            msg.join_ref,
            msg.r#ref,
            Arc::clone(&self.outbox),
            self.serializer,
            queue,
            Arc::clone(&self.live),
        ));
        let socket = Socket::new(
            Arc::clone(&inst),
            self.connected.assigns.clone(),
            self.connected.id.clone(),
            self.transport,
            queue,
        );
        let task = ChannelTask::new(handler, socket, timeout);
        let task = self
            .runtime
            .spawn(channel_task::run(task, msg.payload, replaced));
        self.insert(msg.topic, Entry { inst, task });
    }

    fn insert(&mut self, topic: String, entry: Entry) {
        // Ended entries are normally removed when their topic is touched again; a client
        // joining many distinct topics that end (rejected joins) would leave them behind,
        // so sweep when the map is well beyond the live count (amortized O(1) per join).
        if self.channels.len() >= 2 * self.live.load(Ordering::Acquire) + 16 {
            self.channels.retain(|e| e.inst.phase().routable());
        }
        self.channels.insert(topic, entry);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for entry in self.channels.values().chain(&self.superseded) {
            entry.inst.request_stop(TerminateReason::Closed);
        }
    }
}

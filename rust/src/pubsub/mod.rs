//! Sharded PubSub registry (DESIGN layer 3, PROTOCOL.md 5 and 8).
//!
//! Topic → subscribers, split over shards by [`crate::topic::shard_of`]. A broadcast is
//! encoded at most once per serializer ("fastlane", PROTOCOL.md 5.2) and the same [`Frame`]
//! buffer is pushed into the [`Outbox`] of every fastlane subscriber. Intercepted events and
//! plain subscribers get the [`Broadcast`] itself through a mailbox callback instead.
//! Publishing is synchronous in the caller, which gives per-publisher, per-topic FIFO order to
//! every subscriber (PROTOCOL.md 3.3 rule 6).
//!
//! Subscriptions are RAII: dropping a [`Subscription`] unsubscribes, so a connection's
//! subscriptions die with it. A subscriber whose outbox has closed is also pruned lazily.

pub mod history;
#[cfg(test)]
mod history_tests;
mod subscribers;
#[cfg(test)]
mod tests;

use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::topic::shard_of;
use crate::wire::{Frame, Payload, SERIALIZER_COUNT, Serializer, WireError};
use history::{
    Histories, HistoryConfig, HistoryEntry, HistoryRule, Recovery, Unrecovered, recorded,
};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;
use subscribers::{Entry, Subscribers, intercepted};

/// A message published to a topic (Phoenix `%Broadcast{}`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Broadcast {
    pub topic: String,
    pub event: String,
    /// A JSON object or binary (PROTOCOL.md 5.1).
    pub payload: Payload,
}

/// Receives broadcasts that are not fastlaned. Runs on the publisher's thread, inside the
/// publish call: it must not block (typically it sends into a channel).
pub type Mailbox = Arc<dyn Fn(&Arc<Broadcast>) + Send + Sync>;

/// How a subscriber receives broadcasts.
#[derive(Clone)]
pub enum Delivery {
    /// A joined channel: frames go straight into its connection's outbox, encoded with its
    /// serializer. Events listed in `intercepts` go to `intercept_mailbox` instead (Phoenix
    /// `intercept` + `handle_out`).
    Fastlane {
        outbox: Arc<Outbox>,
        serializer: Serializer,
        intercepts: Arc<[String]>,
        intercept_mailbox: Option<Mailbox>,
    },
    /// Any other subscriber (host-side subscription, a channel's external subscription, the
    /// socket-id topic): gets every broadcast.
    Mailbox(Mailbox),
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Fastlane {
                serializer,
                intercepts,
                ..
            } => f
                .debug_struct("Fastlane")
                .field("serializer", serializer)
                .field("intercepts", intercepts)
                .finish_non_exhaustive(),
            Delivery::Mailbox(_) => f.write_str("Mailbox"),
        }
    }
}

/// Identity of one subscription, used by `broadcast_from` to skip the sender.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct SubscriberId(pub u64);

/// Carries broadcasts between nodes (docs/CLUSTER.md): [`LocalBroker`] for a single node,
/// the cluster layer's Redis or NATS link for several. The origin node always dispatches
/// locally itself and then hands the broadcast to the broker for the other nodes; `publish`
/// runs inside the broadcast call, so it must not block (queue the work).
pub trait Broker: Send + Sync + 'static {
    /// Sends a broadcast to every other node. Errors never undo the local delivery.
    fn publish(&self, broadcast: &Arc<Broadcast>) -> Result<(), BrokerError>;

    /// True when the broker keeps topic histories itself (Redis, docs/HISTORY.md "Where
    /// history lives"): broadcasts on topics with history then go through
    /// [`record`](Self::record) instead of being delivered here first.
    fn records_history(&self) -> bool {
        false
    }

    /// Appends `broadcast` to its topic's history in the broker (`rule` says how much is
    /// kept), which gives it its position and brings it back to every node, this one
    /// included, through [`PubSub::deliver_recorded`] (with `from` excluded on this node).
    /// Must not block. On an error nothing was sent.
    fn record(
        &self,
        _broadcast: &Arc<Broadcast>,
        _rule: HistoryRule,
        _from: Option<SubscriberId>,
    ) -> Result<(), BrokerError> {
        Err(BrokerError("this broker keeps no history".to_owned()))
    }
}

/// The single-process broker: there are no other nodes, so publishing is a no-op.
#[derive(Debug, Default)]
pub struct LocalBroker;

impl Broker for LocalBroker {
    fn publish(&self, _broadcast: &Arc<Broadcast>) -> Result<(), BrokerError> {
        Ok(())
    }
}

/// A broker failure; the local part of the broadcast was still delivered.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("broker: {0}")]
pub struct BrokerError(pub String);

/// Outcome of a publish.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Delivered {
    /// Local subscribers the broadcast was handed to (frames queued or mailboxes called).
    pub local: usize,
}

/// Why a publish failed. Nothing was delivered when this is returned.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The payload cannot be encoded (e.g. a JSON payload that is not an object, or a binary
    /// field over 255 bytes).
    #[error(transparent)]
    Encode(#[from] WireError),
    /// Local delivery happened; forwarding to other nodes failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// The sharded registry.
///
/// Topics are spread over shards by [`shard_of`]; each shard is a read/write-locked map from
/// topic to its subscriber list. Publishing takes the topic's shard read lock for the duration
/// of the fan-out (publishers to topics of one shard run concurrently); subscribing and
/// unsubscribing take the write lock briefly.
///
/// Locking contract: the lock is never held while user code runs. Mailbox callbacks are
/// collected during the walk and called after the lock is released, still inside the publish
/// call (so per-publisher order holds for them too), and removed entries are dropped after
/// the lock is released. A mailbox may therefore subscribe, drop subscriptions or publish,
/// even on the same topic. Such a mailbox may still receive the broadcast being published
/// after it unsubscribed from inside another mailbox callback of the same publish (delivery
/// is at-most-once and racy with unsubscription, as in Phoenix). A mailbox that publishes
/// synchronously from its callback re-enters dispatch before the outer broadcast reached the
/// mailboxes after it, so those see the nested broadcast first; mailboxes that forward into a
/// queue (the intended use) do not have this effect.
pub struct PubSub {
    shards: Box<[Shard]>,
    broker: Arc<dyn Broker>,
    /// The topics that keep history (docs/HISTORY.md); `None` when none does.
    history: Option<Histories>,
    /// The endpoint's counters (broadcasts here; the layers above bump the rest).
    metrics: Arc<Metrics>,
}

/// One shard: topic → subscribers.
type Shard = RwLock<HashMap<String, Subscribers>>;

/// Source of [`SubscriberId`]s, unique in the process for its lifetime.
static NEXT_SUBSCRIBER_ID: AtomicU64 = AtomicU64::new(1);

/// Every serializer, so that a broadcast can be encoded for each one in use. Fails to compile
/// when a serializer is added without updating this list.
const SERIALIZERS: [Serializer; SERIALIZER_COUNT] = [Serializer::V1Json, Serializer::V2Json];

impl std::fmt::Debug for PubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSub")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

/// RAII handle of one subscription; dropping it unsubscribes.
///
/// It holds the registry weakly: a subscription that outlives its [`PubSub`] is inert.
#[derive(Debug)]
pub struct Subscription {
    pubsub: Weak<PubSub>,
    topic: String,
    id: SubscriberId,
}

impl Subscription {
    /// The id to pass to `broadcast_from` to skip this subscriber.
    pub fn id(&self) -> SubscriberId {
        self.id
    }

    /// The subscribed topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(pubsub) = self.pubsub.upgrade() {
            pubsub.unsubscribe(&self.topic, self.id);
        }
    }
}

impl PubSub {
    /// A registry with `shards` shards (0 = one per available core) and the in-process broker.
    pub fn new(shards: usize) -> Arc<PubSub> {
        Self::with_broker(shards, Arc::new(LocalBroker))
    }

    /// A registry that forwards broadcasts to other nodes through `broker`.
    pub fn with_broker(shards: usize, broker: Arc<dyn Broker>) -> Arc<PubSub> {
        Self::build(shards, broker, HistoryConfig::default())
    }

    /// A registry whose topics matching `history` keep their broadcasts (docs/HISTORY.md).
    pub fn build(shards: usize, broker: Arc<dyn Broker>, history: HistoryConfig) -> Arc<PubSub> {
        let shards = match shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let records = broker.records_history();
        Arc::new(PubSub {
            shards: (0..shards).map(|_| Shard::default()).collect(),
            broker,
            history: (!history.is_empty()).then(|| Histories::new(history, shards, records)),
            metrics: Arc::default(),
        })
    }

    /// The counters of everything this registry serves (docs/OPERATIONS.md "Metrics").
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Subscribes to `topic`. Duplicate subscriptions are allowed and get duplicate
    /// deliveries, as in Phoenix.PubSub.
    pub fn subscribe(self: &Arc<Self>, topic: &str, delivery: Delivery) -> Subscription {
        self.subscribe_then(topic, delivery, || {})
    }

    /// [`subscribe`](Self::subscribe), running `then` once the subscriber is registered and
    /// before any publisher can reach it: every broadcast published after `then` started is
    /// delivered to it, none published before. How a channel queues its join reply so that no
    /// broadcast overtakes the reply and none made after it is missed (Phoenix subscribes
    /// before replying). `then` runs under the topic's shard lock: it must be quick and must
    /// not call into this `PubSub`.
    pub fn subscribe_then(
        self: &Arc<Self>,
        topic: &str,
        delivery: Delivery,
        then: impl FnOnce(),
    ) -> Subscription {
        let id = SubscriberId(NEXT_SUBSCRIBER_ID.fetch_add(1, Ordering::Relaxed));
        let entry = Entry { id, delivery };
        {
            let mut map = self.shard(topic).write();
            match map.get_mut(topic) {
                Some(subscribers) => subscribers.push(entry),
                None => {
                    let mut subscribers = Subscribers::default();
                    subscribers.push(entry);
                    map.insert(topic.to_owned(), subscribers);
                }
            }
            then();
        }
        Subscription {
            pubsub: Arc::downgrade(self),
            topic: topic.to_owned(),
            id,
        }
    }

    /// [`subscribe_then`](Self::subscribe_then) for a subscriber that resumes from the stream
    /// position `since` (docs/HISTORY.md): `then` gets the messages after `since` (at most
    /// `max_replay`, else nothing) and the latest position, and runs before any later
    /// broadcast of the topic can reach the new subscriber, so that what `then` queues plus
    /// what follows is every message after `since`, once, in order. `since` is `Ok(None)`
    /// for a client that has no position yet (it only learns the latest one), `Err` when the
    /// client's value is not a position at all. `then` runs under the topic's history lock
    /// and shard lock: it must be quick and must not call into this `PubSub`.
    pub fn subscribe_recover(
        self: &Arc<Self>,
        topic: &str,
        delivery: Delivery,
        since: Result<Option<&str>, Unrecovered>,
        max_replay: usize,
        then: impl FnOnce(Recovery),
    ) -> Subscription {
        let log = self.history.as_ref().and_then(|h| h.for_resume(topic));
        let guard = log.as_ref().map(|log| log.lock());
        let recovery = match (&guard, since) {
            (None, _) => Recovery::failed(Unrecovered::NoHistory, None),
            (Some(g), Err(why)) => Recovery::failed(why, g.borrow().latest()),
            (Some(g), Ok(None)) => Recovery {
                outcome: Ok(Vec::new()),
                position: g.borrow().latest(),
            },
            (Some(g), Ok(Some(since))) => g.borrow_mut().recover(since, max_replay, Instant::now()),
        };
        let sub = self.subscribe_then(topic, delivery, || then(recovery));
        drop(guard);
        sub
    }

    /// Reads `topic`'s history for a host (docs/HISTORY.md): the messages after `since`, or
    /// the latest ones without it, at most `limit`; the topic's latest position; and
    /// whether the messages follow `since` without a gap (`Err(why)` when not: then the
    /// latest kept messages are returned). `Err(NoHistory)` / `Err(Invalid)` come with
    /// nothing else.
    pub fn history(
        &self,
        topic: &str,
        since: Option<&str>,
        limit: usize,
    ) -> (
        Vec<Arc<HistoryEntry>>,
        Option<String>,
        Result<(), Unrecovered>,
    ) {
        let Some(log) = self.history.as_ref().and_then(|h| h.for_resume(topic)) else {
            return (Vec::new(), None, Err(Unrecovered::NoHistory));
        };
        if since.is_some_and(|s| history::Position::parse(s).is_none()) {
            return (Vec::new(), None, Err(Unrecovered::Invalid));
        }
        let guard = log.lock();
        let mut log = guard.borrow_mut();
        let (messages, outcome) = log.read(since, limit, Instant::now());
        (messages, log.latest(), outcome)
    }

    /// True when broadcasts on `topic` are kept (a rule matches it).
    pub fn keeps_history(&self, topic: &str) -> bool {
        self.history
            .as_ref()
            .is_some_and(|h| h.rule(topic).is_some())
    }

    /// Number of local subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.shard(topic)
            .read()
            .get(topic)
            .map_or(0, Subscribers::len)
    }

    /// `(topic, local subscribers)` of every subscribed topic, by topic. Walks every shard:
    /// for an operator, not per message.
    pub fn topic_counts(&self) -> Vec<(String, usize)> {
        let mut topics: Vec<(String, usize)> = self
            .shards
            .iter()
            .flat_map(|shard| {
                shard
                    .read()
                    .iter()
                    .map(|(t, s)| (t.clone(), s.len()))
                    .collect::<Vec<_>>()
            })
            .collect();
        topics.sort_unstable();
        topics
    }

    /// Delivers to every subscriber on every node.
    pub fn broadcast(&self, broadcast: Broadcast) -> Result<Delivered, PublishError> {
        self.publish(None, broadcast, true)
    }

    /// Like [`broadcast`](Self::broadcast) but skips the subscriber `from` locally.
    pub fn broadcast_from(
        &self,
        from: SubscriberId,
        broadcast: Broadcast,
    ) -> Result<Delivered, PublishError> {
        self.publish(Some(from), broadcast, true)
    }

    /// Delivers to the subscribers of this node only.
    pub fn local_broadcast(&self, broadcast: Broadcast) -> Result<Delivered, PublishError> {
        self.publish(None, broadcast, false)
    }

    /// Local only, skipping `from`.
    pub fn local_broadcast_from(
        &self,
        from: SubscriberId,
        broadcast: Broadcast,
    ) -> Result<Delivered, PublishError> {
        self.publish(Some(from), broadcast, false)
    }

    fn shard(&self, topic: &str) -> &Shard {
        // `shard_of` returns an index below `shards.len()`, which is at least 1.
        &self.shards[shard_of(topic, self.shards.len())]
    }

    fn unsubscribe(&self, topic: &str, id: SubscriberId) {
        let removed = {
            let mut map = self.shard(topic).write();
            let Some(subscribers) = map.get_mut(topic) else {
                return;
            };
            let removed = subscribers.remove(id);
            if subscribers.is_empty() {
                map.remove(topic);
            }
            removed
        };
        // Dropped here, after the lock (see `Subscribers::remove`).
        drop(removed);
    }

    /// Local dispatch, then the broker when `remote`. Validation happens before anything is
    /// delivered, so an error means no subscriber got anything.
    fn publish(
        &self,
        from: Option<SubscriberId>,
        broadcast: Broadcast,
        remote: bool,
    ) -> Result<Delivered, PublishError> {
        if matches!(broadcast.payload, Payload::Json(_)) && !broadcast.payload.is_json_object() {
            return Err(WireError::PayloadNotObject.into());
        }
        self.metrics.broadcasts.inc();
        let broadcast = Arc::new(broadcast);
        if let Some(h) = self.history.as_ref().filter(|h| h.mirrored()) {
            // The broker orders and keeps this topic's broadcasts: delivered when they come
            // back with their position (`deliver_recorded`), on this node too.
            let rule = h
                .rule(&broadcast.topic)
                .filter(|_| recorded(&broadcast.event));
            if let (Some(rule), true) = (rule, remote) {
                match self.broker.record(&broadcast, rule, from) {
                    Ok(()) => return Ok(Delivered::default()),
                    // As any broadcast while the broker is away: this node's subscribers
                    // get it, without a position.
                    Err(e) => {
                        self.dispatch(from, &broadcast, None)?;
                        return Err(e.into());
                    }
                }
            }
            // A local broadcast, or no history: delivered here without a position.
            let delivered = self.dispatch(from, &broadcast, None)?;
            if remote {
                self.broker.publish(&broadcast)?;
            }
            return Ok(delivered);
        }
        let log = self
            .history
            .as_ref()
            .and_then(|h| h.for_append(&broadcast.topic, &broadcast.event));
        let delivered = match log {
            // Appended and fanned out under the log's lock: subscribers see the topic's
            // positions in order, and a resume cannot fall between the two (docs/HISTORY.md).
            Some(log) => {
                let guard = log.lock();
                let entry = guard.borrow_mut().append(&broadcast, Instant::now());
                match self.dispatch(from, &broadcast, Some(&entry)) {
                    Ok(delivered) => delivered,
                    Err(e) => {
                        // Nothing was delivered (encoding fails before any delivery).
                        guard.borrow_mut().undo_append();
                        return Err(e);
                    }
                }
            }
            None => self.dispatch(from, &broadcast, None)?,
        };
        if remote {
            self.broker.publish(&broadcast)?;
        }
        Ok(delivered)
    }

    /// Delivers a broadcast the broker recorded at `position` (docs/HISTORY.md "Where history
    /// lives") to this node's subscribers, `from` excluded, and mirrors it into the topic's
    /// log, in the broker's order. A position already mirrored is not delivered again.
    /// Errors: a payload that cannot be encoded.
    pub fn deliver_recorded(
        &self,
        from: Option<SubscriberId>,
        broadcast: Broadcast,
        at: &history::Position,
    ) -> Result<Delivered, PublishError> {
        if matches!(broadcast.payload, Payload::Json(_)) && !broadcast.payload.is_json_object() {
            return Err(WireError::PayloadNotObject.into());
        }
        let broadcast = Arc::new(broadcast);
        let log = self
            .history
            .as_ref()
            .and_then(|h| h.for_mirror(&broadcast.topic));
        let Some(log) = log else {
            // This node keeps no history of the topic (its rules differ from the sender's).
            return self.dispatch(from, &broadcast, None);
        };
        let guard = log.lock();
        let entry = guard.borrow_mut().mirror(&broadcast, at, Instant::now());
        match entry {
            Some(entry) => self.dispatch(from, &broadcast, Some(&entry)),
            None => Ok(Delivered::default()),
        }
    }

    /// The fastlane fan-out (PROTOCOL.md 5.2), in the caller's thread.
    fn dispatch(
        &self,
        from: Option<SubscriberId>,
        b: &Arc<Broadcast>,
        recorded: Option<&HistoryEntry>,
    ) -> Result<Delivered, PublishError> {
        let shard = self.shard(&b.topic);
        let mut local = 0;
        let mut prune = false;
        // Mailboxes are called after the lock is released; `Vec::new` does not allocate, so
        // a topic with only fastlane subscribers never allocates here.
        let mut mailboxes: Vec<Mailbox> = Vec::new();
        {
            let map = shard.read();
            let Some(subscribers) = map.get(b.topic.as_str()) else {
                return Ok(Delivered::default());
            };
            // Encode once per serializer actually needed, before delivering anything.
            let needed = subscribers.needed_serializers(from, &b.event);
            let mut frames: [Option<Frame>; SERIALIZER_COUNT] = [const { None }; SERIALIZER_COUNT];
            for (s, slot) in SERIALIZERS.iter().zip(frames.iter_mut()) {
                if needed.get(s.index()) == Some(&true) {
                    *slot = Some(match recorded {
                        // `[null, "<position>", topic, event, payload]`.
                        Some(entry) => entry.frame(*s)?,
                        None => encode_broadcast(*s, b)?,
                    });
                }
            }
            let event = b.event.as_str();
            for entry in subscribers.entries() {
                if Some(entry.id) == from {
                    continue;
                }
                match &entry.delivery {
                    Delivery::Fastlane {
                        outbox,
                        serializer,
                        intercepts,
                        intercept_mailbox,
                    } => {
                        if !intercepted(intercepts, event) {
                            let frame = frames.get(serializer.index()).and_then(Option::as_ref);
                            if let Some(frame) = frame {
                                // A refcount increment: every subscriber of this serializer
                                // shares the same bytes.
                                match outbox.push(frame.clone()) {
                                    Ok(()) => local += 1,
                                    Err(_) => prune = true,
                                }
                            }
                        } else if let Some(mailbox) = intercept_mailbox {
                            mailboxes.push(mailbox.clone());
                        }
                    }
                    Delivery::Mailbox(mailbox) => mailboxes.push(mailbox.clone()),
                }
            }
        }
        for mailbox in &mailboxes {
            mailbox(b);
            local += 1;
        }
        drop(mailboxes);
        if prune {
            self.prune_closed(&b.topic);
        }
        Ok(Delivered { local })
    }

    /// Drops the fastlane entries of `topic` whose outbox is closed (the connection is gone or
    /// was cut as a slow consumer); their `Subscription`s later find nothing to remove.
    fn prune_closed(&self, topic: &str) {
        let removed = {
            let mut map = self.shard(topic).write();
            let Some(subscribers) = map.get_mut(topic) else {
                return;
            };
            let removed = subscribers.remove_where(|e| {
                matches!(&e.delivery, Delivery::Fastlane { outbox, .. } if outbox.closed().is_some())
            });
            if subscribers.is_empty() {
                map.remove(topic);
            }
            removed
        };
        drop(removed);
    }

    /// Number of topics with at least one subscriber (tests check that empty topics go away).
    #[cfg(test)]
    fn topic_count(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }
}

/// Encodes `b` as a fastlane broadcast frame `[null, null, topic, event, payload]` for `s`.
pub fn encode_broadcast(s: Serializer, b: &Broadcast) -> Result<Frame, WireError> {
    s.encode_message(None, None, &b.topic, &b.event, &b.payload)
}

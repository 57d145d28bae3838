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

use crate::outbox::Outbox;
use crate::wire::{Frame, Payload, Serializer, WireError};
use std::sync::Arc;

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
            Delivery::Fastlane { serializer, intercepts, .. } => f
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

/// Carries broadcasts between nodes (CLUSTER.md 7.2). The origin node always dispatches
/// locally itself and then hands the broadcast to the broker for the other nodes.
pub trait Broker: Send + Sync + 'static {
    /// Sends a broadcast to every other node. Errors never undo the local delivery.
    fn publish(&self, broadcast: &Arc<Broadcast>) -> Result<(), BrokerError>;
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
pub struct PubSub {
    // implementation-defined
    _todo: (),
    _broker: Arc<dyn Broker>,
}

impl std::fmt::Debug for PubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSub").finish_non_exhaustive()
    }
}

/// RAII handle of one subscription; dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    _todo: (),
}

impl Subscription {
    /// The id to pass to `broadcast_from` to skip this subscriber.
    pub fn id(&self) -> SubscriberId {
        todo!()
    }

    /// The subscribed topic.
    pub fn topic(&self) -> &str {
        todo!()
    }
}

impl PubSub {
    /// A registry with `shards` shards (0 = one per available core) and the in-process broker.
    pub fn new(shards: usize) -> Arc<PubSub> {
        Self::with_broker(shards, Arc::new(LocalBroker))
    }

    /// A registry that forwards broadcasts to other nodes through `broker`.
    pub fn with_broker(shards: usize, broker: Arc<dyn Broker>) -> Arc<PubSub> {
        todo!("{shards}{broker:p}", broker = Arc::as_ptr(&broker))
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        todo!()
    }

    /// Subscribes to `topic`. Duplicate subscriptions are allowed and get duplicate
    /// deliveries, as in Phoenix.PubSub.
    pub fn subscribe(self: &Arc<Self>, topic: &str, delivery: Delivery) -> Subscription {
        todo!("{topic}{delivery:?}")
    }

    /// Number of local subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        todo!("{topic}")
    }

    /// Delivers to every subscriber on every node.
    pub fn broadcast(&self, broadcast: Broadcast) -> Result<Delivered, PublishError> {
        todo!("{broadcast:?}")
    }

    /// Like [`broadcast`](Self::broadcast) but skips the subscriber `from` locally.
    pub fn broadcast_from(
        &self,
        from: SubscriberId,
        broadcast: Broadcast,
    ) -> Result<Delivered, PublishError> {
        todo!("{from:?}{broadcast:?}")
    }

    /// Delivers to the subscribers of this node only.
    pub fn local_broadcast(&self, broadcast: Broadcast) -> Result<Delivered, PublishError> {
        todo!("{broadcast:?}")
    }

    /// Local only, skipping `from`.
    pub fn local_broadcast_from(
        &self,
        from: SubscriberId,
        broadcast: Broadcast,
    ) -> Result<Delivered, PublishError> {
        todo!("{from:?}{broadcast:?}")
    }
}

/// Encodes `b` as a fastlane broadcast frame `[null, null, topic, event, payload]` for `s`.
pub fn encode_broadcast(s: Serializer, b: &Broadcast) -> Result<Frame, WireError> {
    s.encode_message(None, None, &b.topic, &b.event, &b.payload)
}

//! The state every connection of an endpoint shares: PubSub, Presence and the channel census.

use crate::cluster::Cluster;
use crate::metrics::Metrics;
use crate::presence::{Diff, OwnerId, Presence};
use crate::pubsub::history::HistoryConfig;
use crate::pubsub::{Broadcast, Delivered, LocalBroker, PubSub, PublishError};
use crate::topic::shard_of;
use crate::wire::Payload;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// State shared by every connection of an endpoint (Phoenix: the endpoint's PubSub server,
/// its Presence module and the channel supervisor's children count).
pub struct Backplane {
    /// This node's name (presence, the cluster, introspection).
    node: String,
    pubsub: Arc<PubSub>,
    /// The cluster link, when the node is one of several.
    cluster: Option<Arc<Cluster>>,
    presence: Arc<Presence>,
    /// topic → live (joined, not ended) channels on this node, sharded like PubSub.
    census: Box<[Mutex<HashMap<String, usize>>]>,
    /// Source of presence owner ids: one per channel instance.
    next_owner: AtomicU64,
}

impl std::fmt::Debug for Backplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backplane")
            .field("pubsub", &self.pubsub)
            .field("presence", &self.presence)
            .finish_non_exhaustive()
    }
}

impl Backplane {
    /// A backplane with `shards` PubSub and Presence shards (0 = one per core); `node` names this
    /// replica for presence. Presence diffs are published as local `presence_diff`
    /// broadcasts on their topic (Phoenix.Presence does the same through its dispatcher, so
    /// they are fastlaned `[null, null, T, "presence_diff", {...}]`, PROTOCOL.md 6.3).
    pub fn new(node: &str, shards: usize) -> Arc<Backplane> {
        Self::build(node, shards, None, HistoryConfig::default())
    }

    /// A single-node backplane whose topics matching `history` keep their broadcasts, so
    /// that clients can resume (docs/HISTORY.md).
    pub fn with_history(node: &str, shards: usize, history: HistoryConfig) -> Arc<Backplane> {
        Self::build(node, shards, None, history)
    }

    /// A backplane whose broadcasts also reach the other nodes of `cluster`, and theirs this
    /// node's subscribers (docs/CLUSTER.md).
    pub fn with_cluster(node: &str, shards: usize, cluster: Arc<Cluster>) -> Arc<Backplane> {
        Self::build(node, shards, Some(cluster), HistoryConfig::default())
    }

    /// [`with_cluster`](Self::with_cluster) whose topics matching `history` keep their
    /// broadcasts in the cluster's Redis (docs/HISTORY.md "Where history lives"; a NATS
    /// cluster keeps none: check with [`history_refused`](crate::cluster::history_refused)).
    pub fn with_cluster_history(
        node: &str,
        shards: usize,
        cluster: Arc<Cluster>,
        history: HistoryConfig,
    ) -> Arc<Backplane> {
        Self::build(node, shards, Some(cluster), history)
    }

    fn build(
        node: &str,
        shards: usize,
        cluster: Option<Arc<Cluster>>,
        history: HistoryConfig,
    ) -> Arc<Backplane> {
        let pubsub = match &cluster {
            Some(cluster) => {
                let pubsub = PubSub::build(shards, cluster.broker(), history);
                cluster.attach(&pubsub);
                pubsub
            }
            None => PubSub::build(shards, Arc::new(LocalBroker), history),
        };
        // Weak: in a cluster the presence tracker task holds the presence service, so a
        // strong PubSub here would keep the PubSub's broker (the cluster) and its tasks alive
        // after the backplane is gone.
        let sink_pubsub = Arc::downgrade(&pubsub);
        let sink = Arc::new(move |diff: &Diff| {
            let Some(sink_pubsub) = sink_pubsub.upgrade() else {
                return;
            };
            let b = Broadcast {
                topic: diff.topic.clone(),
                event: "presence_diff".to_owned(),
                payload: diff.to_payload(),
            };
            if let Err(e) = sink_pubsub.local_broadcast(b) {
                crate::warn_limited!(topic = %crate::logging::clip(&diff.topic), error = %e, "presence_diff not delivered");
            }
        });
        let presence = match &cluster {
            Some(cluster) => {
                let presence = Presence::replicated(
                    cluster.replica(),
                    crate::cluster::PRESENCE_SHARDS,
                    crate::presence::state::DEFAULT_MAX_PENDING,
                    sink,
                );
                cluster.attach_presence(&presence);
                presence
            }
            None => Presence::new(node, shards, sink),
        };
        let census = (0..pubsub.shard_count())
            .map(|_| Mutex::new(HashMap::new()))
            .collect();
        Arc::new(Backplane {
            node: node.to_owned(),
            pubsub,
            cluster,
            presence,
            census,
            next_owner: AtomicU64::new(1),
        })
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The PubSub registry.
    pub fn pubsub(&self) -> &Arc<PubSub> {
        &self.pubsub
    }

    /// The cluster link, when this node is one of several.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// The endpoint's counters (docs/OPERATIONS.md "Metrics").
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.pubsub.metrics()
    }

    /// `(topic, live channels)` of every topic with a channel on this node, by topic.
    pub fn channel_census(&self) -> Vec<(String, usize)> {
        let mut topics: Vec<(String, usize)> = self
            .census
            .iter()
            .flat_map(|shard| {
                shard
                    .lock()
                    .iter()
                    .map(|(t, n)| (t.clone(), *n))
                    .collect::<Vec<_>>()
            })
            .collect();
        topics.sort_unstable();
        topics
    }

    /// The presence service.
    pub fn presence(&self) -> &Arc<Presence> {
        &self.presence
    }

    /// Host-side broadcast to every subscriber of `topic` (Phoenix `Endpoint.broadcast/3`).
    /// `payload` must be a JSON object or binary ([`PublishError::Encode`] otherwise; nothing
    /// is delivered then).
    pub fn broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: Payload,
    ) -> Result<Delivered, PublishError> {
        self.pubsub.broadcast(broadcast(topic, event, payload))
    }

    /// Host-side broadcast to this node's subscribers only (`Endpoint.local_broadcast/3`).
    pub fn local_broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: Payload,
    ) -> Result<Delivered, PublishError> {
        self.pubsub
            .local_broadcast(broadcast(topic, event, payload))
    }

    /// Closes every connection whose socket id is `socket_id` with 1001 (a `"disconnect"`
    /// broadcast on that topic, PROTOCOL.md 4.9). The endpoint subscribes each connection
    /// with an id to that topic and reacts to the event; `Delivered::local` counts them.
    pub fn disconnect(&self, socket_id: &str) -> Result<Delivered, PublishError> {
        self.broadcast(socket_id, "disconnect", Payload::empty_object())
    }

    /// Live channels on `topic`, over all connections of this node: counted from the join
    /// reply `ok` until the channel's terminal frame (`phx_close`, `phx_error`) or the end of
    /// its connection.
    pub fn channel_count(&self, topic: &str) -> usize {
        self.census_shard(topic)
            .lock()
            .get(topic)
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn next_owner(&self) -> OwnerId {
        OwnerId(self.next_owner.fetch_add(1, Ordering::Relaxed))
    }

    fn census_shard(&self, topic: &str) -> &Mutex<HashMap<String, usize>> {
        // `census` has `pubsub.shard_count()` ≥ 1 entries and `shard_of` is below that.
        &self.census[shard_of(topic, self.census.len())]
    }

    pub(crate) fn census_add(&self, topic: &str) {
        let mut map = self.census_shard(topic).lock();
        match map.get_mut(topic) {
            Some(n) => *n += 1,
            None => {
                map.insert(topic.to_owned(), 1);
            }
        }
    }

    pub(crate) fn census_remove(&self, topic: &str) {
        let mut map = self.census_shard(topic).lock();
        if let Some(n) = map.get_mut(topic) {
            *n -= 1;
            if *n == 0 {
                map.remove(topic);
            }
        }
    }
}

fn broadcast(topic: &str, event: &str, payload: Payload) -> Broadcast {
    Broadcast {
        topic: topic.to_owned(),
        event: event.to_owned(),
        payload,
    }
}

//! Several nodes, one set of topics (DESIGN layer 5): a [`Cluster`] is the [`Broker`] that carries each
//! broadcast to the other nodes through Redis or NATS pub/sub, and delivers theirs to this
//! node's subscribers (docs/CLUSTER.md). It sits between PubSub (which it feeds) and the
//! channels, and knows nothing of either beyond [`PubSub::local_broadcast`].
//!
//! - A node publishes every broadcast once, on one broker channel shared by the app
//!   (`prefix`), after delivering it locally itself; it drops the copy the broker echoes back.
//! - While the broker is unreachable, local delivery goes on and [`Broker::publish`] returns
//!   the error (the host sees `SB_E_BROKER`); the link reconnects by itself, with a backoff
//!   doubling from 100 ms up to `reconnect_max`.
//! - Node identity is the configured name plus a random incarnation per start; heartbeats
//!   reveal a second live process with the same name ([`Cluster::ready`] refuses to start
//!   it, a running node logs it loudly).

mod envelope;
mod gossip;
mod link;
mod nats;
mod redis;
mod tracker;

pub use envelope::{DecodeError, Origin};
pub use link::ClusterStats;

use crate::presence::Presence;
use crate::presence::state::ReplicaRef;
use crate::pubsub::history::{HistoryConfig, HistoryRule};
use crate::pubsub::{Broadcast, Broker, BrokerError, PubSub, SubscriberId};
use link::Shared;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// Presence shards of every node of a cluster: fixed, since shard *n* of one node replicates
/// with shard *n* of the others (a single node uses one per core).
pub const PRESENCE_SHARDS: usize = 8;

/// Chunks from other nodes waiting for the tracker at most.
const TRACKER_QUEUE: usize = 4096;

/// How a node joins a cluster. Defaults: prefix `switchboard`, connect timeout 5 s,
/// reconnect backoff up to 5 s, a heartbeat every second, 65 536 envelopes queued at most;
/// presence beats every 1.5 s, a silent node down after 30 s and forgotten after 20 minutes
/// (Phoenix.Tracker's `broadcast_period`, `down_period` and `permdown_period`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// `redis://host:port[/db]`, `rediss://...` (TLS) or `nats://host:port`.
    pub url: String,
    /// This node's name, unique among the live nodes of the cluster.
    pub node: String,
    /// The broker channel (Redis) or subject (NATS) the app's nodes share, so that several
    /// apps can use one broker: letters, digits and `_ - : .`.
    pub prefix: String,
    /// How long [`Cluster::ready`] waits for the broker before the node starts without it.
    pub connect_timeout: Duration,
    /// The longest wait between two reconnect attempts.
    pub reconnect_max: Duration,
    /// How often the node says it is alive (and how long `ready` listens for a namesake).
    pub heartbeat: Duration,
    /// Envelopes waiting for the broker connection at most; beyond, a publish fails.
    pub queue: usize,
    /// How often presence changes (deltas) go to the other nodes.
    pub presence_broadcast_period: Duration,
    /// A node not heard from for this long is down: its presences leave on this node.
    pub presence_down_period: Duration,
    /// A node not heard from for this long is forgotten.
    pub presence_permdown_period: Duration,
}

impl ClusterConfig {
    /// A config for `url` and `node` with the defaults.
    pub fn new(url: impl Into<String>, node: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            url: url.into(),
            node: node.into(),
            prefix: "switchboard".to_owned(),
            connect_timeout: Duration::from_secs(5),
            reconnect_max: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
            queue: 65_536,
            presence_broadcast_period: Duration::from_millis(1500),
            presence_down_period: Duration::from_secs(30),
            presence_permdown_period: Duration::from_secs(20 * 60),
        }
    }

    /// Which broker the URL names. Errors: [`ClusterError::Config`] for another scheme, an
    /// empty node name, a prefix NATS or Redis could not carry, zero durations.
    pub fn check(&self) -> Result<BrokerKind, ClusterError> {
        let kind = if self.url.starts_with("redis://") || self.url.starts_with("rediss://") {
            BrokerKind::Redis
        } else if self.url.starts_with("nats://") {
            BrokerKind::Nats
        } else {
            return Err(ClusterError::Config(format!(
                "broker URL {:?} must start with redis://, rediss:// or nats://",
                crate::logging::clip(&self.url)
            )));
        };
        if self.node.is_empty() {
            return Err(ClusterError::Config("the node name is empty".to_owned()));
        }
        let prefix_ok = !self.prefix.is_empty()
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b))
            && !self.prefix.starts_with('.')
            && !self.prefix.ends_with('.')
            && !self.prefix.contains("..");
        if !prefix_ok {
            return Err(ClusterError::Config(format!(
                "broker prefix {:?} must be letters, digits and _ - : . (no leading, trailing or double dot)",
                crate::logging::clip(&self.prefix)
            )));
        }
        if self.heartbeat.is_zero() || self.reconnect_max.is_zero() || self.queue == 0 {
            return Err(ClusterError::Config(
                "heartbeat, reconnect_max and queue must be above zero".to_owned(),
            ));
        }
        if self.presence_broadcast_period.is_zero() {
            return Err(ClusterError::Config(
                "the presence broadcast period must be above zero".to_owned(),
            ));
        }
        // Liveness comes from every envelope, the heartbeat at least: a node must miss two
        // before it is down (Phoenix asks down_period >= 2 x broadcast_period likewise).
        let floor = (self.heartbeat * 2).max(self.presence_broadcast_period * 2);
        if self.presence_down_period < floor {
            return Err(ClusterError::Config(format!(
                "the presence down period ({} ms) must be at least twice the heartbeat and the presence broadcast period ({} ms)",
                self.presence_down_period.as_millis(),
                floor.as_millis()
            )));
        }
        if self.presence_permdown_period <= self.presence_down_period {
            return Err(ClusterError::Config(format!(
                "the presence permdown period ({} ms) must be longer than the down period ({} ms)",
                self.presence_permdown_period.as_millis(),
                self.presence_down_period.as_millis()
            )));
        }
        Ok(kind)
    }
}

/// The broker a URL names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BrokerKind {
    Redis,
    Nats,
}

impl std::fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BrokerKind::Redis => "Redis",
            BrokerKind::Nats => "NATS",
        })
    }
}

/// Why a cluster could not be joined.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A bad URL, node name, prefix or duration.
    #[error("invalid cluster configuration: {0}")]
    Config(String),
    /// Another live process uses this node name.
    #[error(
        "node name {node:?} is already used by a live process (incarnation {other:016x}): give every node its own name"
    )]
    DuplicateNode { node: String, other: u64 },
}

/// A node's membership in a cluster: the [`Broker`] of its PubSub. Created with
/// [`start`](Self::start) on a tokio runtime, [`attach`](Self::attach)ed to the PubSub it
/// feeds; stops its tasks when dropped.
#[derive(Debug)]
pub struct Cluster {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Cluster {
    /// Starts the broker link and the heartbeat on `runtime` (it does not wait for the
    /// broker: see [`ready`](Self::ready)). Errors: [`ClusterError::Config`].
    pub fn start(
        config: ClusterConfig,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Cluster, ClusterError> {
        let kind = config.check()?;
        let (tx, rx) = mpsc::channel::<link::Outbound>(config.queue);
        let shared = Arc::new(Shared::new(config, kind, tx));
        let link = match kind {
            BrokerKind::Redis => runtime.spawn(redis::run(shared.clone(), rx)),
            BrokerKind::Nats => runtime.spawn(nats::run(shared.clone(), rx)),
        };
        let beat = runtime.spawn(link::heartbeat(shared.clone()));
        Ok(Cluster {
            shared,
            runtime: runtime.clone(),
            tasks: parking_lot::Mutex::new(vec![link, beat]),
        })
    }

    /// Delivers the other nodes' broadcasts to `pubsub`'s local subscribers from now on.
    pub fn attach(&self, pubsub: &Arc<PubSub>) {
        self.shared.attach(Arc::downgrade(pubsub));
    }

    /// Replicates `presence` (made with [`Presence::replicated`] for [`Self::replica`] and
    /// [`PRESENCE_SHARDS`]) with the other nodes' from now on. Once per cluster.
    pub fn attach_presence(&self, presence: &Arc<Presence>) {
        let (tx, rx) = mpsc::channel(TRACKER_QUEUE);
        self.shared.attach_presence(tx);
        let config = &self.shared.config;
        let periods = tracker::Periods {
            broadcast: config.presence_broadcast_period,
            down: config.presence_down_period,
            permdown: config.presence_permdown_period,
        };
        let tracker = tracker::Tracker::new(self.shared.clone(), presence.clone(), periods);
        let task = self.runtime.spawn(tracker::run(tracker, rx));
        self.tasks.lock().push(task);
    }

    /// This node's presence replica: its name and incarnation, as the other nodes know it.
    pub fn replica(&self) -> ReplicaRef {
        tracker::replica_of(&self.shared.origin)
    }

    /// Waits until the broker answered (at most the connect timeout; a node whose broker is
    /// down starts anyway and keeps retrying, logging it), then listens one and a half
    /// heartbeats for another live process with this node's name.
    /// Errors: [`ClusterError::DuplicateNode`].
    pub async fn ready(&self) -> Result<(), ClusterError> {
        let config = &self.shared.config;
        if !self.shared.wait_up(config.connect_timeout).await {
            tracing::warn!(
                broker = %self.shared.kind, url = %config.url, node = %config.node,
                "the broker is unreachable: starting without it (broadcasts stay on this node and report the error) and retrying"
            );
            return Ok(());
        }
        tokio::time::sleep(config.heartbeat.mul_f32(1.5)).await;
        self.shared.duplicate_check()
    }

    /// This node's name and incarnation.
    pub fn origin(&self) -> &Origin {
        &self.shared.origin
    }

    /// Whether the broker link is up (broadcasts reach the other nodes).
    pub fn is_up(&self) -> bool {
        self.shared.is_up()
    }

    /// The broker's kind (`Redis`, `NATS`).
    pub fn broker_kind(&self) -> BrokerKind {
        self.shared.kind
    }

    /// The other nodes heard from in the last minute: `(origin, time since the last message
    /// from it)` — heartbeats come every `broker_heartbeat_ms`. By node name.
    pub fn nodes(&self) -> Vec<(Origin, std::time::Duration)> {
        let mut nodes: Vec<(Origin, std::time::Duration)> = self
            .shared
            .peer_sightings()
            .into_iter()
            .filter(|(origin, _)| *origin != self.shared.origin)
            .map(|(origin, seen)| (origin, seen.elapsed()))
            .collect();
        nodes.sort_by(|a, b| a.0.node.cmp(&b.0.node));
        nodes
    }

    /// Counters since start.
    pub fn stats(&self) -> ClusterStats {
        self.shared.stats()
    }

    /// The broker as [`PubSub::with_broker`] takes it.
    pub fn broker(self: &Arc<Self>) -> Arc<dyn Broker> {
        self.clone()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in self.tasks.lock().iter() {
            task.abort();
        }
    }
}

impl Broker for Cluster {
    fn publish(&self, broadcast: &Arc<Broadcast>) -> Result<(), BrokerError> {
        self.shared.publish(broadcast)
    }

    /// Redis keeps each topic's history in a stream (docs/HISTORY.md); NATS keeps nothing.
    fn records_history(&self) -> bool {
        self.shared.kind == BrokerKind::Redis
    }

    fn record(
        &self,
        broadcast: &Arc<Broadcast>,
        rule: HistoryRule,
        from: Option<SubscriberId>,
    ) -> Result<(), BrokerError> {
        self.shared.record(broadcast, rule, from)
    }
}

/// Why a cluster on NATS refuses history (docs/HISTORY.md "Where history lives").
pub const HISTORY_ON_NATS: &str =
    "`history` needs a Redis `broker`: NATS keeps no messages (docs/HISTORY.md)";

/// `Some(why)` when `cluster` cannot keep `history`: NATS stores nothing.
pub fn history_refused(cluster: &ClusterConfig, history: &HistoryConfig) -> Option<&'static str> {
    let nats = matches!(cluster.check(), Ok(BrokerKind::Nats));
    (nats && !history.is_empty()).then_some(HISTORY_ON_NATS)
}

/// A [`Weak`] PubSub the link delivers into (none before `attach`).
type Sink = Weak<PubSub>;

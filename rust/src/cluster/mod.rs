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
mod link;
mod nats;
mod redis;

pub use envelope::{DecodeError, Origin};
pub use link::ClusterStats;

use crate::pubsub::{Broadcast, Broker, BrokerError, PubSub};
use bytes::Bytes;
use link::Shared;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// How a node joins a cluster. Defaults: prefix `switchboard`, connect timeout 5 s,
/// reconnect backoff up to 5 s, a heartbeat every second, 65 536 envelopes queued at most.
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
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Cluster {
    /// Starts the broker link and the heartbeat on `runtime` (it does not wait for the
    /// broker: see [`ready`](Self::ready)). Errors: [`ClusterError::Config`].
    pub fn start(
        config: ClusterConfig,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Cluster, ClusterError> {
        let kind = config.check()?;
        let (tx, rx) = mpsc::channel::<Bytes>(config.queue);
        let shared = Arc::new(Shared::new(config, kind, tx));
        let link = match kind {
            BrokerKind::Redis => runtime.spawn(redis::run(shared.clone(), rx)),
            BrokerKind::Nats => runtime.spawn(nats::run(shared.clone(), rx)),
        };
        let beat = runtime.spawn(link::heartbeat(shared.clone()));
        Ok(Cluster {
            shared,
            tasks: vec![link, beat],
        })
    }

    /// Delivers the other nodes' broadcasts to `pubsub`'s local subscribers from now on.
    pub fn attach(&self, pubsub: &Arc<PubSub>) {
        self.shared.attach(Arc::downgrade(pubsub));
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
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Broker for Cluster {
    fn publish(&self, broadcast: &Arc<Broadcast>) -> Result<(), BrokerError> {
        self.shared.publish(broadcast)
    }
}

/// A [`Weak`] PubSub the link delivers into (none before `attach`).
type Sink = Weak<PubSub>;

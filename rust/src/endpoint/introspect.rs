//! What an endpoint holds at one instant (docs/OPERATIONS.md "Introspection"): connections,
//! channels, subscribed topics, presence sizes and, when clustered, the other nodes. The host
//! API of every language returns [`Census::to_json`]; the metrics are read from it too.

use crate::channel::Backplane;
use serde::Serialize;
use std::collections::BTreeMap;

/// An endpoint's state at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Census {
    /// This node's name.
    pub node: String,
    pub connections: ConnectionCensus,
    /// Joined channels on this node, every topic together.
    pub channels: usize,
    /// Every topic with a local subscriber or a joined channel, by topic.
    pub topics: Vec<TopicCensus>,
    /// Every topic with a presence, by topic (entries of every node, in a cluster).
    pub presence: Vec<PresenceCensus>,
    /// The broker link and the other nodes; `None` on a single node.
    pub cluster: Option<ClusterCensus>,
}

/// Live connections by transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionCensus {
    pub websocket: usize,
    /// Long-poll sessions held by this node.
    pub longpoll: usize,
}

/// One topic's local audience.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopicCensus {
    pub topic: String,
    /// PubSub subscriptions on this node: joined channels, socket ids (for `disconnect`),
    /// host subscriptions.
    pub subscribers: usize,
    /// Joined channels on this node.
    pub channels: usize,
}

/// One topic's presence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PresenceCensus {
    pub topic: String,
    /// Metas listed (a key present twice counts twice).
    pub entries: usize,
}

/// The cluster as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterCensus {
    /// `"Redis"` or `"NATS"`.
    pub broker: String,
    /// Whether the link to the broker is up.
    pub up: bool,
    /// The other nodes heard from in the last minute, by name.
    pub nodes: Vec<NodeCensus>,
}

/// Another node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeCensus {
    pub node: String,
    /// Its process's random incarnation, in hex (a restart changes it).
    pub incarnation: String,
    /// Milliseconds since the last message from it (a heartbeat at least every
    /// `broker_heartbeat_ms`).
    pub last_heartbeat_ms: u64,
}

impl Census {
    /// The state of `backplane` with these connection counts.
    pub fn of(backplane: &Backplane, connections: ConnectionCensus) -> Census {
        let mut topics: BTreeMap<String, TopicCensus> = BTreeMap::new();
        for (topic, subscribers) in backplane.pubsub().topic_counts() {
            topics.insert(
                topic.clone(),
                TopicCensus {
                    topic,
                    subscribers,
                    channels: 0,
                },
            );
        }
        let mut channels = 0;
        for (topic, n) in backplane.channel_census() {
            channels += n;
            topics
                .entry(topic.clone())
                .or_insert(TopicCensus {
                    topic,
                    subscribers: 0,
                    channels: 0,
                })
                .channels = n;
        }
        Census {
            node: backplane.node().to_owned(),
            connections,
            channels,
            topics: topics.into_values().collect(),
            presence: backplane
                .presence()
                .sizes()
                .into_iter()
                .map(|(topic, entries)| PresenceCensus { topic, entries })
                .collect(),
            cluster: backplane.cluster().map(|c| ClusterCensus {
                broker: c.broker_kind().to_string(),
                up: c.is_up(),
                nodes: c
                    .nodes()
                    .into_iter()
                    .map(|(origin, ago)| NodeCensus {
                        node: origin.node,
                        incarnation: format!("{:x}", origin.incarnation),
                        last_heartbeat_ms: u64::try_from(ago.as_millis()).unwrap_or(u64::MAX),
                    })
                    .collect(),
            }),
        }
    }

    /// Presence metas over every topic.
    pub fn presence_entries(&self) -> usize {
        self.presence.iter().map(|p| p.entries).sum()
    }

    /// As JSON text (the shape of docs/OPERATIONS.md "Introspection").
    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

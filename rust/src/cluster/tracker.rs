//! Presence across nodes (docs/CLUSTER.md "Presence across nodes"): Phoenix.Tracker's
//! protocol over the cluster's broker channel. One task per node:
//!
//! - every `broadcast_period` it sends a beat with every shard's clock and the deltas taken
//!   since the last one (a beat without deltas only every `SILENT_PERIODS` periods);
//! - a node whose clock shows dots this node lacks, or that it meets for the first time, is
//!   asked for a transfer, and answers one with its state as the requester should merge it;
//! - a node not heard from (any envelope: heartbeats come every second) for `down_period` is
//!   down (its presences leave here), for `permdown_period` forgotten; a new incarnation of a
//!   name replaces the old one as soon as the old one missed three heartbeats (a restart), never
//!   while the old one still beats (a namesake that will be refused);
//! - while this node's own broker link is down, failure detection is frozen (for at most
//!   `FREEZE_PERIODS` down periods) and everything is resynced when it is back; a jump of the
//!   monotonic clock (SIGSTOP, a VM pause) is handled the same way.

use super::envelope::{Chunk, Origin};
use super::gossip::{self, Message, Reassembler};
use super::link::Shared;
use crate::presence::Presence;
use crate::presence::state::ReplicaRef;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Beats without deltas go out every this many broadcast periods (Phoenix's
/// `max_silent_periods`), so a lost delta is noticed from the clocks within that time.
const SILENT_PERIODS: u32 = 10;
/// Failure detection stays frozen while the own link is down, for at most this many down
/// periods; past that the silent nodes are taken down as usual.
const FREEZE_PERIODS: u32 = 2;
/// How often the task wakes to check timers.
const TICK: Duration = Duration::from_millis(100);
/// A tick later than this past its time means the process did not run (stopped, paused).
const PAUSE: Duration = Duration::from_millis(1500);
/// A partial message whose chunks do not all arrive within this time is dropped.
const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of partial messages kept at most.
const REASSEMBLY_BYTES: usize = 256 * 1024 * 1024;

/// The tracker's periods (Phoenix.Tracker's options of the same names and defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periods {
    pub broadcast: Duration,
    pub down: Duration,
    pub permdown: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Up,
    Down,
}

/// What this node knows of another one.
struct Node {
    origin: Origin,
    replica: ReplicaRef,
    last_seen: Instant,
    status: Status,
    /// When a transfer was last asked of it (asked again only after two broadcast periods).
    asked: Option<Instant>,
}

/// The presence replica another node's origin stands for.
pub fn replica_of(origin: &Origin) -> ReplicaRef {
    ReplicaRef::with_vsn(&origin.node, (origin.incarnation, 0))
}

/// The tracker's state; [`run`] drives it.
pub(super) struct Tracker {
    shared: Arc<Shared>,
    presence: Arc<Presence>,
    periods: Periods,
    /// The broker link's longest wait between reconnect attempts.
    reconnect_max: Duration,
    /// How often every node sends its heartbeat.
    heartbeat: Duration,
    /// By node name: one live incarnation per name.
    nodes: HashMap<String, Node>,
    reassembler: Reassembler,
    next_id: u64,
    last_beat: Instant,
    silent: u32,
    last_tick: Instant,
    link_down_since: Option<Instant>,
}

impl Tracker {
    pub(super) fn new(shared: Arc<Shared>, presence: Arc<Presence>, periods: Periods) -> Tracker {
        let now = Instant::now();
        Tracker {
            reconnect_max: shared.config.reconnect_max,
            heartbeat: shared.config.heartbeat,
            shared,
            presence,
            periods,
            nodes: HashMap::new(),
            reassembler: Reassembler::new(REASSEMBLY_TIMEOUT, REASSEMBLY_BYTES),
            next_id: 0,
            last_beat: now,
            silent: 0,
            last_tick: now,
            link_down_since: None,
        }
    }

    /// The timers: pause and link checks, liveness, down and permdown, the beat.
    fn tick(&mut self, now: Instant) {
        let late = now.duration_since(self.last_tick).saturating_sub(TICK);
        self.last_tick = now;
        if late > PAUSE {
            tracing::warn!(
                node = %self.shared.origin.node, paused_ms = late.as_millis() as u64,
                "this process did not run for a while (stopped or paused): presence resyncs with the other nodes"
            );
            self.resync(now);
        }
        if !self.shared.is_up() {
            let since = *self.link_down_since.get_or_insert(now);
            // Frozen: nobody is taken down for silence we cannot hear, for a while (our own
            // reconnect attempts are up to `reconnect_max` apart).
            if now.duration_since(since) < self.periods.down * FREEZE_PERIODS + self.reconnect_max {
                return;
            }
        } else if self.link_down_since.take().is_some() {
            // The others lost the broker too, most likely, and reconnect on their own backoff:
            // they get that long on top of the down period to be heard from again.
            self.resync(now + self.reconnect_max);
            return;
        }
        // Known incarnations first, so a new one is judged against the old one's latest news.
        let mut sightings = self.shared.peer_sightings();
        sightings.sort_by_key(|(origin, _)| {
            self.nodes
                .get(&origin.node)
                .is_none_or(|n| n.origin != *origin)
        });
        for (origin, seen) in sightings {
            self.seen(&origin, seen, now);
        }
        self.detect(now);
        if self.shared.is_up() && now.duration_since(self.last_beat) >= self.periods.broadcast {
            self.beat(now, false);
        }
    }

    /// After a pause or a link outage: nobody's silence until `heard` counts against them,
    /// this node's clocks go out now, and every node is asked for what changed meanwhile.
    fn resync(&mut self, heard: Instant) {
        let now = Instant::now();
        for node in self.nodes.values_mut() {
            node.last_seen = node.last_seen.max(heard);
            node.asked = None;
        }
        if self.shared.is_up() {
            self.beat(now, true);
            let origins: Vec<Origin> = self.nodes.values().map(|n| n.origin.clone()).collect();
            for origin in origins {
                self.ask(&origin, now);
            }
        }
    }

    /// `origin` was heard from at `seen`: introduces it, brings it back up, or replaces an
    /// older incarnation of its name.
    fn seen(&mut self, origin: &Origin, seen: Instant, now: Instant) {
        if origin.node == self.shared.origin.node {
            return; // ourselves, or a namesake the link already reports loudly
        }
        let fresh = now.duration_since(seen) < self.periods.down;
        match self.nodes.get_mut(&origin.node) {
            Some(node) if node.origin == *origin => {
                node.last_seen = node.last_seen.max(seen);
                if node.status == Status::Up || !fresh {
                    return;
                }
                node.status = Status::Up;
                node.asked = None;
                tracing::info!(node = %origin.node, "node back up: its presences are listed again");
                let replica = node.replica.clone();
                self.presence.replica_up(&replica);
            }
            Some(node) if seen <= node.last_seen => return, // an older incarnation's last words
            // A new incarnation while the old one still beats is a namesake starting (it will
            // be refused: Cluster::ready), not a restart: the old one stays until it is silent
            // for three heartbeats. A restarted node is adopted then, long before the down
            // period.
            Some(node)
                if node.status == Status::Up
                    && now.saturating_duration_since(node.last_seen) < self.heartbeat * 3 =>
            {
                return;
            }
            // The link remembers nodes for a minute: one forgotten here (permdown) stays so.
            _ if !fresh => return,
            old => {
                if let Some(old) = old {
                    tracing::info!(
                        node = %origin.node,
                        "node restarted (new incarnation): the old one's presences leave now"
                    );
                    let old = old.replica.clone();
                    self.presence.replica_permdown(&old);
                }
                let replica = replica_of(origin);
                self.presence.replica_up(&replica);
                self.nodes.insert(
                    origin.node.clone(),
                    Node {
                        origin: origin.clone(),
                        replica,
                        last_seen: seen,
                        status: Status::Up,
                        asked: None,
                    },
                );
            }
        }
        self.ask(origin, now);
    }

    /// Down after `down` of silence, forgotten after `permdown`.
    fn detect(&mut self, now: Instant) {
        let periods = self.periods;
        let mut gone = Vec::new();
        for (name, node) in &mut self.nodes {
            let silent = now.duration_since(node.last_seen);
            if silent >= periods.permdown {
                tracing::warn!(node = %name, silent_ms = silent.as_millis() as u64, "node permanently down: forgotten");
                self.presence.replica_permdown(&node.replica);
                gone.push(name.clone());
            } else if silent >= periods.down && node.status == Status::Up {
                tracing::warn!(node = %name, silent_ms = silent.as_millis() as u64, "node down: its presences leave until it is back");
                node.status = Status::Down;
                self.presence.replica_down(&node.replica);
            }
        }
        for name in gone {
            self.nodes.remove(&name);
        }
    }

    /// Sends the clocks and any pending deltas (always when `force`).
    fn beat(&mut self, now: Instant, force: bool) {
        self.last_beat = now;
        let shards = self.presence.shard_count();
        let deltas: Vec<_> = (0..shards)
            .filter_map(|s| self.presence.take_delta(s).map(|d| (s, d)))
            .collect();
        if deltas.is_empty() && !force && self.silent + 1 < SILENT_PERIODS {
            self.silent += 1;
            return;
        }
        self.silent = 0;
        let clocks = (0..shards)
            .filter_map(|s| self.presence.clock(s).map(|c| (s, c)))
            .collect();
        self.send(&Message::Beat { clocks, deltas }, None);
    }

    /// Asks `origin` for its state, unless that was done within two broadcast periods.
    fn ask(&mut self, origin: &Origin, now: Instant) {
        let again_after = self.periods.broadcast * 2;
        let Some(node) = self.nodes.get_mut(&origin.node) else {
            return;
        };
        if node
            .asked
            .is_some_and(|t| now.duration_since(t) < again_after)
        {
            return;
        }
        node.asked = Some(now);
        let shards = self.presence.shard_count();
        let contexts = (0..shards)
            .filter_map(|s| self.presence.clock(s).map(|c| (s, c)))
            .collect();
        self.send(&Message::TransferReq { contexts }, Some(origin.clone()));
    }

    fn send(&mut self, message: &Message, to: Option<Origin>) {
        self.next_id += 1;
        let bytes = gossip::encode(message, self.presence.shard_count());
        for chunk in gossip::chunks(bytes, to, self.next_id) {
            if !self.shared.send_presence(&chunk) {
                return; // the link is down or its queue full: the clocks will tell
            }
        }
    }

    /// One chunk of a message `from` sent (to this node or to all).
    fn receive(&mut self, from: Origin, chunk: Chunk, now: Instant) {
        let given_up = self.reassembler.dropped;
        let pushed = self.reassembler.push(&from, chunk);
        for _ in given_up..self.reassembler.dropped {
            self.shared
                .bad_presence(&from, "a chunked presence message was given up (incomplete after 30 s, inconsistent chunks, or over the pending bound)");
        }
        let bytes = match pushed {
            None => return,
            Some(Ok(bytes)) => bytes,
            Some(Err(e)) => return self.shared.bad_presence(&from, &e.to_string()),
        };
        let sender = replica_of(&from);
        let message = match gossip::decode(&bytes, &sender, self.presence.shard_count()) {
            Ok(m) => m,
            Err(e) => return self.shared.bad_presence(&from, &e.to_string()),
        };
        self.seen(&from, now, now);
        if self.nodes.get(&from.node).is_none_or(|n| n.origin != from) {
            return; // an older incarnation: its state no longer counts
        }
        match message {
            Message::Beat { clocks, deltas } => {
                for (shard, delta) in &deltas {
                    self.presence.merge_delta(*shard, delta);
                }
                if clocks
                    .iter()
                    .any(|(shard, clock)| self.presence.behind(*shard, clock))
                {
                    self.ask(&from, now);
                }
            }
            Message::TransferReq { contexts } => {
                let snapshots = contexts
                    .iter()
                    .filter_map(|(shard, context)| {
                        self.presence
                            .snapshot_for(*shard, &sender, context)
                            .map(|snap| (*shard, snap))
                    })
                    .collect();
                self.shared.transfer_sent();
                self.send(&Message::TransferAck { snapshots }, Some(from));
            }
            Message::TransferAck { snapshots } => {
                for (shard, snapshot) in &snapshots {
                    self.presence.merge_snapshot(*shard, snapshot);
                }
            }
        }
    }
}

/// The tracker task: timers and the chunks the link hands over, until the link stops.
pub(super) async fn run(mut tracker: Tracker, mut chunks: mpsc::Receiver<(Origin, Chunk)>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => tracker.tick(Instant::now()),
            got = chunks.recv() => match got {
                Some((from, chunk)) => tracker.receive(from, chunk, Instant::now()),
                None => return,
            },
        }
    }
}

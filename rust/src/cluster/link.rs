//! What both brokers share: this node's side of the link (up or down, the queue of envelopes
//! to send, the counters), how an envelope is published and what is done with one received,
//! the heartbeat, and the reconnect backoff.

use super::envelope::{self, Body, Chunk, DecodeError, Envelope, Origin};
use super::{BrokerKind, ClusterConfig, ClusterError, Sink};
use crate::pubsub::history::{HistoryRule, Position};
use crate::pubsub::{Broadcast, BrokerError, SubscriberId};
use crate::wire::Payload;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// Counters of a node's cluster link since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Broadcasts handed to the broker.
    pub published: u64,
    /// Broadcasts refused to the caller (link down, queue full) or lost in a failed send.
    pub publish_failed: u64,
    /// Broadcasts from other nodes delivered here.
    pub received: u64,
    /// Envelopes from the broker that were not readable (other version, truncated, garbage).
    pub dropped: u64,
    /// Envelopes other nodes sent that never arrived (gaps in their sequence numbers).
    pub lost: u64,
    /// Times the link came back after being lost.
    pub reconnects: u64,
    /// Presence replication bytes sent (beats, transfer requests and answers), envelopes
    /// included.
    pub presence_bytes_sent: u64,
    /// Presence replication bytes received for this node (its own echoes and messages for
    /// other nodes not counted).
    pub presence_bytes_received: u64,
    /// Full-state transfers this node sent to others.
    pub transfers_sent: u64,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    publish_failed: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    lost: AtomicU64,
    reconnects: AtomicU64,
    presence_bytes_sent: AtomicU64,
    presence_bytes_received: AtomicU64,
    transfers_sent: AtomicU64,
}

/// What the link task sends, in queue order.
#[derive(Debug)]
pub(super) enum Outbound {
    /// An envelope for every node.
    Envelope(Bytes),
    /// A broadcast on a topic with history: appended to the topic's stream in the broker,
    /// which gives it its position and then publishes it (Redis only, docs/HISTORY.md).
    Record {
        rule: HistoryRule,
        envelope: Bytes,
        /// What this node delivers itself if the broker never takes it (see
        /// [`Shared::stranded`]).
        stranded: Stranded,
    },
}

/// A recorded broadcast as this node would deliver it without the broker: its sequence
/// number (for the `broadcast_from` sender to leave out) and the broadcast (whose topic names
/// the stream the broker appends it to).
#[derive(Debug)]
pub(super) struct Stranded {
    seq: u64,
    pub(super) broadcast: Broadcast,
}

/// The envelope stream out: sequence numbers are taken in queue order.
struct Outgoing {
    seq: u64,
    tx: mpsc::Sender<Outbound>,
}

/// Recorded broadcasts of `broadcast_from` waiting for their echo, by sequence number: the
/// sender is left out when this node delivers them. Bounded: a link that loses echoes
/// (a broken connection) must not grow it.
const PENDING_FROM_MAX: usize = 65_536;

/// What a node last heard from another one.
struct Peer {
    last_seq: u64,
    seen: Instant,
}

/// One node's side of the link, shared by its publishers, the link task and the heartbeat.
pub(super) struct Shared {
    pub(super) config: ClusterConfig,
    pub(super) kind: BrokerKind,
    pub(super) origin: Origin,
    up: AtomicBool,
    up_changed: Notify,
    last_error: Mutex<String>,
    out: Mutex<Outgoing>,
    sink: OnceLock<Sink>,
    counters: Counters,
    peers: Mutex<HashMap<Origin, Peer>>,
    /// The incarnation of another live process using this node's name, once seen.
    namesake: Mutex<Option<u64>>,
    /// A bad envelope is logged once; the rest are counted.
    bad_logged: AtomicBool,
    /// Where presence chunks for this node go: the tracker task, once presence is attached.
    presence: OnceLock<mpsc::Sender<(Origin, Chunk)>>,
    /// The subscribers to leave out of this node's own recorded broadcasts, by seq.
    pending_from: Mutex<HashMap<u64, SubscriberId>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("broker", &self.kind)
            .field("origin", &self.origin)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

/// A random number per process start (std's hasher keys are random per process).
fn incarnation() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

impl Shared {
    pub(super) fn new(
        config: ClusterConfig,
        kind: BrokerKind,
        tx: mpsc::Sender<Outbound>,
    ) -> Shared {
        Shared {
            origin: Origin {
                node: config.node.clone(),
                incarnation: incarnation(),
            },
            config,
            kind,
            up: AtomicBool::new(false),
            up_changed: Notify::new(),
            last_error: Mutex::new("not connected yet".to_owned()),
            out: Mutex::new(Outgoing { seq: 0, tx }),
            sink: OnceLock::new(),
            counters: Counters::default(),
            peers: Mutex::new(HashMap::new()),
            namesake: Mutex::new(None),
            bad_logged: AtomicBool::new(false),
            presence: OnceLock::new(),
            pending_from: Mutex::new(HashMap::new()),
        }
    }

    /// Hands presence chunks for this node to `tracker` from now on.
    pub(super) fn attach_presence(&self, tracker: mpsc::Sender<(Origin, Chunk)>) {
        let _ = self.presence.set(tracker);
    }

    /// Every other node heard from in the last minute, with when it last was.
    pub(super) fn peer_sightings(&self) -> Vec<(Origin, Instant)> {
        self.peers
            .lock()
            .iter()
            .map(|(origin, peer)| (origin.clone(), peer.seen))
            .collect()
    }

    /// Queues one presence chunk; false when the link is down or the queue is full (the
    /// tracker's clocks repair what is lost).
    pub(super) fn send_presence(&self, chunk: &Chunk) -> bool {
        if !self.is_up() {
            return false;
        }
        let mut out = self.out.lock();
        let Ok(bytes) = envelope::encode_presence(&self.origin, out.seq + 1, chunk) else {
            return false;
        };
        let len = bytes.len() as u64;
        if out.tx.try_send(Outbound::Envelope(bytes)).is_err() {
            return false;
        }
        out.seq += 1;
        drop(out);
        self.counters
            .presence_bytes_sent
            .fetch_add(len, Ordering::Relaxed);
        true
    }

    /// The tracker sent a full-state transfer.
    pub(super) fn transfer_sent(&self) {
        self.counters.transfers_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A presence message from `from` that could not be used: counted, the first logged.
    pub(super) fn bad_presence(&self, from: &Origin, why: &str) {
        self.drop_one(|| {
            tracing::warn!(
                broker = %self.kind, from = %from.node, error = %why,
                "dropped a presence message from another node (logged once; the rest are counted)"
            );
        });
    }

    /// Counts one dropped message; `log` runs for the first bad one only, so a flood of
    /// garbage cannot flood the log.
    fn drop_one(&self, log: impl FnOnce()) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        if !self.bad_logged.swap(true, Ordering::Relaxed) {
            log();
        }
    }

    pub(super) fn attach(&self, sink: Sink) {
        let _ = self.sink.set(sink);
    }

    pub(super) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The link is up (both directions work): logged, and `ready` is woken.
    pub(super) fn link_up(&self, again: bool) {
        self.up.store(true, Ordering::Release);
        self.up_changed.notify_waiters();
        let (broker, url, node) = (self.kind, &self.config.url, &self.config.node);
        if again {
            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%broker, %url, %node, "broker link back: resubscribed, broadcasts reach the other nodes again");
        } else {
            tracing::info!(%broker, %url, %node, "broker link up");
        }
    }

    /// The link is down: publishes fail with `why` until it is back.
    pub(super) fn link_down(&self, why: &str) {
        *self.last_error.lock() = why.to_owned();
        let was_up = self.up.swap(false, Ordering::AcqRel);
        if was_up {
            let (broker, url, node) = (self.kind, &self.config.url, &self.config.node);
            tracing::warn!(%broker, %url, %node, error = %why, "broker link lost: broadcasts stay on this node until it is back");
        }
    }

    /// Waits until the link is up, at most `timeout`; whether it is.
    pub(super) async fn wait_up(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so a `link_up` between the two is not missed.
            let changed = self.up_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_up() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.is_up();
            }
        }
    }

    pub(super) fn duplicate_check(&self) -> Result<(), ClusterError> {
        match *self.namesake.lock() {
            Some(other) => Err(ClusterError::DuplicateNode {
                node: self.origin.node.clone(),
                other,
            }),
            None => Ok(()),
        }
    }

    pub(super) fn stats(&self) -> ClusterStats {
        let c = &self.counters;
        ClusterStats {
            published: c.published.load(Ordering::Relaxed),
            publish_failed: c.publish_failed.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            presence_bytes_sent: c.presence_bytes_sent.load(Ordering::Relaxed),
            presence_bytes_received: c.presence_bytes_received.load(Ordering::Relaxed),
            transfers_sent: c.transfers_sent.load(Ordering::Relaxed),
        }
    }

    /// Queues `b` for the other nodes. Errors when the link is down or the queue is full;
    /// nothing is queued then.
    pub(super) fn publish(&self, b: &Broadcast) -> Result<(), BrokerError> {
        self.send(|origin, seq| envelope::encode_broadcast(origin, seq, b).map(Outbound::Envelope))
            .map(|_| ())
    }

    /// Queues `b` to be recorded in its topic's history in the broker and published from
    /// there to every node, this one included (Redis, docs/HISTORY.md). Errors as `publish`.
    pub(super) fn record(
        &self,
        b: &Broadcast,
        rule: HistoryRule,
        from: Option<SubscriberId>,
    ) -> Result<(), BrokerError> {
        let noted = std::cell::Cell::new(None);
        let sent = self.send(|origin, seq| {
            let envelope = envelope::encode_recorded(origin, seq, b)?;
            // Noted before the envelope is queued (under the queue's lock), so its echo cannot
            // come back before it.
            if let Some(from) = from {
                let mut pending = self.pending_from.lock();
                if pending.len() >= PENDING_FROM_MAX {
                    pending.clear();
                }
                pending.insert(seq, from);
                noted.set(Some(seq));
            }
            Ok(Outbound::Record {
                rule,
                envelope,
                stranded: Stranded {
                    seq,
                    broadcast: b.clone(),
                },
            })
        });
        if let (Err(_), Some(seq)) = (&sent, noted.get()) {
            self.pending_from.lock().remove(&seq);
        }
        sent.map(|_| ())
    }

    /// Queues what `encode` makes with the next sequence number; returns that number.
    fn send(
        &self,
        encode: impl FnOnce(&Origin, u64) -> Result<Outbound, envelope::TooLong>,
    ) -> Result<u64, BrokerError> {
        let fail = |why: String| {
            self.counters.publish_failed.fetch_add(1, Ordering::Relaxed);
            Err(BrokerError(why))
        };
        if !self.is_up() {
            let why = self.last_error.lock().clone();
            return fail(format!(
                "{} broker {} unreachable ({why}): delivered on this node only",
                self.kind, self.config.url
            ));
        }
        let mut out = self.out.lock();
        let outbound = match encode(&self.origin, out.seq + 1) {
            Ok(outbound) => outbound,
            Err(e) => return fail(e.to_string()),
        };
        match out.tx.try_send(outbound) {
            Ok(()) => {
                out.seq += 1;
                let seq = out.seq;
                drop(out);
                self.counters.published.fetch_add(1, Ordering::Relaxed);
                Ok(seq)
            }
            Err(mpsc::error::TrySendError::Full(_)) => fail(format!(
                "{} broker send queue full ({} envelopes): delivered on this node only",
                self.kind, self.config.queue
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                fail(format!("{} broker link stopped", self.kind))
            }
        }
    }

    /// Queues a heartbeat (dropped when the queue is full: the next one will do).
    fn beat(&self) {
        let mut out = self.out.lock();
        if let Ok(bytes) = envelope::encode_heartbeat(&self.origin, out.seq + 1)
            && out.tx.try_send(Outbound::Envelope(bytes)).is_ok()
        {
            out.seq += 1;
        }
    }

    /// Envelopes that were sent but failed on the way (the connection broke under them).
    pub(super) fn lost_in_send(&self, n: usize) {
        self.counters
            .publish_failed
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Recorded broadcasts the broker did not take (a failed pipeline, or still queued when
    /// the link went down): this node delivers them to its own subscribers, without a
    /// position, as a broadcast made while the link is down (docs/HISTORY.md) — they would
    /// otherwise reach nobody, not even the sender's node. The other nodes miss them.
    pub(super) fn stranded(&self, records: impl IntoIterator<Item = Stranded>) {
        let Some(pubsub) = self.sink.get().and_then(std::sync::Weak::upgrade) else {
            return;
        };
        for Stranded { seq, broadcast } in records {
            let from = self.pending_from.lock().remove(&seq);
            let delivered = match from {
                Some(from) => pubsub.local_broadcast_from(from, broadcast),
                None => pubsub.local_broadcast(broadcast),
            };
            if let Err(e) = delivered {
                crate::warn_limited!(error = %e, "a broadcast the broker did not take was not delivered here either");
            }
        }
    }

    /// The link went down: what is still queued will not reach the broker in this session.
    /// Recorded broadcasts are delivered here ([`stranded`](Self::stranded)); the others were
    /// delivered here when they were published. Echoes of what was in flight will not come.
    pub(super) fn drain_queue(&self, rx: &mut mpsc::Receiver<Outbound>) {
        let mut records = Vec::new();
        while let Ok(outbound) = rx.try_recv() {
            if let Outbound::Record { stranded, .. } = outbound {
                records.push(stranded);
            }
        }
        self.stranded(records);
        self.pending_from.lock().clear();
    }

    /// One message from the broker channel.
    pub(super) fn receive(&self, bytes: Bytes) {
        let len = bytes.len() as u64;
        let env = match envelope::decode(bytes).and_then(checked_payload) {
            Ok(env) => env,
            Err(e) => return self.bad(e),
        };
        if env.origin == self.origin {
            // Our own, echoed by the broker: delivered locally already, except recorded
            // broadcasts, which every node delivers in the broker's order.
            if let Body::Recorded(b, position) = env.body {
                let from = self.pending_from.lock().remove(&env.seq);
                self.deliver_recorded(from, b, &position, &env.origin);
            }
            return;
        }
        if env.origin.node == self.origin.node {
            self.namesake(env.origin.incarnation);
        }
        self.track(&env);
        match env.body {
            Body::Broadcast(b) => {
                if let Some(pubsub) = self.sink.get().and_then(std::sync::Weak::upgrade) {
                    self.counters.received.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = pubsub.local_broadcast(b) {
                        crate::warn_limited!(node = %env.origin.node, error = %e, "a broadcast from another node was not delivered");
                    }
                }
            }
            Body::Recorded(b, position) => {
                self.counters.received.fetch_add(1, Ordering::Relaxed);
                self.deliver_recorded(None, b, &position, &env.origin);
            }
            Body::Presence(chunk) => {
                // Meant for another node: skipped unread.
                if chunk.to.as_ref().is_some_and(|to| *to != self.origin) {
                    return;
                }
                self.counters
                    .presence_bytes_received
                    .fetch_add(len, Ordering::Relaxed);
                if let Some(tracker) = self.presence.get()
                    && tracker.try_send((env.origin, chunk)).is_err()
                {
                    // The tracker is behind: the sender's clocks will show what is missing.
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Body::Heartbeat => {}
        }
    }

    /// Delivers a recorded broadcast to this node's subscribers (docs/HISTORY.md).
    fn deliver_recorded(
        &self,
        from: Option<SubscriberId>,
        b: Broadcast,
        position: &str,
        origin: &Origin,
    ) {
        let Some(at) = Position::parse(position) else {
            return self.bad(DecodeError::Position);
        };
        if let Some(pubsub) = self.sink.get().and_then(std::sync::Weak::upgrade)
            && let Err(e) = pubsub.deliver_recorded(from, b, &at)
        {
            crate::warn_limited!(node = %origin.node, error = %e, "a recorded broadcast was not delivered");
        }
    }

    fn bad(&self, e: DecodeError) {
        self.drop_one(|| {
            tracing::warn!(
                broker = %self.kind, channel = %self.config.prefix, error = %e,
                "dropped a message on the cluster channel that is not an envelope this node reads (logged once; the rest are counted)"
            );
        });
    }

    fn namesake(&self, other: u64) {
        let first = self.namesake.lock().replace(other) != Some(other);
        if first {
            tracing::error!(
                node = %self.origin.node, ours = %format!("{:016x}", self.origin.incarnation),
                theirs = %format!("{other:016x}"),
                "another live process uses this node name: every node of a cluster needs its own name"
            );
        }
    }

    /// Counts gaps in the sender's sequence numbers (lost envelopes).
    fn track(&self, env: &Envelope) {
        let mut peers = self.peers.lock();
        let now = Instant::now();
        match peers.get_mut(&env.origin) {
            Some(peer) => {
                if env.seq > peer.last_seq + 1 {
                    let gap = env.seq - peer.last_seq - 1;
                    self.counters.lost.fetch_add(gap, Ordering::Relaxed);
                }
                peer.last_seq = peer.last_seq.max(env.seq);
                peer.seen = now;
            }
            None => {
                // Forget nodes silent for a minute (restarted ones come with a new incarnation).
                peers.retain(|_, p| now.duration_since(p.seen) < Duration::from_secs(60));
                peers.insert(
                    env.origin.clone(),
                    Peer {
                        last_seq: env.seq,
                        seen: now,
                    },
                );
            }
        }
    }
}

/// A JSON payload must at least look like an object end to end (`{` ... `}`): a truncated
/// or mangled envelope would otherwise reach clients inside their frames. Not parsed: the
/// sending node checked it.
fn checked_payload(env: Envelope) -> Result<Envelope, DecodeError> {
    if let Body::Broadcast(Broadcast {
        payload: Payload::Json(raw),
        ..
    })
    | Body::Recorded(
        Broadcast {
            payload: Payload::Json(raw),
            ..
        },
        _,
    ) = &env.body
    {
        let text = raw.trim_ascii();
        if !(text.starts_with(b"{") && text.ends_with(b"}")) {
            return Err(DecodeError::Truncated);
        }
    }
    Ok(env)
}

/// Sends a heartbeat every `config.heartbeat` while the link is up.
pub(super) async fn heartbeat(shared: std::sync::Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if shared.is_up() {
            shared.beat();
        }
    }
}

/// Waits between reconnect attempts: 100 ms, doubling, at most `max`.
pub(super) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(super) fn new(max: Duration) -> Backoff {
        Backoff {
            next: Duration::from_millis(100).min(max),
            max,
        }
    }

    /// The wait before the next attempt.
    pub(super) fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.max);
        now
    }
}

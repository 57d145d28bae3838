//! One client connection: TCP from a chosen 127.0.0.x source address, the WebSocket upgrade,
//! the protocol's join, then one task that counts deliveries until told to stop.

use crate::clock::now_ns;
use crate::payload::PROBE_BIT;
use crate::proto::{Protocol, Received, classify};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

/// A connected WebSocket client.
pub type Ws = WebSocketStream<TcpStream>;

/// A failed connect, upgrade or join.
pub type ConnError = Box<dyn std::error::Error + Send + Sync>;

/// Where and how clients connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// Server address (loopback).
    pub server: SocketAddr,
    /// Protocol spoken.
    pub protocol: Protocol,
    /// Client `i` binds source address 127.0.0.(1 + i % sources) so that more connections
    /// than one address's ephemeral ports (~28k) can exist.
    pub sources: u8,
    /// How long one connect + upgrade + join may take.
    pub connect_timeout: Duration,
}

impl Target {
    /// Client `index`'s TCP connection to the server, from its 127.0.0.x source address.
    pub async fn tcp(&self, index: usize) -> Result<TcpStream, ConnError> {
        let source = Ipv4Addr::new(
            127,
            0,
            0,
            1 + (index % usize::from(self.sources.max(1))) as u8,
        );
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
        let stream = socket.connect(self.server).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Opens client `index`'s WebSocket for `room` (no join yet).
    pub async fn open(&self, index: usize, room: &str) -> Result<Ws, ConnError> {
        let stream = self.tcp(index).await?;
        let url = format!("ws://{}{}", self.server, self.protocol.path(room));
        // Small read buffers: tens of thousands of mostly idle connections.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (ws, _) = client_async_with_config(url, stream, Some(config)).await?;
        Ok(ws)
    }

    /// Opens client `index` and joins `room` within the connect timeout. The Phoenix topic is
    /// `bench:<room>`, or `presence:<room>` with join params `{"key": <key>}` when a presence
    /// key is given.
    pub async fn open_joined(
        &self,
        index: usize,
        room: &str,
        presence_key: Option<&str>,
    ) -> Result<Ws, ConnError> {
        let work = async {
            let mut ws = self.open(index, room).await?;
            match presence_key {
                Some(key) => {
                    let params = serde_json::json!({ "key": key }).to_string();
                    let topic = format!("presence:{room}");
                    join(&mut ws, self.protocol, room, &topic, &params).await?;
                }
                None => {
                    let topic = format!("bench:{room}");
                    join(&mut ws, self.protocol, room, &topic, "{}").await?;
                }
            }
            Ok::<Ws, ConnError>(ws)
        };
        tokio::time::timeout(self.connect_timeout, work)
            .await
            .map_err(|_| ConnError::from("connect + join timed out"))?
    }
}

/// The protocol's join: Phoenix `phx_join` of `topic` with `params` (join_ref and ref `"1"`,
/// waits for the ok reply); Socket.IO open/connect handshake then `join` event (not acked);
/// plain ws: nothing (the room is in the URL).
pub async fn join(
    ws: &mut Ws,
    protocol: Protocol,
    room: &str,
    topic: &str,
    params: &str,
) -> Result<(), ConnError> {
    match protocol {
        Protocol::PhoenixJson | Protocol::PhoenixBinary => {
            ws.send(Message::text(format!(
                "[\"1\",\"1\",\"{topic}\",\"phx_join\",{params}]"
            )))
            .await?;
            await_reply(ws, "1").await
        }
        Protocol::Socketio => {
            let open = next_text(ws).await?;
            if !open.starts_with('0') {
                return Err(format!("expected Engine.IO open packet, got {open:?}").into());
            }
            ws.send(Message::text("40")).await?;
            loop {
                let t = next_text(ws).await?;
                if t == "2" {
                    ws.send(Message::text("3")).await?;
                } else if t.starts_with("40") {
                    break;
                } else if t.starts_with("44") {
                    return Err(format!("Socket.IO connect refused: {t}").into());
                }
            }
            ws.send(Message::text(format!("42[\"join\",\"{room}\"]")))
                .await?;
            Ok(())
        }
        Protocol::Ws => Ok(()),
    }
}

/// Reads until the Phoenix reply to `push_ref`; ok → `Ok`, anything else → error.
pub async fn await_reply(ws: &mut Ws, push_ref: &str) -> Result<(), ConnError> {
    loop {
        let text = next_text(ws).await?;
        let Ok(serde_json::Value::Array(v)) = serde_json::from_str::<serde_json::Value>(&text)
        else {
            continue;
        };
        if v.get(3).and_then(|e| e.as_str()) == Some("phx_reply")
            && v.get(1).and_then(|r| r.as_str()) == Some(push_ref)
        {
            let status = v
                .get(4)
                .and_then(|p| p.get("status"))
                .and_then(|s| s.as_str());
            return if status == Some("ok") {
                Ok(())
            } else {
                Err(format!("reply not ok: {text}").into())
            };
        }
    }
}

async fn next_text(ws: &mut Ws) -> Result<String, ConnError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}").into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err("connection closed".into()),
        }
    }
}

/// Counters shared by every connection of a scenario.
#[derive(Debug)]
pub struct Shared {
    /// Latency histograms (ns), sharded so worker threads rarely contend.
    pub latency: Vec<Mutex<Histogram<u64>>>,
    /// Measured deliveries (first receipt of a sequence number) so far.
    pub delivered: AtomicU64,
    /// Connections that have received at least one readiness probe.
    pub ready: AtomicU64,
    /// Presence diff frames received.
    pub diffs: AtomicU64,
    /// Presence metas (joins + leaves) received in diffs.
    pub diff_metas: AtomicU64,
    /// Per sequence number: (deliveries, max latency ns); empty when not tracked.
    pub per_seq: Vec<(AtomicU64, AtomicU64)>,
    /// Bumped by [`Shared::reset`]; connections then restart their own presence counts.
    pub generation: AtomicU64,
}

impl Shared {
    /// Counters for a scenario; `track_seqs` sequence numbers get per-message figures.
    pub fn new(track_seqs: usize) -> Shared {
        Shared {
            latency: (0..8).map(|_| Mutex::new(new_histogram())).collect(),
            delivered: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            diffs: AtomicU64::new(0),
            diff_metas: AtomicU64::new(0),
            per_seq: (0..track_seqs)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
            generation: AtomicU64::new(0),
        }
    }

    /// All latency shards merged.
    pub fn merged_latency(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.latency {
            if let Ok(h) = shard.lock() {
                let _ = all.add(&*h);
            }
        }
        all
    }

    /// Forgets everything recorded so far (after a warm-up).
    pub fn reset(&self) {
        for shard in &self.latency {
            if let Ok(mut h) = shard.lock() {
                h.reset();
            }
        }
        self.delivered.store(0, Ordering::Relaxed);
        self.diffs.store(0, Ordering::Relaxed);
        self.diff_metas.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

/// A histogram of nanoseconds from 1 ns to 1 hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("constant bounds are valid")
}

/// What one connection saw, returned when it stops.
#[derive(Debug, Default, Clone)]
pub struct ConnReport {
    /// Distinct measured sequence numbers received.
    pub received: u64,
    /// Measured messages received again.
    pub duplicates: u64,
    /// Presence metas received in diffs (joins + leaves).
    pub diff_metas: u64,
    /// The connection ended before it was told to stop (server close or error).
    pub closed_early: bool,
}

/// Set of sequence numbers seen by one connection (a growable bitset).
#[derive(Debug, Default)]
struct Seen(Vec<u64>);

impl Seen {
    /// Inserts `s`; `true` when it was new.
    fn insert(&mut self, s: u64) -> bool {
        let word = (s / 64) as usize;
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let bit = 1u64 << (s % 64);
        match self.0.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                true
            }
            _ => false,
        }
    }
}

/// Largest sequence number a connection tracks individually (bounds its bitset).
const MAX_SEQ: u64 = 1 << 26;

/// One client's delivery bookkeeping: readiness probes, duplicates, latency and the
/// scenario-wide counters of [`Shared`].
#[derive(Debug)]
pub struct Tracker {
    /// What the client has seen so far.
    pub report: ConnReport,
    seen: Seen,
    ready: bool,
    shard: usize,
}

impl Tracker {
    /// The tracker of client `index`.
    pub fn new(index: usize, shared: &Shared) -> Tracker {
        Tracker {
            report: ConnReport::default(),
            seen: Seen::default(),
            ready: false,
            shard: index % shared.latency.len().max(1),
        }
    }

    /// Counts benchmark message `(t, s)` received now: a probe marks the client ready, a
    /// measured message counts once (again: a duplicate) with its latency.
    pub fn delivery(&mut self, shared: &Shared, t: u64, s: u64) {
        let now = now_ns();
        if s & PROBE_BIT != 0 {
            if !self.ready {
                self.ready = true;
                shared.ready.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        if s >= MAX_SEQ || !self.seen.insert(s) {
            self.report.duplicates += 1;
            return;
        }
        self.report.received += 1;
        let latency = now.saturating_sub(t).max(1);
        if let Some(Ok(mut h)) = shared.latency.get(self.shard).map(|h| h.lock()) {
            let _ = h.record(latency);
        }
        if let Some((count, max)) = shared.per_seq.get(s as usize) {
            count.fetch_add(1, Ordering::Relaxed);
            max.fetch_max(latency, Ordering::Relaxed);
        }
        shared.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs a joined connection until `stop` flips: counts deliveries, answers Engine.IO pings,
/// sends Phoenix heartbeats every 30 s and writes whatever arrives on `outgoing`.
pub async fn run(
    mut ws: Ws,
    protocol: Protocol,
    index: usize,
    shared: std::sync::Arc<Shared>,
    mut outgoing: Option<mpsc::Receiver<Message>>,
    mut stop: watch::Receiver<bool>,
) -> ConnReport {
    let mut tracker = Tracker::new(index, &shared);
    let mut generation = shared.generation.load(Ordering::Relaxed);
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(30),
        Duration::from_secs(30),
    );
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            out = recv_opt(&mut outgoing) => {
                let Some(first) = out else { outgoing = None; continue };
                // Coalesce everything already queued into one write.
                let mut ok = ws.feed(first).await.is_ok();
                while ok {
                    match outgoing.as_mut().map(|rx| rx.try_recv()) {
                        Some(Ok(m)) => ok = ws.feed(m).await.is_ok(),
                        _ => break,
                    }
                }
                if !ok || ws.flush().await.is_err() {
                    tracker.report.closed_early = true;
                    break;
                }
            }
            msg = ws.next() => {
                let msg = match msg {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                        tracker.report.closed_early = true;
                        break;
                    }
                    Some(Ok(m)) => m,
                };
                match classify(protocol, &msg) {
                    Received::Delivery { t, s } => tracker.delivery(&shared, t, s),
                    Received::EnginePing => {
                        if ws.send(Message::text("3")).await.is_err() {
                            tracker.report.closed_early = true;
                            break;
                        }
                    }
                    Received::PresenceDiff(text) => {
                        let now_generation = shared.generation.load(Ordering::Relaxed);
                        if now_generation != generation {
                            generation = now_generation;
                            tracker.report.diff_metas = 0;
                        }
                        let metas = count_diff_metas(text);
                        tracker.report.diff_metas += metas;
                        shared.diffs.fetch_add(1, Ordering::Relaxed);
                        shared.diff_metas.fetch_add(metas, Ordering::Relaxed);
                    }
                    Received::Other => {}
                }
            }
            _ = heartbeat.tick() => {
                if let Some(hb) = protocol.heartbeat()
                    && ws.send(hb).await.is_err()
                {
                    tracker.report.closed_early = true;
                    break;
                }
            }
        }
    }
    tracker.report
}

async fn recv_opt(rx: &mut Option<mpsc::Receiver<Message>>) -> Option<Message> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Metas in the joins and leaves of a `presence_diff` frame `[jr, ref, topic, "presence_diff",
/// {"joins": {key: {"metas": [...]}}, "leaves": {...}}]`.
pub fn count_diff_metas(frame: &[u8]) -> u64 {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(frame) else {
        return 0;
    };
    let payload = v.get(4).unwrap_or(&serde_json::Value::Null);
    ["joins", "leaves"]
        .iter()
        .filter_map(|side| payload.get(side).and_then(|s| s.as_object()))
        .flat_map(|entries| entries.values())
        .filter_map(|e| e.get("metas").and_then(|m| m.as_array()))
        .map(|m| m.len() as u64)
        .sum()
}

/// The reports of `handles` once each task ended, in index order; a task that failed (or
/// never connected) reports `closed_early`.
pub async fn collect_reports(
    handles: Vec<tokio::task::JoinHandle<Result<ConnReport, String>>>,
) -> Vec<ConnReport> {
    let mut reports = Vec::with_capacity(handles.len());
    for handle in handles {
        reports.push(match handle.await {
            Ok(Ok(r)) => r,
            _ => ConnReport {
                closed_early: true,
                ..ConnReport::default()
            },
        });
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_reports_duplicates() {
        let mut seen = Seen::default();
        assert!(seen.insert(0));
        assert!(seen.insert(130));
        assert!(!seen.insert(130));
        assert!(!seen.insert(0));
        assert!(seen.insert(64));
    }

    #[test]
    fn diff_metas_count_joins_and_leaves() {
        let frame = br#"[null,null,"presence:x","presence_diff",{"joins":{"a":{"metas":[{"phx_ref":"1"}]}},"leaves":{"b":{"metas":[{"phx_ref":"2"},{"phx_ref":"3"}]}}}]"#;
        assert_eq!(count_diff_metas(frame), 3);
        assert_eq!(count_diff_metas(b"not json"), 0);
    }
}

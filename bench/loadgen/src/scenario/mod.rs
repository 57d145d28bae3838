//! The scenarios and what they share: command-line options, a fleet of joined connections,
//! readiness probes and the result line.

pub mod burst;
pub mod churn;
pub mod cluster;
pub mod idle;
pub mod longpoll;
pub mod paced;
pub mod resume;
pub mod rooms;
pub mod roundtrip;
pub mod storm;

use crate::clock::now_ns;
use crate::conn::{self, ConnReport, Shared, Target};
use crate::payload::PROBE_BIT;
use crate::procfs::Measured;
use crate::proto::Protocol;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Options every scenario takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Server URL, `ws://127.0.0.1:PORT` (only host and port are used); or give `--port`.
    #[arg(long)]
    pub url: Option<String>,
    /// Server port on `--host` (alternative to `--url`).
    #[arg(long)]
    pub port: Option<u16>,
    /// Server host (loopback).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: Ipv4Addr,
    /// Protocol spoken to the server.
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    /// Server process id: CPU time and RSS are read from /proc/PID.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Total payload size in bytes.
    #[arg(long, default_value_t = 100)]
    pub payload_bytes: usize,
    /// Number of 127.0.0.x source addresses clients are spread over (1..=254).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=254))]
    pub sources: u8,
    /// Connections being opened at once (beyond the server's accept backlog, SYNs are
    /// dropped and retried after 1 s, which distorts connect times).
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Loadgen tokio worker threads (1 = current-thread runtime; the server shares the cores).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Exit 0 even when messages were lost or duplicated.
    #[arg(long)]
    pub allow_loss: bool,
    /// How long to wait for all deliveries after the last publish, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
    /// How long one connect + join may take, in seconds.
    #[arg(long, default_value_t = 30)]
    pub connect_timeout_s: u64,
}

impl Common {
    /// The server address from `--url` or `--host`/`--port`.
    pub fn server(&self) -> Result<SocketAddr, String> {
        if let Some(url) = &self.url {
            return parse_addr("--url", url);
        }
        match self.port {
            Some(port) => Ok(SocketAddr::V4(SocketAddrV4::new(self.host, port))),
            None => Err("give --url ws://127.0.0.1:PORT or --port PORT".into()),
        }
    }

    /// Connection target from these options.
    pub fn target(&self) -> Result<Target, String> {
        Ok(Target {
            server: self.server()?,
            protocol: self.protocol,
            sources: self.sources,
            connect_timeout: Duration::from_secs(self.connect_timeout_s),
        })
    }

    /// The publish frame of message `(t, s)` in `room`.
    pub fn publish(&self, room: &str, t: u64, s: u64) -> Message {
        self.protocol
            .publish(room, s % 1_000_000 + 2, t, s, self.payload_bytes)
    }
}

/// The address of a server URL `ws://HOST:PORT[/...]` given as option `flag`.
pub fn parse_addr(flag: &str, url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .parse()
        .map_err(|e| format!("{flag} {url:?}: expected ws://HOST:PORT ({e})"))
}

/// What a scenario hands back to `main`.
#[derive(Debug)]
pub struct Outcome {
    /// The JSON result line.
    pub result: Value,
    /// One line for humans.
    pub summary: String,
    /// Messages were lost or duplicated (or connections dropped).
    pub lost: bool,
}

/// A set of joined connections, each run by one task.
#[derive(Debug)]
pub struct Fleet {
    /// Counters every connection updates.
    pub shared: Arc<Shared>,
    /// Outgoing queues of the connections opened with one (publishers).
    pub senders: Vec<Option<mpsc::Sender<Message>>>,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<Result<ConnReport, String>>>,
}

/// One connection to open: its room and whether it will publish.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Room (Phoenix topic `bench:<room>`).
    pub room: String,
    /// Gets an outgoing queue.
    pub publisher: bool,
    /// Joins the presence topic `presence:<room>` tracked under this key instead of
    /// `bench:<room>` (Phoenix only).
    pub presence_key: Option<String>,
    /// Which of [`Fleet::connect`]'s targets it connects to (0 but in a cluster run).
    pub node: usize,
}

impl Fleet {
    /// The fan-out setup of `burst` and `paced`: connection 0 publishes, `subscribers` more
    /// listen, all on `room`, joined and probed ready; `messages` sizes the per-message
    /// delivery counters. `scenario` names the run in the progress line. In a cluster run
    /// (`--second-url`) the subscribers alternate between the two nodes
    /// ([`cluster::node_of`]; all on node 1 with `--all-on-first`) and the publisher is on
    /// node 1.
    pub async fn fan_out(
        common: &Common,
        cluster: &cluster::Args,
        scenario: &str,
        room: &str,
        subscribers: usize,
        messages: usize,
    ) -> Result<Fleet, String> {
        let first = common.target()?;
        let mut targets = vec![first.clone()];
        if let Some(server) = cluster.second_server()? {
            targets.push(Target { server, ..first });
        }
        let shared = Arc::new(Shared::new(messages));
        let specs: Vec<Spec> = (0..=subscribers)
            .map(|i| Spec {
                room: room.to_owned(),
                publisher: i == 0,
                presence_key: None,
                node: cluster.node_of(i, targets.len()),
            })
            .collect();
        eprintln!(
            "{scenario}: connecting {} clients to {} server(s)",
            specs.len(),
            targets.len()
        );
        let fleet = Fleet::connect(&targets, shared, &specs, common.connect_concurrency).await?;
        fleet
            .probe(common, &[(0, room.to_owned())], subscribers as u64)
            .await?;
        Ok(fleet)
    }

    /// Opens and joins every connection of `specs` (at most `concurrency` at once), each to
    /// `targets[spec.node]`; fails if any of them fails.
    pub async fn connect(
        targets: &[Target],
        shared: Arc<Shared>,
        specs: &[Spec],
        concurrency: usize,
    ) -> Result<Fleet, String> {
        // Checked before any connection starts, so the indexing below cannot fail.
        if let Some(spec) = specs.iter().find(|s| s.node >= targets.len()) {
            return Err(format!("no server for node {}", spec.node));
        }
        let (stop, stop_rx) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let connected = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
        let mut senders = Vec::with_capacity(specs.len());
        let mut handles = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let target = &targets[spec.node];
            let (tx, rx) = if spec.publisher {
                let (tx, rx) = mpsc::channel(4096);
                (Some(tx), Some(rx))
            } else {
                (None, None)
            };
            senders.push(tx);
            let (target, shared, gate, stop_rx) = (
                target.clone(),
                shared.clone(),
                gate.clone(),
                stop_rx.clone(),
            );
            let (connected, failed, first_error) =
                (connected.clone(), failed.clone(), first_error.clone());
            let (room, key) = (spec.room.clone(), spec.presence_key.clone());
            handles.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
                let ws = match target.open_joined(index, &room, key.as_deref()).await {
                    Ok(ws) => ws,
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        let msg = format!("client {index}: {e}");
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(msg.clone());
                        }
                        return Err(msg);
                    }
                };
                drop(permit);
                connected.fetch_add(1, Ordering::Relaxed);
                Ok(conn::run(ws, target.protocol, index, shared, rx, stop_rx).await)
            }));
        }
        let fleet = Fleet {
            shared,
            senders,
            stop,
            handles,
        };
        let total = specs.len() as u64;
        let mut last_note = Instant::now();
        loop {
            let (ok, bad) = (
                connected.load(Ordering::Relaxed),
                failed.load(Ordering::Relaxed),
            );
            if bad > 0 {
                let msg = first_error
                    .lock()
                    .ok()
                    .and_then(|e| e.clone())
                    .unwrap_or_default();
                fleet.stop().await;
                return Err(format!("{bad} of {total} connections failed; first: {msg}"));
            }
            if ok == total {
                return Ok(fleet);
            }
            if last_note.elapsed() > Duration::from_secs(2) {
                eprintln!("  connected {ok}/{total}");
                last_note = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Queues `msg` on publisher `index`.
    pub async fn send(&self, index: usize, msg: Message) -> Result<(), String> {
        match self.senders.get(index).and_then(Option::as_ref) {
            Some(tx) => tx
                .send(msg)
                .await
                .map_err(|_| format!("publisher {index} has stopped")),
            None => Err(format!("connection {index} is not a publisher")),
        }
    }

    /// Has `publishers` (index, room) send readiness probes until `expected` connections have
    /// received one (so every subscription is in place before measuring), then clears the
    /// counters.
    pub async fn probe(
        &self,
        common: &Common,
        publishers: &[(usize, String)],
        expected: u64,
    ) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(common.timeout_s);
        let mut round = 0u64;
        while self.shared.ready.load(Ordering::Relaxed) < expected {
            if Instant::now() > deadline {
                return Err(format!(
                    "only {} of {expected} subscribers received a probe",
                    self.shared.ready.load(Ordering::Relaxed)
                ));
            }
            for (index, room) in publishers {
                self.send(*index, common.publish(room, now_ns(), PROBE_BIT | round))
                    .await?;
            }
            round += 1;
            let wait_until = Instant::now() + Duration::from_millis(250);
            while Instant::now() < wait_until
                && self.shared.ready.load(Ordering::Relaxed) < expected
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        // Late probes of earlier rounds must not land in the measured phase.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.shared.reset();
        Ok(())
    }

    /// Waits until `delivered` reaches `target` or `timeout` passes; returns whether it did.
    pub async fn await_deliveries(&self, target: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.delivered.load(Ordering::Relaxed) >= target {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops every connection and returns their reports (index order; a connection that
    /// failed to connect reports `closed_early`).
    pub async fn stop(self) -> Vec<ConnReport> {
        let _ = self.stop.send(true);
        crate::conn::collect_reports(self.handles).await
    }
}

/// Latency percentiles of `h` (ns) in µs.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    let us = |ns: u64| ns as f64 / 1000.0;
    json!({
        "count": h.len(),
        "p50_us": us(h.value_at_quantile(0.50)),
        "p90_us": us(h.value_at_quantile(0.90)),
        "p99_us": us(h.value_at_quantile(0.99)),
        "p999_us": us(h.value_at_quantile(0.999)),
        "max_us": us(h.max()),
    })
}

/// `cpu` in µs per one of `n` events (`None` without a reading or without events).
pub fn us_per(cpu: Option<Duration>, n: u64) -> Option<f64> {
    cpu.filter(|_| n > 0)
        .map(|c| c.as_nanos() as f64 / 1000.0 / n as f64)
}

/// CPU, RSS and rate figures of a measured phase in which `deliveries` messages arrived.
pub fn phase_json(m: &Measured, deliveries: u64) -> Value {
    let per = |cpu| us_per(cpu, deliveries);
    let secs = m.wall.as_secs_f64();
    json!({
        "duration_s": secs,
        "deliveries": deliveries,
        "deliveries_per_s": if secs > 0.0 { deliveries as f64 / secs } else { 0.0 },
        "server_cpu_s": m.server_cpu.map(|c| c.as_secs_f64()),
        "server_cpu_us_per_delivery": per(m.server_cpu),
        "server_rss_kib": m.server_rss_kib,
        "loadgen_cpu_s": m.own_cpu.map(|c| c.as_secs_f64()),
        "loadgen_cpu_us_per_delivery": per(m.own_cpu),
    })
}

/// Loss accounting over connection reports: `expected(i)` is what connection `i` should
/// have received. Returns (missing, duplicates, unexpected extra, connections closed early).
pub fn loss(reports: &[ConnReport], expected: impl Fn(usize) -> u64) -> Value {
    let (mut missing, mut duplicates, mut extra, mut closed, mut short) = (0u64, 0, 0, 0, 0);
    for (i, r) in reports.iter().enumerate() {
        let want = expected(i);
        if r.received < want {
            missing += want - r.received;
            short += 1;
        } else {
            extra += r.received - want;
        }
        duplicates += r.duplicates;
        closed += u64::from(r.closed_early);
    }
    json!({
        "missing": missing,
        "duplicates": duplicates,
        "unexpected": extra,
        "subscribers_short": short,
        "closed_early": closed,
        "ok": missing == 0 && duplicates == 0 && extra == 0 && closed == 0,
    })
}

/// Human line for a fan-out style result.
pub fn summary(name: &str, r: &Value) -> String {
    let f = |v: &Value| v.as_f64().map_or("-".to_owned(), |x| format!("{x:.2}"));
    format!(
        "{name} {}: {} deliveries in {} s = {}/s; server {} µs CPU/delivery; loadgen {} µs; \
         latency p50 {} µs p99 {} µs max {} µs; loss {}{}",
        r["protocol"].as_str().unwrap_or(""),
        r["deliveries"],
        f(&r["duration_s"]),
        f(&r["deliveries_per_s"]),
        f(&r["server_cpu_us_per_delivery"]),
        f(&r["loadgen_cpu_us_per_delivery"]),
        f(&r["latency"]["p50_us"]),
        f(&r["latency"]["p99_us"]),
        f(&r["latency"]["max_us"]),
        r["loss"],
        cluster::summary(r),
    )
}

/// Merges `extra`'s fields into object `base`.
pub fn merge(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        b.extend(e);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(received: u64, duplicates: u64) -> ConnReport {
        ConnReport {
            received,
            duplicates,
            ..ConnReport::default()
        }
    }

    #[test]
    fn loss_counts_missing_duplicate_and_extra_messages() {
        let all = [report(5, 0), report(5, 0)];
        assert_eq!(loss(&all, |_| 5)["ok"], true);
        let v = loss(&[report(3, 0), report(5, 2), report(6, 0)], |_| 5);
        assert_eq!(v["missing"], 2);
        assert_eq!(v["subscribers_short"], 1);
        assert_eq!(v["duplicates"], 2);
        assert_eq!(v["unexpected"], 1);
        assert_eq!(v["ok"], false);
    }

    #[test]
    fn server_address_from_url_or_port() {
        let mut c = Common {
            url: Some("ws://127.0.0.1:4000/socket".into()),
            port: None,
            host: Ipv4Addr::LOCALHOST,
            protocol: Protocol::Ws,
            server_pid: None,
            payload_bytes: 100,
            sources: 1,
            connect_concurrency: 1,
            threads: 1,
            allow_loss: false,
            timeout_s: 1,
            connect_timeout_s: 1,
        };
        assert_eq!(c.server(), Ok("127.0.0.1:4000".parse().expect("addr")));
        c.url = None;
        assert!(c.server().is_err());
        c.port = Some(9);
        assert_eq!(c.server(), Ok("127.0.0.1:9".parse().expect("addr")));
    }
}

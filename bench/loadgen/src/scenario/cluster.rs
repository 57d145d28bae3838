//! The cluster form of `burst` and `paced` (`--second-url`): the subscribers are split between
//! two servers that are nodes of one cluster (docs/CLUSTER.md; for Socket.IO, two processes on
//! one Redis adapter) and the publisher is on the first. Node 1 delivers each broadcast to its
//! own subscribers and hands it to the broker once; node 2 gets it from the broker and delivers
//! it to its subscribers. Loss, duplicates and *reach all* count every subscriber of both nodes.
//! The result also carries each node's CPU per delivery, their total, the broker process's CPU
//! per broadcast and how many publishes the broker was asked for per broadcast.

use super::us_per;
use crate::broker::Stats;
use crate::conn::ConnReport;
use crate::procfs::{self, Measured};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The cluster options of `burst` and `paced`.
#[derive(clap::Args, Debug, Clone)]
#[group(id = "cluster")]
pub struct Args {
    /// Node 2's URL, `ws://127.0.0.1:PORT`: half the subscribers connect there, the other half
    /// and the publisher to `--url` (node 1). Without it the run uses one server.
    #[arg(long)]
    pub second_url: Option<String>,
    /// Node 2's process id: its CPU time and RSS are read from /proc/PID.
    #[arg(long, requires = "second_url")]
    pub second_server_pid: Option<u32>,
    /// The broker's process id (redis-server, nats-server): its CPU time over the phase.
    #[arg(long, requires = "second_url")]
    pub broker_pid: Option<u32>,
    /// Where the broker's publish counter is read: `redis://HOST:PORT` (`INFO commandstats`,
    /// calls of PUBLISH) or `http://HOST:PORT` (nats-server's monitoring port, `in_msgs`).
    #[arg(long, requires = "second_url")]
    pub broker_stats: Option<String>,
    /// Quiet time before the phase over which the broker's background is measured, in ms:
    /// publishes (the nodes' heartbeats) and CPU (its timers, the heartbeats). Their rates
    /// times the phase's length are taken off the phase's figures. A whole number of
    /// heartbeat periods (1 s on Switchboard) counts the heartbeats exactly.
    #[arg(long, default_value_t = 2000)]
    pub broker_baseline_ms: u64,
    /// Every subscriber on node 1: node 2 is a member of the cluster with no subscriber of
    /// the topic, so its CPU per broadcast (read in ns) is what a broadcast costs a node that
    /// has nobody to deliver it to (docs/CLUSTER.md, "One channel per app").
    #[arg(long, requires = "second_url")]
    pub all_on_first: bool,
}

impl Args {
    /// Node 2's address, when this is a cluster run.
    pub fn second_server(&self) -> Result<Option<SocketAddr>, String> {
        self.second_url
            .as_deref()
            .map(|url| super::parse_addr("--second-url", url))
            .transpose()
    }

    /// The node of fan-out connection `index` over `nodes` servers ([`node_of`], or 0 for
    /// every connection with `--all-on-first`).
    pub fn node_of(&self, index: usize, nodes: usize) -> usize {
        if self.all_on_first {
            0
        } else {
            node_of(index, nodes)
        }
    }
}

/// The node (0 = `--url`, 1 = `--second-url`) of fan-out connection `index` over `nodes`
/// servers: the publisher (connection 0) is on node 0 and the subscribers alternate, so both
/// nodes fill up at the same pace while the clients connect.
pub fn node_of(index: usize, nodes: usize) -> usize {
    if index == 0 || nodes <= 1 {
        0
    } else {
        (index - 1) % nodes
    }
}

/// A process's CPU time since a first reading.
#[derive(Debug)]
struct CpuSince {
    pid: u32,
    /// Read from schedstat (ns) rather than stat (ticks).
    precise: bool,
    start: Option<Duration>,
}

impl CpuSince {
    /// Starts now; `precise` asks for schedstat, used when the kernel has it.
    fn start(pid: u32, precise: bool) -> CpuSince {
        let precise = precise && procfs::cpu_time_precise(pid).is_some();
        CpuSince {
            pid,
            precise,
            start: Self::read(pid, precise),
        }
    }

    fn read(pid: u32, precise: bool) -> Option<Duration> {
        if precise {
            procfs::cpu_time_precise(pid)
        } else {
            procfs::cpu_time(Some(pid)).ok()
        }
    }

    fn elapsed(&self) -> Option<Duration> {
        Self::read(self.pid, self.precise)?.checked_sub(self.start?)
    }
}

/// The broker's background rates, measured while nothing is published.
#[derive(Debug, Default, Clone, Copy)]
struct Background {
    publishes_per_s: Option<f64>,
    /// CPU seconds per second.
    cpu_per_s: Option<f64>,
}

impl Background {
    /// Measures over `quiet` (the fleet is connected and probed, nothing is published): what
    /// the broker does anyway, the nodes' heartbeats, Redis's cron, NATS's housekeeping.
    async fn measure(
        stats: Option<&Stats>,
        broker_pid: Option<u32>,
        quiet: Duration,
    ) -> Result<Background, String> {
        if stats.is_none() && broker_pid.is_none() {
            return Ok(Background::default());
        }
        // As in the phase, the counter's requests fall outside the CPU reading.
        let before = publishes(stats).await?;
        let started = Instant::now();
        let cpu = broker_pid.map(|pid| CpuSince::start(pid, true));
        tokio::time::sleep(quiet).await;
        let cpu = cpu.as_ref().and_then(CpuSince::elapsed);
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let after = publishes(stats).await?;
        Ok(Background {
            publishes_per_s: after
                .zip(before)
                .map(|(a, b)| a.saturating_sub(b) as f64 / secs),
            cpu_per_s: cpu.map(|c| c.as_secs_f64() / secs),
        })
    }
}

/// The broker's publish count, when it is read at all.
async fn publishes(stats: Option<&Stats>) -> Result<Option<u64>, String> {
    match stats {
        Some(s) => s.publishes().await.map(Some),
        None => Ok(None),
    }
}

/// The cluster readings around a measured phase, beside node 1's [`procfs::Meter`]. Inert
/// (every figure `None`, no JSON) outside a cluster run.
#[derive(Debug)]
pub struct Meter {
    enabled: bool,
    all_on_first: bool,
    /// Node 2, read in ticks like node 1 so the nodes and the single-node runs compare; in ns
    /// with `--all-on-first`, where it works a few ms per phase.
    second: Option<CpuSince>,
    /// The broker, read in ns: it works a few ms per phase, below one 10 ms tick.
    broker: Option<CpuSince>,
    stats: Option<Stats>,
    publishes_at_start: Option<u64>,
    background: Background,
}

impl Meter {
    /// Measures the broker's background over `--broker-baseline-ms`, then takes the start
    /// readings. Call it right before node 1's meter starts.
    pub async fn start(args: &Args) -> Result<Meter, String> {
        let enabled = args.second_url.is_some();
        let stats = match &args.broker_stats {
            Some(url) if enabled => Some(Stats::parse(url)?),
            _ => None,
        };
        let broker_pid = args.broker_pid.filter(|_| enabled);
        let quiet = Duration::from_millis(args.broker_baseline_ms);
        let background = Background::measure(stats.as_ref(), broker_pid, quiet).await?;
        let publishes_at_start = publishes(stats.as_ref()).await?;
        Ok(Meter {
            enabled,
            all_on_first: args.all_on_first,
            second: args
                .second_server_pid
                .filter(|_| enabled)
                .map(|pid| CpuSince::start(pid, args.all_on_first)),
            broker: broker_pid.map(|pid| CpuSince::start(pid, true)),
            stats,
            publishes_at_start,
            background,
        })
    }

    /// Ends the phase: call it right after node 1's meter finishes.
    pub async fn finish(self) -> Phase {
        // CPU first, so node 2's phase ends with node 1's and the broker's excludes the
        // counter's own request.
        let second_cpu = self.second.as_ref().and_then(CpuSince::elapsed);
        let broker_cpu = self.broker.as_ref().and_then(CpuSince::elapsed);
        // A failed read leaves the figure out rather than the whole result.
        let publishes_at_end = publishes(self.stats.as_ref()).await.ok().flatten();
        let second_pid = self.second.as_ref().map(|c| c.pid);
        Phase {
            enabled: self.enabled,
            all_on_first: self.all_on_first,
            second_cpu,
            second_rss_kib: second_pid.and_then(|p| procfs::rss_kib(Some(p)).ok()),
            broker_cpu,
            broker_cpu_source: self
                .broker
                .as_ref()
                .map(|c| if c.precise { "schedstat" } else { "stat" }),
            publishes: publishes_at_end
                .zip(self.publishes_at_start)
                .map(|(end, start)| end.saturating_sub(start)),
            background: self.background,
        }
    }
}

/// What a cluster run measured over its phase, besides node 1's [`Measured`].
#[derive(Debug)]
pub struct Phase {
    enabled: bool,
    all_on_first: bool,
    second_cpu: Option<Duration>,
    second_rss_kib: Option<u64>,
    broker_cpu: Option<Duration>,
    broker_cpu_source: Option<&'static str>,
    publishes: Option<u64>,
    background: Background,
}

impl Phase {
    /// The cluster fields of the result line (`Null` outside a cluster run), to merge over the
    /// single-server ones: `server_cpu_s` and `server_cpu_us_per_delivery` become both nodes'
    /// total, and `cluster` holds each node and the broker. `node1` is node 1's phase,
    /// `reports` the connections' reports in index order, `broadcasts` the measured ones.
    pub fn json(&self, node1: &Measured, reports: &[ConnReport], broadcasts: u64) -> Value {
        if !self.enabled {
            return Value::Null;
        }
        // Connection 0 is the publisher (it gets nothing back: broadcast_from).
        let (mut subscribers, mut deliveries) = ([0u64; 2], [0u64; 2]);
        for (i, r) in reports.iter().enumerate().skip(1) {
            let n = if self.all_on_first { 0 } else { node_of(i, 2) };
            subscribers[n] += 1;
            deliveries[n] += r.received;
        }
        let cpu = [node1.server_cpu, self.second_cpu];
        let rss = [node1.server_rss_kib, self.second_rss_kib];
        let node = |n: usize| {
            json!({
                "subscribers": subscribers[n],
                "deliveries": deliveries[n],
                "server_cpu_s": cpu[n].map(|c| c.as_secs_f64()),
                "server_cpu_us_per_delivery": us_per(cpu[n], deliveries[n]),
                "server_cpu_us_per_broadcast": us_per(cpu[n], broadcasts),
                "server_rss_kib": rss[n],
            })
        };
        let total_cpu = cpu[0].zip(cpu[1]).map(|(a, b)| a + b);
        json!({
            "server_cpu_s": total_cpu.map(|c| c.as_secs_f64()),
            "server_cpu_us_per_delivery": us_per(total_cpu, deliveries[0] + deliveries[1]),
            "cluster": {
                "nodes": [node(0), node(1)],
                "broker": self.broker_json(node1.wall, broadcasts),
            },
        })
    }

    /// The broker's CPU and publishes per broadcast, less its background (at the rates
    /// measured before the phase) over the phase's `wall` time.
    fn broker_json(&self, wall: Duration, broadcasts: u64) -> Value {
        let secs = wall.as_secs_f64();
        // What the broadcasts added to `total`, per broadcast.
        let per_broadcast = |total: f64, background_per_s: Option<f64>| {
            (broadcasts > 0).then(|| {
                (total - background_per_s.unwrap_or(0.0) * secs).max(0.0) / broadcasts as f64
            })
        };
        let cpu_s = self.broker_cpu.map(|c| c.as_secs_f64());
        json!({
            "cpu_s": cpu_s,
            "cpu_source": self.broker_cpu_source,
            "background_cpu_s_per_s": self.background.cpu_per_s,
            "cpu_us_per_broadcast": cpu_s
                .and_then(|c| per_broadcast(c, self.background.cpu_per_s))
                .map(|c| c * 1e6),
            "publishes": self.publishes,
            "background_publishes_per_s": self.background.publishes_per_s,
            "publishes_per_broadcast": self
                .publishes
                .and_then(|p| per_broadcast(p as f64, self.background.publishes_per_s)),
        })
    }
}

/// The cluster part of the human line (empty outside a cluster run).
pub fn summary(r: &Value) -> String {
    let Some(c) = r.get("cluster") else {
        return String::new();
    };
    let f = |v: &Value| v.as_f64().map_or("-".to_owned(), |x| format!("{x:.2}"));
    let node = |n: usize| f(&c["nodes"][n]["server_cpu_us_per_delivery"]);
    format!(
        "; cluster: node 1 {} µs/delivery, node 2 {} µs/delivery; broker {} µs CPU and {} \
         publishes per broadcast",
        node(0),
        node(1),
        f(&c["broker"]["cpu_us_per_broadcast"]),
        f(&c["broker"]["publishes_per_broadcast"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_on_node_one_subscribers_alternate() {
        assert_eq!(node_of(0, 2), 0);
        let nodes: Vec<usize> = (1..=5).map(|i| node_of(i, 2)).collect();
        assert_eq!(nodes, [0, 1, 0, 1, 0]);
        assert!((0..10).all(|i| node_of(i, 1) == 0));
    }

    #[test]
    fn figures_split_by_node_and_heartbeats_are_taken_off() {
        let phase = Phase {
            enabled: true,
            all_on_first: false,
            second_cpu: Some(Duration::from_millis(30)),
            second_rss_kib: Some(10),
            broker_cpu: Some(Duration::from_millis(2)),
            broker_cpu_source: Some("schedstat"),
            publishes: Some(14),
            background: Background {
                publishes_per_s: Some(2.0),
                cpu_per_s: Some(0.0005),
            },
        };
        let node1 = Measured {
            wall: Duration::from_secs(2),
            server_cpu: Some(Duration::from_millis(50)),
            own_cpu: None,
            server_rss_kib: Some(20),
        };
        // The publisher, then 4 subscribers alternating node 1, node 2; 10 broadcasts each.
        let reports: Vec<ConnReport> = (0..5)
            .map(|i| ConnReport {
                received: if i == 0 { 0 } else { 10 },
                ..ConnReport::default()
            })
            .collect();
        let v = phase.json(&node1, &reports, 10);
        let nodes = &v["cluster"]["nodes"];
        assert_eq!(nodes[0]["deliveries"], 20);
        assert_eq!(nodes[1]["subscribers"], 2);
        assert_eq!(nodes[0]["server_cpu_us_per_delivery"], 2500.0);
        assert_eq!(nodes[1]["server_cpu_us_per_delivery"], 1500.0);
        assert_eq!(v["server_cpu_us_per_delivery"], 2000.0);
        // 14 publishes in 2 s, 4 of them heartbeats at 2/s: one per broadcast; 2 ms of CPU,
        // 1 ms of it background at 0.5 ms/s.
        let broker = &v["cluster"]["broker"];
        assert_eq!(broker["publishes_per_broadcast"], 1.0);
        let cpu = broker["cpu_us_per_broadcast"].as_f64().expect("a number");
        assert!((cpu - 100.0).abs() < 1e-6, "{cpu}");
        assert!(summary(&v).contains("node 2 1500.00"));
        assert_eq!(nodes[1]["server_cpu_us_per_broadcast"], 3000.0);

        // --all-on-first: node 2 delivers nothing; its CPU counts per broadcast only.
        let idle = Phase {
            all_on_first: true,
            ..phase
        };
        let v = idle.json(&node1, &reports, 10);
        let nodes = &v["cluster"]["nodes"];
        assert_eq!(nodes[0]["deliveries"], 40);
        assert_eq!(nodes[1]["subscribers"], 0);
        assert_eq!(nodes[1]["server_cpu_us_per_delivery"], Value::Null);
        assert_eq!(nodes[1]["server_cpu_us_per_broadcast"], 3000.0);
    }

    #[test]
    fn inert_outside_a_cluster_run() {
        let phase = Phase {
            enabled: false,
            all_on_first: false,
            second_cpu: None,
            second_rss_kib: None,
            broker_cpu: None,
            broker_cpu_source: None,
            publishes: None,
            background: Background::default(),
        };
        let node1 = Measured {
            wall: Duration::from_secs(1),
            server_cpu: None,
            own_cpu: None,
            server_rss_kib: None,
        };
        assert!(phase.json(&node1, &[], 1).is_null());
        assert_eq!(summary(&json!({"scenario": "burst"})), "");
    }
}

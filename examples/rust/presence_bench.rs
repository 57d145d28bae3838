//! Presence at scale across a cluster (issue 14's benchmark; BENCHMARKS.md "Presence across
//! nodes"): three nodes with 10,000 presences each on one topic, over a `redis-server` and a
//! `nats-server` this program starts on free loopback ports (and stops by PID):
//!
//! - the time a freshly started fourth node takes to list all 30,000 (from the start call; and
//!   after its `ready()` returned, which listens 1.5 heartbeats for a namesake while presence
//!   already syncs: 0 when the list was complete by then);
//! - replication bytes per second (every node's `presence_bytes_sent`) in steady state, and
//!   during a churn of 1,000 joins and leaves per second spread over the three nodes, beside
//!   the process CPU of that churn, and of the same churn on one node with no cluster;
//! - live heap per presence on one node (a counting allocator), alone and in the cluster.
//!
//! The nodes are [`Backplane`]s in this one process, each with its own cluster link (its own
//! broker connections), on one 2-thread tokio runtime: CPU figures are the whole process's.
//! Run: `cargo run --release --example presence_bench` (`-- --quick` for small sizes).

#[global_allocator]
static ALLOC: heap_stats::Counting = heap_stats::Counting;

#[path = "../../rust/src/heap_stats.rs"]
mod heap_stats;

#[allow(dead_code)]
#[path = "../../rust/tests/common/brokers.rs"]
mod brokers;

use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard::channel::Backplane;
use switchboard::cluster::{Cluster, ClusterConfig};
use switchboard::presence::{Meta, OwnerId};

const TOPIC: &str = "room:lobby";

struct Sizes {
    per_node: u64,
    churn_per_s: u64,
    churn_secs: u64,
    steady_secs: u64,
}

fn meta(i: u64) -> Meta {
    let mut m = Meta::new();
    m.insert("online_at".into(), (1_733_400_000_000u64 + i).into());
    m.insert("name".into(), format!("user {i}").into());
    m
}

fn listed(node: &Backplane) -> usize {
    let switchboard::wire::Payload::Json(raw) = node.presence().list(TOPIC) else {
        return 0;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&raw)
        .map_or(0, |m| m.len())
}

/// Process CPU time so far, in ns: the sum of its threads' `/proc/self/task/*/schedstat`
/// (the runtime's threads live as long as the process; /proc/self/stat counts 10 ms ticks).
fn cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

async fn node(url: &str, name: &str) -> Arc<Backplane> {
    let config = ClusterConfig::new(url, name);
    let cluster = Arc::new(
        Cluster::start(config, &tokio::runtime::Handle::current()).expect("a valid config"),
    );
    // As the endpoint and the host languages do: presence syncs while `ready` listens for a
    // namesake.
    let backplane = Backplane::with_cluster(name, 0, cluster.clone());
    cluster.ready().await.expect("no namesake");
    backplane
}

async fn wait_listed(nodes: &[&Arc<Backplane>], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while nodes.iter().any(|b| listed(b) != n) {
        assert!(Instant::now() < deadline, "not converged on {n} presences");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn sent(nodes: &[&Arc<Backplane>]) -> u64 {
    nodes
        .iter()
        .map(|b| b.cluster().map_or(0, |c| c.stats().presence_bytes_sent))
        .sum()
}

/// `rate` joins and leaves per second for `secs` over `nodes` (each node tracks a new owner
/// and untracks its oldest churned one in turn); returns the process CPU it took.
async fn churn(nodes: &[&Arc<Backplane>], rate: u64, secs: u64, first_owner: u64) -> Duration {
    let start_cpu = cpu();
    let ops = rate * secs;
    let tick = Duration::from_millis(10);
    let per_tick = (rate / 100).max(1);
    let mut next = first_owner;
    let mut live: Vec<std::collections::VecDeque<u64>> = vec![Default::default(); nodes.len()];
    let mut done = 0;
    let mut interval = tokio::time::interval(tick);
    while done < ops {
        interval.tick().await;
        for _ in 0..per_tick {
            let k = (done % nodes.len() as u64) as usize;
            let presence = nodes[k].presence();
            // Alternate joins and leaves so the count stays level.
            if done % 2 == 0 || live[k].is_empty() {
                let _ = presence.track(OwnerId(next), TOPIC, &format!("churn-{next}"), meta(next));
                live[k].push_back(next);
                next += 1;
            } else if let Some(old) = live[k].pop_front() {
                presence.untrack(OwnerId(old), TOPIC, &format!("churn-{old}"));
            }
            done += 1;
        }
    }
    cpu().saturating_sub(start_cpu)
}

async fn cluster_row(broker: &str, url: &str, s: &Sizes) {
    let a = node(url, "bench-a").await;
    let b = node(url, "bench-b").await;
    let c = node(url, "bench-c").await;
    let three = [&a, &b, &c];
    for (k, n) in three.iter().enumerate() {
        let base = k as u64 * 1_000_000;
        for i in 0..s.per_node {
            n.presence()
                .track(
                    OwnerId(base + i),
                    TOPIC,
                    &format!("user-{}", base + i),
                    meta(i),
                )
                .expect("tracked");
        }
    }
    let total = (3 * s.per_node) as usize;
    wait_listed(&three, total).await;
    // Let transfers and deltas settle.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let heap_before = heap_stats::live_bytes().max(0) as u64;
    let started = Instant::now();
    let fresh = node(url, "bench-fresh").await;
    let ready = started.elapsed();
    wait_listed(&[&fresh], total).await;
    let all = started.elapsed();
    let heap_fresh = (heap_stats::live_bytes().max(0) as u64).saturating_sub(heap_before);
    let four = [&a, &b, &c, &fresh];
    tokio::time::sleep(Duration::from_secs(3)).await;

    let before = sent(&four);
    tokio::time::sleep(Duration::from_secs(s.steady_secs)).await;
    let steady = (sent(&four) - before) as f64 / s.steady_secs as f64;

    let before = sent(&four);
    let churn_cpu = churn(&three, s.churn_per_s, s.churn_secs, 10_000_000).await;
    // What the last beat carries.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let churn_bytes = (sent(&four) - before) as f64 / s.churn_secs as f64;
    let converged = {
        let first = listed(&a);
        four.iter().all(|n| listed(n) == first)
    };
    println!(
        "| {broker} | {total} | {:.2} | {:.2} | {:.0} | {:.0} | {:.1} | {:.0} | {} |",
        all.as_secs_f64(),
        all.saturating_sub(ready).as_secs_f64(),
        steady,
        churn_bytes,
        churn_cpu.as_secs_f64() * 1e3 / s.churn_secs as f64,
        heap_fresh as f64 / total as f64,
        if converged { "yes" } else { "NO" },
    );
}

async fn single_node_row(s: &Sizes) {
    let heap_before = heap_stats::live_bytes().max(0) as u64;
    let alone = Backplane::new("bench-alone", 0);
    let total = 3 * s.per_node;
    for i in 0..total {
        alone
            .presence()
            .track(OwnerId(i), TOPIC, &format!("user-{i}"), meta(i))
            .expect("tracked");
    }
    let heap = (heap_stats::live_bytes().max(0) as u64).saturating_sub(heap_before);
    let churn_cpu = churn(&[&alone], s.churn_per_s, s.churn_secs, 10_000_000).await;
    println!(
        "| one node, no cluster | {total} | – | – | 0 | 0 | {:.1} | {:.0} | – |",
        churn_cpu.as_secs_f64() * 1e3 / s.churn_secs as f64,
        heap as f64 / total as f64,
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let s = if quick {
        Sizes {
            per_node: 500,
            churn_per_s: 200,
            churn_secs: 2,
            steady_secs: 2,
        }
    } else {
        Sizes {
            per_node: 10_000,
            churn_per_s: 1_000,
            churn_secs: 10,
            steady_secs: 30,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    println!(
        "| broker | presences | fresh node lists all, s | of which after ready(), s | steady replication B/s | churn replication B/s | churn CPU ms/s (process) | heap B/presence | lists equal after churn |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    runtime.block_on(async {
        single_node_row(&s).await;
        let redis = brokers::RedisServer::start();
        cluster_row("Redis", &redis.url(), &s).await;
        drop(redis);
        let nats = brokers::NatsServer::start();
        cluster_row("NATS", &nats.url(), &s).await;
    });
}

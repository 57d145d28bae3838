//! Presence replicated across nodes over a real `redis-server` / `nats-server` (started here on
//! free loopback ports): every node lists every node's presences and tells its own
//! subscribers once per change; a silent node goes down then is forgotten; a restarted node
//! replaces its old incarnation; a broker outage longer than the down period makes
//! nobody leave; a refused namesake makes nobody leave; bad presence messages from the broker
//! are dropped and counted; a change costs a delta, not a transfer; random storms on three
//! nodes converge. Each node is a [`Backplane`] with its
//! own [`Cluster`] link; dropping one silences it as a killed process would. Real processes
//! (kill -9, SIGSTOP) are in the chat demo suites (tests/cluster).

mod common;

use common::brokers::{NatsServer, RedisServer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::channel::Backplane;
use switchboard::cluster::{Cluster, ClusterConfig};
use switchboard::presence::{Meta, OwnerId};
use switchboard::pubsub::{Broadcast, Delivery, Subscription};
use switchboard::wire::Payload;

const WAIT: Duration = Duration::from_secs(20);
const TOPIC: &str = "room:presence";

#[derive(Clone, Copy)]
struct Periods {
    broadcast_ms: u64,
    down_ms: u64,
    permdown_ms: u64,
}

const FAST: Periods = Periods {
    broadcast_ms: 100,
    down_ms: 800,
    permdown_ms: 2_000,
};

fn config(url: &str, node: &str, p: Periods) -> ClusterConfig {
    let mut c = ClusterConfig::new(url, node);
    c.prefix = "presence-app".to_owned();
    c.heartbeat = Duration::from_millis(100);
    c.reconnect_max = Duration::from_millis(400);
    c.presence_broadcast_period = Duration::from_millis(p.broadcast_ms);
    c.presence_down_period = Duration::from_millis(p.down_ms);
    c.presence_permdown_period = Duration::from_millis(p.permdown_ms);
    c
}

/// A node and the `presence_diff`s it told its own subscribers of [`TOPIC`].
struct Node {
    backplane: Arc<Backplane>,
    diffs: Arc<Mutex<Vec<Value>>>,
    _sub: Subscription,
}

impl Node {
    async fn start(url: &str, name: &str, p: Periods) -> Node {
        Self::with_config(config(url, name, p)).await
    }

    async fn with_config(config: ClusterConfig) -> Node {
        let name = config.node.clone();
        let cluster =
            Cluster::start(config, &tokio::runtime::Handle::current()).expect("valid config");
        cluster.ready().await.expect("no namesake");
        let backplane = Backplane::with_cluster(&name, 2, Arc::new(cluster));
        let diffs = Arc::new(Mutex::new(Vec::new()));
        let sink = diffs.clone();
        let sub = backplane.pubsub().subscribe(
            TOPIC,
            Delivery::Mailbox(Arc::new(move |b: &Arc<Broadcast>| {
                if b.event == "presence_diff"
                    && let Payload::Json(raw) = &b.payload
                {
                    let v: Value = serde_json::from_slice(raw).expect("diff JSON");
                    sink.lock().expect("diffs").push(v);
                }
            })),
        );
        Node {
            backplane,
            diffs,
            _sub: sub,
        }
    }

    fn track(&self, owner: u64, key: &str, name: &str) {
        let mut meta = Meta::new();
        meta.insert("name".into(), name.into());
        self.backplane
            .presence()
            .track(OwnerId(owner), TOPIC, key, meta)
            .expect("tracked");
    }

    /// key → the `name`s of its metas, sorted.
    fn list(&self) -> BTreeMap<String, Vec<String>> {
        let Payload::Json(raw) = self.backplane.presence().list(TOPIC) else {
            panic!("presence_state is JSON");
        };
        let v: Value = serde_json::from_slice(&raw).expect("state JSON");
        v.as_object()
            .expect("object")
            .iter()
            .map(|(k, entry)| {
                let mut names: Vec<String> = entry["metas"]
                    .as_array()
                    .expect("metas")
                    .iter()
                    .map(|m| m["name"].as_str().unwrap_or("").to_owned())
                    .collect();
                names.sort();
                (k.clone(), names)
            })
            .collect()
    }

    /// How many times `key` appeared in the joins (`"joins"`) or leaves of this node's diffs.
    fn count(&self, side: &str, key: &str) -> usize {
        self.diffs
            .lock()
            .expect("diffs")
            .iter()
            .filter(|d| d[side].get(key).is_some())
            .count()
    }

    fn leaves(&self) -> usize {
        self.diffs
            .lock()
            .expect("diffs")
            .iter()
            .map(|d| d["leaves"].as_object().map_or(0, |o| o.len()))
            .sum()
    }
}

async fn until(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

fn listing(keys: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    keys.iter()
        .map(|(k, n)| ((*k).to_owned(), vec![(*n).to_owned()]))
        .collect()
}

async fn three(url: &str, p: Periods) -> [Node; 3] {
    [
        Node::start(url, "a", p).await,
        Node::start(url, "b", p).await,
        Node::start(url, "c", p).await,
    ]
}

/// Tracks on three nodes are listed everywhere, each node telling its subscribers once per
/// change; an update and an untrack on one node reach the others the same way.
async fn presence_is_listed_on_every_node_once(url: &str) {
    let nodes = three(url, FAST).await;
    for (i, n) in nodes.iter().enumerate() {
        n.track(1, &format!("u{i}"), &format!("user {i}"));
    }
    let all = listing(&[("u0", "user 0"), ("u1", "user 1"), ("u2", "user 2")]);
    for n in &nodes {
        until("every node lists every presence", || n.list() == all).await;
    }
    // A few more beats: a duplicate diff would have come by then.
    tokio::time::sleep(Duration::from_millis(5 * FAST.broadcast_ms)).await;
    for n in &nodes {
        for key in ["u0", "u1", "u2"] {
            assert_eq!(n.count("joins", key), 1, "one join of {key}");
        }
    }

    let mut meta = Meta::new();
    meta.insert("name".into(), "user 0, away".into());
    nodes[0]
        .backplane
        .presence()
        .update(OwnerId(1), TOPIC, "u0", meta)
        .expect("updated");
    nodes[1]
        .backplane
        .presence()
        .untrack(OwnerId(1), TOPIC, "u1");
    let after = listing(&[("u0", "user 0, away"), ("u2", "user 2")]);
    for n in &nodes {
        until("the update and the untrack reach every node", || {
            n.list() == after
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(5 * FAST.broadcast_ms)).await;
    for n in &nodes {
        assert_eq!(n.count("leaves", "u1"), 1, "one leave of u1");
        // The update: one more diff with u0 in joins and leaves.
        assert_eq!(n.count("joins", "u0"), 2);
        assert_eq!(n.count("leaves", "u0"), 1);
    }
}

/// A node that stops (its tasks and links gone, as a killed process) is down on the others
/// after the down period, its presences leaving in one diff, and forgotten after permdown.
async fn a_silent_node_goes_down_then_is_forgotten(url: &str) {
    let [a, b, c] = three(url, FAST).await;
    a.track(1, "ua", "a");
    c.track(1, "uc1", "c");
    c.track(2, "uc2", "c");
    let all = listing(&[("ua", "a"), ("uc1", "c"), ("uc2", "c")]);
    for n in [&a, &b] {
        until("all listed", || n.list() == all).await;
    }
    let stopped = Instant::now();
    drop(c);
    let only_a = listing(&[("ua", "a")]);
    until("c's presences leave on b", || b.list() == only_a).await;
    let waited = stopped.elapsed();
    // The down period runs from the last message b heard from c, which c sent up to a
    // heartbeat (100 ms) before it stopped — two on a loaded machine, whose timers run late.
    assert!(
        waited >= Duration::from_millis(FAST.down_ms - 200),
        "not before the down period: {waited:?}"
    );
    until("and on a", || a.list() == only_a).await;
    let diff_with_both = b
        .diffs
        .lock()
        .expect("diffs")
        .iter()
        .any(|d| d["leaves"].get("uc1").is_some() && d["leaves"].get("uc2").is_some());
    assert!(diff_with_both, "one diff with both of c's presences");
    // Permdown: nothing comes back, and a new node named c starts clean.
    tokio::time::sleep(Duration::from_millis(FAST.permdown_ms + 300)).await;
    let c = Node::start(url, "c", FAST).await;
    c.track(9, "uc9", "c again");
    let now = listing(&[("ua", "a"), ("uc9", "c again")]);
    for n in [&a, &b, &c] {
        until("the new c is listed, the old one is not", || {
            n.list() == now
        })
        .await;
    }
}

/// A node restarted with the same name (new incarnation) replaces the old one at once: the
/// old presences leave without waiting for the down period.
async fn a_restarted_node_replaces_its_old_incarnation(url: &str) {
    let slow = Periods {
        broadcast_ms: 100,
        down_ms: 10_000,
        permdown_ms: 60_000,
    };
    let a = Node::start(url, "a", slow).await;
    let b = Node::start(url, "b", slow).await;
    b.track(1, "old", "b1");
    until("a lists b's presence", || {
        a.list() == listing(&[("old", "b1")])
    })
    .await;
    drop(b);
    let restarted = Instant::now();
    let b = Node::start(url, "b", slow).await;
    b.track(1, "new", "b2");
    until("a lists only the new incarnation's presence", || {
        a.list() == listing(&[("new", "b2")])
    })
    .await;
    assert!(
        restarted.elapsed() < Duration::from_millis(slow.down_ms),
        "replaced at once, not after the down period ({:?})",
        restarted.elapsed()
    );
    assert_eq!(a.count("leaves", "old"), 1);
    until("b lists a's side too", || {
        b.list() == listing(&[("new", "b2")])
    })
    .await;
}

/// A second process starting with a live node's name is refused (part 1), and while it
/// listens for a namesake its heartbeats do not make the other nodes drop the live node's
/// presences (they would, were it taken for a restart).
async fn a_refused_namesake_makes_nobody_leave(url: &str) {
    // a beats out of step with c's timers (150 ms, not 100), so at c the namesake is often
    // the one heard last.
    let mut a_config = config(url, "a", FAST);
    a_config.heartbeat = Duration::from_millis(150);
    let a = Node::with_config(a_config).await;
    let c = Node::start(url, "c", FAST).await;
    a.track(1, "ua", "a");
    until("c lists a's presence", || {
        c.list() == listing(&[("ua", "a")])
    })
    .await;
    // It beats more often than a and stays a second (as one that started while the broker
    // was unreachable would stay, beating, until stopped by hand).
    let mut namesake_config = config(url, "a", FAST);
    namesake_config.heartbeat = Duration::from_millis(30);
    let namesake =
        Cluster::start(namesake_config, &tokio::runtime::Handle::current()).expect("valid config");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(namesake.ready().await.is_err(), "the namesake is refused");
    drop(namesake);
    tokio::time::sleep(Duration::from_millis(5 * FAST.broadcast_ms)).await;
    assert_eq!(c.leaves(), 0, "nobody left on c");
    assert_eq!(c.list(), listing(&[("ua", "a")]));
}

/// A presence envelope from node `node` (the only chunk of message 1, for every node)
/// carrying `body`.
fn presence_envelope(node: &str, body: &[u8]) -> Vec<u8> {
    chunk_envelope(node, 1, 0, 1, body)
}

/// Chunk `index` of `count` of message `id` from node `node`, for every node, uncompressed.
fn chunk_envelope(node: &str, id: u64, index: u16, count: u16, body: &[u8]) -> Vec<u8> {
    let mut e = b"SB\x01\x03".to_vec();
    e.extend_from_slice(&7u64.to_le_bytes()); // incarnation
    e.extend_from_slice(&1u64.to_le_bytes()); // seq
    e.extend_from_slice(&(node.len() as u16).to_le_bytes());
    e.extend_from_slice(node.as_bytes());
    e.extend_from_slice(&0u16.to_le_bytes()); // to: every node
    e.extend_from_slice(&0u64.to_le_bytes());
    e.extend_from_slice(&id.to_le_bytes());
    e.extend_from_slice(&index.to_le_bytes());
    e.extend_from_slice(&count.to_le_bytes());
    e.push(0); // flags: not compressed
    e.extend_from_slice(body);
    e
}

/// Presence messages from the broker that are not usable (garbage JSON, another shard count,
/// a replica index out of its table, a compressed size over the limit, chunks that do not fit
/// together) are dropped and counted; presence keeps working.
async fn bad_presence_messages_are_dropped(redis: &RedisServer) {
    let url = redis.url();
    let a = Node::start(&url, "a", FAST).await;
    let b = Node::start(&url, "b", FAST).await;
    a.track(1, "ua", "a");
    until("b lists ua", || b.list() == listing(&[("ua", "a")])).await;
    let dropped = |n: &Node| n.backplane.cluster().expect("clustered").stats().dropped;
    let before = dropped(&b);
    let bodies: [&[u8]; 3] = [
        b"{not json",
        br#"{"t":"beat","shards":3,"replicas":[],"clocks":[],"deltas":[]}"#,
        br#"{"t":"transfer_ack","shards":8,"replicas":[],"snapshots":[{"s":0,"context":[[5,1]]}]}"#,
    ];
    let client = ::redis::Client::open(url.as_str()).expect("a redis URL");
    let mut conn = client.get_connection().expect("a connection");
    for body in bodies {
        ::redis::cmd("PUBLISH")
            .arg("presence-app")
            .arg(presence_envelope("x", body))
            .exec(&mut conn)
            .expect("published");
    }
    let mut bomb = presence_envelope("x", &u32::MAX.to_le_bytes());
    let flags = bomb.len() - 5;
    bomb[flags] = 1; // compressed, claiming 4 GiB
    ::redis::cmd("PUBLISH")
        .arg("presence-app")
        .arg(bomb)
        .exec(&mut conn)
        .expect("published");
    // Two chunks of one message that disagree on the count: the message is given up.
    for (index, count) in [(0, 2), (1, 3)] {
        ::redis::cmd("PUBLISH")
            .arg("presence-app")
            .arg(chunk_envelope("x", 9, index, count, b"{}"))
            .exec(&mut conn)
            .expect("published");
    }
    until("five dropped on b", || dropped(&b) >= before + 5).await;
    a.track(2, "ub", "a again");
    until("presence goes on", || {
        b.list() == listing(&[("ua", "a"), ("ub", "a again")])
    })
    .await;
    assert_eq!(dropped(&b), before + 5);
}

/// Once converged, a change costs replication traffic of its own size (a delta in a beat),
/// not of the number of presences: no full-state transfer goes out, and the bytes every node
/// sends are a small fraction of what 2,000 presences take.
async fn a_change_costs_a_delta_not_a_transfer(url: &str) {
    let nodes = three(url, FAST).await;
    for i in 0..2_000 {
        nodes[0].track(
            i,
            &format!("user-{i}"),
            "someone with a fairly ordinary name",
        );
    }
    for n in &nodes {
        until("2,000 presences everywhere", || n.list().len() == 2_000).await;
    }
    let stats = |n: &Node| n.backplane.cluster().expect("clustered").stats();
    // Quiet: no transfer in flight any more.
    tokio::time::sleep(Duration::from_millis(6 * FAST.broadcast_ms)).await;
    let before: Vec<_> = nodes.iter().map(stats).collect();
    nodes[1].track(1, "newcomer", "new");
    for n in &nodes {
        until("the newcomer everywhere", || n.list().len() == 2_001).await;
    }
    tokio::time::sleep(Duration::from_millis(6 * FAST.broadcast_ms)).await;
    for (n, before) in nodes.iter().zip(&before) {
        let after = stats(n);
        assert_eq!(after.transfers_sent, before.transfers_sent, "no transfer");
        let sent = after.presence_bytes_sent - before.presence_bytes_sent;
        // The delta (~200 bytes) and a few clock-only beats; 2,000 presences are ~150 kB.
        assert!(sent < 8_000, "{sent} bytes sent for one change");
    }
}

/// Random tracks, untracks and updates on three nodes: every node's list is the same soon
/// after the storm.
async fn a_storm_converges(url: &str) {
    let nodes = three(url, FAST).await;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for step in 0..600 {
        let node = &nodes[rand(3) as usize];
        let owner = OwnerId(rand(4));
        let key = format!("k{}", rand(12));
        let presence = node.backplane.presence();
        match rand(3) {
            0 => {
                let mut meta = Meta::new();
                meta.insert("name".into(), format!("s{step}").into());
                let _ = presence.track(owner, TOPIC, &key, meta);
            }
            1 => presence.untrack(owner, TOPIC, &key),
            _ => {
                let mut meta = Meta::new();
                meta.insert("name".into(), format!("u{step}").into());
                let _ = presence.update(owner, TOPIC, &key, meta);
            }
        }
        if step % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(rand(30))).await;
        }
    }
    let took = until("all three lists are equal", || {
        let first = nodes[0].list();
        nodes[1].list() == first && nodes[2].list() == first
    })
    .await;
    // Two broadcast periods (the delta goes out within one, plus a transfer if a beat was
    // lost) and the broker's round trips.
    let bound = Duration::from_millis(2 * FAST.broadcast_ms + 300);
    assert!(took <= bound, "converged in {took:?} (bound {bound:?})");
}

mod redis {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn presence_is_listed_on_every_node_once() {
        let redis = RedisServer::start();
        super::presence_is_listed_on_every_node_once(&redis.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_node_goes_down_then_is_forgotten() {
        let redis = RedisServer::start();
        super::a_silent_node_goes_down_then_is_forgotten(&redis.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_node_replaces_its_old_incarnation() {
        let redis = RedisServer::start();
        super::a_restarted_node_replaces_its_old_incarnation(&redis.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_namesake_makes_nobody_leave() {
        let redis = RedisServer::start();
        super::a_refused_namesake_makes_nobody_leave(&redis.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_presence_messages_are_dropped() {
        let redis = RedisServer::start();
        super::bad_presence_messages_are_dropped(&redis).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_costs_a_delta_not_a_transfer() {
        let redis = RedisServer::start();
        super::a_change_costs_a_delta_not_a_transfer(&redis.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_storm_converges() {
        let redis = RedisServer::start();
        super::a_storm_converges(&redis.url()).await;
    }

    /// Redis stopped for longer than the down period (but within the freeze, two down
    /// periods) and started again: links go down and come back, nobody's presences leave
    /// anywhere (Phoenix would take every node down), and changes made after flow again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redis_outage_makes_nobody_leave() {
        let p = Periods {
            broadcast_ms: 100,
            down_ms: 1_500,
            permdown_ms: 20_000,
        };
        let mut redis = RedisServer::start();
        let nodes = three(&redis.url(), p).await;
        for (i, n) in nodes.iter().enumerate() {
            n.track(1, &format!("u{i}"), &format!("user {i}"));
        }
        let all = listing(&[("u0", "user 0"), ("u1", "user 1"), ("u2", "user 2")]);
        for n in &nodes {
            until("all listed", || n.list() == all).await;
        }
        redis.stop();
        let cluster = |n: &Node| n.backplane.cluster().expect("clustered").clone();
        for n in &nodes {
            until("the link is down", || !cluster(n).is_up()).await;
        }
        // Longer than the down period, shorter than the freeze.
        tokio::time::sleep(Duration::from_millis(p.down_ms + 500)).await;
        redis.restart();
        for n in &nodes {
            until("the link is back", || cluster(n).is_up()).await;
        }
        nodes[2].track(2, "u3", "user 3");
        let more = listing(&[
            ("u0", "user 0"),
            ("u1", "user 1"),
            ("u2", "user 2"),
            ("u3", "user 3"),
        ]);
        for n in &nodes {
            until("a track after the restart reaches everybody", || {
                n.list() == more
            })
            .await;
        }
        // Past the down period, counted from the stop.
        tokio::time::sleep(Duration::from_millis(p.down_ms)).await;
        for n in &nodes {
            assert_eq!(n.leaves(), 0, "no leave anywhere");
            assert_eq!(n.list(), more);
        }
    }
}

mod nats {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn presence_is_listed_on_every_node_once() {
        let nats = NatsServer::start();
        super::presence_is_listed_on_every_node_once(&nats.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_node_goes_down_then_is_forgotten() {
        let nats = NatsServer::start();
        super::a_silent_node_goes_down_then_is_forgotten(&nats.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_node_replaces_its_old_incarnation() {
        let nats = NatsServer::start();
        super::a_restarted_node_replaces_its_old_incarnation(&nats.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_storm_converges() {
        let nats = NatsServer::start();
        super::a_storm_converges(&nats.url()).await;
    }
}

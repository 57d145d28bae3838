//! Several nodes over a real `redis-server` / `nats-server` (started here on free loopback
//! ports): cross-node delivery with exact counts and per-publisher order, `local_broadcast`,
//! the broker going away and coming back, Redis dropping the subscriber connection, bad
//! envelopes on the channel, and two live processes with one node name. Each node is a
//! [`Backplane`] with its own [`Cluster`] link (its own broker connections), as in separate
//! processes; the tests across processes are the chat demo suites (tests/cluster), where a
//! stopped node is also cut by Redis' output buffer limit (in one process the Redis client's
//! reader task keeps draining the socket, so Redis never sees a slow reader).

mod common;

use common::brokers::{NatsServer, RedisServer};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard::channel::Backplane;
use switchboard::cluster::{Cluster, ClusterConfig, ClusterError};
use switchboard::pubsub::{Broadcast, Delivery, PublishError, Subscription};
use switchboard::wire::Payload;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

fn config(url: &str, node: &str) -> ClusterConfig {
    let mut c = ClusterConfig::new(url, node);
    c.prefix = "test-app".to_owned();
    c.heartbeat = Duration::from_millis(100);
    c.reconnect_max = Duration::from_millis(400);
    c.connect_timeout = Duration::from_secs(5);
    c
}

/// A node of the cluster at `url`, started and ready.
async fn node(url: &str, name: &str) -> Arc<Backplane> {
    let cluster = Cluster::start(config(url, name), &tokio::runtime::Handle::current())
        .expect("valid config");
    cluster.ready().await.expect("no namesake");
    Backplane::with_cluster(name, 2, Arc::new(cluster))
}

/// Every broadcast a subscriber got, as `(event, payload text)`.
fn subscribe(
    node: &Backplane,
    topic: &str,
) -> (Subscription, mpsc::UnboundedReceiver<(String, String)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sub = node.pubsub().subscribe(
        topic,
        Delivery::Mailbox(Arc::new(move |b: &Arc<Broadcast>| {
            let text = match &b.payload {
                Payload::Json(raw) => String::from_utf8_lossy(raw).into_owned(),
                Payload::Binary(raw) => format!("binary:{}", raw.len()),
            };
            let _ = tx.send((b.event.clone(), text));
        })),
    );
    (sub, rx)
}

fn json(text: String) -> Payload {
    Payload::Json(text.into())
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<(String, String)>) -> (String, String) {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a broadcast in time")
        .expect("subscription open")
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn cluster(node: &Backplane) -> &Arc<Cluster> {
    node.cluster().expect("a cluster node")
}

/// Three nodes each publish `per_node` broadcasts; every node's subscriber gets all of them
/// exactly once, each sender's in its order.
async fn every_node_gets_every_broadcast_once_in_order(url: &str) {
    const PER_NODE: usize = 2000;
    let nodes = [
        node(url, "a").await,
        node(url, "b").await,
        node(url, "c").await,
    ];
    let mut subs: Vec<_> = nodes.iter().map(|n| subscribe(n, "room:1")).collect();
    // Publish from all three at once.
    let publishers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let n = n.clone();
            tokio::task::spawn_blocking(move || {
                for seq in 0..PER_NODE {
                    n.broadcast(
                        "room:1",
                        "msg",
                        json(format!(r#"{{"from":{i},"seq":{seq}}}"#)),
                    )
                    .expect("published");
                }
            })
        })
        .collect();
    for p in publishers {
        p.await.expect("publisher");
    }
    for (at, (_, rx)) in subs.iter_mut().enumerate() {
        let mut next = [0usize; 3];
        for _ in 0..3 * PER_NODE {
            let (event, text) = recv(rx).await;
            assert_eq!(event, "msg");
            let v: serde_json::Value = serde_json::from_str(&text).expect("json");
            let from = v["from"].as_u64().expect("from") as usize;
            let seq = v["seq"].as_u64().expect("seq") as usize;
            assert_eq!(
                seq, next[from],
                "node {at}: sender {from} out of order or repeated"
            );
            next[from] += 1;
        }
        assert_eq!(next, [PER_NODE; 3], "node {at} got everything");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(rx.try_recv().is_err(), "node {at}: nothing twice");
    }
    for n in &nodes {
        let stats = cluster(n).stats();
        assert_eq!(stats.published, PER_NODE as u64);
        assert_eq!(stats.received, 2 * PER_NODE as u64);
        assert_eq!((stats.lost, stats.dropped, stats.publish_failed), (0, 0, 0));
    }
}

/// `local_broadcast` stays on its node; `broadcast_from` skips only the sender, locally.
async fn local_broadcast_stays_and_broadcast_from_skips_only_the_sender(url: &str) {
    let (a, b) = (node(url, "a").await, node(url, "b").await);
    let (_sa, mut ra) = subscribe(&a, "room:2");
    let (_sb, mut rb) = subscribe(&b, "room:2");
    a.local_broadcast("room:2", "local", json("{}".into()))
        .expect("local");
    assert_eq!(recv(&mut ra).await.0, "local");
    // From a's subscriber: a's other subscriber and b's get it, the sender does not.
    let (sender_tx, mut sender_rx) = mpsc::unbounded_channel::<String>();
    let sender = a.pubsub().subscribe(
        "room:2",
        Delivery::Mailbox(Arc::new(move |b: &Arc<Broadcast>| {
            let _ = sender_tx.send(b.event.clone());
        })),
    );
    let from = Broadcast {
        topic: "room:2".into(),
        event: "from".into(),
        payload: Payload::empty_object(),
    };
    a.pubsub()
        .broadcast_from(sender.id(), from)
        .expect("broadcast_from");
    assert_eq!(recv(&mut ra).await.0, "from");
    // b got only "from": "local" never crossed the broker.
    assert_eq!(recv(&mut rb).await.0, "from");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sender_rx.try_recv().is_err(), "the sender is skipped");
    assert!(rb.try_recv().is_err(), "nothing else reached b");
}

/// A second live process with a node's name is refused at `ready`.
async fn a_namesake_is_refused(url: &str) {
    let _first = node(url, "twin").await;
    let second =
        Cluster::start(config(url, "twin"), &tokio::runtime::Handle::current()).expect("config");
    match second.ready().await {
        Err(ClusterError::DuplicateNode { node, .. }) => assert_eq!(node, "twin"),
        other => panic!("expected DuplicateNode, got {other:?}"),
    }
}

/// Stopped broker: local delivery goes on and the publish says the remote part failed;
/// restarted: the link is back within the backoff bound and traffic flows again.
async fn broker_down_then_back(
    url: &str,
    stop: impl FnOnce(),
    start: impl FnOnce(),
    bound: Duration,
) -> (Arc<Backplane>, Arc<Backplane>) {
    let (a, b) = (node(url, "a").await, node(url, "b").await);
    let (_sa, mut ra) = subscribe(&a, "room:3");
    let (_sb, mut rb) = subscribe(&b, "room:3");
    stop();
    until("a sees the link down", || !cluster(&a).is_up()).await;
    match a.broadcast("room:3", "alone", json("{}".into())) {
        Err(PublishError::Broker(e)) => {
            assert!(e.to_string().contains("delivered on this node only"), "{e}");
        }
        other => panic!("expected a broker error, got {other:?}"),
    }
    assert_eq!(recv(&mut ra).await.0, "alone", "local delivery went on");
    start();
    let back = Instant::now();
    until("a and b see the link back", || {
        cluster(&a).is_up() && cluster(&b).is_up()
    })
    .await;
    assert!(
        back.elapsed() < bound,
        "back in {:?} (bound {bound:?})",
        back.elapsed()
    );
    a.broadcast("room:3", "again", json("{}".into()))
        .expect("published");
    assert_eq!(recv(&mut ra).await.0, "again");
    assert_eq!(
        recv(&mut rb).await.0,
        "again",
        "b got it through the broker"
    );
    assert!(cluster(&a).stats().reconnects >= 1);
    (a, b)
}

mod redis {
    use super::*;
    use switchboard::pubsub::history::{HistoryConfig, HistoryRule};

    /// Recorded broadcasts (history topics are appended in Redis, which then delivers them to
    /// every node, this one included) made while the broker hangs, before the link noticed,
    /// still reach this node's own subscribers once the link gives up on it — while the broker
    /// stays stopped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn recorded_broadcasts_the_broker_never_took_are_delivered_here() {
        let mut redis = RedisServer::start();
        let cluster = Cluster::start(
            config(&redis.url(), "h"),
            &tokio::runtime::Handle::current(),
        )
        .expect("valid config");
        cluster.ready().await.expect("no namesake");
        let mut history = HistoryConfig::default();
        let rule = HistoryRule {
            size: 10,
            ttl: Duration::from_secs(60),
        };
        history.add("room:*", rule);
        let h = Backplane::with_cluster_history("h", 2, Arc::new(cluster), history);
        let (_s, mut rx) = subscribe(&h, "room:h");
        h.broadcast("room:h", "before", json("{}".into()))
            .expect("published");
        assert_eq!(recv(&mut rx).await.0, "before", "delivered through Redis");
        redis.pause();
        for n in 0..5 {
            // Refused once the link saw it go: delivered here at once then.
            let _ = h.broadcast("room:h", &format!("m{n}"), json("{}".into()));
        }
        for n in 0..5 {
            assert_eq!(recv(&mut rx).await.0, format!("m{n}"));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_node_gets_every_broadcast_once_in_order() {
        let redis = RedisServer::start();
        super::every_node_gets_every_broadcast_once_in_order(&redis.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_broadcast_stays_and_broadcast_from_skips_only_the_sender() {
        let redis = RedisServer::start();
        super::local_broadcast_stays_and_broadcast_from_skips_only_the_sender(&redis.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_namesake_is_refused() {
        let redis = RedisServer::start();
        super::a_namesake_is_refused(&redis.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_down_then_back_resubscribes() {
        let redis = std::sync::Mutex::new(RedisServer::start());
        let url = redis.lock().unwrap().url();
        // reconnect_max is 400 ms: back well within a second of Redis answering again.
        let (a, _b) = broker_down_then_back(
            &url,
            || {
                redis.lock().unwrap().stop();
            },
            || redis.lock().unwrap().restart(),
            Duration::from_secs(3),
        )
        .await;
        let numsub = redis.lock().unwrap().cli(&["PUBSUB", "NUMSUB", "test-app"]);
        assert_eq!(numsub.split_whitespace().nth(1), Some("2"), "{numsub}");
        drop(a);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_killed_subscriber_connection_is_noticed_and_replaced() {
        let redis = RedisServer::start();
        let (a, b) = (node(&redis.url(), "a").await, node(&redis.url(), "b").await);
        let (_sb, mut rb) = subscribe(&b, "room:4");
        redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        until("both reconnected", || {
            cluster(&a).stats().reconnects >= 1 && cluster(&b).stats().reconnects >= 1
        })
        .await;
        until("both up", || cluster(&a).is_up() && cluster(&b).is_up()).await;
        a.broadcast("room:4", "after", json("{}".into()))
            .expect("published");
        assert_eq!(recv(&mut rb).await.0, "after");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_envelopes_are_dropped_and_counted_and_traffic_goes_on() {
        let redis = RedisServer::start();
        let (a, b) = (node(&redis.url(), "a").await, node(&redis.url(), "b").await);
        let (_sb, mut rb) = subscribe(&b, "room:5");
        // Garbage, another version, a truncated envelope.
        redis.cli(&["PUBLISH", "test-app", "not an envelope"]);
        redis.cli(&["PUBLISH", "test-app", "SB\u{2}\u{1}xxxxxxxxxxxxxxxx"]);
        redis.cli(&["PUBLISH", "test-app", "SB\u{1}\u{1}xx"]);
        until("three dropped", || cluster(&b).stats().dropped == 3).await;
        a.broadcast("room:5", "fine", json("{}".into()))
            .expect("published");
        assert_eq!(recv(&mut rb).await.0, "fine");
        assert_eq!(cluster(&b).stats().received, 1);
    }
}

mod nats {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_node_gets_every_broadcast_once_in_order() {
        let nats = NatsServer::start();
        super::every_node_gets_every_broadcast_once_in_order(&nats.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_broadcast_stays_and_broadcast_from_skips_only_the_sender() {
        let nats = NatsServer::start();
        super::local_broadcast_stays_and_broadcast_from_skips_only_the_sender(&nats.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_namesake_is_refused() {
        let nats = NatsServer::start();
        super::a_namesake_is_refused(&nats.url()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nats_down_then_back_resubscribes() {
        let nats = std::sync::Mutex::new(NatsServer::start());
        let url = nats.lock().unwrap().url();
        broker_down_then_back(
            &url,
            || {
                nats.lock().unwrap().stop();
            },
            || nats.lock().unwrap().restart(),
            Duration::from_secs(3),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_envelopes_are_dropped_and_counted_and_traffic_goes_on() {
        let nats = NatsServer::start();
        let (a, b) = (node(&nats.url(), "a").await, node(&nats.url(), "b").await);
        let (_sb, mut rb) = subscribe(&b, "room:5");
        let raw = async_nats::connect(nats.url()).await.expect("client");
        for bad in [
            &b"not an envelope"[..],
            b"SB\x02\x01xxxxxxxxxxxxxxxx",
            b"SB\x01\x01xx",
        ] {
            raw.publish("test-app", bad.to_vec().into())
                .await
                .expect("publish");
        }
        raw.flush().await.expect("flush");
        until("three dropped", || cluster(&b).stats().dropped == 3).await;
        a.broadcast("room:5", "fine", json("{}".into()))
            .expect("published");
        assert_eq!(recv(&mut rb).await.0, "fine");
    }
}

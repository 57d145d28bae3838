//! A graceful drain under load (docs/OPERATIONS.md "Graceful drain"): 5,000 joined WebSocket
//! clients of one node of a Redis cluster are closed with 1012 in batches of the configured
//! size and interval, within the timeout, and every channel's `terminate` runs; meanwhile a
//! client of the other node keeps getting every broadcast made there.

mod common;

use common::brokers::RedisServer;
use common::rooms::Room;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchboard::cluster::ClusterConfig;
use switchboard::endpoint::{
    DRAIN_CLOSE_CODE, DrainConfig, Endpoint, RunningEndpoint, SocketMount,
};
use switchboard::wire::Payload;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CLIENTS: usize = 5_000;
const BATCH: usize = 1_000;
const INTERVAL: Duration = Duration::from_millis(300);
const TIMEOUT: Duration = Duration::from_secs(20);
const WAIT: Duration = Duration::from_secs(60);

/// Each client is a descriptor here and one in the endpoint.
fn raise_nofile() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}

async fn node(url: &str, name: &str, room: Room) -> RunningEndpoint {
    let mut cluster = ClusterConfig::new(url, name);
    cluster.prefix = "drain-test".to_owned();
    cluster.heartbeat = Duration::from_millis(100);
    Endpoint::builder()
        .cluster(cluster)
        .socket("/socket", SocketMount::new().channel("room:*", room))
        .drain(DrainConfig::new(BATCH, INTERVAL, TIMEOUT))
        .start()
        .await
        .expect("node starts")
}

/// A client of `endpoint` joined to `topic`.
async fn joined(endpoint: &RunningEndpoint, topic: &str) -> Client {
    let url = format!("ws://{}/socket/websocket?vsn=2.0.0", endpoint.local_addr());
    let (mut c, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    c.send(Message::text(format!(
        r#"["1","1","{topic}","phx_join",{{}}]"#
    )))
    .await
    .expect("send join");
    loop {
        match c.next().await.expect("open").expect("frame") {
            Message::Text(t) if t.as_str().contains("phx_reply") => {
                assert!(t.as_str().contains(r#""status":"ok""#), "{t}");
                return c;
            }
            _ => continue,
        }
    }
}

/// Reads until the close frame: its code and when it came.
async fn closed(mut c: Client) -> (Option<u16>, Instant) {
    while let Some(msg) = c.next().await {
        if let Ok(Message::Close(frame)) = msg {
            return (frame.map(|f| u16::from(f.code)), Instant::now());
        }
        if msg.is_err() {
            break;
        }
    }
    (None, Instant::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_closes_5000_clients_in_batches_while_the_other_node_serves_on() {
    raise_nofile();
    let redis = RedisServer::start();
    let room_a = Room::default();
    let terminated = room_a.terminated.clone();
    let a = node(&redis.url(), "a", room_a).await;
    let b = node(&redis.url(), "b", Room::default()).await;
    let topic = "room:drain";

    // 5,000 joined clients on node a, 100 joining at once.
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 100 {
        let wave = (0..100).map(|_| joined(&a, topic));
        clients.extend(futures_util::future::join_all(wave).await);
    }
    assert_eq!(a.connection_count(), CLIENTS);
    let watchers: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(closed(c)))
        .collect();

    // Node b's client reads broadcasts made on b, numbered, for the whole drain.
    let mut watcher_b = joined(&b, topic).await;
    let reader_b = tokio::spawn(async move {
        let mut next = 0u64;
        while let Some(Ok(msg)) = watcher_b.next().await {
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(t.as_str()).expect("JSON frame");
            if v[3] == "tick" {
                assert_eq!(v[4]["n"], next, "every broadcast of node b, in order");
                next += 1;
                if v[4]["last"] == true {
                    return next;
                }
            }
        }
        next
    });

    let started = Instant::now();
    let draining = {
        let a = a.clone();
        tokio::spawn(async move { a.drain().await })
    };
    let mut ticks = 0u64;
    while !draining.is_finished() {
        let payload = format!(r#"{{"n":{ticks}}}"#);
        b.backplane()
            .broadcast(topic, "tick", Payload::Json(payload.into()))
            .expect("node b broadcasts");
        ticks += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = draining.await.expect("drain task");
    let payload = format!(r#"{{"n":{ticks},"last":true}}"#);
    b.backplane()
        .broadcast(topic, "tick", Payload::Json(payload.into()))
        .expect("node b broadcasts after the drain");

    assert_eq!((report.closed, report.remaining), (CLIENTS, 0));
    let mut at = Vec::with_capacity(CLIENTS);
    for w in watchers {
        let (code, when) = tokio::time::timeout(WAIT, w)
            .await
            .expect("every client closed in time")
            .expect("watcher task");
        assert_eq!(code, Some(DRAIN_CLOSE_CODE));
        at.push(when.duration_since(started));
    }
    at.sort();
    // Batches: the first closes right away, the last waits for four intervals.
    assert!(at[0] < INTERVAL, "first batch at {:?}", at[0]);
    let early = at.iter().filter(|d| **d < INTERVAL).count();
    assert!(
        early <= BATCH,
        "{early} closed before the second batch was due"
    );
    assert!(
        at[CLIENTS - 1] >= INTERVAL * 4,
        "last batch at {:?}",
        at[CLIENTS - 1]
    );
    assert!(at[CLIENTS - 1] < TIMEOUT, "all within the drain timeout");
    let deadline = Instant::now() + WAIT;
    while terminated.load(Ordering::SeqCst) < CLIENTS {
        assert!(Instant::now() < deadline, "every channel's terminate ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = tokio::time::timeout(WAIT, reader_b)
        .await
        .expect("node b's client got the last tick")
        .expect("reader task");
    assert_eq!(got, ticks + 1, "node b's client got every broadcast");
    assert!(
        ticks >= 10,
        "broadcasts were made during the drain ({ticks})"
    );
    // The operator's view of node b: the broker link, node a as a peer, the traffic.
    let census = b.census();
    let cluster = census.cluster.expect("a clustered census");
    assert_eq!((cluster.broker.as_str(), cluster.up), ("Redis", true));
    let peer = cluster
        .nodes
        .iter()
        .find(|n| n.node == "a")
        .expect("node a listed");
    assert!(peer.last_heartbeat_ms < 5_000, "{peer:?}");
    let text = b.metrics_text();
    assert!(
        text.lines().any(|l| l == "switchboard_broker_up 1"),
        "{text}"
    );
    let out = text
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_broker_messages_total{direction=\"out\"} "))
        .expect("broker messages out");
    assert!(
        out.parse::<u64>().expect("a count") > ticks,
        "{out} broadcasts out"
    );
    // Node a refuses new connections; node b still accepts them.
    let url_a = format!("ws://{}/socket/websocket?vsn=2.0.0", a.local_addr());
    assert!(tokio_tungstenite::connect_async(url_a).await.is_err());
    joined(&b, topic).await;
}

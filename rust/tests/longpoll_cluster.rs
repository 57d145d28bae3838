//! Long-poll without sticky sessions: two endpoints of one cluster (a real `redis-server` /
//! `nats-server` started here), requests of one session alternating between them, as a
//! round-robin proxy sends them. A request that reaches the node without the session is
//! forwarded through the broker; when the session's node is gone, a poll opens a new session
//! and a POST is answered 408 after the window. The phoenix client through a real
//! round-robin proxy is tests/cluster/chat_longpoll_cluster.test.mjs.

mod common;

use common::brokers::{NatsServer, RedisServer};
use common::http::request;
use common::rooms::Room;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::cluster::ClusterConfig;
use switchboard::endpoint::{Endpoint, EndpointError, RunningEndpoint, SocketMount};

const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "longpoll-cluster-test-secret-0123456789";
const WINDOW_MS: u64 = 500;

fn config(url: &str, node: &str) -> ClusterConfig {
    let mut c = ClusterConfig::new(url, node);
    c.prefix = "lp-test".to_owned();
    c.heartbeat = Duration::from_millis(100);
    c.connect_timeout = Duration::from_secs(5);
    c
}

async fn node(url: &str, name: &str) -> RunningEndpoint {
    Endpoint::builder()
        .cluster(config(url, name))
        .secret_key_base(SECRET)
        .socket(
            "/socket",
            SocketMount::new()
                .channel("room:*", Room::default())
                .longpoll(WINDOW_MS),
        )
        .start()
        .await
        .expect("node starts")
}

/// A token signed with the cluster's secret (docs/LONGPOLL.md "Tokens") for a session of
/// `node`.
fn token_of(node: &str) -> String {
    use base64::Engine as _;
    use ring::hmac;
    let base = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    let derived = hmac::sign(&base, b"switchboard longpoll token v1");
    let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as u64;
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&now.to_be_bytes());
    bytes.extend_from_slice(&[9u8; 16]);
    bytes.extend_from_slice(node.as_bytes());
    let tag = hmac::sign(&key, &bytes);
    bytes.extend_from_slice(tag.as_ref());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn get(addr: SocketAddr, token: &str) -> Value {
    let target = format!("/socket/longpoll?vsn=2.0.0&token={token}");
    request(addr, "GET", &target, &[], b"").await.json()
}

async fn post(addr: SocketAddr, token: &str, line: &str) -> Value {
    let target = format!("/socket/longpoll?vsn=2.0.0&token={token}");
    let ndjson = [("content-type", "application/x-ndjson")];
    request(addr, "POST", &target, &ndjson, line.as_bytes())
        .await
        .json()
}

/// Polls through `nodes` in turn until a frame with `ref` arrives; returns it.
async fn poll_for(nodes: &[SocketAddr], token: &str, r#ref: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    for turn in 0.. {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no frame {ref} in time"
        );
        let body = get(nodes[turn % nodes.len()], token).await;
        assert!(body["status"] == 200 || body["status"] == 204, "{body}");
        assert_eq!(body["token"], token);
        for m in body["messages"].as_array().expect("messages") {
            let text = m.as_str().expect("a message is a string");
            let frame: Value = serde_json::from_str(text).expect("a JSON frame");
            if frame[1] == r#ref {
                return frame;
            }
        }
    }
    unreachable!()
}

async fn requests_alternate_between_nodes(url: &str) {
    let a = node(url, "lp-a@127.0.0.1").await;
    let b = node(url, "lp-b@127.0.0.1").await;
    let nodes = [a.local_addr(), b.local_addr()];
    // Opened on A; every later request goes to the other node than the one before.
    let opened = request(nodes[0], "GET", "/socket/longpoll?vsn=2.0.0&", &[], b"").await;
    let token = opened.json()["token"].as_str().expect("a token").to_owned();
    assert_eq!(
        post(nodes[1], &token, r#"["1","1","room:x","phx_join",{}]"#).await,
        json!({"status": 200}),
        "a POST through B reaches the session on A"
    );
    let reply = poll_for(&[nodes[1], nodes[0]], &token, "1").await;
    assert_eq!(reply[4], json!({"status": "ok", "response": {}}));
    for (n, via) in [(2, 1), (3, 0), (4, 1)] {
        let line = format!(r#"["1","{n}","room:x","echo",{{"n":{n}}}]"#);
        assert_eq!(post(nodes[via], &token, &line).await["status"], 200);
        let reply = poll_for(&[nodes[1 - via], nodes[via]], &token, &n.to_string()).await;
        assert_eq!(reply[4]["response"], json!({"n": n}));
    }
    assert_eq!(a.longpoll_session_count(), 1);
    assert_eq!(
        b.longpoll_session_count(),
        0,
        "B holds no session of its own"
    );

    // 40 replies of 10 KB wait on A; polls through B carry at most 256 KiB each, in order.
    let pad = "p".repeat(10_000);
    let lines: Vec<String> = (0..40)
        .map(|n| format!(r#"["1","big{n}","room:x","echo",{{"pad":"{pad}"}}]"#))
        .collect();
    let body = lines.join("\n");
    let target = format!("/socket/longpoll?vsn=2.0.0&token={token}");
    let ndjson = [("content-type", "application/x-ndjson")];
    let posted = request(nodes[0], "POST", &target, &ndjson, body.as_bytes()).await;
    assert_eq!(posted.json()["status"], 200);
    let mut refs = Vec::new();
    let mut answers = Vec::new();
    while refs.len() < 40 {
        let body = get(nodes[1], &token).await;
        let messages = body["messages"].as_array().expect("messages").clone();
        answers.push(messages.len());
        for m in messages {
            let frame: Value = serde_json::from_str(m.as_str().expect("a string")).expect("JSON");
            refs.push(frame[1].as_str().expect("a ref").to_owned());
        }
    }
    let expected: Vec<String> = (0..40).map(|n| format!("big{n}")).collect();
    assert_eq!(refs, expected);
    assert!(answers.len() >= 2, "split over polls: {answers:?}");
    // A body the broker should not carry is refused before it is forwarded (its frames are
    // each under the frame limit: A itself would take it).
    let line = format!(
        r#"["1","h","room:x","echo",{{"pad":"{}"}}]"#,
        "p".repeat(50_000)
    );
    let huge = vec![line; 6].join("\n");
    let refused = request(nodes[1], "POST", &target, &ndjson, huge.as_bytes()).await;
    assert_eq!(refused.json(), json!({"status": 413}));
    // An idle poll through B is answered 204 by A's session after the window.
    assert_eq!(get(nodes[1], &token).await["status"], 204);

    // A node that does not answer: a POST is answered 408 after the window, a poll opens a
    // new session on the node it reached.
    let ghost = token_of("lp-ghost@127.0.0.1");
    let line = r#"[null,"9","phoenix","heartbeat",{}]"#;
    assert_eq!(post(nodes[1], &ghost, line).await, json!({"status": 408}));
    let reopened = get(nodes[1], &ghost).await;
    assert_eq!(reopened["status"], 410);
    assert_eq!(b.longpoll_session_count(), 1);

    // A drains: its session ended, which A itself answers through the broker.
    a.shutdown().await.expect("A stops");
    assert_eq!(post(nodes[1], &token, line).await, json!({"status": 410}));
    let reopened = get(nodes[1], &token).await;
    assert_eq!(reopened["status"], 410);
    assert_ne!(reopened["token"], token);
    assert_eq!(b.longpoll_session_count(), 2);
    b.shutdown().await.expect("B stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_requests_alternate_between_nodes() {
    let redis = RedisServer::start();
    tokio::time::timeout(WAIT * 2, requests_alternate_between_nodes(&redis.url()))
        .await
        .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_requests_alternate_between_nodes() {
    let nats = NatsServer::start();
    tokio::time::timeout(WAIT * 2, requests_alternate_between_nodes(&nats.url()))
        .await
        .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_longpoll_needs_a_secret() {
    let redis = RedisServer::start();
    let started = Endpoint::builder()
        .cluster(config(&redis.url(), "lp-nosecret@127.0.0.1"))
        .socket("/socket", SocketMount::new().longpoll(WINDOW_MS))
        .start()
        .await;
    match started {
        Err(EndpointError::Secret(why)) => assert!(why.contains("secret_key_base"), "{why}"),
        other => panic!("expected a secret error, got {other:?}"),
    }
}

//! The long-poll transport over real TCP with a plain HTTP/1.1 client: session open, join and
//! poll, idle polls, a newer poll taking over, session expiry with `terminate`, bad lines,
//! forged tokens, CORS, refusals and drain (PROTOCOL.md 1.6, scenarios 66-71). The stock
//! phoenix client drives the same transport in tests/conformance/longpoll.test.mjs.

mod common;

use common::http::{Answer, request};
use common::rooms::Room;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use switchboard::endpoint::{DrainConfig, Endpoint, EndpointError, RunningEndpoint, SocketMount};
use switchboard::host::{Connect, ConnectInfo, Connected, Refused};

const TEST_LIMIT: Duration = Duration::from_secs(30);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("test finished in time")
}

/// Refuses `reject=true`.
struct Gate;

#[async_trait::async_trait]
impl Connect for Gate {
    async fn connect(&self, info: &ConnectInfo) -> Result<Connected, Refused> {
        if info.params.get("reject").and_then(Value::as_str) == Some("true") {
            return Err(Refused { status: 429 });
        }
        Ok(Connected::default())
    }
}

struct Server {
    endpoint: RunningEndpoint,
    terminated: Arc<AtomicUsize>,
}

async fn start() -> Server {
    let terminated = Arc::new(AtomicUsize::new(0));
    let mount = || {
        SocketMount::new().connect(Gate).channel(
            "room:*",
            Room {
                terminated: terminated.clone(),
            },
        )
    };
    let endpoint = Endpoint::builder()
        .socket(
            "/socket",
            mount().longpoll(300).longpoll_session_timeout_ms(400),
        )
        .socket("/small", mount().longpoll(300).max_frame_bytes(256))
        .socket("/long", mount().longpoll(20_000))
        .socket(
            "/short",
            mount().longpoll(1_000).longpoll_session_timeout_ms(200),
        )
        .socket(
            "/checked",
            mount().longpoll(300).check_origin(["http://good.test"]),
        )
        .socket("/ws_only", mount())
        .drain(DrainConfig::new(
            10,
            Duration::from_millis(10),
            Duration::from_secs(5),
        ))
        .start()
        .await
        .expect("endpoint starts");
    Server {
        endpoint,
        terminated,
    }
}

async fn get(server: &Server, mount: &str, token: Option<&str>) -> Answer {
    let target = match token {
        Some(t) => format!("{mount}/longpoll?vsn=2.0.0&token={t}"),
        None => format!("{mount}/longpoll?vsn=2.0.0&"),
    };
    request(server.endpoint.local_addr(), "GET", &target, &[], b"").await
}

async fn post(server: &Server, mount: &str, token: &str, lines: &[&str]) -> Value {
    let target = format!("{mount}/longpoll?vsn=2.0.0&token={token}");
    let ndjson = [("content-type", "application/x-ndjson")];
    request(
        server.endpoint.local_addr(),
        "POST",
        &target,
        &ndjson,
        lines.join("\n").as_bytes(),
    )
    .await
    .json()
}

/// Opens a session and returns its token.
async fn open(server: &Server, mount: &str) -> String {
    let opened = get(server, mount, None).await;
    assert_eq!(opened.status, 200);
    let body = opened.json();
    assert_eq!(body["status"], 410);
    assert_eq!(body["messages"], json!([]));
    body["token"].as_str().expect("a token").to_owned()
}

/// Opens a session joined to `room:a` (its join reply polled) and returns its token.
async fn open_joined(server: &Server, mount: &str) -> String {
    let token = open(server, mount).await;
    let join = [r#"["1","1","room:a","phx_join",{}]"#];
    assert_eq!(post(server, mount, &token, &join).await["status"], 200);
    poll_until(server, mount, &token, is_reply_to("1")).await;
    token
}

/// Polls until the frames answered contain one matching `pred`; returns every frame seen.
async fn poll_until(
    server: &Server,
    mount: &str,
    token: &str,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let body = get(server, mount, Some(token)).await.json();
        assert!(body["status"] == 200 || body["status"] == 204, "{body}");
        assert_eq!(body["token"], token, "a poll answers with the same token");
        for m in body["messages"].as_array().expect("messages") {
            let frame: Value = serde_json::from_str(m.as_str().expect("a string")).expect("JSON");
            seen.push(frame);
        }
        if seen.iter().any(&pred) {
            return seen;
        }
    }
}

fn is_reply_to(r: &'static str) -> impl Fn(&Value) -> bool {
    move |f| f[1] == r && f[3] == "phx_reply"
}

#[tokio::test]
async fn a_session_opens_joins_pushes_and_polls_with_no_store_and_cors() {
    within(async {
        let server = start().await;
        let opened = get(&server, "/socket", None).await;
        assert_eq!(opened.header("cache-control"), Some("no-store"));
        assert_eq!(opened.header("access-control-allow-origin"), Some("*"));
        assert!(
            opened
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
        );
        let token = opened.json()["token"].as_str().unwrap().to_owned();
        let posted = post(
            &server,
            "/socket",
            &token,
            &[
                r#"["1","1","room:a","phx_join",{}]"#,
                r#"["1","2","room:a","transport",{}]"#,
            ],
        )
        .await;
        assert_eq!(posted, json!({"status": 200}));
        let frames = poll_until(&server, "/socket", &token, is_reply_to("2")).await;
        assert_eq!(
            frames,
            [
                json!(["1", "1", "room:a", "phx_reply", {"status": "ok", "response": {}}]),
                json!(["1", "2", "room:a", "phx_reply",
                    {"status": "ok", "response": {"transport": "longpoll"}}]),
            ]
        );
        assert_eq!(server.endpoint.longpoll_session_count(), 1);
        assert_eq!(server.endpoint.connection_count(), 1);
        // The metrics count the session as a long-poll connection, its two lines as
        // received and the two replies as sent.
        let census = server.endpoint.census();
        assert_eq!(
            (census.connections.longpoll, census.connections.websocket),
            (1, 0)
        );
        let text = server.endpoint.metrics_text();
        for line in [
            "switchboard_connections{transport=\"longpoll\"} 1",
            "switchboard_connections{transport=\"websocket\"} 0",
            "switchboard_messages_received_total 2",
            "switchboard_messages_sent_total 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        // Nothing more within the window: 204 with the same token.
        let idle = get(&server, "/socket", Some(&token)).await.json();
        assert_eq!(idle, json!({"status": 204, "token": token, "messages": []}));
    })
    .await;
}

#[tokio::test]
async fn a_newer_poll_answers_the_waiting_one_at_once() {
    within(async {
        let server = Arc::new(start().await);
        // Window 20 s: a poll answered sooner was answered because a newer one took over.
        let token = open(&server, "/long").await;
        let started = tokio::time::Instant::now();
        let mut storm = tokio::task::JoinSet::new();
        for _ in 0..21 {
            let (server, token) = (server.clone(), token.clone());
            storm.spawn(async move { get(&server, "/long", Some(&token)).await.json() });
        }
        for _ in 0..20 {
            let body = storm.join_next().await.unwrap().unwrap();
            assert_eq!(body["status"], 204);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // The newest poll is still waiting, and gets the join reply.
        let posted = post(
            &server,
            "/long",
            &token,
            &[r#"["1","1","room:a","phx_join",{}]"#],
        )
        .await;
        assert_eq!(posted["status"], 200);
        let last = storm.join_next().await.unwrap().unwrap();
        assert_eq!(last["status"], 200, "{last}");
        assert!(started.elapsed() < Duration::from_secs(10));
    })
    .await;
}

#[tokio::test]
async fn an_unpolled_session_ends_with_terminate_and_its_token_is_gone() {
    within(async {
        let server = start().await;
        let token = open_joined(&server, "/socket").await;
        // No poll for the session timeout (400 ms): the channel terminates.
        while server.terminated.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(server.endpoint.longpoll_session_count(), 0);
        assert_eq!(
            post(
                &server,
                "/socket",
                &token,
                &[r#"[null,"2","phoenix","heartbeat",{}]"#]
            )
            .await,
            json!({"status": 410})
        );
        // A GET with the old token opens a new session with a new token.
        let reopened = get(&server, "/socket", Some(&token)).await.json();
        assert_eq!(reopened["status"], 410);
        assert_ne!(reopened["token"], token);
    })
    .await;
}

#[tokio::test]
async fn a_waiting_poll_keeps_its_session_past_the_session_timeout() {
    within(async {
        let server = start().await;
        let token = open(&server, "/short").await;
        // The poll waits its whole window (1 s), five times the session timeout.
        let idle = get(&server, "/short", Some(&token)).await.json();
        assert_eq!(idle["status"], 204);
        let ping = [r#"[null,"1","phoenix","heartbeat",{}]"#];
        assert_eq!(post(&server, "/short", &token, &ping).await["status"], 200);
        // Then, unpolled, it ends after the timeout.
        while server.endpoint.longpoll_session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(post(&server, "/short", &token, &ping).await["status"], 410);
    })
    .await;
}

#[tokio::test]
async fn bad_lines_end_the_session_after_the_good_ones() {
    within(async {
        let server = start().await;
        for (line, status) in [
            ("not json", 400),
            ("%%%", 400),
            (r#"["1","1","room:a","x",{"pad":"...................................................................................................................................................................................................................................................................."}]"#, 413),
        ] {
            let token = open(&server, "/small").await;
            let posted = post(
                &server,
                "/small",
                &token,
                &[r#"["1","1","room:a","phx_join",{}]"#, line],
            )
            .await;
            assert_eq!(posted["status"], status, "{line}");
            // The join before the bad line was dispatched, and the session then ended.
            while server.endpoint.longpoll_session_count() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let after = post(&server, "/small", &token, &[r#"[null,"2","phoenix","heartbeat",{}]"#]);
            assert_eq!(after.await["status"], 410);
        }
        let joins_terminated = server.terminated.load(Ordering::SeqCst);
        assert_eq!(joins_terminated, 3, "each dispatched join ran and terminated");
    })
    .await;
}

#[tokio::test]
async fn forged_tokens_methods_preflight_refusals_and_oversized_bodies() {
    within(async {
        let server = start().await;
        let token = open(&server, "/socket").await;
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 5;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let ping = [r#"[null,"2","phoenix","heartbeat",{}]"#];
        assert_eq!(
            post(&server, "/socket", &forged, &ping).await["status"],
            410
        );
        assert_eq!(
            post(&server, "/socket", "garbage", &ping).await["status"],
            410
        );
        let reopened = get(&server, "/socket", Some(&forged)).await.json();
        assert_eq!(reopened["status"], 410);
        assert_ne!(reopened["token"], token);
        // The token in the header works like the query param.
        let by_header = request(
            server.endpoint.local_addr(),
            "GET",
            "/socket/longpoll?vsn=2.0.0",
            &[("x-phoenix-longpoll-token", &token)],
            b"",
        )
        .await
        .json();
        assert_eq!(by_header["status"], 204);
        // A token of one mount is not a session of another.
        assert_eq!(post(&server, "/small", &token, &ping).await["status"], 410);

        let preflight = request(
            server.endpoint.local_addr(),
            "OPTIONS",
            "/socket/longpoll",
            &[(
                "access-control-request-headers",
                "content-type, x-phoenix-authtoken",
            )],
            b"",
        )
        .await;
        assert_eq!(preflight.status, 200);
        assert_eq!(
            preflight.header("access-control-allow-headers"),
            Some("content-type, x-phoenix-authtoken")
        );
        assert_eq!(
            preflight.header("access-control-allow-methods"),
            Some("get, post, options")
        );
        assert_eq!(preflight.header("access-control-max-age"), Some("3600"));
        assert_eq!(
            request(
                server.endpoint.local_addr(),
                "PUT",
                "/socket/longpoll",
                &[],
                b""
            )
            .await
            .status,
            400
        );
        // Any connect refusal (here 429) and a bad vsn are a 403 to long-poll clients.
        let refused = request(
            server.endpoint.local_addr(),
            "GET",
            "/socket/longpoll?reject=true&vsn=2.0.0&",
            &[],
            b"",
        )
        .await;
        assert_eq!(refused.json(), json!({"status": 403}));
        let bad_vsn = request(
            server.endpoint.local_addr(),
            "GET",
            "/socket/longpoll?vsn=9.0.0&",
            &[],
            b"",
        )
        .await;
        assert_eq!(bad_vsn.json(), json!({"status": 403}));
        // The origin check, as for a WebSocket: refused → 403 on every method.
        let bad = [("origin", "http://evil.test")];
        let q = "/checked/longpoll?vsn=2.0.0&";
        let refused = request(server.endpoint.local_addr(), "GET", q, &bad, b"").await;
        assert_eq!(refused.json(), json!({"status": 403}));
        let refused = request(server.endpoint.local_addr(), "POST", q, &bad, b"").await;
        assert_eq!(refused.json(), json!({"status": 403}));
        let good = [("origin", "http://good.test")];
        let opened = request(server.endpoint.local_addr(), "GET", q, &good, b"").await;
        assert_eq!(opened.json()["status"], 410);
        // Long-poll is opt-in per mount.
        assert_eq!(get(&server, "/ws_only", None).await.status, 404);
        // A body over 100 frames of the mount's largest size is refused outright.
        let big = vec![b'A'; 64 * 1024];
        let target = format!("/small/longpoll?vsn=2.0.0&token={token}");
        let refused = request(server.endpoint.local_addr(), "POST", &target, &[], &big).await;
        assert_eq!(refused.status, 400);
        assert_eq!(
            get(&server, "/socket", Some(&token)).await.json()["status"],
            204,
            "the session survived"
        );
    })
    .await;
}

#[tokio::test]
async fn an_app_token_param_stays_a_connect_param() {
    within(async {
        let server = start().await;
        // phoenix.js puts the app's params before vsn and appends the session token last.
        let opened = request(
            server.endpoint.local_addr(),
            "GET",
            "/socket/longpoll?token=app&vsn=2.0.0&",
            &[],
            b"",
        )
        .await;
        let token = opened.json()["token"].as_str().unwrap().to_owned();
        let target = format!("/socket/longpoll?token=app&vsn=2.0.0&token={token}");
        let polled = request(server.endpoint.local_addr(), "GET", &target, &[], b"")
            .await
            .json();
        assert_eq!(polled["status"], 204);
        assert_eq!(polled["token"], token);
    })
    .await;
}

#[tokio::test]
async fn drain_ends_sessions_and_refuses_new_ones() {
    within(async {
        let server = start().await;
        let token = open_joined(&server, "/socket").await;
        let report = server.endpoint.drain().await;
        assert_eq!((report.closed, report.remaining), (1, 0));
        assert_eq!(server.terminated.load(Ordering::SeqCst), 1);
        assert_eq!(get(&server, "/socket", Some(&token)).await.status, 503);
        assert_eq!(get(&server, "/socket", None).await.status, 503);
    })
    .await;
}

#[tokio::test]
async fn a_short_secret_is_refused() {
    let started = Endpoint::builder()
        .socket("/socket", SocketMount::new().longpoll(1000))
        .secret_key_base("short")
        .start()
        .await;
    match started {
        Err(EndpointError::Secret(why)) => assert!(why.contains("at least 32 bytes"), "{why}"),
        other => panic!("expected a secret error, got {other:?}"),
    }
}

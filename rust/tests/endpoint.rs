//! The endpoint over real TCP with a tokio-tungstenite client: handshake outcomes, the
//! transport's close codes, slow consumers, disconnect by socket id and drain.

mod common;

use bytes::Bytes;
use common::rooms::Room;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchboard::endpoint::{
    DISCONNECT_CLOSE_CODE, DRAIN_CLOSE_CODE, IDLE_CLOSE_CODE, INVALID_UTF8_CLOSE_CODE,
    MALFORMED_CLOSE_CODE, RATE_LIMITED_CLOSE_CODE, RunningEndpoint, SocketMount,
    TOO_BIG_CLOSE_CODE,
};
use switchboard::endpoint::{DrainConfig, Endpoint};
use switchboard::host::{Connect, ConnectInfo, Connected, Refused};
use switchboard::wire::Payload;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const TEST_LIMIT: Duration = Duration::from_secs(30);
const STEP_LIMIT: Duration = Duration::from_secs(10);

/// Every test stops by itself.
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("test finished in time")
}

/// Records what connect saw; refuses `reject=true` (403) and `ratelimit=true` (429); gives
/// socket id `user_sockets:<user_id>`.
#[derive(Default)]
struct Recording {
    seen: parking_lot::Mutex<Vec<ConnectInfo>>,
}

struct RecordingConnect(Arc<Recording>);

#[async_trait::async_trait]
impl Connect for RecordingConnect {
    async fn connect(&self, info: &ConnectInfo) -> Result<Connected, Refused> {
        self.0.seen.lock().push(info.clone());
        let flag = |k: &str| info.params.get(k).and_then(Value::as_str) == Some("true");
        if flag("reject") {
            return Err(Refused { status: 403 });
        }
        if flag("ratelimit") {
            return Err(Refused { status: 429 });
        }
        let id = info
            .params
            .get("user_id")
            .and_then(Value::as_str)
            .map(|u| format!("user_sockets:{u}"));
        Ok(Connected {
            id,
            ..Connected::default()
        })
    }
}

struct Server {
    endpoint: RunningEndpoint,
    connects: Arc<Recording>,
}

impl Server {
    fn url(&self, mount: &str, query: &str) -> String {
        format!(
            "ws://{}{mount}/websocket?{query}",
            self.endpoint.local_addr()
        )
    }

    fn last_connect(&self) -> ConnectInfo {
        self.connects
            .seen
            .lock()
            .last()
            .cloned()
            .expect("connect ran")
    }
}

async fn start() -> Server {
    let connects = Arc::new(Recording::default());
    let mount = || {
        SocketMount::new()
            .connect(RecordingConnect(connects.clone()))
            .channel("room:*", Room::default())
    };
    let endpoint = Endpoint::builder()
        .socket("/socket", mount())
        .socket("/checked", mount().check_origin(["http://good.test"]))
        .socket("/open", mount().check_origin_off())
        .socket("/rated", mount().rate_limits(5, 2))
        .socket("/small", mount().max_frame_bytes(1024))
        .socket("/idle", mount().idle_timeout_ms(300))
        .socket("/slow", mount().outbox_limits(32, 256 * 1024))
        .metrics_path("/metrics")
        .drain(DrainConfig::new(
            1,
            Duration::from_millis(10),
            Duration::from_secs(10),
        ))
        .start()
        .await
        .expect("endpoint starts");
    Server { endpoint, connects }
}

async fn connect(url: &str) -> Client {
    let (client, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade succeeds");
    assert_eq!(response.status(), 101);
    client
}

/// The HTTP status of a refused upgrade.
async fn refused_status(request: impl IntoClientRequest + Unpin) -> u16 {
    match tokio_tungstenite::connect_async(request).await {
        Err(WsError::Http(response)) => {
            assert!(
                response.body().as_ref().is_none_or(|b| b.is_empty()),
                "refusals have an empty body"
            );
            response.status().as_u16()
        }
        Ok((_, response)) => panic!("expected a refusal, got {}", response.status()),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
    }
}

async fn send_text(client: &mut Client, text: impl Into<String>) {
    client.send(Message::text(text.into())).await.expect("send");
}

/// The next text frame as JSON.
async fn next_json(client: &mut Client) -> Value {
    loop {
        let msg = tokio::time::timeout(STEP_LIMIT, client.next())
            .await
            .expect("frame in time")
            .expect("connection open")
            .expect("valid frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads until the server's close frame and returns its code (`None` if the connection ended
/// without one).
async fn close_code(client: &mut Client) -> Option<u16> {
    let read = async {
        while let Some(msg) = client.next().await {
            match msg {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    };
    tokio::time::timeout(STEP_LIMIT, read)
        .await
        .expect("closed in time")
}

async fn heartbeat_ok(client: &mut Client, r: &str) {
    send_text(
        client,
        format!(r#"[null,"{r}","phoenix","heartbeat",{{}}]"#),
    )
    .await;
    assert_eq!(
        next_json(client).await,
        json!([null, r, "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
}

async fn join(client: &mut Client, topic: &str, join_ref: &str) {
    send_text(
        client,
        format!(r#"["{join_ref}","{join_ref}","{topic}","phx_join",{{}}]"#),
    )
    .await;
    assert_eq!(
        next_json(client).await,
        json!([join_ref, join_ref, topic, "phx_reply", {"status": "ok", "response": {}}])
    );
}

#[tokio::test]
async fn handshake_without_subprotocols_has_no_protocol_header() {
    within(async {
        let s = start().await;
        let (_client, response) = tokio_tungstenite::connect_async(s.url("/socket", "vsn=2.0.0"))
            .await
            .expect("upgrade");
        assert_eq!(response.status(), 101);
        assert!(response.headers().get("sec-websocket-protocol").is_none());
        let info = s.last_connect();
        assert_eq!(info.mount, "/socket");
        assert_eq!(info.auth_token, None);
    })
    .await;
}

#[tokio::test]
async fn phoenix_subprotocol_is_echoed_and_the_auth_token_decoded() {
    within(async {
        let s = start().await;
        let mut request = s
            .url("/socket", "vsn=2.0.0")
            .into_client_request()
            .expect("request");
        // What `new Socket(url, {authToken: "my-token+x"})` sends.
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("phoenix, base64url.bearer.phx.bXktdG9rZW4reA"),
        );
        let (mut client, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("upgrade");
        assert_eq!(response.status(), 101);
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.as_bytes()),
            Some(&b"phoenix"[..])
        );
        assert_eq!(s.last_connect().auth_token.as_deref(), Some("my-token+x"));
        heartbeat_ok(&mut client, "1").await;
    })
    .await;
}

#[tokio::test]
async fn unsupported_vsn_is_refused_with_403() {
    within(async {
        let s = start().await;
        for query in ["vsn=3.0.0", "vsn=abc", "vsn=2.1.0", "vsn%5B%5D=2.0.0"] {
            assert_eq!(
                refused_status(s.url("/socket", query)).await,
                403,
                "{query}"
            );
        }
        // No vsn at all means 1.0.0.
        let mut v1 = connect(&s.url("/socket", "")).await;
        send_text(
            &mut v1,
            r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}"#,
        )
        .await;
        assert_eq!(
            next_json(&mut v1).await,
            json!({"topic": "phoenix", "event": "phx_reply", "ref": "1",
                   "payload": {"status": "ok", "response": {}}})
        );
    })
    .await;
}

#[tokio::test]
async fn refused_connects_get_the_callbacks_status() {
    within(async {
        let s = start().await;
        assert_eq!(
            refused_status(s.url("/socket", "reject=true&vsn=2.0.0")).await,
            403
        );
        assert_eq!(
            refused_status(s.url("/socket", "ratelimit=true&vsn=2.0.0")).await,
            429
        );
        assert_eq!(s.connects.seen.lock().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn check_origin_refuses_foreign_origins_and_defaults_to_the_same_host() {
    within(async {
        let s = start().await;
        let with_origin = |origin: &'static str| {
            let mut request = s
                .url("/checked", "vsn=2.0.0")
                .into_client_request()
                .expect("request");
            request
                .headers_mut()
                .insert("origin", HeaderValue::from_static(origin));
            request
        };
        assert_eq!(refused_status(with_origin("http://evil.test")).await, 403);
        let (_ok, response) = tokio_tungstenite::connect_async(with_origin("http://good.test"))
            .await
            .expect("allowed origin");
        assert_eq!(response.status(), 101);
        // No Origin header (non-browser client): allowed.
        connect(&s.url("/checked", "vsn=2.0.0")).await;
        // The default: a browser page of the same host (its Origin names the Host the request
        // went to) connects, a page of another site does not.
        let origin_on = |mount: &str, origin: String| {
            let mut request = s
                .url(mount, "vsn=2.0.0")
                .into_client_request()
                .expect("request");
            let origin = HeaderValue::from_str(&origin).expect("a header value");
            request.headers_mut().insert("origin", origin);
            request
        };
        let own = format!("http://{}", s.endpoint.local_addr());
        let (_ok, response) = tokio_tungstenite::connect_async(origin_on("/socket", own))
            .await
            .expect("the page's own host");
        assert_eq!(response.status(), 101);
        let foreign = origin_on("/socket", "http://evil.test".to_owned());
        assert_eq!(refused_status(foreign).await, 403);
        let other_port = format!("http://127.0.0.1:{}", s.endpoint.local_addr().port() + 1);
        assert_eq!(refused_status(origin_on("/socket", other_port)).await, 403);
        // A mount that turned the check off takes any page.
        let off = origin_on("/open", "http://evil.test".to_owned());
        assert!(tokio_tungstenite::connect_async(off).await.is_ok());
    })
    .await;
}

#[tokio::test]
async fn query_params_are_decoded_like_plug() {
    within(async {
        let s = start().await;
        connect(&s.url(
            "/socket",
            "token=abc&user%5Bid%5D=7&a%5B0%5D=x&a%5B1%5D=y&&vsn=2.0.0",
        ))
        .await;
        assert_eq!(
            Value::Object(s.last_connect().params),
            json!({"token": "abc", "user": {"id": "7"}, "a": {"0": "x", "1": "y"}, "vsn": "2.0.0"})
        );
    })
    .await;
}

#[tokio::test]
async fn heartbeat_and_join_over_a_real_socket() {
    within(async {
        let s = start().await;
        let mut client = connect(&s.url("/socket", "vsn=2.0.0")).await;
        heartbeat_ok(&mut client, "1").await;
        join(&mut client, "room:lobby", "2").await;
        send_text(&mut client, r#"["2","3","room:lobby","echo",{"hi":1}]"#).await;
        assert_eq!(
            next_json(&mut client).await,
            json!(["2", "3", "room:lobby", "phx_reply", {"status": "ok", "response": {"hi": 1}}])
        );
        assert_eq!(s.endpoint.backplane().channel_count("room:lobby"), 1);
    })
    .await;
}

#[tokio::test]
async fn malformed_json_closes_1011_and_leaves_other_connections_alone() {
    within(async {
        let s = start().await;
        let mut bystander = connect(&s.url("/socket", "vsn=2.0.0")).await;
        join(&mut bystander, "room:a", "1").await;
        let mut bad = connect(&s.url("/socket", "vsn=2.0.0")).await;
        join(&mut bad, "room:a", "1").await;
        for garbage in ["not json", r#"{"a":1}"#, "[1,2,3]"] {
            let mut bad = connect(&s.url("/socket", "vsn=2.0.0")).await;
            send_text(&mut bad, garbage).await;
            assert_eq!(
                close_code(&mut bad).await,
                Some(MALFORMED_CLOSE_CODE),
                "{garbage}"
            );
        }
        send_text(&mut bad, "not json").await;
        assert_eq!(close_code(&mut bad).await, Some(MALFORMED_CLOSE_CODE));
        heartbeat_ok(&mut bystander, "2").await;
        // The bad connection's channel is gone, the bystander's is not.
        tokio::time::timeout(STEP_LIMIT, async {
            while s.endpoint.backplane().channel_count("room:a") != 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("bad connection's channel terminates");
        s.endpoint
            .backplane()
            .broadcast("room:a", "news", Payload::empty_object())
            .expect("broadcast");
        assert_eq!(
            next_json(&mut bystander).await,
            json!([null, null, "room:a", "news", {}])
        );
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_text_closes_1007() {
    within(async {
        let s = start().await;
        let mut client = connect(&s.url("/socket", "vsn=2.0.0")).await;
        let raw = Frame::message(
            Bytes::from_static(b"[null,\"1\",\"phoenix\",\"heartbeat\",{\"x\":\"\xff\"}]"),
            OpCode::Data(Data::Text),
            true,
        );
        client.send(Message::Frame(raw)).await.expect("send");
        assert_eq!(close_code(&mut client).await, Some(INVALID_UTF8_CLOSE_CODE));
    })
    .await;
}

#[tokio::test]
async fn oversize_frame_closes_1009_only_where_the_limit_is_set() {
    within(async {
        let s = start().await;
        let big = format!(
            r#"["1","2","room:a","echo",{{"x":"{}"}}]"#,
            "a".repeat(4096)
        );
        let mut small = connect(&s.url("/small", "vsn=2.0.0")).await;
        join(&mut small, "room:a", "1").await;
        send_text(&mut small, big.clone()).await;
        assert_eq!(close_code(&mut small).await, Some(TOO_BIG_CLOSE_CODE));

        let mut default = connect(&s.url("/socket", "vsn=2.0.0")).await;
        join(&mut default, "room:a", "1").await;
        send_text(&mut default, big).await;
        let reply = next_json(&mut default).await;
        assert_eq!(reply[3], "phx_reply");
        assert_eq!(reply[4]["response"]["x"].as_str().map(str::len), Some(4096));
    })
    .await;
}

#[tokio::test]
async fn idle_connections_are_closed_with_a_code_clients_reconnect_after() {
    within(async {
        let s = start().await;
        let mut client = connect(&s.url("/idle", "vsn=2.0.0")).await;
        join(&mut client, "room:idle", "1").await;
        let code = close_code(&mut client).await;
        assert_eq!(code, Some(IDLE_CLOSE_CODE));
        assert_ne!(code, Some(1000));
        tokio::time::timeout(STEP_LIMIT, async {
            while s.endpoint.backplane().channel_count("room:idle") != 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the idle connection's channel terminates");
    })
    .await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_while_others_keep_receiving() {
    within(async {
        let s = start().await;
        let topic = "room:firehose";
        let mut good = connect(&s.url("/slow", "vsn=2.0.0")).await;
        join(&mut good, topic, "1").await;
        // The slow client: a tiny receive buffer, and after the join it never reads again.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let stream = socket
            .connect(s.endpoint.local_addr())
            .await
            .expect("tcp connect");
        let (mut slow, _) = tokio_tungstenite::client_async(s.url("/slow", "vsn=2.0.0"), stream)
            .await
            .expect("upgrade");
        slow.send(Message::text(format!(
            r#"["1","1","{topic}","phx_join",{{}}]"#
        )))
        .await
        .expect("send join");
        tokio::time::timeout(STEP_LIMIT, async {
            while s.endpoint.backplane().channel_count(topic) != 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("both joined");
        assert_eq!(s.endpoint.connection_count(), 2);

        // The good client reads everything, concurrently with the broadcasts.
        let reader = tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(Ok(msg)) = good.next().await {
                if let Message::Text(t) = msg {
                    let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                    if v[3] == "chunk" {
                        assert_eq!(v[4]["i"], json!(n), "in order, none missing");
                        n += 1;
                    }
                    if v[3] == "last" {
                        return n;
                    }
                }
            }
            n
        });
        let filler = "z".repeat(16 * 1024);
        let mut sent = 0u64;
        while s.endpoint.connection_count() == 2 && sent < 20_000 {
            let payload = json!({"i": sent, "filler": filler}).to_string();
            s.endpoint
                .backplane()
                .broadcast(topic, "chunk", Payload::Json(Bytes::from(payload)))
                .expect("broadcast");
            sent += 1;
            if sent.is_multiple_of(8) {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        assert_eq!(
            s.endpoint.connection_count(),
            1,
            "the slow consumer was disconnected after {sent} broadcasts"
        );
        assert_eq!(s.endpoint.backplane().channel_count(topic), 1);
        let text = s.endpoint.metrics_text();
        assert_eq!(
            sample(&text, "switchboard_slow_consumer_disconnects_total"),
            1.0
        );
        s.endpoint
            .backplane()
            .broadcast(topic, "last", Payload::empty_object())
            .expect("broadcast");
        let received = tokio::time::timeout(STEP_LIMIT, reader)
            .await
            .expect("reader done")
            .expect("reader task");
        assert_eq!(
            received, sent,
            "the well-behaved client got every broadcast"
        );
        drop(slow);
    })
    .await;
}

#[tokio::test]
async fn disconnect_by_socket_id_closes_1001() {
    within(async {
        let s = start().await;
        let mut a = connect(&s.url("/socket", "user_id=42&vsn=2.0.0")).await;
        join(&mut a, "room:1", "1").await;
        join(&mut a, "room:2", "2").await;
        let mut other = connect(&s.url("/socket", "user_id=7&vsn=2.0.0")).await;
        s.endpoint
            .backplane()
            .disconnect("user_sockets:42")
            .expect("disconnect");
        assert_eq!(close_code(&mut a).await, Some(DISCONNECT_CLOSE_CODE));
        tokio::time::timeout(STEP_LIMIT, async {
            while s.endpoint.backplane().channel_count("room:1")
                + s.endpoint.backplane().channel_count("room:2")
                != 0
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("both channels terminate");
        heartbeat_ok(&mut other, "1").await;
    })
    .await;
}

#[tokio::test]
async fn drain_closes_every_connection_1012_and_refuses_new_ones() {
    within(async {
        let s = start().await;
        let mut clients = Vec::new();
        for i in 0..3 {
            let mut c = connect(&s.url("/socket", "vsn=2.0.0")).await;
            join(&mut c, "room:d", &i.to_string()).await;
            clients.push(c);
        }
        let endpoint = s.endpoint.clone();
        let drain = tokio::spawn(async move { endpoint.drain().await });
        for c in &mut clients {
            assert_eq!(close_code(c).await, Some(DRAIN_CLOSE_CODE));
        }
        let report = drain.await.expect("drain task");
        assert_eq!(report.closed, 3);
        assert_eq!(report.remaining, 0);
        assert_eq!(s.endpoint.backplane().channel_count("room:d"), 0);
        assert_eq!(refused_status(s.url("/socket", "vsn=2.0.0")).await, 503);
        s.endpoint.shutdown().await.expect("shutdown");
        assert!(
            TcpStream::connect(s.endpoint.local_addr()).await.is_err(),
            "listener closed after shutdown"
        );
    })
    .await;
}

#[tokio::test]
async fn host_subscriptions_receive_broadcasts_and_are_bounded() {
    within(async {
        let s = start().await;
        let mut sub = s.endpoint.subscribe("room:host", 2);
        assert_eq!(sub.topic(), "room:host");
        for i in 0..3 {
            let payload = Payload::Json(Bytes::from(format!(r#"{{"i":{i}}}"#)));
            s.endpoint
                .backplane()
                .broadcast("room:host", "tick", payload)
                .expect("broadcast");
        }
        let first = tokio::time::timeout(STEP_LIMIT, sub.recv())
            .await
            .expect("in time")
            .expect("open");
        assert_eq!(first.event, "tick");
        assert_eq!(
            first.payload,
            Payload::Json(Bytes::from_static(br#"{"i":0}"#))
        );
        assert!(sub.try_recv().is_some());
        assert!(sub.try_recv().is_none(), "the third did not fit");
        assert_eq!(sub.dropped(), 1);
        drop(sub);
        assert_eq!(
            s.endpoint
                .backplane()
                .pubsub()
                .subscriber_count("room:host"),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn a_connection_over_its_message_rate_is_answered_rate_limited_then_closed_1008() {
    within(async {
        let s = start().await;
        let mut c = connect(&s.url("/rated", "vsn=2.0.0")).await;
        join(&mut c, "room:r", "1").await;
        // 5 messages per second with a one-second burst: 5 pass, then refusals.
        for n in 0..5 {
            send_text(&mut c, format!(r#"["1","e{n}","room:r","echo",{{}}]"#)).await;
        }
        for n in 0..5 {
            let reply = next_json(&mut c).await;
            assert_eq!((reply[1].clone(), reply[4]["status"].clone()), (json!(format!("e{n}")), json!("ok")));
        }
        send_text(&mut c, r#"["1","over","room:r","echo",{}]"#).await;
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", "over", "room:r", "phx_reply", {"status": "error", "response": {"reason": "rate_limited"}}])
        );
        // Heartbeats are not counted.
        heartbeat_ok(&mut c, "hb").await;
        // Keeping going for another second's worth closes the connection.
        for n in 0..10 {
            send_text(&mut c, format!(r#"["1","x{n}","room:r","echo",{{}}]"#)).await;
        }
        assert_eq!(close_code(&mut c).await, Some(RATE_LIMITED_CLOSE_CODE));
        // One refusal answered, then the ones that led to the close: all counted.
        let limited = r#"switchboard_rate_limited_total{limit="messages_per_second"}"#;
        assert!(sample(&s.endpoint.metrics_text(), limited) >= 2.0);
        // Another connection of the mount is unaffected.
        let mut other = connect(&s.url("/rated", "vsn=2.0.0")).await;
        join(&mut other, "room:r", "1").await;
        heartbeat_ok(&mut other, "1").await;
    })
    .await;
}

#[tokio::test]
async fn joins_over_the_join_rate_are_answered_rate_limited() {
    within(async {
        let s = start().await;
        let mut c = connect(&s.url("/rated", "vsn=2.0.0")).await;
        join(&mut c, "room:a", "1").await;
        join(&mut c, "room:b", "2").await;
        send_text(&mut c, r#"["3","3","room:c","phx_join",{}]"#).await;
        assert_eq!(
            next_json(&mut c).await,
            json!(["3", "3", "room:c", "phx_reply", {"status": "error", "response": {"reason": "rate_limited"}}])
        );
        let text = s.endpoint.metrics_text();
        assert_eq!(sample(&text, r#"switchboard_rate_limited_total{limit="joins_per_second"}"#), 1.0);
        assert_eq!(sample(&text, r#"switchboard_rate_limited_total{limit="messages_per_second"}"#), 0.0);
    })
    .await;
}

#[tokio::test]
async fn connections_beyond_max_connections_are_answered_503() {
    within(async {
        let endpoint = Endpoint::builder()
            .socket(
                "/socket",
                SocketMount::new().channel("room:*", Room::default()),
            )
            .max_connections(2)
            .start()
            .await
            .expect("endpoint starts");
        let url = format!("ws://{}/socket/websocket?vsn=2.0.0", endpoint.local_addr());
        let a = connect(&url).await;
        let _b = connect(&url).await;
        assert_eq!(refused_status(url.as_str()).await, 503);
        let limited = r#"switchboard_rate_limited_total{limit="max_connections"}"#;
        assert_eq!(sample(&endpoint.metrics_text(), limited), 1.0);
        drop(a);
        // Once one is gone, a new one gets in.
        let deadline = tokio::time::Instant::now() + STEP_LIMIT;
        while endpoint.connection_count() > 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the closed connection left"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        connect(&url).await;
    })
    .await;
}

#[tokio::test]
async fn connection_attempts_over_connections_per_second_are_answered_429() {
    within(async {
        let endpoint = Endpoint::builder()
            .socket(
                "/socket",
                SocketMount::new().channel("room:*", Room::default()),
            )
            .connections_per_second(3)
            .start()
            .await
            .expect("endpoint starts");
        let url = format!("ws://{}/socket/websocket?vsn=2.0.0", endpoint.local_addr());
        let mut open = Vec::new();
        for _ in 0..3 {
            open.push(connect(&url).await);
        }
        assert_eq!(refused_status(url.as_str()).await, 429);
        let limited = r#"switchboard_rate_limited_total{limit="connections_per_second"}"#;
        assert!(sample(&endpoint.metrics_text(), limited) >= 1.0);
        // A token comes back every third of a second: a retry gets in.
        let deadline = tokio::time::Instant::now() + STEP_LIMIT;
        loop {
            match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok(_) => break,
                Err(_) => assert!(tokio::time::Instant::now() < deadline, "admitted again"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// The value of the sample `series` (name with its labels, as written) in a metrics text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .trim()
        .parse()
        .expect("a number")
}

/// Polls `read` until it gives `want` (the census follows a close asynchronously).
async fn eventually<T: PartialEq + std::fmt::Debug>(mut read: impl FnMut() -> T, want: T) {
    let deadline = tokio::time::Instant::now() + STEP_LIMIT;
    loop {
        let got = read();
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn metrics_follow_what_clients_do() {
    within(async {
        let s = start().await;
        let addr = s.endpoint.local_addr();
        let scrape = || async {
            let answer = common::http::request(addr, "GET", "/metrics", &[], b"").await;
            assert_eq!(answer.status, 200);
            assert_eq!(
                answer.header("content-type"),
                Some("text/plain; version=0.0.4; charset=utf-8")
            );
            answer.body
        };
        let before = scrape().await;
        assert_eq!(
            sample(&before, r#"switchboard_connections{transport="websocket"}"#),
            0.0
        );
        assert_eq!(sample(&before, "switchboard_channels"), 0.0);
        assert!(
            !before.contains("switchboard_broker_up"),
            "no broker on a single node"
        );

        let mut clients = Vec::new();
        for _ in 0..3 {
            let mut c = connect(&s.url("/socket", "vsn=2.0.0")).await;
            join(&mut c, "room:m", "1").await;
            clients.push(c);
        }
        for n in 0..2 {
            send_text(
                &mut clients[0],
                format!(r#"["1","s{n}","room:m","shout",{{"n":{n}}}]"#),
            )
            .await;
        }
        // Every client sees both broadcasts; the sender also its two replies.
        for (i, c) in clients.iter_mut().enumerate() {
            let (mut broadcasts, mut replies) = (0, 0);
            let want_replies = if i == 0 { 2 } else { 0 };
            while broadcasts < 2 || replies < want_replies {
                match next_json(c).await[3].as_str() {
                    Some("shout") => broadcasts += 1,
                    Some("phx_reply") => replies += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        let after = scrape().await;
        let delta = |series: &str| sample(&after, series) - sample(&before, series);
        assert_eq!(
            sample(&after, r#"switchboard_connections{transport="websocket"}"#),
            3.0
        );
        assert_eq!(
            sample(&after, r#"switchboard_connections{transport="longpoll"}"#),
            0.0
        );
        assert_eq!(sample(&after, "switchboard_channels"), 3.0);
        assert_eq!(
            delta("switchboard_messages_received_total"),
            5.0,
            "3 joins, 2 pushes"
        );
        assert_eq!(
            delta("switchboard_messages_sent_total"),
            11.0,
            "3 join replies, 2 replies, 6 broadcasts"
        );
        assert_eq!(delta("switchboard_broadcasts_total"), 2.0);
        assert_eq!(
            delta(r#"switchboard_host_request_duration_seconds_count{kind="join"}"#),
            3.0
        );
        assert_eq!(
            delta(r#"switchboard_host_request_duration_seconds_count{kind="handle_in"}"#),
            2.0
        );
        assert_eq!(
            delta(
                r#"switchboard_host_request_duration_seconds_bucket{kind="handle_in",le="+Inf"}"#
            ),
            2.0
        );
        // The census says the same, per topic.
        let census = s.endpoint.census();
        assert_eq!(census.connections.websocket, 3);
        let room = census
            .topics
            .iter()
            .find(|t| t.topic == "room:m")
            .expect("room:m listed");
        assert_eq!((room.channels, room.subscribers), (3, 3));
        let json: Value = serde_json::from_str(&census.to_json()).expect("JSON census");
        assert_eq!(json["channels"], 3);
        assert_eq!(json["cluster"], Value::Null);

        // Leaving: the gauges come back down; terminate is timed too.
        drop(clients);
        let endpoint = s.endpoint.clone();
        eventually(
            || sample(&endpoint.metrics_text(), "switchboard_channels"),
            0.0,
        )
        .await;
        eventually(
            || {
                sample(
                    &endpoint.metrics_text(),
                    r#"switchboard_connections{transport="websocket"}"#,
                )
            },
            0.0,
        )
        .await;
        let text = endpoint.metrics_text();
        assert_eq!(
            sample(
                &text,
                r#"switchboard_host_request_duration_seconds_count{kind="terminate"}"#
            ),
            3.0
        );
    })
    .await;
}

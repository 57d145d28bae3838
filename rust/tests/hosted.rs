//! `HostedEndpoint`, the queue-hosted server the C, Python and Node front-ends drive: its
//! lifecycle from plain threads, and HTTP routes answered by the host (200 with the host's
//! status, content type and body; 404 outside the prefix; 413, 500, 504 without an answer).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use switchboard::host::{
    Answer, ErrorCode, HostConfig, HostMount, HostRequest, HostedEndpoint, HostedError,
    MAX_HTTP_BODY, RequestBody,
};
use switchboard::pubsub::Delivery;
use switchboard::wire::Payload;

/// One request over a fresh connection: (status, lowercased head, body).
fn http(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write head");
    // A refused body may close the connection before it is all written.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    common::parse_response(&raw)
}

fn next_request(endpoint: &HostedEndpoint) -> HostRequest {
    for _ in 0..100 {
        endpoint.queue().wait(Duration::from_millis(100));
        if let Some(req) = endpoint.queue().poll(1).pop() {
            return req;
        }
    }
    panic!("no request reached the host");
}

fn started(config: HostConfig) -> (HostedEndpoint, SocketAddr) {
    let endpoint = HostedEndpoint::new(config).expect("runtime");
    let addr = endpoint.start().expect("listening");
    (endpoint, addr)
}

#[test]
fn http_routes_reach_the_host_and_its_answer_is_the_response() {
    let mut config = HostConfig::default();
    config.http_routes = vec!["/api".into()];
    let (endpoint, addr) = started(config);
    std::thread::scope(|s| {
        let client = s.spawn(|| http(addr, "POST", "/api/items/7?verbose=1&x=%20", b"{\"a\":1}"));
        let req = next_request(&endpoint);
        let RequestBody::Http(h) = req.body() else {
            panic!("not an HTTP request: {req:?}");
        };
        assert_eq!(h.method, "POST");
        assert_eq!(h.path, "/api/items/7");
        assert_eq!(h.query, "verbose=1&x=%20");
        assert_eq!(h.content_type.as_deref(), Some("application/json"));
        assert_eq!(&h.body[..], b"{\"a\":1}");
        // Only an HTTP answer fits; the request stays pending after a wrong one.
        assert!(req.answer(Answer::noreply()).is_err());
        req.answer(Answer::http(201, "text/plain", "made"))
            .expect("answered");
        let (status, head, body) = client.join().expect("client");
        assert_eq!(status, 201);
        assert!(head.contains("content-type: text/plain"), "{head}");
        assert_eq!(body, b"made");
    });

    // The prefix itself is served, a sibling path is not.
    std::thread::scope(|s| {
        let client = s.spawn(|| http(addr, "GET", "/api", b""));
        let req = next_request(&endpoint);
        req.answer(Answer::http(200, "", "root")).expect("answered");
        assert_eq!(client.join().expect("client").2, b"root");
    });
    assert_eq!(http(addr, "GET", "/apix", b"").0, 404);

    // Too big: refused before the host sees it.
    let big = vec![b'x'; MAX_HTTP_BODY + 1];
    assert_eq!(http(addr, "POST", "/api/big", &big).0, 413);
    assert!(endpoint.queue().poll(1).is_empty());

    // Dropped unanswered: 500.
    std::thread::scope(|s| {
        let client = s.spawn(|| http(addr, "GET", "/api/drop", b""));
        drop(next_request(&endpoint));
        assert_eq!(client.join().expect("client").0, 500);
    });
    endpoint.shutdown().expect("shutdown");
}

#[test]
fn an_http_request_unanswered_within_the_request_timeout_gets_504() {
    let mut config = HostConfig::default();
    config.http_routes = vec!["/slow".into()];
    config.request_timeout = Duration::from_millis(300);
    let (endpoint, addr) = started(config);
    std::thread::scope(|s| {
        let client = s.spawn(|| http(addr, "GET", "/slow", b""));
        let req = next_request(&endpoint);
        assert_eq!(client.join().expect("client").0, 504);
        // The late answer is refused: the ticket went stale.
        assert!(req.answer(Answer::http(200, "", "late")).is_err());
    });
    endpoint.close().expect("close");
}

#[test]
fn lifecycle_start_drain_shutdown_close() {
    let mut config = HostConfig::default();
    config.mounts = vec![HostMount::new("/ws"), HostMount::new("/other")];
    let endpoint = HostedEndpoint::new(config).expect("runtime");
    assert!(endpoint.local_addr().is_none());
    assert!(matches!(endpoint.drain(), Err(HostedError::NotStarted)));
    let addr = endpoint.start().expect("listening");
    assert_eq!(endpoint.local_addr(), Some(addr));
    assert!(matches!(endpoint.start(), Err(HostedError::AlreadyStarted)));
    // Both mounts answer their upgrade route (400: a plain GET, not an upgrade).
    for path in ["/ws/websocket", "/other/websocket"] {
        let status = http(addr, "GET", path, b"").0;
        assert_ne!(status, 404, "{path} is not routed");
    }
    assert_eq!(endpoint.drain().expect("drained").closed, 0);
    endpoint.shutdown().expect("shutdown");
    endpoint.shutdown().expect("shutdown is idempotent");
    assert!(matches!(endpoint.start(), Err(HostedError::Stopped)));
    assert!(TcpStream::connect(addr).is_err(), "still listening");
    endpoint.close().expect("close");
    endpoint.close().expect("close is idempotent");
}

#[test]
fn host_broadcasts_need_a_running_endpoint_then_a_topic_and_an_event() {
    let endpoint = HostedEndpoint::new(HostConfig::default()).expect("runtime");
    let (tx, rx) = std::sync::mpsc::channel();
    let _sub = endpoint.backplane().pubsub().subscribe(
        "room:1",
        Delivery::Mailbox(std::sync::Arc::new(move |b| {
            let _ = tx.send(b.event.clone());
        })),
    );
    let broadcast =
        |topic: &str, event: &str| endpoint.broadcast(false, topic, event, Payload::empty_object());
    let e = broadcast("room:1", "e").unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::InvalidState, "the endpoint is not started")
    );
    assert_eq!(
        endpoint.disconnect("user:1").unwrap_err().code,
        ErrorCode::InvalidState
    );
    assert!(rx.try_recv().is_err(), "nothing was broadcast before start");

    endpoint.start().expect("listening");
    assert_eq!(broadcast("room:1", "e").expect("running").local, 1);
    assert_eq!(rx.try_recv().as_deref(), Ok("e"));
    let local = endpoint.broadcast(true, "room:1", "l", Payload::empty_object());
    assert_eq!(local.expect("local").local, 1);
    for (topic, event, message) in [
        ("", "e", "topic must not be empty"),
        ("room:1", "", "event must not be empty"),
    ] {
        let e = broadcast(topic, event).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::InvalidArgument, message)
        );
    }
    let e = endpoint.disconnect("").unwrap_err();
    assert_eq!(e.message, "socket id must not be empty");
    let not_object = endpoint.broadcast(false, "room:1", "e", Payload::Json("[1]".into()));
    assert_eq!(not_object.unwrap_err().code, ErrorCode::Encode);

    // Drained and no longer listening: a terminate may still broadcast.
    endpoint.shutdown().expect("shutdown");
    assert_eq!(broadcast("room:1", "t").expect("after shutdown").local, 1);
    endpoint.close().expect("close");
    let e = broadcast("room:1", "e").unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::InvalidState, "the endpoint was shut down")
    );
    assert_eq!(rx.try_recv().as_deref(), Ok("l"));
    assert_eq!(rx.try_recv().as_deref(), Ok("t"));
    assert!(rx.try_recv().is_err(), "nothing was broadcast after close");
}

#[test]
fn bad_http_prefixes_and_route_conflicts_are_config_errors() {
    for prefix in ["api", "/api/", "/api/*", "/a{b}"] {
        let mut config = HostConfig::default();
        config.http_routes = vec![prefix.into()];
        let endpoint = HostedEndpoint::new(config).expect("runtime");
        assert!(
            matches!(endpoint.start(), Err(HostedError::InvalidConfig(_))),
            "{prefix}"
        );
    }
    let mut config = HostConfig::default();
    config.http_routes = vec!["/socket/websocket".into()];
    let endpoint = HostedEndpoint::new(config).expect("runtime");
    assert!(matches!(
        endpoint.start(),
        Err(HostedError::InvalidConfig(_))
    ));
}

#[test]
fn requests_carry_the_pattern_and_the_prefix_the_core_matched() {
    use switchboard::host::ChannelRoute;
    use tokio_tungstenite::tungstenite::{self, Message};
    let route = |pattern: &str| ChannelRoute {
        pattern: pattern.into(),
        intercepts: Vec::new(),
    };
    let mut config = HostConfig::default();
    config.http_routes = vec!["/api".into(), "/api/v2".into()];
    // Declaration order decides, as in Phoenix: `room:lobby` before `room:*`.
    config.channels = vec![route("room:lobby"), route("room:*"), route("*")];
    let (endpoint, addr) = started(config);
    for (target, prefix) in [
        ("/api/v2/x", "/api/v2"),
        ("/api/v1", "/api"),
        ("/api", "/api"),
    ] {
        std::thread::scope(|s| {
            let client = s.spawn(|| http(addr, "GET", target, b""));
            let req = next_request(&endpoint);
            let RequestBody::Http(h) = req.body() else {
                panic!("not an HTTP request: {req:?}");
            };
            assert_eq!(h.prefix, prefix, "{target}");
            req.answer(Answer::http(204, "", "")).expect("answered");
            assert_eq!(client.join().expect("client").0, 204);
        });
    }

    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tungstenite::connect(url).expect("websocket");
    for (n, (topic, pattern)) in [
        ("room:lobby", "room:lobby"),
        ("room:9", "room:*"),
        ("lobby", "*"),
    ]
    .into_iter()
    .enumerate()
    {
        let join = format!(r#"["{n}","{n}","{topic}","phx_join",{{}}]"#);
        ws.send(Message::text(join)).expect("join sent");
        let req = next_request(&endpoint);
        let channel = req.channel().expect("a join");
        assert_eq!(
            (channel.topic.as_str(), &*channel.pattern),
            (topic, pattern)
        );
        req.answer(Answer::join_ok(switchboard::wire::Payload::empty_object()))
            .expect("answered");
    }
    drop(ws);
    endpoint.shutdown().expect("shutdown");
}

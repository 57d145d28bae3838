//! The transport loops on an in-memory stream, with a tungstenite client on the other end
//! and a recording stand-in for the session.

use super::*;
use bytes::Bytes;
use std::sync::Arc;
use tokio::io::DuplexStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const LIMIT: Duration = Duration::from_secs(10);

/// Records every message and answers heartbeats like the session would.
struct Recorder {
    seen: Arc<parking_lot::Mutex<Vec<Message>>>,
    outbox: Arc<Outbox>,
}

impl Inbound for Recorder {
    fn socket_id(&self) -> Option<&str> {
        None
    }

    fn handle(&mut self, msg: Message) {
        if msg.event == "heartbeat" {
            let frame = Serializer::V2Json
                .encode_reply(
                    None,
                    msg.r#ref.as_ref(),
                    "phoenix",
                    "ok",
                    &crate::wire::Payload::empty_object(),
                )
                .expect("encodes");
            let _ = self.outbox.push(frame);
        }
        self.seen.lock().push(msg);
    }
}

struct Harness {
    client: WebSocketStream<DuplexStream>,
    outbox: Arc<Outbox>,
    seen: Arc<parking_lot::Mutex<Vec<Message>>>,
    server: tokio::task::JoinHandle<TerminateReason>,
}

/// The server side of a connection over an in-memory pipe of `pipe_bytes`; its outbox has
/// the limits of `cfg`, as in the endpoint.
async fn harness(cfg: TransportConfig, pipe_bytes: usize) -> Harness {
    let outbox = Outbox::new(cfg.outbox_max_frames, cfg.outbox_max_bytes);
    let (a, b) = tokio::io::duplex(pipe_bytes);
    let server_io = Halves::accept(a, &cfg).await;
    let client = WebSocketStream::from_raw_socket(b, ws::protocol::Role::Client, None).await;
    let outbox = Arc::new(outbox);
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut recorder = Recorder {
        seen: seen.clone(),
        outbox: outbox.clone(),
    };
    let server_outbox = outbox.clone();
    let server = tokio::spawn(async move {
        let (reason, closer) = run(
            server_io,
            &mut recorder,
            &server_outbox,
            Serializer::V2Json,
            &cfg,
            &crate::metrics::Metrics::default(),
        )
        .await;
        closer.finish().await;
        reason
    });
    Harness {
        client,
        outbox,
        seen,
        server,
    }
}

fn with_outbox(cfg: TransportConfig, max_frames: usize, max_bytes: usize) -> TransportConfig {
    TransportConfig {
        outbox_max_frames: max_frames,
        outbox_max_bytes: max_bytes,
        ..cfg
    }
}

fn fast_cfg() -> TransportConfig {
    TransportConfig {
        close_timeout: Duration::from_millis(500),
        ..TransportConfig::default()
    }
}

/// Reads until the server's close frame; returns its code and the data messages before it.
async fn close_code(client: &mut WebSocketStream<DuplexStream>) -> (Option<u16>, Vec<WsMessage>) {
    let mut before = Vec::new();
    let read = async {
        while let Some(msg) = client.next().await {
            match msg {
                Ok(WsMessage::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(other) => before.push(other),
                Err(_) => return None,
            }
        }
        None
    };
    let code = tokio::time::timeout(LIMIT, read)
        .await
        .expect("server closes in time");
    (code, before)
}

async fn reason(h: Harness) -> TerminateReason {
    tokio::time::timeout(LIMIT, h.server)
        .await
        .expect("server ends in time")
        .expect("server task")
}

#[tokio::test]
async fn text_frames_are_decoded_and_handled_in_order() {
    let mut h = harness(with_outbox(fast_cfg(), 16, 1 << 20), 64 * 1024).await;
    for r in ["1", "2"] {
        let text = format!(r#"[null,"{r}","phoenix","heartbeat",{{}}]"#);
        h.client.send(WsMessage::text(text)).await.expect("send");
    }
    for r in ["1", "2"] {
        let reply = tokio::time::timeout(LIMIT, h.client.next())
            .await
            .expect("reply in time")
            .expect("open")
            .expect("frame");
        let expected = format!(r#""{r}""#);
        assert!(
            reply.to_text().expect("text").contains(&expected),
            "{reply:?}"
        );
    }
    h.client.close(None).await.expect("close");
    let refs: Vec<String> = h
        .seen
        .lock()
        .iter()
        .map(|m| {
            m.r#ref
                .as_ref()
                .map(|r| r.to_text().into_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(refs, ["1", "2"]);
    assert_eq!(reason(h).await, TerminateReason::Closed);
}

#[tokio::test]
async fn binary_push_frames_are_decoded() {
    let mut h = harness(with_outbox(fast_cfg(), 16, 1 << 20), 64 * 1024).await;
    // kind 0, join_ref "1", ref "2", topic "t", event "e", payload 01 02
    let frame = vec![0u8, 1, 1, 1, 1, b'1', b'2', b't', b'e', 1, 2];
    h.client.send(WsMessage::binary(frame)).await.expect("send");
    h.client
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .await
        .expect("close");
    // The client's close is answered: the server neither failed the frame (1011) nor
    // closed the connection for any other reason before it.
    let (code, before) = close_code(&mut h.client).await;
    assert_eq!(code, Some(1000));
    assert_eq!(before, Vec::<WsMessage>::new());
    let seen = h.seen.clone();
    // A decode failure would end the same way; what reached the session tells them apart.
    assert_eq!(reason(h).await, TerminateReason::Closed);
    assert_eq!(
        *seen.lock(),
        vec![Message {
            join_ref: Some(crate::wire::Ref::from_text("1")),
            r#ref: Some(crate::wire::Ref::from_text("2")),
            topic: "t".to_owned(),
            event: "e".to_owned(),
            payload: crate::wire::Payload::Binary(Bytes::from_static(&[1, 2])),
        }],
        "the decoded push reached the session, fields and payload intact"
    );
}

#[tokio::test]
async fn malformed_json_closes_with_1011() {
    let mut h = harness(with_outbox(fast_cfg(), 16, 1 << 20), 64 * 1024).await;
    h.client
        .send(WsMessage::text("not json"))
        .await
        .expect("send");
    assert_eq!(
        close_code(&mut h.client).await.0,
        Some(MALFORMED_CLOSE_CODE)
    );
    assert!(h.seen.lock().is_empty());
    assert_eq!(reason(h).await, TerminateReason::Closed);
}

#[tokio::test]
async fn wrong_binary_kind_closes_with_1011() {
    let mut h = harness(with_outbox(fast_cfg(), 16, 1 << 20), 64 * 1024).await;
    h.client
        .send(WsMessage::binary(vec![1u8, 0, 0, 0, 0]))
        .await
        .expect("send");
    assert_eq!(
        close_code(&mut h.client).await.0,
        Some(MALFORMED_CLOSE_CODE)
    );
}

#[tokio::test]
async fn invalid_utf8_text_closes_with_1007() {
    let mut h = harness(with_outbox(fast_cfg(), 16, 1 << 20), 64 * 1024).await;
    let raw = ws::protocol::frame::Frame::message(
        Bytes::from_static(&[b'[', 0xff, 0xfe, b']']),
        OpCode::Data(OpData::Text),
        true,
    );
    h.client.send(WsMessage::Frame(raw)).await.expect("send");
    assert_eq!(
        close_code(&mut h.client).await.0,
        Some(INVALID_UTF8_CLOSE_CODE)
    );
    assert_eq!(reason(h).await, TerminateReason::Closed);
}

#[tokio::test]
async fn oversize_frame_closes_with_1009() {
    let cfg = TransportConfig {
        max_frame_bytes: 1024,
        ..fast_cfg()
    };
    let mut h = harness(with_outbox(cfg, 16, 1 << 20), 64 * 1024).await;
    let big = format!(
        r#"[null,"1","room:a","echo",{{"x":"{}"}}]"#,
        "a".repeat(4096)
    );
    h.client.send(WsMessage::text(big)).await.expect("send");
    assert_eq!(close_code(&mut h.client).await.0, Some(TOO_BIG_CLOSE_CODE));
    assert!(h.seen.lock().is_empty());
    assert_eq!(reason(h).await, TerminateReason::Closed);
}

#[tokio::test]
async fn idle_timer_is_reset_by_data_frames_only() {
    let cfg = TransportConfig {
        idle_timeout: Duration::from_millis(600),
        ..fast_cfg()
    };
    let mut h = harness(with_outbox(cfg, 16, 1 << 20), 64 * 1024).await;
    // Heartbeats (data) every 100 ms keep it open well past the idle timeout: each is answered.
    for i in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        h.client
            .send(WsMessage::text(format!(
                r#"[null,"{i}","phoenix","heartbeat",{{}}]"#
            )))
            .await
            .expect("heartbeat");
        let answer = tokio::time::timeout(LIMIT, h.client.next())
            .await
            .expect("heartbeat answered in time");
        assert!(
            matches!(answer, Some(Ok(WsMessage::Text(_)))),
            "heartbeat {i} answered while open, got {answer:?}"
        );
    }
    // Pings alone do not: the connection is closed as idle while they keep coming.
    let (mut sink, mut pings_rx) = h.client.split();
    let pinger = tokio::spawn(async move {
        while sink.send(WsMessage::Ping(Bytes::new())).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let closed = tokio::time::timeout(LIMIT, async {
        while let Some(msg) = pings_rx.next().await {
            match msg {
                Ok(WsMessage::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("closed while pinging");
    assert_eq!(closed, Some(IDLE_CLOSE_CODE));
    pinger.abort();
    assert_eq!(
        tokio::time::timeout(LIMIT, h.server)
            .await
            .expect("server ends in time")
            .expect("server task"),
        TerminateReason::Closed
    );
}

#[tokio::test]
async fn a_client_that_pings_without_reading_is_closed_as_slow_consumer() {
    // A 4 KiB pipe that the client never reads: the pongs fill it, then every further ping
    // goes unanswered; after as many as the outbox holds frames (16) the server gives up.
    // The idle timeout (60 s) is far beyond the test's deadline.
    let h = harness(with_outbox(fast_cfg(), 16, 64 * 1024), 4096).await;
    let Harness { client, server, .. } = h;
    let (mut sink, _unread) = client.split();
    let pinger = tokio::spawn(async move {
        let mut sent = 0usize;
        while sink
            .send(WsMessage::Ping(Bytes::from_static(b"ping")))
            .await
            .is_ok()
        {
            sent += 1;
            tokio::task::yield_now().await;
        }
        sent
    });
    let reason = tokio::time::timeout(LIMIT, server)
        .await
        .expect("server ends while the client keeps pinging")
        .expect("server task");
    assert_eq!(reason, TerminateReason::Closed);
    let sent = tokio::time::timeout(LIMIT, pinger)
        .await
        .expect("pinger stops once the server is gone")
        .expect("pinger task");
    // 4 KiB holds ~600 six-byte pongs: the cut came after the pipe filled, not before.
    assert!(sent > 16, "only {sent} pings were sent");
}

#[tokio::test]
async fn disconnect_delivers_queued_frames_then_closes_with_1001() {
    let mut h = harness(with_outbox(fast_cfg(), 16, 1 << 20), 64 * 1024).await;
    let frame = Frame::Text(Bytes::from_static(br#"[null,null,"t","bye",{}]"#));
    h.outbox.push(frame).expect("queued");
    h.outbox.close(CloseReason::Disconnect);
    let (code, before) = close_code(&mut h.client).await;
    assert_eq!(code, Some(DISCONNECT_CLOSE_CODE));
    assert_eq!(before, vec![WsMessage::text(r#"[null,null,"t","bye",{}]"#)]);
    assert_eq!(reason(h).await, TerminateReason::Disconnected);
}

#[tokio::test]
async fn drain_closes_with_1012() {
    let mut h = harness(with_outbox(fast_cfg(), 16, 1 << 20), 64 * 1024).await;
    h.outbox.close(CloseReason::Drain);
    assert_eq!(close_code(&mut h.client).await.0, Some(DRAIN_CLOSE_CODE));
    assert_eq!(reason(h).await, TerminateReason::Drain);
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_as_slow_consumer() {
    // A 4 KiB pipe that nobody reads: the writer blocks, the outbox overflows.
    let h = harness(with_outbox(fast_cfg(), 64, 64 * 1024), 4096).await;
    let frame = Frame::Text(Bytes::from(format!(
        r#"[null,null,"t","e",{{"x":"{}"}}]"#,
        "y".repeat(1000)
    )));
    let mut overflowed = false;
    for _ in 0..10_000 {
        if h.outbox.push(frame.clone()).is_err() {
            overflowed = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(overflowed, "outbox must refuse frames once full");
    assert_eq!(h.outbox.closed(), Some(CloseReason::SlowConsumer));
    // The connection ends by itself even though the client never reads.
    assert_eq!(reason(h).await, TerminateReason::Closed);
}

#[tokio::test]
async fn client_close_is_answered() {
    let mut h = harness(with_outbox(fast_cfg(), 16, 1 << 20), 64 * 1024).await;
    h.client
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .await
        .expect("close");
    // The server echoes the close; the client stream then ends.
    let (code, _) = close_code(&mut h.client).await;
    assert_eq!(code, Some(1000));
    assert_eq!(reason(h).await, TerminateReason::Closed);
}

#[tokio::test]
async fn a_request_flood_is_throttled_not_disconnected() {
    // 2 000 heartbeats in one burst against a 16-frame outbox: the reader waits for the writer
    // instead of overflowing the outbox, so a client that reads its replies keeps its
    // connection.
    let mut h = harness(with_outbox(fast_cfg(), 16, 1 << 20), 64 * 1024).await;
    let (mut tx, mut rx) = h.client.split();
    let sender = tokio::spawn(async move {
        for r in 0..2000 {
            let text = format!(r#"[null,"{r}","phoenix","heartbeat",{{}}]"#);
            tx.feed(WsMessage::text(text)).await.expect("feed");
        }
        tx.flush().await.expect("flush");
        tx
    });
    for r in 0..2000 {
        let reply = tokio::time::timeout(LIMIT, rx.next())
            .await
            .expect("reply in time")
            .expect("open")
            .expect("frame");
        assert!(
            reply
                .to_text()
                .expect("text")
                .contains(&format!(r#""{r}""#)),
            "reply {r} in order: {reply:?}"
        );
    }
    assert_eq!(h.outbox.closed(), None);
    let tx = sender.await.expect("sender");
    h.client = tx.reunite(rx).expect("same stream");
    h.client.close(None).await.expect("close");
    assert_eq!(reason(h).await, TerminateReason::Closed);
}

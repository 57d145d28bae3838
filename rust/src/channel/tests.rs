//! Session tests: a `Session` driven directly with decoded messages, its outbox drained and
//! every frame compared with what PROTOCOL.md 3.1 prescribes (no sockets).

use super::*;
use crate::handler::{
    Connected, HandlerError, Info, JoinOutcome, Outcome, StopReason, TerminateReason,
};
use crate::outbox::Outbox;
use crate::wire::{Frame, Message, Payload, Ref, Serializer};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::time::Duration;

/// How long to wait for an expected frame before failing.
const WAIT: Duration = Duration::from_secs(5);
/// How long silence must last for "no (more) frames".
const QUIET: Duration = Duration::from_millis(150);

type Log = Arc<Mutex<Vec<(String, Option<String>, TerminateReason)>>>;

/// A channel handler modelled on the conformance fixture (PROTOCOL.md 9.1), by topic prefix.
struct Fixture {
    terminated: Log,
    intercept: bool,
}

fn text(v: &Value) -> Payload {
    Payload::Json(Bytes::from(v.to_string()))
}

fn json_of(p: &Payload) -> Value {
    match p {
        Payload::Json(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        Payload::Binary(_) => Value::Null,
    }
}

#[async_trait::async_trait]
impl Channel for Fixture {
    async fn join(
        &self,
        topic: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<JoinOutcome, HandlerError> {
        let params = json_of(&payload);
        let kind = topic.split(':').next().unwrap_or("");
        match kind {
            "auth" => return Ok(JoinOutcome::Error(text(&json!({"reason": "unauthorized"})))),
            "crashjoin" => return Err(HandlerError::new("join failed on purpose")),
            "panicjoin" => panic!("join panicked on purpose"),
            "slowjoin" => {
                let ms = params.get("ms").and_then(Value::as_u64).unwrap_or(200);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                if params.get("fail").is_some() {
                    return Ok(JoinOutcome::Error(text(&json!({"reason": "late no"}))));
                }
            }
            "joinreply" => return Ok(JoinOutcome::Ok(text(&json!({"welcome": true})))),
            // Replies with the params it was given (a resuming join's `_since` included).
            "echojoin" => return Ok(JoinOutcome::Ok(text(&params))),
            "joinpush" => {
                socket.push("in_join", text(&json!({"n": 1})))?;
                socket.broadcast("in_join_b", text(&json!({"n": 2})))?;
                if params.get("refuse").is_some() {
                    return Ok(JoinOutcome::Error(text(&json!({"reason": "no"}))));
                }
            }
            "room" | "roomi" => {
                let user = params.get("user").cloned().unwrap_or(Value::Null);
                socket.send_info(json!({"after_join": user}))?;
            }
            "presence" => {
                let key = params.get("user_id").cloned().unwrap_or(Value::Null);
                socket.send_info(json!({"track": key}))?;
            }
            _ => {}
        }
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        let ok = || Outcome::ok(Payload::empty_object());
        Ok(match event {
            "echo" => Outcome::ok(payload),
            "noreply" => Outcome::NoReply,
            "err" => Outcome::error(text(&json!({"why": "nope"}))),
            "new_msg" => {
                socket.broadcast("new_msg", payload)?;
                ok()
            }
            "new_msg_from" => {
                socket.broadcast_from("new_msg_from", payload)?;
                ok()
            }
            "boom" => return Err(HandlerError::new("boom")),
            "panic" => panic!("handle_in panicked on purpose"),
            "sleep" => {
                let ms = json_of(&payload)["ms"].as_u64().unwrap_or(100);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ok()
            }
            "stop" => Outcome::Stop {
                reason: StopReason::Shutdown("stop".into()),
                reply: Some(("ok".into(), Payload::empty_object())),
            },
            "stop_abnormal" => Outcome::Stop {
                reason: StopReason::Abnormal("bad".into()),
                reply: None,
            },
            "late_reply" => {
                let ms = json_of(&payload)["ms"].as_u64().unwrap_or(50);
                let r = socket.socket_ref()?;
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    let _ = r.reply("ok", text(&json!({"late": true})));
                });
                Outcome::NoReply
            }
            "binary_event" => {
                let Payload::Binary(b) = payload else {
                    return Err(HandlerError::new("binary_event needs a binary payload"));
                };
                socket.push("binary_event", Payload::Binary(Bytes::from_static(&[0, 1])))?;
                let mut out = b.to_vec();
                out.extend_from_slice(&[3, 4]);
                Outcome::ok(Payload::Binary(Bytes::from(out)))
            }
            "subscribe" => {
                let topic = json_of(&payload)["topic"].as_str().unwrap_or("").to_owned();
                socket.subscribe(&topic);
                ok()
            }
            "away" => {
                let key = socket.assigns()["key"].as_str().unwrap_or("").to_owned();
                let mut meta = serde_json::Map::new();
                meta.insert("status".into(), json!("away"));
                socket.update(&key, meta)?;
                ok()
            }
            _ => Outcome::error(text(&json!({"unknown": event}))),
        })
    }

    async fn handle_info(&self, info: Info, socket: &mut Socket) -> Result<Outcome, HandlerError> {
        let v = match info {
            Info::Message(v) => v,
            Info::Broadcast(b) => {
                let relayed =
                    json!({"from": b.topic, "event": b.event, "payload": json_of(&b.payload)});
                socket.push("relayed", text(&relayed))?;
                return Ok(Outcome::NoReply);
            }
        };
        if let Some(user) = v.get("after_join") {
            socket.broadcast("user_entered", text(&json!({ "user": user })))?;
            socket.push("joined", text(&json!({"status": "connected"})))?;
        }
        if let Some(key) = v.get("track").and_then(Value::as_str) {
            let mut meta = serde_json::Map::new();
            meta.insert("online_at".into(), json!(1));
            socket.track(key, meta)?;
            socket.assigns_mut().insert("key".into(), json!(key));
            let state = socket.presence_list();
            socket.push("presence_state", state)?;
        }
        Ok(Outcome::NoReply)
    }

    fn intercepts(&self) -> Vec<String> {
        if self.intercept {
            vec!["new_msg".into()]
        } else {
            Vec::new()
        }
    }

    async fn handle_out(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        let mut v = json_of(&payload);
        if v.get("hide") == Some(&json!(true)) {
            return Ok(Outcome::NoReply);
        }
        v["transport"] = json!(socket.transport());
        socket.push(event, text(&v))?;
        Ok(Outcome::NoReply)
    }

    async fn terminate(&self, reason: &TerminateReason, socket: &mut Socket) {
        let join_ref = socket.join_ref().map(|r| r.to_text().into_owned());
        self.terminated
            .lock()
            .push((socket.topic().to_owned(), join_ref, reason.clone()));
        let _ = socket.push("you_left", Payload::empty_object());
    }
}

struct World {
    backplane: Arc<Backplane>,
    mount: Arc<Mount>,
    terminated: Log,
}

fn world(config: MountConfig) -> World {
    world_with(config, Backplane::new("test-node", 2))
}

/// A world whose `echojoin:*` and `roomi:*` topics keep 10 messages (docs/HISTORY.md).
fn world_with_history() -> World {
    let mut history = crate::pubsub::history::HistoryConfig::default();
    let rule = crate::pubsub::history::HistoryRule {
        size: 10,
        ttl: Duration::from_secs(60),
    };
    history.add("echojoin:*", rule);
    history.add("roomi:*", rule);
    world_with(
        MountConfig::default(),
        Backplane::with_history("test-node", 2, history),
    )
}

fn world_with(config: MountConfig, backplane: Arc<Backplane>) -> World {
    let terminated: Log = Arc::default();
    let plain: Arc<dyn Channel> = Arc::new(Fixture {
        terminated: terminated.clone(),
        intercept: false,
    });
    let intercepting: Arc<dyn Channel> = Arc::new(Fixture {
        terminated: terminated.clone(),
        intercept: true,
    });
    let mut routes = Router::default();
    for p in [
        "room:*",
        "auth:*",
        "crashjoin:*",
        "panicjoin:*",
        "slowjoin:*",
        "joinreply:*",
        "echojoin:*",
        "joinpush:*",
        "presence:*",
    ] {
        routes.add(p, plain.clone());
    }
    routes.add("roomi:*", intercepting);
    World {
        backplane,
        mount: Arc::new(Mount { routes, config }),
        terminated,
    }
}

struct Conn {
    session: Session,
    outbox: Arc<Outbox>,
    pending: std::collections::VecDeque<Frame>,
}

impl World {
    fn connect(&self, serializer: Serializer) -> Conn {
        let outbox = Arc::new(Outbox::new(100_000, 64 << 20));
        let session = Session::new(
            self.backplane.clone(),
            self.mount.clone(),
            outbox.clone(),
            serializer,
            "websocket",
            Connected::default(),
        );
        Conn {
            session,
            outbox,
            pending: Default::default(),
        }
    }

    fn terminations(&self) -> Vec<(String, Option<String>, TerminateReason)> {
        self.terminated.lock().clone()
    }
}

fn r(s: &str) -> Ref {
    Ref::from_text(s)
}

fn msg(
    join_ref: Option<&str>,
    rf: Option<&str>,
    topic: &str,
    event: &str,
    payload: Value,
) -> Message {
    Message {
        join_ref: join_ref.map(r),
        r#ref: rf.map(r),
        topic: topic.to_owned(),
        event: event.to_owned(),
        payload: text(&payload),
    }
}

fn decode(f: &Frame) -> Value {
    match f {
        Frame::Text(b) => serde_json::from_slice(b).expect("server frames are valid JSON"),
        Frame::Binary(b) => json!({ "binary": b.to_vec() }),
    }
}

impl Conn {
    fn send(&mut self, m: Message) {
        self.session.handle(m);
    }

    fn join(&mut self, j: &str, topic: &str, params: Value) {
        self.send(msg(Some(j), Some(j), topic, "phx_join", params));
    }

    /// The next frame, waiting up to `WAIT`.
    async fn next(&mut self) -> Value {
        if self.pending.is_empty() {
            let mut got = Vec::new();
            let res = tokio::time::timeout(WAIT, self.outbox.drain_into(&mut got)).await;
            assert!(res.is_ok(), "timed out waiting for a frame");
            self.pending.extend(got);
        }
        let f = self
            .pending
            .pop_front()
            .expect("a frame after a successful drain");
        decode(&f)
    }

    /// The next `n` frames.
    async fn take(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    /// Asserts that no frame arrives within `QUIET`.
    async fn quiet(&mut self) {
        let mut got: Vec<Frame> = self.pending.drain(..).collect();
        let _ = tokio::time::timeout(QUIET, self.outbox.drain_into(&mut got)).await;
        let frames: Vec<Value> = got.iter().map(decode).collect();
        assert!(frames.is_empty(), "unexpected frames: {frames:?}");
    }

    /// Joins a `room:` topic and consumes the reply, user_entered and joined frames.
    async fn join_room(&mut self, j: &str, topic: &str) {
        self.join(j, topic, json!({}));
        assert_eq!(
            self.next().await,
            reply(Some(j), Some(j), topic, "ok", json!({}))
        );
        assert_eq!(
            self.next().await,
            json!([null, null, topic, "user_entered", {"user": null}])
        );
        assert_eq!(
            self.next().await,
            json!([j, null, topic, "joined", {"status": "connected"}])
        );
    }
}

fn reply(j: Option<&str>, rf: Option<&str>, topic: &str, status: &str, response: Value) -> Value {
    json!([j, rf, topic, "phx_reply", {"status": status, "response": response}])
}

fn close(j: &str, topic: &str) -> Value {
    json!([j, j, topic, "phx_close", {}])
}

fn error(j: &str, topic: &str) -> Value {
    json!([j, j, topic, "phx_error", {"reason": "channel_crash"}])
}

fn unmatched(rf: &str, topic: &str) -> Value {
    reply(
        None,
        Some(rf),
        topic,
        "error",
        json!({"reason": "unmatched topic"}),
    )
}

#[tokio::test]
async fn heartbeat_replies_with_null_join_ref_and_unknown_phoenix_event_is_unmatched() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.send(msg(None, Some("1"), "phoenix", "heartbeat", json!({})));
    assert_eq!(
        c.next().await,
        reply(None, Some("1"), "phoenix", "ok", json!({}))
    );
    // F1: any join_ref and any payload.
    c.send(msg(
        Some("5"),
        Some("2"),
        "phoenix",
        "heartbeat",
        json!([1, 2]),
    ));
    assert_eq!(
        c.next().await,
        reply(None, Some("2"), "phoenix", "ok", json!({}))
    );
    // Scenario 56.
    c.send(msg(None, Some("3"), "phoenix", "foo", json!({})));
    assert_eq!(c.next().await, unmatched("3", "phoenix"));
    // Scenario 20: joining "phoenix" is unrouted.
    c.join("4", "phoenix", json!({}));
    assert_eq!(c.next().await, unmatched("4", "phoenix"));
    c.quiet().await;
    assert_eq!(c.session.channel_count(), 0);
}

#[tokio::test]
async fn join_ok_reply_comes_before_after_join_broadcast_and_push() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join("6", "room:lobby", json!({"user": "ann"}));
    // Scenario 14 order: reply, the broadcast, then the push.
    assert_eq!(
        c.next().await,
        reply(Some("6"), Some("6"), "room:lobby", "ok", json!({}))
    );
    assert_eq!(
        c.next().await,
        json!([null, null, "room:lobby", "user_entered", {"user": "ann"}])
    );
    assert_eq!(
        c.next().await,
        json!(["6", null, "room:lobby", "joined", {"status": "connected"}])
    );
    c.quiet().await;
    assert_eq!(c.session.channel_count(), 1);
    assert_eq!(w.backplane.channel_count("room:lobby"), 1);
    c.join("7", "joinreply:1", json!({}));
    assert_eq!(
        c.next().await,
        reply(
            Some("7"),
            Some("7"),
            "joinreply:1",
            "ok",
            json!({"welcome": true})
        )
    );
}

#[tokio::test]
async fn refused_and_crashed_joins_leave_no_channel_and_can_be_retried() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    for j in ["1", "2", "3"] {
        c.join(j, "auth:1", json!({}));
        assert_eq!(
            c.next().await,
            reply(
                Some(j),
                Some(j),
                "auth:1",
                "error",
                json!({"reason": "unauthorized"})
            )
        );
    }
    c.join("4", "crashjoin:1", json!({}));
    assert_eq!(
        c.next().await,
        reply(
            Some("4"),
            Some("4"),
            "crashjoin:1",
            "error",
            json!({"reason": "join crashed"})
        )
    );
    c.join("5", "panicjoin:1", json!({}));
    assert_eq!(
        c.next().await,
        reply(
            Some("5"),
            Some("5"),
            "panicjoin:1",
            "error",
            json!({"reason": "join crashed"})
        )
    );
    c.quiet().await;
    assert_eq!(c.session.channel_count(), 0);
    assert_eq!(w.backplane.channel_count("auth:1"), 0);
    // The topic is not joined: a push is unmatched, a leave is a plain ok.
    c.send(msg(Some("3"), Some("9"), "auth:1", "echo", json!({})));
    assert_eq!(c.next().await, unmatched("9", "auth:1"));
    // A crashed join did not run terminate (it never joined).
    assert!(w.terminations().is_empty());
    // Other channels on the connection are unaffected.
    c.join_room("10", "room:a").await;
}

#[tokio::test]
async fn unmatched_topic_join_has_null_join_ref() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join("6", "nope:1", json!({}));
    assert_eq!(c.next().await, unmatched("6", "nope:1"));
    c.send(msg(None, Some("7"), "room:x", "echo", json!({})));
    assert_eq!(c.next().await, unmatched("7", "room:x"));
    c.quiet().await;
}

#[tokio::test]
async fn channel_limit_counts_joined_channels_and_excess_joins_keep_no_state() {
    let w = world(MountConfig {
        max_channels: 1,
        ..MountConfig::default()
    });
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:a").await;
    c.join("2", "room:b", json!({}));
    assert_eq!(
        c.next().await,
        reply(
            Some("2"),
            Some("2"),
            "room:b",
            "error",
            json!({"reason": "too many channels joined"})
        )
    );
    // A flood of joins beyond the limit: each answered, none kept.
    for i in 0..10_000 {
        let j = format!("x{i}");
        c.join(&j, &format!("room:{i}"), json!({}));
    }
    let frames = c.take(10_000).await;
    assert!(
        frames
            .iter()
            .all(|f| f[4]["response"]["reason"] == "too many channels joined")
    );
    assert_eq!(c.session.channel_count(), 1);
    assert!(c.session.entries() <= 1);
    // The first channel still works.
    c.send(msg(Some("1"), Some("3"), "room:a", "echo", json!({"x": 1})));
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("3"), "room:a", "ok", json!({"x": 1}))
    );
}

#[tokio::test]
async fn topic_longer_than_the_limit_is_refused() {
    let w = world(MountConfig {
        max_topic_bytes: 64,
        ..MountConfig::default()
    });
    let mut c = w.connect(Serializer::V2Json);
    let topic = format!("room:{}", "a".repeat(100));
    c.join("1", &topic, json!({}));
    assert_eq!(
        c.next().await,
        reply(
            Some("1"),
            Some("1"),
            &topic,
            "error",
            json!({"reason": "topic too long"})
        )
    );
    assert_eq!(c.session.channel_count(), 0);
    // At the limit is fine.
    let topic = format!("room:{}", "a".repeat(59));
    c.join_room("2", &topic).await;
}

#[tokio::test]
async fn messages_wait_behind_a_pending_join() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    // Scenario 24: the echo arrives while the join still runs.
    c.join("1", "slowjoin:1", json!({"ms": 200}));
    c.send(msg(
        Some("1"),
        Some("2"),
        "slowjoin:1",
        "echo",
        json!({"n": 1}),
    ));
    c.send(msg(None, Some("3"), "slowjoin:1", "echo", json!({"n": 2})));
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("1"), "slowjoin:1", "ok", json!({}))
    );
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("2"), "slowjoin:1", "ok", json!({"n": 1}))
    );
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("3"), "slowjoin:1", "ok", json!({"n": 2}))
    );
    // Messages queued behind a join that fails get the unjoined answers, after its reply.
    c.join("4", "slowjoin:2", json!({"ms": 200, "fail": true}));
    c.send(msg(Some("4"), Some("5"), "slowjoin:2", "echo", json!({})));
    c.send(msg(
        Some("4"),
        Some("6"),
        "slowjoin:2",
        "phx_leave",
        json!({}),
    ));
    assert_eq!(
        c.next().await,
        reply(
            Some("4"),
            Some("4"),
            "slowjoin:2",
            "error",
            json!({"reason": "late no"})
        )
    );
    assert_eq!(c.next().await, unmatched("5", "slowjoin:2"));
    assert_eq!(
        c.next().await,
        reply(Some("4"), Some("6"), "slowjoin:2", "ok", json!({}))
    );
    c.quiet().await;
    assert_eq!(c.session.channel_count(), 1);
}

#[tokio::test]
async fn replies_use_the_stored_join_ref_and_ref_null_gets_no_reply() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("6", "room:e").await;
    c.send(msg(None, Some("7"), "room:e", "echo", json!({"x": 1})));
    assert_eq!(
        c.next().await,
        reply(Some("6"), Some("7"), "room:e", "ok", json!({"x": 1}))
    );
    // Scenario 27: non-object payloads come back as the response.
    c.send(msg(Some("6"), Some("8"), "room:e", "echo", json!([1, 2])));
    assert_eq!(
        c.next().await,
        reply(Some("6"), Some("8"), "room:e", "ok", json!([1, 2]))
    );
    c.send(msg(Some("6"), Some("9"), "room:e", "err", json!({})));
    assert_eq!(
        c.next().await,
        reply(
            Some("6"),
            Some("9"),
            "room:e",
            "error",
            json!({"why": "nope"})
        )
    );
    c.send(msg(Some("6"), None, "room:e", "echo", json!({})));
    c.send(msg(Some("6"), Some("10"), "room:e", "noreply", json!({})));
    c.quiet().await;
}

#[tokio::test]
async fn late_reply_through_socket_ref() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:l").await;
    c.send(msg(
        Some("1"),
        Some("2"),
        "room:l",
        "late_reply",
        json!({"ms": 50}),
    ));
    c.send(msg(Some("1"), Some("3"), "room:l", "echo", json!({})));
    // The echo is answered first: the late reply does not hold up the channel.
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("3"), "room:l", "ok", json!({}))
    );
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("2"), "room:l", "ok", json!({"late": true}))
    );
}

#[tokio::test]
async fn duplicate_join_replies_first_then_closes_the_old_join_ref_without_terminate() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:d").await;
    c.join("2", "room:d", json!({}));
    assert_eq!(
        c.next().await,
        reply(Some("2"), Some("2"), "room:d", "ok", json!({}))
    );
    assert_eq!(c.next().await, close("1", "room:d"));
    assert_eq!(
        c.next().await,
        json!([null, null, "room:d", "user_entered", {"user": null}])
    );
    assert_eq!(
        c.next().await,
        json!(["2", null, "room:d", "joined", {"status": "connected"}])
    );
    // Scenario 28: the old join_ref is stale now; null is answered with the new one.
    c.send(msg(Some("1"), Some("3"), "room:d", "echo", json!({})));
    c.send(msg(None, Some("4"), "room:d", "echo", json!({})));
    assert_eq!(
        c.next().await,
        reply(Some("2"), Some("4"), "room:d", "ok", json!({}))
    );
    c.quiet().await;
    assert!(
        w.terminations().is_empty(),
        "terminate must not run for a duplicate join"
    );
    assert_eq!(c.session.channel_count(), 1);
    assert_eq!(w.backplane.channel_count("room:d"), 1);
    // Exactly one subscriber: a broadcast reaches the client once.
    w.backplane
        .broadcast("room:d", "ping", Payload::empty_object())
        .expect("broadcast accepted");
    assert_eq!(c.next().await, json!([null, null, "room:d", "ping", {}]));
    c.quiet().await;
}

#[tokio::test]
async fn leave_joined_unjoined_and_stale() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:a").await;
    // Stale leave: nothing, the channel keeps running.
    c.send(msg(Some("0"), Some("2"), "room:a", "phx_leave", json!({})));
    c.send(msg(Some("1"), Some("3"), "room:a", "echo", json!({})));
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("3"), "room:a", "ok", json!({}))
    );
    // F9: ok, phx_close, then the push from terminate.
    c.send(msg(Some("1"), Some("4"), "room:a", "phx_leave", json!({})));
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("4"), "room:a", "ok", json!({}))
    );
    assert_eq!(c.next().await, close("1", "room:a"));
    assert_eq!(c.next().await, json!(["1", null, "room:a", "you_left", {}]));
    assert_eq!(
        w.terminations(),
        vec![(
            "room:a".to_owned(),
            Some("1".to_owned()),
            TerminateReason::Left
        )]
    );
    // Unsubscribed: later broadcasts do not arrive.
    w.backplane
        .broadcast("room:a", "ping", Payload::empty_object())
        .expect("broadcast accepted");
    c.quiet().await;
    assert_eq!(c.session.channel_count(), 0);
    assert_eq!(w.backplane.channel_count("room:a"), 0);
    // F8: leave of an unjoined topic, join_ref echoed, no phx_close.
    c.send(msg(
        Some("9"),
        Some("5"),
        "room:none",
        "phx_leave",
        json!({}),
    ));
    assert_eq!(
        c.next().await,
        reply(Some("9"), Some("5"), "room:none", "ok", json!({}))
    );
    c.quiet().await;
    // Null join_ref leave is accepted (F9 with the stored join_ref).
    c.join_room("6", "room:b").await;
    c.send(msg(None, Some("7"), "room:b", "phx_leave", json!({})));
    assert_eq!(
        c.next().await,
        reply(Some("6"), Some("7"), "room:b", "ok", json!({}))
    );
    assert_eq!(c.next().await, close("6", "room:b"));
}

#[tokio::test]
async fn crash_writes_phx_error_and_nothing_after_it() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:c").await;
    c.send(msg(Some("1"), Some("2"), "room:c", "boom", json!({})));
    c.send(msg(Some("1"), Some("3"), "room:c", "echo", json!({})));
    assert_eq!(c.next().await, error("1", "room:c"));
    // The queued echo died with the channel; terminate's push is not written.
    c.quiet().await;
    let t = w.terminations();
    assert_eq!(t.len(), 1);
    assert!(matches!(&t[0].2, TerminateReason::Crash(why) if why.contains("boom")));
    // The topic is free again: a new message is unmatched, a rejoin works.
    c.send(msg(Some("1"), Some("4"), "room:c", "echo", json!({})));
    assert_eq!(c.next().await, unmatched("4", "room:c"));
    c.join_room("5", "room:c").await;
    assert_eq!(w.backplane.channel_count("room:c"), 1);
}

#[tokio::test]
async fn stop_normal_closes_and_stop_abnormal_errors() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:s").await;
    c.send(msg(Some("1"), Some("2"), "room:s", "stop", json!({})));
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("2"), "room:s", "ok", json!({}))
    );
    assert_eq!(c.next().await, close("1", "room:s"));
    assert_eq!(c.next().await, json!(["1", null, "room:s", "you_left", {}]));
    c.join_room("3", "room:s").await;
    c.send(msg(
        Some("3"),
        Some("4"),
        "room:s",
        "stop_abnormal",
        json!({}),
    ));
    assert_eq!(c.next().await, error("3", "room:s"));
    c.quiet().await;
    let reasons: Vec<_> = w.terminations().into_iter().map(|t| t.2).collect();
    assert_eq!(
        reasons,
        vec![
            TerminateReason::Stop(StopReason::Shutdown("stop".into())),
            TerminateReason::Stop(StopReason::Abnormal("bad".into())),
        ]
    );
}

#[tokio::test]
async fn request_timeout_crashes_the_channel() {
    let w = world(MountConfig {
        request_timeout: Duration::from_millis(100),
        ..MountConfig::default()
    });
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:t").await;
    c.send(msg(
        Some("1"),
        Some("2"),
        "room:t",
        "sleep",
        json!({"ms": 10_000}),
    ));
    assert_eq!(c.next().await, error("1", "room:t"));
    c.quiet().await;
    // A join that takes too long is a crashed join.
    c.join("3", "slowjoin:t", json!({"ms": 10_000}));
    assert_eq!(
        c.next().await,
        reply(
            Some("3"),
            Some("3"),
            "slowjoin:t",
            "error",
            json!({"reason": "join crashed"})
        )
    );
    assert_eq!(c.session.channel_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_channel_does_not_affect_its_neighbours() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:p1").await;
    c.join_room("2", "room:p2").await;
    c.send(msg(Some("1"), Some("3"), "room:p1", "panic", json!({})));
    assert_eq!(c.next().await, error("1", "room:p1"));
    c.send(msg(
        Some("2"),
        Some("4"),
        "room:p2",
        "echo",
        json!({"still": "here"}),
    ));
    assert_eq!(
        c.next().await,
        reply(
            Some("2"),
            Some("4"),
            "room:p2",
            "ok",
            json!({"still": "here"})
        )
    );
    assert_eq!(c.session.channel_count(), 1);
}

#[tokio::test]
async fn channel_inbox_overflow_crashes_only_that_channel() {
    let w = world(MountConfig {
        channel_queue: 2,
        ..MountConfig::default()
    });
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:o").await;
    c.send(msg(
        Some("1"),
        Some("2"),
        "room:o",
        "sleep",
        json!({"ms": 300}),
    ));
    tokio::task::yield_now().await;
    for i in 3..10 {
        c.send(msg(
            Some("1"),
            Some(&i.to_string()),
            "room:o",
            "echo",
            json!({}),
        ));
    }
    assert_eq!(c.next().await, error("1", "room:o"));
    // The queued messages died with the channel; those sent after the overflow found the
    // topic unjoined. Nothing else is written for join_ref "1".
    let mut rest: Vec<Frame> = c.pending.drain(..).collect();
    let _ = tokio::time::timeout(QUIET, c.outbox.drain_into(&mut rest)).await;
    let rest: Vec<Value> = rest.iter().map(decode).collect();
    assert!(!rest.is_empty());
    for f in &rest {
        assert_eq!(f, &unmatched(f[1].as_str().unwrap_or(""), "room:o"));
    }
    assert_eq!(c.session.channel_count(), 0);
    c.join_room("20", "room:o").await;
}

#[tokio::test]
async fn broadcast_reaches_everyone_and_broadcast_from_skips_the_sender() {
    let w = world(MountConfig::default());
    let mut a = w.connect(Serializer::V2Json);
    let mut b = w.connect(Serializer::V2Json);
    a.join_room("1", "room:b").await;
    b.join("1", "room:b", json!({}));
    assert_eq!(
        b.next().await,
        reply(Some("1"), Some("1"), "room:b", "ok", json!({}))
    );
    // b's own user_entered reaches a too.
    assert_eq!(
        a.next().await,
        json!([null, null, "room:b", "user_entered", {"user": null}])
    );
    b.take(2).await;
    a.send(msg(
        Some("1"),
        Some("2"),
        "room:b",
        "new_msg",
        json!({"body": "hi"}),
    ));
    // Scenario 40: the sender gets the broadcast before its reply.
    assert_eq!(
        a.next().await,
        json!([null, null, "room:b", "new_msg", {"body": "hi"}])
    );
    assert_eq!(
        a.next().await,
        reply(Some("1"), Some("2"), "room:b", "ok", json!({}))
    );
    assert_eq!(
        b.next().await,
        json!([null, null, "room:b", "new_msg", {"body": "hi"}])
    );
    a.send(msg(
        Some("1"),
        Some("3"),
        "room:b",
        "new_msg_from",
        json!({"body": "yo"}),
    ));
    assert_eq!(
        a.next().await,
        reply(Some("1"), Some("3"), "room:b", "ok", json!({}))
    );
    assert_eq!(
        b.next().await,
        json!([null, null, "room:b", "new_msg_from", {"body": "yo"}])
    );
    a.quiet().await;
    b.quiet().await;
    // Host-side broadcast.
    w.backplane
        .broadcast("room:b", "news", text(&json!({"n": 1})))
        .expect("broadcast accepted");
    assert_eq!(
        a.next().await,
        json!([null, null, "room:b", "news", {"n": 1}])
    );
    assert_eq!(
        b.next().await,
        json!([null, null, "room:b", "news", {"n": 1}])
    );
    assert_eq!(w.backplane.channel_count("room:b"), 2);
}

#[tokio::test]
async fn intercepted_events_go_through_handle_out_per_subscriber() {
    let w = world(MountConfig::default());
    let mut a = w.connect(Serializer::V2Json);
    let mut b = w.connect(Serializer::V2Json);
    a.join("1", "roomi:1", json!({}));
    a.take(3).await;
    b.join("7", "roomi:1", json!({}));
    b.take(3).await;
    a.take(1).await; // b's user_entered
    a.send(msg(
        Some("1"),
        Some("2"),
        "roomi:1",
        "new_msg",
        json!({"body": "x"}),
    ));
    // Intercepted: the reply comes first, then the per-socket push (3.3 rule 5).
    assert_eq!(
        a.next().await,
        reply(Some("1"), Some("2"), "roomi:1", "ok", json!({}))
    );
    assert_eq!(
        a.next().await,
        json!(["1", null, "roomi:1", "new_msg", {"body": "x", "transport": "websocket"}])
    );
    assert_eq!(
        b.next().await,
        json!(["7", null, "roomi:1", "new_msg", {"body": "x", "transport": "websocket"}])
    );
    a.send(msg(
        Some("1"),
        Some("3"),
        "roomi:1",
        "new_msg",
        json!({"hide": true}),
    ));
    assert_eq!(
        a.next().await,
        reply(Some("1"), Some("3"), "roomi:1", "ok", json!({}))
    );
    a.quiet().await;
    b.quiet().await;
}

fn metas(diff_or_state: &Value, key: &str) -> Vec<Value> {
    diff_or_state[key]["metas"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn presence_track_state_diff_and_leave_on_channel_end() {
    let w = world(MountConfig::default());
    let mut a = w.connect(Serializer::V2Json);
    let mut b = w.connect(Serializer::V2Json);
    a.join("1", "presence:lobby", json!({"user_id": "u1"}));
    assert_eq!(
        a.next().await,
        reply(Some("1"), Some("1"), "presence:lobby", "ok", json!({}))
    );
    // Scenario 58: the diff (broadcast) and the state (push), in either order.
    let frames = a.take(2).await;
    let diff = frames
        .iter()
        .find(|f| f[3] == "presence_diff")
        .expect("a diff");
    let state = frames
        .iter()
        .find(|f| f[3] == "presence_state")
        .expect("a state");
    assert_eq!(diff[0], Value::Null);
    assert_eq!(state[0], json!("1"));
    let joined = metas(&diff[4]["joins"], "u1");
    assert_eq!(joined.len(), 1);
    let p1 = joined[0]["phx_ref"].clone();
    assert!(p1.as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(metas(&state[4], "u1"), joined);
    assert_eq!(diff[4]["leaves"], json!({}));

    b.join("1", "presence:lobby", json!({"user_id": "u2"}));
    b.take(3).await;
    let diff = a.next().await;
    assert_eq!(diff[3], "presence_diff");
    assert_eq!(metas(&diff[4]["joins"], "u2").len(), 1);

    // Scenario 61: update is one diff with the key in joins and leaves.
    a.send(msg(
        Some("1"),
        Some("2"),
        "presence:lobby",
        "away",
        json!({}),
    ));
    let frames = b.take(1).await;
    let diff = &frames[0][4];
    let new = metas(&diff["joins"], "u1");
    assert_eq!(new[0]["status"], "away");
    assert_eq!(new[0]["phx_ref_prev"], p1);
    assert_eq!(metas(&diff["leaves"], "u1")[0]["phx_ref"], p1);
    a.take(2).await; // a's own diff and its reply

    // Scenario 60: the channel ends (leave) → the others see u1 leave.
    a.send(msg(
        Some("1"),
        Some("3"),
        "presence:lobby",
        "phx_leave",
        json!({}),
    ));
    let diff = b.next().await;
    assert_eq!(diff[3], "presence_diff");
    assert_eq!(diff[4]["joins"], json!({}));
    assert_eq!(metas(&diff[4]["leaves"], "u1").len(), 1);
    // a is unsubscribed before its presence leaves: it gets no diff after phx_close.
    let frames = a.take(3).await;
    assert_eq!(
        frames[0],
        reply(Some("1"), Some("3"), "presence:lobby", "ok", json!({}))
    );
    assert_eq!(frames[1], close("1", "presence:lobby"));
    assert_eq!(frames[2][3], "you_left");
    a.quiet().await;
}

#[tokio::test]
async fn close_runs_terminate_with_the_reason_and_presences_leave() {
    let w = world(MountConfig::default());
    let mut a = w.connect(Serializer::V2Json);
    let mut b = w.connect(Serializer::V2Json);
    a.join_room("1", "room:z").await;
    a.join("2", "presence:z", json!({"user_id": "ua"}));
    a.take(3).await;
    b.join("1", "presence:z", json!({"user_id": "ub"}));
    b.take(3).await;
    let Conn {
        session, outbox, ..
    } = a;
    tokio::time::timeout(WAIT, session.close(TerminateReason::Closed))
        .await
        .expect("close finishes");
    let mut t: Vec<_> = w.terminations().into_iter().map(|t| (t.0, t.2)).collect();
    t.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        t,
        vec![
            ("presence:z".to_owned(), TerminateReason::Closed),
            ("room:z".to_owned(), TerminateReason::Closed),
        ]
    );
    let diff = b.next().await;
    assert_eq!(metas(&diff[4]["leaves"], "ua").len(), 1);
    assert_eq!(w.backplane.channel_count("room:z"), 0);
    // No frames for a closed connection (its channels' terminate pushes are dropped).
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(QUIET, outbox.drain_into(&mut rest)).await;
    let rest: Vec<Value> = rest.iter().map(decode).collect();
    assert!(rest.iter().all(|f| f[3] != "you_left"), "{rest:?}");
}

#[tokio::test]
async fn close_is_bounded_when_a_handler_hangs() {
    let w = world(MountConfig {
        request_timeout: Duration::from_millis(100),
        ..MountConfig::default()
    });
    let mut a = w.connect(Serializer::V2Json);
    a.join_room("1", "room:h").await;
    a.send(msg(
        Some("1"),
        Some("2"),
        "room:h",
        "sleep",
        json!({"ms": 60_000}),
    ));
    tokio::time::timeout(
        Duration::from_secs(2),
        a.session.close(TerminateReason::Closed),
    )
    .await
    .expect("close is bounded by the request timeout");
    assert_eq!(w.backplane.channel_count("room:h"), 0);
}

#[tokio::test]
async fn v1_session_frames_have_no_join_ref() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V1Json);
    c.send(msg(None, Some("1"), "phoenix", "heartbeat", json!({})));
    assert_eq!(
        c.next().await,
        json!({"event": "phx_reply", "payload": {"response": {}, "status": "ok"}, "ref": "1", "topic": "phoenix"})
    );
    c.send(msg(None, Some("2"), "room:v1", "phx_join", json!({})));
    assert_eq!(
        c.next().await,
        json!({"event": "phx_reply", "payload": {"response": {}, "status": "ok"}, "ref": "2", "topic": "room:v1"})
    );
    assert_eq!(
        c.next().await,
        json!({"event": "user_entered", "payload": {"user": null}, "ref": null, "topic": "room:v1"})
    );
    assert_eq!(
        c.next().await,
        json!({"event": "joined", "payload": {"status": "connected"}, "ref": null, "topic": "room:v1"})
    );
    c.send(msg(None, Some("3"), "room:v1", "echo", json!("str")));
    assert_eq!(
        c.next().await,
        json!({"event": "phx_reply", "payload": {"response": "str", "status": "ok"}, "ref": "3", "topic": "room:v1"})
    );
}

#[tokio::test]
async fn binary_payloads_round_trip_as_binary_frames() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:bin").await;
    c.send(Message {
        join_ref: None,
        r#ref: Some(r("2")),
        topic: "room:bin".into(),
        event: "binary_event".into(),
        payload: Payload::Binary(Bytes::from_static(&[1, 2])),
    });
    let s = Serializer::V2Json;
    let push = s
        .encode_message(
            Some(&r("1")),
            None,
            "room:bin",
            "binary_event",
            &Payload::Binary(Bytes::from_static(&[0, 1])),
        )
        .expect("encodable");
    let reply = s
        .encode_reply(
            Some(&r("1")),
            Some(&r("2")),
            "room:bin",
            "ok",
            &Payload::Binary(Bytes::from_static(&[1, 2, 3, 4])),
        )
        .expect("encodable");
    // Scenario 46: kind-0 push then kind-1 reply, both tagged with the stored join_ref.
    assert_eq!(c.next().await, decode(&push));
    assert_eq!(c.next().await, decode(&reply));
    // Scenario 47: a binary broadcast is a kind-2 frame.
    w.backplane
        .broadcast(
            "room:bin",
            "bb",
            Payload::Binary(Bytes::from_static(&[9, 9])),
        )
        .expect("broadcast accepted");
    let kind2 = s
        .encode_message(
            None,
            None,
            "room:bin",
            "bb",
            &Payload::Binary(Bytes::from_static(&[9, 9])),
        )
        .expect("encodable");
    assert_eq!(c.next().await, decode(&kind2));
}

#[tokio::test]
async fn external_subscription_delivers_broadcasts_to_handle_info() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:ext").await;
    c.send(msg(
        Some("1"),
        Some("2"),
        "room:ext",
        "subscribe",
        json!({"topic": "news"}),
    ));
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("2"), "room:ext", "ok", json!({}))
    );
    w.backplane
        .broadcast("news", "headline", text(&json!({"t": 1})))
        .expect("broadcast accepted");
    assert_eq!(
        c.next().await,
        json!(["1", null, "room:ext", "relayed", {"from": "news", "event": "headline", "payload": {"t": 1}}])
    );
    // The subscription ends with the channel.
    c.send(msg(
        Some("1"),
        Some("3"),
        "room:ext",
        "phx_leave",
        json!({}),
    ));
    c.take(3).await;
    assert_eq!(w.backplane.pubsub().subscriber_count("news"), 0);
}

#[tokio::test]
async fn duplicate_join_while_the_first_join_is_pending() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join("1", "slowjoin:d", json!({"ms": 300}));
    // The client timed out: it leaves J1 and joins again as J2 (scenario 22).
    c.send(msg(
        Some("1"),
        Some("2"),
        "slowjoin:d",
        "phx_leave",
        json!({}),
    ));
    c.join("3", "slowjoin:d", json!({"ms": 10}));
    // Every join is answered, in order, as Phoenix's one-join-at-a-time socket does; the
    // leave queued behind J1 goes with J1 (its channel ends without terminate).
    assert_eq!(
        c.next().await,
        reply(Some("1"), Some("1"), "slowjoin:d", "ok", json!({}))
    );
    assert_eq!(
        c.next().await,
        reply(Some("3"), Some("3"), "slowjoin:d", "ok", json!({}))
    );
    assert_eq!(c.next().await, close("1", "slowjoin:d"));
    c.quiet().await;
    assert_eq!(c.session.channel_count(), 1);
    assert_eq!(w.backplane.channel_count("slowjoin:d"), 1);
    assert!(w.terminations().is_empty());
}

#[tokio::test]
async fn pipelined_duplicate_joins_are_each_answered_in_order() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    // Three joins of one topic in one read, the first two still running when the next
    // arrives: J1 ok, J2 ok, J1 phx_close, J3 ok, J2 phx_close.
    c.join("1", "slowjoin:p", json!({"ms": 100}));
    c.join("2", "slowjoin:p", json!({"ms": 100}));
    c.join("3", "slowjoin:p", json!({"ms": 100}));
    assert_eq!(
        c.take(5).await,
        vec![
            reply(Some("1"), Some("1"), "slowjoin:p", "ok", json!({})),
            reply(Some("2"), Some("2"), "slowjoin:p", "ok", json!({})),
            close("1", "slowjoin:p"),
            reply(Some("3"), Some("3"), "slowjoin:p", "ok", json!({})),
            close("2", "slowjoin:p"),
        ]
    );
    c.quiet().await;
    assert_eq!(c.session.channel_count(), 1);
    assert_eq!(w.backplane.channel_count("slowjoin:p"), 1);
    assert!(w.terminations().is_empty());
    // The last join is the live channel.
    c.send(msg(
        Some("3"),
        Some("4"),
        "slowjoin:p",
        "echo",
        json!({"x": 1}),
    ));
    assert_eq!(
        c.next().await,
        reply(Some("3"), Some("4"), "slowjoin:p", "ok", json!({"x": 1}))
    );
}

#[tokio::test]
async fn pipelined_duplicate_joins_at_the_channel_limit_are_all_answered() {
    // One channel allowed: each superseded join gives its slot to its successor, so a chain
    // of duplicates never counts twice against the limit.
    let w = world(MountConfig {
        max_channels: 1,
        ..MountConfig::default()
    });
    let mut c = w.connect(Serializer::V2Json);
    c.join("1", "slowjoin:l", json!({"ms": 100}));
    c.join("2", "slowjoin:l", json!({"ms": 100}));
    c.join("3", "slowjoin:l", json!({"ms": 100}));
    assert_eq!(
        c.take(5).await,
        vec![
            reply(Some("1"), Some("1"), "slowjoin:l", "ok", json!({})),
            reply(Some("2"), Some("2"), "slowjoin:l", "ok", json!({})),
            close("1", "slowjoin:l"),
            reply(Some("3"), Some("3"), "slowjoin:l", "ok", json!({})),
            close("2", "slowjoin:l"),
        ]
    );
    c.quiet().await;
    assert_eq!(c.session.channel_count(), 1);
    // The slot is the last join's: another topic is refused, as with any one joined channel.
    c.join("4", "room:other", json!({}));
    assert_eq!(
        c.next().await,
        reply(
            Some("4"),
            Some("4"),
            "room:other",
            "error",
            json!({"reason": "too many channels joined"})
        )
    );
}

#[tokio::test]
async fn pipelined_duplicate_of_a_refused_join_owes_no_close() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join("1", "slowjoin:r", json!({"ms": 100, "fail": true}));
    c.join("2", "slowjoin:r", json!({"ms": 10}));
    assert_eq!(
        c.next().await,
        reply(
            Some("1"),
            Some("1"),
            "slowjoin:r",
            "error",
            json!({"reason": "late no"})
        )
    );
    assert_eq!(
        c.next().await,
        reply(Some("2"), Some("2"), "slowjoin:r", "ok", json!({}))
    );
    c.quiet().await;
    assert_eq!(c.session.channel_count(), 1);
}

#[tokio::test]
async fn close_while_a_duplicate_join_waits_stops_both_joins() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join("1", "slowjoin:w", json!({"ms": 100}));
    c.join("2", "slowjoin:w", json!({"ms": 10}));
    let Conn { session, .. } = c;
    tokio::time::timeout(WAIT, session.close(TerminateReason::Closed))
        .await
        .expect("close finishes");
    // J1 had joined when it saw the stop: it terminates; J2 never ran its join.
    assert_eq!(
        w.terminations(),
        vec![(
            "slowjoin:w".to_owned(),
            Some("1".to_owned()),
            TerminateReason::Closed
        )]
    );
    assert_eq!(w.backplane.channel_count("slowjoin:w"), 0);
}

#[tokio::test]
async fn close_during_a_join_terminates_the_channel_once_joined() {
    let w = world(MountConfig::default());
    let c = w.connect(Serializer::V2Json);
    let mut c = c;
    c.join("1", "slowjoin:c", json!({"ms": 100}));
    let Conn { session, .. } = c;
    tokio::time::timeout(WAIT, session.close(TerminateReason::Disconnected))
        .await
        .expect("close finishes");
    assert_eq!(
        w.terminations(),
        vec![(
            "slowjoin:c".to_owned(),
            Some("1".to_owned()),
            TerminateReason::Disconnected
        )]
    );
    assert_eq!(w.backplane.channel_count("slowjoin:c"), 0);
    assert_eq!(w.backplane.pubsub().subscriber_count("slowjoin:c"), 0);
}

#[tokio::test]
async fn pushes_and_broadcasts_from_join_are_deferred_until_after_the_reply() {
    let w = world(MountConfig::default());
    let mut a = w.connect(Serializer::V2Json);
    let mut b = w.connect(Serializer::V2Json);
    b.join("1", "joinpush:1", json!({}));
    b.take(3).await;
    a.join("5", "joinpush:1", json!({}));
    assert_eq!(
        a.next().await,
        reply(Some("5"), Some("5"), "joinpush:1", "ok", json!({}))
    );
    assert_eq!(
        a.next().await,
        json!(["5", null, "joinpush:1", "in_join", {"n": 1}])
    );
    assert_eq!(
        a.next().await,
        json!([null, null, "joinpush:1", "in_join_b", {"n": 2}])
    );
    assert_eq!(
        b.next().await,
        json!([null, null, "joinpush:1", "in_join_b", {"n": 2}])
    );
    // A refused join performs none of them.
    a.join("6", "joinpush:2", json!({"refuse": true}));
    assert_eq!(
        a.next().await,
        reply(
            Some("6"),
            Some("6"),
            "joinpush:2",
            "error",
            json!({"reason": "no"})
        )
    );
    a.quiet().await;
    b.quiet().await;
}

#[tokio::test]
async fn dropping_a_session_stops_its_channels_in_the_background() {
    let w = world(MountConfig::default());
    let mut c = w.connect(Serializer::V2Json);
    c.join_room("1", "room:drop").await;
    drop(c);
    let deadline = tokio::time::Instant::now() + WAIT;
    while w.terminations().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        w.terminations(),
        vec![(
            "room:drop".to_owned(),
            Some("1".to_owned()),
            TerminateReason::Closed
        )]
    );
    assert_eq!(w.backplane.channel_count("room:drop"), 0);
}

#[tokio::test]
async fn hub_disconnect_is_a_disconnect_broadcast_on_the_socket_id_topic() {
    let w = world(MountConfig::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let _sub = w.backplane.pubsub().subscribe(
        "user_sockets:42",
        crate::pubsub::Delivery::Mailbox(Arc::new(move |b| sink.lock().push(b.event.clone()))),
    );
    let delivered = w
        .backplane
        .disconnect("user_sockets:42")
        .expect("broadcast accepted");
    assert_eq!(delivered.local, 1);
    assert_eq!(*seen.lock(), vec!["disconnect".to_owned()]);
}

/// Phoenix subscribes a channel to its topic before it replies to the join, so a broadcast
/// made by anyone who saw the reply reaches the channel. Many joins in a row on two worker
/// threads, each broadcast made the moment its reply is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_made_after_the_join_reply_reaches_the_new_channel() {
    let w = world(MountConfig {
        max_channels: 1000,
        ..MountConfig::default()
    });
    let mut a = w.connect(Serializer::V2Json);
    for n in 0..300 {
        let topic = format!("room:race{n}");
        let j = n.to_string();
        a.join(&j, &topic, json!({}));
        assert_eq!(
            a.next().await,
            reply(Some(&j), Some(&j), &topic, "ok", json!({}))
        );
        w.backplane
            .broadcast(&topic, "ping", text(&json!({"n": n})))
            .expect("broadcast");
        // The join's own deferred frames (user_entered, joined) may come before or after it.
        let (mut pinged, mut joined) = (false, false);
        while !(pinged && joined) {
            let frame = a.next().await;
            assert_eq!(frame[2], json!(topic));
            match frame[3].as_str() {
                Some("ping") => pinged = true,
                Some("joined") => joined = true,
                _ => {}
            }
        }
    }
}

fn host_broadcast(w: &World, topic: &str, event: &str, payload: Value) {
    w.backplane
        .broadcast(topic, event, text(&payload))
        .expect("a host broadcast");
}

#[tokio::test]
async fn a_resuming_join_sees_since_then_gets_sb_recovery_and_what_it_missed_before_live() {
    let w = world_with_history();
    let topic = "echojoin:1";
    let mut a = w.connect(Serializer::V2Json);
    // No position yet: the app's join sees `_since: null`; sb_recovery tells the position.
    a.join("1", topic, json!({"_since": null, "user": "a"}));
    assert_eq!(
        a.next().await,
        reply(
            Some("1"),
            Some("1"),
            topic,
            "ok",
            json!({"_since": null, "user": "a"})
        )
    );
    let first = a.next().await;
    assert_eq!(
        first.as_array().unwrap()[..4],
        json!(["1", null, topic, "sb_recovery"]).as_array().unwrap()[..]
    );
    let start = first[4]["position"].as_str().unwrap().to_owned();
    assert_eq!(
        first[4],
        json!({"recovered": true, "missed": 0, "position": start})
    );
    let epoch = start
        .strip_suffix(":0")
        .expect("an empty topic is at offset 0");

    for n in 1..=3 {
        host_broadcast(&w, topic, "new_msg", json!({ "n": n }));
    }
    for n in 1..=3 {
        let pos = format!("{epoch}:{n}");
        assert_eq!(
            a.next().await,
            json!([null, pos, topic, "new_msg", {"n": n}])
        );
    }

    // Another client resumes after offset 1: the reply (its join saw `_since`), sb_recovery,
    // offsets 2 and 3, then a live one.
    let mut b = w.connect(Serializer::V2Json);
    let since = format!("{epoch}:1");
    b.join("5", topic, json!({ "_since": since }));
    assert_eq!(
        b.next().await,
        reply(
            Some("5"),
            Some("5"),
            topic,
            "ok",
            json!({ "_since": since })
        )
    );
    let latest = format!("{epoch}:3");
    assert_eq!(
        b.next().await,
        json!(["5", null, topic, "sb_recovery", {"recovered": true, "missed": 2, "position": latest}])
    );
    assert_eq!(
        b.next().await,
        json!([null, format!("{epoch}:2"), topic, "new_msg", {"n": 2}])
    );
    assert_eq!(
        b.next().await,
        json!([null, latest, topic, "new_msg", {"n": 3}])
    );
    host_broadcast(&w, topic, "new_msg", json!({"n": 4}));
    assert_eq!(
        b.next().await,
        json!([null, format!("{epoch}:4"), topic, "new_msg", {"n": 4}])
    );
    b.quiet().await;

    // A join without `_since` gets no sb_recovery.
    let mut c = w.connect(Serializer::V2Json);
    c.join("9", topic, json!({}));
    assert_eq!(
        c.next().await,
        reply(Some("9"), Some("9"), topic, "ok", json!({}))
    );
    c.quiet().await;
}

#[tokio::test]
async fn replayed_intercepted_events_go_through_handle_out() {
    let w = world_with_history();
    let topic = "roomi:h";
    let mut a = w.connect(Serializer::V2Json);
    a.join("1", topic, json!({"_since": null}));
    let frames = a.take(4).await;
    let recovery = frames
        .iter()
        .find(|f| f[3] == "sb_recovery")
        .expect("sb_recovery");
    let since = recovery[4]["position"].as_str().unwrap().to_owned();
    a.quiet().await;
    host_broadcast(&w, topic, "new_msg", json!({"body": "missed"}));
    host_broadcast(&w, topic, "new_msg", json!({"hide": true}));

    let mut b = w.connect(Serializer::V2Json);
    b.join("2", topic, json!({ "_since": since }));
    // The reply, sb_recovery, the three missed broadcasts (a's `user_entered`, both
    // `new_msg`, one of them hidden by handle_out), then b's own `user_entered` and `joined`.
    let got = b.take(6).await;
    b.quiet().await;
    let events: Vec<&Value> = got.iter().map(|f| &f[3]).collect();
    assert_eq!(events[..2], [&json!("phx_reply"), &json!("sb_recovery")]);
    assert_eq!(got[1][4]["missed"], 3);
    assert_eq!(got[1][4]["recovered"], true);
    // The intercepted `new_msg` reaches the client through handle_out (which adds the
    // transport and hides `hide`), pushed with the join_ref like any push.
    let pushed: Vec<&Value> = got.iter().filter(|f| f[3] == "new_msg").collect();
    assert_eq!(
        pushed,
        [&json!(["2", null, topic, "new_msg", {"body": "missed", "transport": "websocket"}])],
        "{got:?}"
    );
}

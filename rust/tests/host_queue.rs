//! The host request queue end to end: a real endpoint on 127.0.0.1 whose mount is served by
//! plain `std::thread`s draining a `HostQueue` with `wait` + `poll` (no tokio on the host
//! side), and a tokio-tungstenite client speaking the Phoenix V2 protocol.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use switchboard::endpoint::{Endpoint, RunningEndpoint, SocketMount};
use switchboard::host::{
    Answer, AnswerError, Assigns, ChannelId, HandleError, HostQueue, HostRequest, Info,
    QueueConfig, RequestBody, RequestKind, StopReason, TerminateReason,
};
use switchboard::wire::Payload;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const TEST_LIMIT: Duration = Duration::from_secs(30);
const STEP_LIMIT: Duration = Duration::from_secs(10);
/// The mount's request timeout: short, so the stale-ticket test is quick; long enough that
/// a host thread on a loaded 2-core machine answers the other requests in time.
const REQUEST_TIMEOUT_MS: u64 = 2_000;

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("test finished in time")
}

fn json_payload(v: Value) -> Payload {
    Payload::Json(Bytes::from(v.to_string()))
}

fn payload_json(p: &Payload) -> Value {
    match p {
        Payload::Json(b) => serde_json::from_slice(b).expect("JSON payload"),
        Payload::Binary(_) => panic!("binary payload"),
    }
}

/// What the host threads saw, for assertions.
#[derive(Default)]
struct Log {
    /// `(channel id, event)` of every `HandleIn`, in the order host threads took them.
    handle_in: Vec<(ChannelId, String)>,
    /// `(channel id, topic, reason)` of every `Leave`.
    leaves: Vec<(ChannelId, String, TerminateReason)>,
    /// Result of answering a request a second time.
    second_answers: Vec<Result<(), AnswerError>>,
    /// Results of actions taken through channel handles.
    actions: Vec<Result<(), HandleError>>,
    /// `HandleInfo` payloads.
    infos: Vec<Value>,
}

/// Set (and notified) by the test to let a `block` request finish.
type Release = Arc<(Mutex<bool>, parking_lot::Condvar)>;

/// Requests the room host does not answer itself (`slow`): the test answers them.
type Held = Arc<Mutex<Vec<HostRequest>>>;

/// The chat-room host logic, as a C host would write it: one match on the request kind.
fn room_host(
    queue: &HostQueue,
    req: HostRequest,
    log: &Mutex<Log>,
    held: &Held,
    release: &Release,
) {
    match req.body() {
        RequestBody::Connect { info, .. } => {
            let param = |k: &str| info.params.get(k).and_then(Value::as_str);
            let answer = if param("reject") == Some("true") {
                Answer::ConnectRefused { status: 403 }
            } else {
                let user = param("user").unwrap_or("anon").to_owned();
                let mut assigns = Assigns::new();
                assigns.insert("user".into(), Value::String(user.clone()));
                Answer::ConnectOk {
                    assigns,
                    id: Some(format!("user_socket:{user}")),
                }
            };
            req.answer(answer).expect("connect answered");
        }
        RequestBody::Join { channel, .. } => {
            if channel.topic == "room:secret" {
                req.answer(Answer::join_error(json_payload(
                    json!({"reason": "unauthorized"}),
                )))
                .expect("join answered");
                return;
            }
            if channel.topic == "room:eager" {
                // Actions by id before answering, like Phoenix pushes inside join: deferred
                // until right after the join reply. Presence takes effect at once.
                let handle = queue.channel(channel.id);
                let pushed = handle
                    .clone()
                    .and_then(|h| h.push("welcome", json_payload(json!({"hi": 1}))));
                let tracked = handle.and_then(|h| {
                    let mut meta = serde_json::Map::new();
                    meta.insert("status".into(), json!("here"));
                    h.track("ada", meta).map(|_| ())
                });
                log.lock().actions.extend([pushed, tracked]);
            }
            let mut assigns = channel.assigns.clone();
            assigns.insert("count".into(), json!(0));
            let user = assigns.get("user").cloned().unwrap_or(Value::Null);
            req.answer(Answer::join_ok(json_payload(json!({"user": user}))).with_assigns(assigns))
                .expect("join answered");
            if channel.topic == "room:news" {
                // Actions by id right after the answer: subscribe for handle_info.
                let r = queue
                    .channel(channel.id)
                    .and_then(|h| h.subscribe("news:feed"));
                log.lock().actions.push(r);
            }
        }
        RequestBody::HandleIn {
            channel,
            event,
            payload,
            ..
        } => {
            log.lock().handle_in.push((channel.id, event.clone()));
            match event.as_str() {
                "echo" => req.answer(Answer::ok(payload.clone())).expect("answered"),
                "noreply" => req.answer(Answer::noreply()).expect("answered"),
                "stop" => req
                    .answer(Answer::Stop {
                        reason: StopReason::Normal,
                        reply: Some(("ok".into(), json_payload(json!({"bye": true})))),
                        assigns: None,
                    })
                    .expect("answered"),
                "count" => {
                    let mut assigns = channel.assigns.clone();
                    let n = assigns.get("count").and_then(Value::as_i64).unwrap_or(-100) + 1;
                    assigns.insert("count".into(), json!(n));
                    req.answer(Answer::ok(json_payload(json!({"count": n}))).with_assigns(assigns))
                        .expect("answered");
                }
                "presence" => {
                    let list = queue.channel(channel.id).and_then(|h| h.presence_list());
                    match list {
                        Ok(list) => req.answer(Answer::ok(list)).expect("answered"),
                        Err(_) => req
                            .answer(Answer::error(Payload::empty_object()))
                            .expect("answered"),
                    }
                }
                "whoami" => {
                    let user = channel.assigns.get("user").cloned().unwrap_or(Value::Null);
                    req.answer(Answer::ok(json_payload(json!({"user": user}))))
                        .expect("answered");
                }
                "twice" => {
                    req.answer(Answer::ok(json_payload(json!({"n": 1}))))
                        .expect("first answer");
                    let second = req.answer(Answer::ok(json_payload(json!({"n": 2}))));
                    log.lock().second_answers.push(second);
                }
                "crash" => drop(req),
                "slow" => held.lock().push(req),
                "block" => {
                    // Keeps this host thread busy until the test releases it; meanwhile
                    // only another host thread can serve other channels.
                    let (lock, cond) = &**release;
                    let mut released = lock.lock();
                    while !*released {
                        if cond.wait_for(&mut released, STEP_LIMIT).timed_out() {
                            break;
                        }
                    }
                    req.answer(Answer::ok(payload.clone())).expect("answered");
                }
                "reply_later" => {
                    // Answer now, reply to the message's ref afterwards (Phoenix socket_ref).
                    let id = channel.id;
                    let r#ref = req.r#ref().cloned().expect("a ref");
                    req.answer(Answer::noreply()).expect("answered");
                    let r = queue
                        .channel(id)
                        .and_then(|h| h.reply(&r#ref, "ok", json_payload(json!({"late": true}))));
                    log.lock().actions.push(r);
                }
                "push_later" => {
                    let id = channel.id;
                    req.answer(Answer::noreply()).expect("answered");
                    let r = queue
                        .channel(id)
                        .and_then(|h| h.push("later", payload.clone()));
                    log.lock().actions.push(r);
                }
                _ => req
                    .answer(Answer::error(Payload::empty_object()))
                    .expect("answered"),
            }
        }
        RequestBody::HandleInfo { channel, info, .. } => {
            if let Info::Broadcast(b) = info {
                log.lock().infos.push(payload_json(&b.payload));
                let r = queue
                    .channel(channel.id)
                    .and_then(|h| h.push(&b.event, b.payload.clone()));
                log.lock().actions.push(r);
            }
            req.answer(Answer::noreply()).expect("answered");
        }
        RequestBody::HandleOut {
            channel,
            event,
            payload,
        } => {
            // Intercepted: push a changed payload, like a Phoenix handle_out.
            let mut v = payload_json(payload);
            v["intercepted"] = json!(true);
            let r = queue
                .channel(channel.id)
                .and_then(|h| h.push(event, json_payload(v)));
            log.lock().actions.push(r);
            req.answer(Answer::noreply()).expect("answered");
        }
        RequestBody::Leave { channel, reason } => {
            log.lock()
                .leaves
                .push((channel.id, channel.topic.clone(), reason.clone()));
            if channel.topic.starts_with("room:hold") {
                // The test acts from "terminate" while it holds the Leave.
                held.lock().push(req);
            }
        }
        RequestBody::Http(_) => unreachable!("no HTTP routes in these tests"),
    }
}

/// Host threads draining one queue, and the endpoint they serve.
struct Server {
    endpoint: RunningEndpoint,
    queue: HostQueue,
    log: Arc<Mutex<Log>>,
    held: Held,
    release: Release,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    fn url(&self, query: &str) -> String {
        format!(
            "ws://{}/socket/websocket?vsn=2.0.0&{query}",
            self.endpoint.local_addr()
        )
    }

    /// Waits (without blocking the runtime) until `f` holds for the log.
    async fn until(&self, what: &str, f: impl Fn(&Log) -> bool) {
        let wait = async {
            while !f(&self.log.lock()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(STEP_LIMIT, wait)
            .await
            .unwrap_or_else(|_| panic!("host log: {what}"));
    }

    /// Waits until actions on `id` are refused (the channel is forgotten).
    async fn until_channel_gone(&self, id: ChannelId) {
        let wait = async {
            while self.queue.channel(id).is_ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(STEP_LIMIT, wait)
            .await
            .expect("channel id forgotten");
    }

    /// Lets `block` requests finish.
    fn release_blocked(&self) {
        let (lock, cond) = &*self.release;
        *lock.lock() = true;
        cond.notify_all();
    }

    /// The held request, once the host got it.
    async fn take_held(&self) -> HostRequest {
        let wait = async {
            loop {
                if let Some(req) = self.held.lock().pop() {
                    return req;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(STEP_LIMIT, wait)
            .await
            .expect("request held")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.release_blocked();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// An endpoint with `/socket` served by `host_threads` plain threads over one queue.
async fn start(host_threads: usize) -> Server {
    let queue = HostQueue::new();
    let mount = SocketMount::new()
        .connect(queue.connect_handler())
        .channel("room:*", queue.channel_handler())
        .channel("loud:*", queue.channel_handler().intercept(["shout"]))
        .request_timeout(Duration::from_millis(REQUEST_TIMEOUT_MS));
    let endpoint = Endpoint::builder()
        .bind(([127, 0, 0, 1], 0))
        .socket("/socket", mount)
        .start()
        .await
        .expect("endpoint starts");
    let log = Arc::new(Mutex::new(Log::default()));
    let held = Held::default();
    let release = Release::default();
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..host_threads)
        .map(|_| {
            let (queue, log, held, release, stop) = (
                queue.clone(),
                log.clone(),
                held.clone(),
                release.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if !queue.wait(Duration::from_millis(20)) {
                        continue;
                    }
                    // One request per poll, so two threads share the work.
                    for req in queue.poll(1) {
                        room_host(&queue, req, &log, &held, &release);
                    }
                }
            })
        })
        .collect();
    Server {
        endpoint,
        queue,
        log,
        held,
        release,
        stop,
        threads,
    }
}

async fn connect(url: &str) -> Client {
    let (client, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade succeeds");
    assert_eq!(response.status(), 101);
    client
}

async fn send(client: &mut Client, v: Value) {
    client
        .send(Message::text(v.to_string()))
        .await
        .expect("send");
}

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

fn reply(j: &str, r: &str, topic: &str, status: &str, response: Value) -> Value {
    json!([j, r, topic, "phx_reply", {"status": status, "response": response}])
}

async fn join(client: &mut Client, topic: &str, j: &str) -> Value {
    send(client, json!([j, j, topic, "phx_join", {}])).await;
    let got = next_json(client).await;
    assert_eq!(got[0], j);
    assert_eq!(got[3], "phx_reply");
    got
}

async fn push(client: &mut Client, j: &str, r: &str, topic: &str, event: &str, payload: Value) {
    send(client, json!([j, r, topic, event, payload])).await;
}

/// A heartbeat round trip: everything the server wrote before it has been read.
async fn heartbeat(client: &mut Client, r: &str) {
    send(client, json!([null, r, "phoenix", "heartbeat", {}])).await;
    assert_eq!(
        next_json(client).await,
        reply_null(r, "phoenix", "ok", json!({}))
    );
}

fn reply_null(r: &str, topic: &str, status: &str, response: Value) -> Value {
    json!([null, r, topic, "phx_reply", {"status": status, "response": response}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_assigns_reach_the_join_and_a_refused_connect_is_403() {
    within(async {
        let s = start(1).await;
        let refused = tokio_tungstenite::connect_async(s.url("reject=true")).await;
        match refused {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
            other => panic!("expected 403, got {other:?}"),
        }
        let mut c = connect(&s.url("user=ada")).await;
        let got = join(&mut c, "room:lobby", "1").await;
        assert_eq!(
            got,
            reply("1", "1", "room:lobby", "ok", json!({"user": "ada"}))
        );
        push(&mut c, "1", "2", "room:lobby", "whoami", json!({})).await;
        assert_eq!(
            next_json(&mut c).await,
            reply("1", "2", "room:lobby", "ok", json!({"user": "ada"}))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_error_echo_noreply_and_assigns_across_answers() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        let got = join(&mut c, "room:secret", "1").await;
        assert_eq!(
            got,
            reply(
                "1",
                "1",
                "room:secret",
                "error",
                json!({"reason": "unauthorized"})
            )
        );
        join(&mut c, "room:lobby", "2").await;
        push(
            &mut c,
            "2",
            "3",
            "room:lobby",
            "echo",
            json!({"body": "hi"}),
        )
        .await;
        assert_eq!(
            next_json(&mut c).await,
            reply("2", "3", "room:lobby", "ok", json!({"body": "hi"}))
        );
        // noreply: nothing is written, so the heartbeat reply is the next frame.
        push(&mut c, "2", "4", "room:lobby", "noreply", json!({})).await;
        heartbeat(&mut c, "5").await;
        // Assigns stored by one answer are what the next request sees.
        for (n, r) in [(1, "6"), (2, "7"), (3, "8")] {
            push(&mut c, "2", r, "room:lobby", "count", json!({})).await;
            assert_eq!(
                next_json(&mut c).await,
                reply("2", r, "room:lobby", "ok", json!({"count": n}))
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_replies_then_closes_and_the_host_gets_leave() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:a", "1").await;
        push(&mut c, "1", "2", "room:a", "stop", json!({})).await;
        assert_eq!(
            next_json(&mut c).await,
            reply("1", "2", "room:a", "ok", json!({"bye": true}))
        );
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", "1", "room:a", "phx_close", {}])
        );
        s.until("leave after stop", |l| {
            l.leaves
                .iter()
                .any(|(_, t, r)| t == "room:a" && *r == TerminateReason::Stop(StopReason::Normal))
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_request_unanswered_crashes_the_channel() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:a", "1").await;
        push(&mut c, "1", "2", "room:a", "crash", json!({})).await;
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", "1", "room:a", "phx_error", {"reason": "channel_crash"}])
        );
        s.until("leave after crash", |l| {
            l.leaves
                .iter()
                .any(|(_, t, r)| t == "room:a" && matches!(r, TerminateReason::Crash(_)))
        })
        .await;
        // The connection and other channels live on.
        join(&mut c, "room:b", "3").await;
        push(&mut c, "3", "4", "room:b", "echo", json!({"ok": 1})).await;
        assert_eq!(
            next_json(&mut c).await,
            reply("3", "4", "room:b", "ok", json!({"ok": 1}))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_answer_is_refused_and_the_first_one_wins() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:a", "1").await;
        push(&mut c, "1", "2", "room:a", "twice", json!({})).await;
        assert_eq!(
            next_json(&mut c).await,
            reply("1", "2", "room:a", "ok", json!({"n": 1}))
        );
        heartbeat(&mut c, "3").await;
        assert_eq!(
            s.log.lock().second_answers,
            vec![Err(AnswerError::AlreadyAnswered)]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_after_the_request_timeout_is_stale_and_the_client_got_phx_error() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:a", "1").await;
        push(&mut c, "1", "2", "room:a", "slow", json!({})).await;
        let req = s.take_held().await;
        assert_eq!(req.kind(), RequestKind::HandleIn);
        let ticket = req.ticket().expect("a ticket");
        // The core gives up after the request timeout.
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", "1", "room:a", "phx_error", {"reason": "channel_crash"}])
        );
        assert_eq!(
            s.queue.answer(ticket, Answer::ok(Payload::empty_object())),
            Err(AnswerError::Stale)
        );
        // Nothing of the late answer reaches the client.
        heartbeat(&mut c, "3").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_of_one_channel_are_in_order_while_two_channels_run_concurrently() {
    within(async {
        let s = start(2).await;
        let mut a = connect(&s.url("")).await;
        let mut b = connect(&s.url("")).await;
        join(&mut a, "room:a", "1").await;
        join(&mut b, "room:b", "1").await;
        // a: a blocking request then quick ones, all sent at once.
        push(&mut a, "1", "s", "room:a", "block", json!({"i": 0})).await;
        for i in 1..=5 {
            push(
                &mut a,
                "1",
                &i.to_string(),
                "room:a",
                "echo",
                json!({"i": i}),
            )
            .await;
        }
        s.until("a's block taken", |l| {
            l.handle_in.iter().any(|(_, e)| e == "block")
        })
        .await;
        // One host thread is stuck in a's request; the other one serves b.
        push(&mut b, "1", "b1", "room:b", "echo", json!({"b": 1})).await;
        assert_eq!(
            next_json(&mut b).await,
            reply("1", "b1", "room:b", "ok", json!({"b": 1}))
        );
        // a's echoes wait behind a's unanswered request: only b's echo was handled.
        let echoes = |l: &Log| l.handle_in.iter().filter(|(_, e)| e == "echo").count();
        assert_eq!(echoes(&s.log.lock()), 1);
        s.release_blocked();
        assert_eq!(
            next_json(&mut a).await,
            reply("1", "s", "room:a", "ok", json!({"i": 0}))
        );
        for i in 1..=5 {
            assert_eq!(
                next_json(&mut a).await,
                reply("1", &i.to_string(), "room:a", "ok", json!({"i": i}))
            );
        }
        // Per channel, the host took them in order.
        let log = s.log.lock();
        let a_id = log
            .handle_in
            .iter()
            .find(|(_, e)| e == "block")
            .map(|(id, _)| *id)
            .expect("a handled");
        let a_events: Vec<_> = log
            .handle_in
            .iter()
            .filter(|(id, _)| *id == a_id)
            .map(|(_, e)| e.as_str())
            .collect();
        assert_eq!(a_events, ["block", "echo", "echo", "echo", "echo", "echo"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_and_disconnect_post_leave_requests_with_their_reasons() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:left", "1").await;
        join(&mut c, "room:closed", "2").await;
        send(&mut c, json!(["1", "3", "room:left", "phx_leave", {}])).await;
        assert_eq!(
            next_json(&mut c).await,
            reply("1", "3", "room:left", "ok", json!({}))
        );
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", "1", "room:left", "phx_close", {}])
        );
        s.until("leave for phx_leave", |l| {
            l.leaves
                .iter()
                .any(|(_, t, r)| t == "room:left" && *r == TerminateReason::Left)
        })
        .await;
        drop(c);
        s.until("leave for the closed connection", |l| {
            l.leaves
                .iter()
                .any(|(_, t, r)| t == "room:closed" && *r == TerminateReason::Closed)
        })
        .await;
        // Exactly one Leave per joined channel; the ids are gone afterwards.
        let leaves = s.log.lock().leaves.clone();
        assert_eq!(leaves.len(), 2);
        for (id, _, _) in leaves {
            assert_eq!(s.queue.channel(id).err(), Some(HandleError::NotFound));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_join_still_gets_one_leave_for_the_replaced_channel() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:dup", "1").await;
        send(&mut c, json!(["2", "2", "room:dup", "phx_join", {}])).await;
        // The new join's reply, then phx_close for the old join_ref (PROTOCOL.md 4.5).
        assert_eq!(next_json(&mut c).await[3], "phx_reply");
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", "1", "room:dup", "phx_close", {}])
        );
        s.until("leave for the replaced channel", |l| l.leaves.len() == 1)
            .await;
        drop(c);
        s.until("leave for the new channel", |l| l.leaves.len() == 2)
            .await;
        let leaves = s.log.lock().leaves.clone();
        assert_ne!(leaves[0].0, leaves[1].0, "one Leave per channel id");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_handle_pushes_after_the_answer_and_is_not_found_after_the_end() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:a", "1").await;
        push(&mut c, "1", "2", "room:a", "push_later", json!({"x": 1})).await;
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", null, "room:a", "later", {"x": 1}])
        );
        s.until("push_later's push succeeded", |l| l.actions == vec![Ok(())])
            .await;
        let id = s.log.lock().handle_in[0].0;
        let handle = s.queue.channel(id).expect("joined channel");
        send(&mut c, json!(["1", "3", "room:a", "phx_leave", {}])).await;
        next_json(&mut c).await;
        next_json(&mut c).await;
        // The host dropped the Leave at once; the core forgets the channel right after.
        s.until_channel_gone(id).await;
        assert_eq!(
            handle.push("late", Payload::empty_object()),
            Err(HandleError::NotFound)
        );
        assert_eq!(
            handle.track("u", serde_json::Map::new()).err(),
            Some(HandleError::NotFound)
        );
        assert_eq!(s.queue.channel(id).err(), Some(HandleError::NotFound));
    })
    .await;
}

/// Phoenix's `terminate` may push after `phx_close` (PROTOCOL.md 3.3 rule 4): while the
/// host holds the `Leave` of a channel that closed gracefully, its handle still pushes;
/// once the host drops it, the channel is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_while_the_host_holds_the_leave_go_out_after_phx_close() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:hold", "1").await;
        send(&mut c, json!(["1", "2", "room:hold", "phx_leave", {}])).await;
        assert_eq!(
            next_json(&mut c).await,
            reply("1", "2", "room:hold", "ok", json!({}))
        );
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", "1", "room:hold", "phx_close", {}])
        );
        let leave = s.take_held().await;
        assert_eq!(leave.kind(), RequestKind::Leave);
        assert_eq!(leave.ticket(), None, "a Leave carries no ticket");
        let id = leave.channel_id().expect("channel id");
        let handle = s.queue.channel(id).expect("usable while the Leave is held");
        handle
            .push("you_left", json_payload(json!({"bye": true})))
            .expect("push from terminate");
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", null, "room:hold", "you_left", {"bye": true}])
        );
        // Only what terminate may do: no new presence or subscriptions.
        assert_eq!(
            handle.track("u", serde_json::Map::new()).err(),
            Some(HandleError::NotFound)
        );
        assert_eq!(handle.subscribe("x").err(), Some(HandleError::NotFound));
        drop(leave);
        s.until_channel_gone(id).await;
        assert_eq!(
            handle.push("late", Payload::empty_object()),
            Err(HandleError::NotFound)
        );
        // The connection is unaffected: a rejoin of the same topic works.
        join(&mut c, "room:hold", "3").await;
    })
    .await;
}

/// A channel ended by its connection does not wait for its `Leave` (nothing reaches the
/// client any more), so a held `Leave` holds no drain up; its id is gone while held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_ended_by_its_connection_does_not_wait_for_its_leave() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:hold_crash", "1").await;
        drop(c);
        let leave = s.take_held().await;
        assert!(matches!(
            leave.body(),
            RequestBody::Leave {
                reason: TerminateReason::Closed,
                ..
            }
        ));
        let id = leave.channel_id().expect("channel id");
        s.until_channel_gone(id).await;
        drop(leave);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_by_id_bring_broadcasts_to_handle_info() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:news", "1").await;
        s.until("subscribed", |l| l.actions == vec![Ok(())]).await;
        s.endpoint
            .backplane()
            .broadcast("news:feed", "headline", json_payload(json!({"t": "hello"})))
            .expect("broadcast");
        // handle_info pushed it on the channel.
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", null, "room:news", "headline", {"t": "hello"}])
        );
        assert_eq!(s.log.lock().infos, vec![json!({"t": "hello"})]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intercepted_broadcasts_become_handle_out_requests() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "loud:a", "1").await;
        let backplane = s.endpoint.backplane();
        backplane
            .broadcast("loud:a", "shout", json_payload(json!({"m": 1})))
            .expect("broadcast");
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", null, "loud:a", "shout", {"m": 1, "intercepted": true}])
        );
        // Not intercepted: the fastlane frame as broadcast.
        backplane
            .broadcast("loud:a", "talk", json_payload(json!({"m": 2})))
            .expect("broadcast");
        assert_eq!(
            next_json(&mut c).await,
            json!([null, null, "loud:a", "talk", {"m": 2}])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_by_id_during_join_are_deferred_until_the_join_reply() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        let got = join(&mut c, "room:eager", "1").await;
        assert_eq!(got[4]["status"], "ok");
        assert_eq!(
            next_json(&mut c).await,
            json!(["1", null, "room:eager", "welcome", {"hi": 1}])
        );
        assert_eq!(s.log.lock().actions, vec![Ok(()), Ok(())]);
        push(&mut c, "1", "2", "room:eager", "presence", json!({})).await;
        let got = next_json(&mut c).await;
        assert_eq!(got[3], "phx_reply");
        assert_eq!(
            got[4]["response"]["ada"]["metas"][0]["status"],
            json!("here"),
            "tracked through the handle: {got}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_connect_is_refused_with_503_and_its_ticket_turns_stale() {
    within(async {
        let mut config = QueueConfig::default();
        config.connect_timeout = Duration::from_millis(200);
        let queue = HostQueue::with_config(config);
        let endpoint = Endpoint::builder()
            .socket(
                "/socket",
                SocketMount::new()
                    .connect(queue.connect_handler())
                    .channel("room:*", queue.channel_handler()),
            )
            .start()
            .await
            .expect("endpoint starts");
        let url = format!("ws://{}/socket/websocket?vsn=2.0.0", endpoint.local_addr());
        let attempt = tokio::spawn(tokio_tungstenite::connect_async(url));
        // The host takes the request but never answers in time.
        let req = loop {
            if let Some(req) = queue.poll(1).pop() {
                break req;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(req.kind(), RequestKind::Connect);
        match attempt.await.expect("client task") {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 503),
            other => panic!("expected 503, got {other:?}"),
        }
        let accept = Answer::ConnectOk {
            assigns: Assigns::new(),
            id: None,
        };
        assert_eq!(req.answer(accept), Err(AnswerError::Stale));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_handle_replies_to_a_ref_after_a_noreply_answer() {
    within(async {
        let s = start(1).await;
        let mut c = connect(&s.url("")).await;
        join(&mut c, "room:a", "1").await;
        push(&mut c, "1", "2", "room:a", "reply_later", json!({})).await;
        assert_eq!(
            next_json(&mut c).await,
            reply("1", "2", "room:a", "ok", json!({"late": true}))
        );
    })
    .await;
}

//! `NativeEndpoint`: the class the JavaScript facade (`index.js`) drives. Methods are thin:
//! each checks its arguments and calls the host layer; all policy (ordering, timeouts,
//! answer-exactly-once, limits) lives in the core, as for the C ABI.

use crate::actions::{Action, Actions, SendKind};
use crate::answer::NativeAnswer;
use crate::config::NativeConfig;
use crate::error::{Result, core_error, error, invalid};
use crate::payload::{object_in, payload_in, ref_in, value_in};
use crate::pending::Pending;
use crate::pump::{Pump, Shared, Source, batch_fn};
use crate::request::NativeRequest;
use napi::Either;
use napi::bindgen_prelude::{AsyncTask, BigInt, Buffer, Function, Unknown};
use napi::{Env, Task};
use napi_derive::napi;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;
use switchboard::channel::ChannelHandle;
use switchboard::host::{
    self, Answer, AnswerError, ChannelId, ErrorCode, HostedEndpoint, Ticket, history_limit,
};
use switchboard::pubsub::{Broadcast, Delivery, Subscription};
use switchboard::wire::Payload;

/// Host-subscription messages waiting for the pump, over all subscriptions; beyond it newer
/// messages are dropped and counted (`subscriptionDropped`).
const INBOX: usize = 65_536;

#[derive(Debug)]
struct Inner {
    hosted: HostedEndpoint,
    /// Answers and sends, applied in call order (see `actions`).
    actions: Actions,
    pending: Arc<Pending>,
    shared: Arc<Shared>,
    subscriptions: Mutex<HashMap<u32, Subscription>>,
    next_subscription: AtomicU32,
    inbox: SyncSender<(u32, Arc<Broadcast>)>,
    dropped: Arc<AtomicU64>,
}

/// One endpoint. Created by the facade's `listen()`; not thread-safe on the JS side (one
/// JS thread), thread-safe inside.
#[napi]
#[derive(Debug)]
pub struct NativeEndpoint {
    inner: Arc<Inner>,
    pump: Pump,
}

/// A raw id (ticket, channel) from a JavaScript `bigint`; which numbers were issued is the
/// core's to say.
fn raw_id(value: &BigInt, what: &str) -> Result<u64> {
    let (negative, raw, lossless) = value.get_u64();
    if negative || !lossless {
        return Err(invalid(format!("{what} must be a 64-bit unsigned bigint")));
    }
    Ok(raw)
}

/// A request's ticket from its `bigint` (0 is the core's `NotFound`).
fn ticket(value: &BigInt) -> Result<Ticket> {
    host::ticket(raw_id(value, "ticket")?).map_err(core_error)
}

fn non_empty<'a>(text: &'a str, what: &str) -> Result<&'a str> {
    host::non_empty(text, what).map_err(core_error)
}

impl NativeEndpoint {
    fn channel(&self, id: &BigInt) -> Result<ChannelHandle> {
        let raw = raw_id(id, "channel")?;
        self.inner
            .hosted
            .queue()
            .channel(ChannelId::from_raw(raw))
            .map_err(core_error)
    }

    /// Answers `ticket` with `answer`: checked here, applied in order with the sends.
    fn settle(&self, ticket: &BigInt, answer: Answer) -> Result<()> {
        let ticket = self::ticket(ticket)?;
        let kind = self
            .inner
            .hosted
            .queue()
            .request_kind(ticket)
            .map_err(core_error)?;
        if !answer.fits(kind) {
            return Err(core_error(AnswerError::WrongKind {
                request: kind,
                answer: answer.name(),
            }));
        }
        let req = self
            .inner
            .pending
            .take(ticket.get())
            .ok_or_else(|| core_error(AnswerError::AlreadyAnswered))?;
        self.inner.actions.run(Action::Answer { req, answer })
    }
}

#[napi]
impl NativeEndpoint {
    /// Starts the runtime threads and the pump (not listening yet). `onBatch(requests)` runs
    /// on the JS thread once per batch of requests.
    #[napi(constructor)]
    pub fn new(
        env: Env,
        config: NativeConfig,
        on_batch: Function<'_, Vec<NativeRequest>, Unknown<'static>>,
    ) -> Result<NativeEndpoint> {
        let host_config = config.into_host_config()?;
        let leave_ttl = host_config.request_timeout + Duration::from_secs(1);
        let hosted = HostedEndpoint::new(host_config).map_err(core_error)?;
        let (inbox, inbox_rx) = sync_channel(INBOX);
        let shared = Arc::new(Shared::default());
        let pending = Arc::new(Pending::default());
        let tsfn = batch_fn(on_batch, shared.clone())
            .map_err(|e| error(ErrorCode::InvalidState, e.reason.clone()))?;
        let source = Source {
            queue: hosted.queue().clone(),
            pending: pending.clone(),
            inbox: inbox_rx,
            leave_ttl,
        };
        let pump = Pump::start(&env, tsfn, source, shared.clone())
            .map_err(|e| error(ErrorCode::Io, e.reason.clone()))?;
        let actions = Actions::default();
        Ok(NativeEndpoint {
            inner: Arc::new(Inner {
                hosted,
                actions,
                pending,
                shared,
                subscriptions: Mutex::new(HashMap::new()),
                next_subscription: AtomicU32::new(1),
                inbox,
                dropped: Arc::new(AtomicU64::new(0)),
            }),
            pump,
        })
    }

    /// Binds and serves, off the JS thread (a clustered endpoint first waits for its broker
    /// and listens for a namesake); resolves with `ip:port`. Then call `ref()` to keep the
    /// event loop alive while listening.
    #[napi]
    pub fn start(&self) -> AsyncTask<StartTask> {
        AsyncTask::new(StartTask {
            inner: self.inner.clone(),
        })
    }

    /// `ip:port` while listening.
    #[napi]
    pub fn local_addr(&self) -> Option<String> {
        self.inner.hosted.local_addr().map(|a| a.to_string())
    }

    /// Keeps the event loop alive while open (the default once listening).
    #[napi(js_name = "ref")]
    pub fn refer(&mut self, env: Env) -> Result<()> {
        self.pump
            .refer(&env)
            .map_err(|e| error(ErrorCode::InvalidState, e.reason.clone()))
    }

    /// Lets the process exit although the endpoint is open.
    #[napi]
    pub fn unref(&mut self, env: Env) -> Result<()> {
        self.pump
            .unref(&env)
            .map_err(|e| error(ErrorCode::InvalidState, e.reason.clone()))
    }

    /// Answers a request. Errors: `SB_E_NOT_FOUND`, `SB_E_ALREADY_ANSWERED`,
    /// `SB_E_STALE_TICKET`, `SB_E_WRONG_ANSWER` (wrong kind; the request stays pending),
    /// `SB_E_INVALID_JSON`.
    #[napi]
    pub fn answer(&self, ticket: BigInt, answer: NativeAnswer) -> Result<()> {
        let answer = answer.into_answer()?;
        self.settle(&ticket, answer)
    }

    /// Answers an `http` request: `status` (100..=999), `contentType`, body bytes (a string
    /// is sent as UTF-8).
    #[napi]
    pub fn respond(
        &self,
        ticket: BigInt,
        status: u32,
        content_type: String,
        body: Either<String, Buffer>,
    ) -> Result<()> {
        let body = match body {
            Either::A(text) => bytes::Bytes::from(text.into_bytes()),
            Either::B(buf) => bytes::Bytes::copy_from_slice(&buf),
        };
        let answer =
            host::http_response(i64::from(status), &content_type, body).map_err(core_error)?;
        self.settle(&ticket, answer)
    }

    /// `answer(ticket, {kind: "noreply"})` without the object (the hot path).
    #[napi]
    pub fn noreply(&self, ticket: BigInt) -> Result<()> {
        self.settle(&ticket, Answer::noreply())
    }

    /// Drops a request unanswered: its handler crashed (join → `"join crashed"`, channel →
    /// `phx_error`, connect → 500). Same errors as `answer` when it was no longer pending.
    #[napi]
    pub fn fail(&self, ticket: BigInt) -> Result<()> {
        let ticket = self::ticket(&ticket)?;
        match self.inner.pending.take(ticket.get()) {
            Some(req) => self.inner.actions.run(Action::Drop(req)),
            None => match self.inner.hosted.queue().request_kind(ticket) {
                Err(e) => Err(core_error(e)),
                Ok(_) => Err(error(
                    ErrorCode::NotFound,
                    "request not held by this endpoint",
                )),
            },
        }
    }

    /// Lets the core forget a channel whose terminate (`leave` request) is done. False when
    /// the key is unknown (already released, or forgotten after the request timeout).
    #[napi]
    pub fn release(&self, leave_key: u32) -> bool {
        match self.inner.pending.take_leave(leave_key) {
            // After the sends its terminate made.
            Some(req) => self.inner.actions.run(Action::Drop(req)).is_ok(),
            None => false,
        }
    }

    /// Broadcasts to every subscriber of `topic` on every node, or with `local` to this
    /// node's subscribers only.
    #[napi]
    pub fn broadcast(
        &self,
        local: bool,
        topic: String,
        event: String,
        payload: Either<String, Buffer>,
        binary: bool,
    ) -> Result<()> {
        let payload = payload_in(payload, binary)?;
        self.inner
            .hosted
            .broadcast(local, &topic, &event, payload)
            .map_err(core_error)?;
        Ok(())
    }

    /// Closes every connection whose socket id is `socketId` (close 1001).
    #[napi]
    pub fn disconnect(&self, socket_id: String) -> Result<()> {
        self.inner
            .hosted
            .disconnect(&socket_id)
            .map_err(core_error)?;
        Ok(())
    }

    /// Sends from a channel: `push` to its client, `broadcast` to its topic, or
    /// `broadcastFrom` to its topic except its client.
    #[napi]
    pub fn channel_send(
        &self,
        action: String,
        channel: BigInt,
        event: String,
        payload: Either<String, Buffer>,
        binary: bool,
    ) -> Result<()> {
        let kind = match action.as_str() {
            "push" => SendKind::Push,
            "broadcast" => SendKind::Broadcast,
            "broadcastFrom" => SendKind::BroadcastFrom,
            other => return Err(invalid(format!("unknown channel action {other:?}"))),
        };
        let handle = self.channel(&channel)?;
        non_empty(&event, "event")?;
        let payload = payload_in(payload, binary)?;
        self.inner.actions.run(Action::Send {
            handle,
            kind,
            event,
            payload,
        })
    }

    /// A late reply to the push with `ref` (raw JSON text, as the request carried it).
    #[napi]
    pub fn channel_reply(
        &self,
        channel: BigInt,
        reply_ref: String,
        status: String,
        payload: Either<String, Buffer>,
        binary: bool,
    ) -> Result<()> {
        let handle = self.channel(&channel)?;
        let r#ref = ref_in(&reply_ref)?;
        non_empty(&status, "status")?;
        let payload = payload_in(payload, binary)?;
        self.inner.actions.run(Action::Reply {
            handle,
            r#ref,
            status,
            payload,
        })
    }

    /// Tracks presence `key` with `meta` (JSON object text); returns the meta's `phx_ref`.
    #[napi]
    pub fn channel_track(&self, channel: BigInt, key: String, meta: String) -> Result<String> {
        let meta = object_in(&meta, "meta")?;
        self.channel(&channel)?
            .track(&key, meta)
            .map_err(core_error)
    }

    #[napi]
    pub fn channel_untrack(&self, channel: BigInt, key: String) -> Result<()> {
        self.channel(&channel)?.untrack(&key).map_err(core_error)
    }

    /// Replaces the meta of `key`; returns the new `phx_ref`.
    #[napi]
    pub fn channel_update(&self, channel: BigInt, key: String, meta: String) -> Result<String> {
        let meta = object_in(&meta, "meta")?;
        self.channel(&channel)?
            .update(&key, meta)
            .map_err(core_error)
    }

    /// The channel topic's presence list, JSON text (`{key: {metas: [...]}}`).
    #[napi]
    pub fn channel_presence_list(&self, channel: BigInt) -> Result<String> {
        match self
            .channel(&channel)?
            .presence_list()
            .map_err(core_error)?
        {
            Payload::Json(raw) => Ok(String::from_utf8_lossy(&raw).into_owned()),
            Payload::Binary(_) => Err(error(ErrorCode::Encode, "presence list is not JSON")),
        }
    }

    /// Subscribes the channel to `topic`: its broadcasts reach `handleInfo`.
    #[napi]
    pub fn channel_subscribe(&self, channel: BigInt, topic: String) -> Result<()> {
        self.channel(&channel)?
            .subscribe(non_empty(&topic, "topic")?)
            .map_err(core_error)
    }

    #[napi]
    pub fn channel_unsubscribe(&self, channel: BigInt, topic: String) -> Result<bool> {
        self.channel(&channel)?
            .unsubscribe(&topic)
            .map_err(core_error)
    }

    /// Sends `message` (JSON text) to the channel's `handleInfo`.
    #[napi]
    pub fn channel_send_info(&self, channel: BigInt, message: String) -> Result<()> {
        let message = value_in(&message, "message")?;
        self.channel(&channel)?
            .send_info(message)
            .map_err(core_error)
    }

    /// `topic`'s history as JSON text (docs/HISTORY.md "Host API"): the first `limit`
    /// messages after `since`, or the latest `limit` without it (0: all kept).
    #[napi]
    pub fn history(&self, topic: String, since: Option<String>, limit: i64) -> Result<String> {
        let limit = history_limit(limit).map_err(core_error)?;
        self.inner
            .hosted
            .history(&topic, since.as_deref(), limit)
            .map_err(core_error)
    }

    /// The metrics in the Prometheus text format (docs/OPERATIONS.md "Metrics").
    #[napi]
    pub fn metrics(&self) -> String {
        self.inner.hosted.metrics_text()
    }

    /// What the endpoint holds now, JSON text (docs/OPERATIONS.md "Introspection").
    #[napi]
    pub fn census(&self) -> String {
        self.inner.hosted.census()
    }

    /// The presence list of any topic, JSON text.
    #[napi]
    pub fn presence_list(&self, topic: String) -> Result<String> {
        match self.inner.hosted.backplane().presence().list(&topic) {
            Payload::Json(raw) => Ok(String::from_utf8_lossy(&raw).into_owned()),
            Payload::Binary(_) => Err(error(ErrorCode::Encode, "presence list is not JSON")),
        }
    }

    /// Live channels on `topic` (this node, all connections).
    #[napi]
    pub fn channel_count(&self, topic: String) -> u32 {
        u32::try_from(self.inner.hosted.backplane().channel_count(&topic)).unwrap_or(u32::MAX)
    }

    /// Subscribes the host to `topic`: its broadcasts arrive as `message` requests with the
    /// returned subscription id.
    #[napi]
    pub fn subscribe(&self, topic: String) -> Result<u32> {
        let topic = non_empty(&topic, "topic")?;
        let id = self.inner.next_subscription.fetch_add(1, Ordering::Relaxed);
        let (tx, dropped, shared) = (
            self.inner.inbox.clone(),
            self.inner.dropped.clone(),
            self.inner.shared.clone(),
        );
        let subscription = self.inner.hosted.backplane().pubsub().subscribe(
            topic,
            Delivery::Mailbox(Arc::new(move |b| {
                if tx.try_send((id, b.clone())).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
                shared.wake();
            })),
        );
        self.inner.subscriptions.lock().insert(id, subscription);
        Ok(id)
    }

    /// Ends a host subscription; false when unknown.
    #[napi]
    pub fn unsubscribe(&self, id: u32) -> bool {
        self.inner.subscriptions.lock().remove(&id).is_some()
    }

    /// Host-subscription messages dropped because JavaScript fell behind.
    #[napi]
    pub fn subscription_dropped(&self) -> u32 {
        u32::try_from(self.inner.dropped.load(Ordering::Relaxed)).unwrap_or(u32::MAX)
    }

    /// Drains (connections closed with 1012, channels terminate — their `leave` requests
    /// still reach JavaScript meanwhile) and stops listening, off the JS thread. Broadcasts
    /// still work until `close()`.
    #[napi]
    pub fn shutdown(&self) -> AsyncTask<CloseTask> {
        AsyncTask::new(CloseTask {
            inner: self.inner.clone(),
            stop_runtime: false,
        })
    }

    /// Stops the runtime threads (after `shutdown()`, or at once), off the JS thread; every
    /// later action is SB_E_INVALID_STATE. Then `flush()` and `stopPump()`.
    #[napi]
    pub fn close(&self) -> AsyncTask<CloseTask> {
        AsyncTask::new(CloseTask {
            inner: self.inner.clone(),
            stop_runtime: true,
        })
    }

    /// Resolves once every request the core posted has been handed to JavaScript (call it
    /// after `close()`, before `stopPump()`: the drain's `leave` requests then all reach
    /// `terminate`), or after `FLUSH_TIMEOUT` if JavaScript does not take them.
    #[napi]
    pub fn flush(&self) -> AsyncTask<FlushTask> {
        AsyncTask::new(FlushTask {
            inner: self.inner.clone(),
        })
    }

    /// Stops the pump thread and releases the JS callback: nothing calls into JavaScript
    /// afterwards and the event loop may end. Unanswered requests are dropped.
    #[napi]
    pub fn stop_pump(&mut self) {
        self.pump.stop();
        self.inner.pending.clear();
        self.inner.subscriptions.lock().clear();
    }
}

/// `start()` off the JS thread.
#[derive(Debug)]
pub struct StartTask {
    inner: Arc<Inner>,
}

/// What `start()` resolves with: the address, or the core's error (the promise of an
/// `AsyncTask` cannot carry an `SB_E_*` code, so JavaScript throws it).
#[napi(object)]
#[derive(Debug)]
pub struct Started {
    /// `ip:port` once listening.
    pub addr: Option<String>,
    /// `SB_E_*` when the start failed.
    pub code: Option<String>,
    pub message: Option<String>,
}

impl Task for StartTask {
    type Output = Started;
    type JsValue = Started;

    fn compute(&mut self) -> napi::Result<Started> {
        Ok(match self.inner.hosted.start() {
            Ok(addr) => Started {
                addr: Some(addr.to_string()),
                code: None,
                message: None,
            },
            Err(e) => {
                let e = host::HostError::from(e);
                Started {
                    addr: None,
                    code: Some(e.code.name().to_owned()),
                    message: Some(e.message),
                }
            }
        })
    }

    fn resolve(&mut self, _env: Env, started: Started) -> napi::Result<Started> {
        Ok(started)
    }
}

/// How long [`NativeEndpoint::flush`] waits for JavaScript to take the last requests.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// `flush()` off the JS thread: polls until the pump has handed everything over.
#[derive(Debug)]
pub struct FlushTask {
    inner: Arc<Inner>,
}

impl Task for FlushTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<()> {
        let deadline = std::time::Instant::now() + FLUSH_TIMEOUT;
        let queue = self.inner.hosted.queue();
        while !self.inner.shared.delivered(queue) && std::time::Instant::now() < deadline {
            self.inner.shared.wake();
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> napi::Result<()> {
        Ok(())
    }
}

/// `shutdown()` (drain, stop listening) or `close()` (stop the runtime threads) off the JS
/// thread.
#[derive(Debug)]
pub struct CloseTask {
    inner: Arc<Inner>,
    stop_runtime: bool,
}

impl Task for CloseTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<()> {
        let hosted = &self.inner.hosted;
        let done = if self.stop_runtime {
            let closed = hosted.close();
            self.inner.actions.close();
            closed
        } else {
            hosted.shutdown()
        };
        done.map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> napi::Result<()> {
        Ok(())
    }
}

// Fuzzes the per-connection channel Session state machine (joins, duplicate joins, leaves, heartbeats, stale join_refs, limits, handler replies, crashes and timeouts) with sequences of decoded client messages; no panic, the channel limit holds, every server frame decodes and every reply echoes a ref the client sent.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use switchboard::channel::{Hub, Mount, MountConfig, Session, Socket};
use switchboard::host::{
    Channel, Connected, HandlerError, Info, JoinOutcome, Outcome, StopReason, TerminateReason,
};
use switchboard::outbox::Outbox;
use switchboard::topic::Router;
use switchboard::wire::{Frame, Message, Payload, Ref, Serializer};

/// Most operations run per input, so one input stays fast.
const MAX_OPS: usize = 64;

/// The fuzz input, read from the bytes by hand (see `Arbitrary for Input`) so that seeds can be
/// written as real frames: a 5-byte header, then operations until the bytes run out.
#[derive(Debug)]
struct Input {
    v2: bool,
    /// `max_channels` = this % 4 (0 refuses every join).
    max_channels: u8,
    /// `channel_queue` = 1 + this % 4, so queues overflow.
    channel_queue: u8,
    /// `request_timeout` = 1 + this * 10 ms; handlers sleep 50 or 500 ms.
    timeout: u8,
    /// Outbox frame limit = 1 + this * 8: a small one closes as a slow consumer.
    outbox_frames: u8,
    ops: Vec<Op>,
}

#[derive(Debug)]
enum Op {
    /// 0, len, bytes: a raw client text frame through the negotiated decoder (skipped when
    /// malformed, where the endpoint would close the connection).
    Text(Vec<u8>),
    /// 1, len, bytes: a raw client binary frame (V2 kind 0 push).
    Binary(Vec<u8>),
    /// 2, join_ref, ref (0 = null, n = `"n-1"`), topic, event, body: a message from small
    /// vocabularies, so that joins and pushes meet live channels.
    Msg {
        join_ref: Option<u8>,
        r#ref: Option<u8>,
        topic: Topic,
        event: Event,
        payload: Body,
    },
    /// 3, n: lets channel tasks run (handler calls, replies) before the next message.
    Yield(u8),
    /// 4, lo, hi: advances (paused) time by this many ms % 1000, so slow handlers time out.
    Sleep(u16),
    /// 5: takes what the writer would take from the outbox.
    Drain,
}

#[derive(Debug)]
enum Topic {
    Phoenix,
    Room(u8),
    Auth,
    CrashJoin,
    SlowJoin,
    PushJoin,
    Unrouted,
    Raw(String),
}

#[derive(Debug)]
enum Event {
    Join,
    Leave,
    Heartbeat,
    Echo,
    NoReply,
    Err,
    Boom,
    Stop,
    StopAbnormal,
    Broadcast,
    Intercepted,
    Push,
    Sleep,
    LateReply,
    Subscribe,
    Raw(String),
}

#[derive(Debug)]
enum Body {
    Empty,
    Object(String),
    NotObject,
    Binary(Vec<u8>),
}

/// A length byte, then that many bytes (fewer at the end of the input).
fn chunk<'a>(u: &mut Unstructured<'a>) -> arbitrary::Result<&'a [u8]> {
    let len = usize::from(u.arbitrary::<u8>()?).min(u.len());
    u.bytes(len)
}

fn text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(String::from_utf8_lossy(chunk(u)?).into_owned())
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let [v2, max_channels, channel_queue, timeout, outbox_frames] = u.arbitrary::<[u8; 5]>()?;
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(Input {
            v2: v2 & 1 == 1,
            max_channels,
            channel_queue,
            timeout,
            outbox_frames,
            ops,
        })
    }
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let opt = |b: u8| b.checked_sub(1);
        Ok(match u.arbitrary::<u8>()? % 6 {
            0 => Op::Text(chunk(u)?.to_vec()),
            1 => Op::Binary(chunk(u)?.to_vec()),
            2 => Op::Msg {
                join_ref: opt(u.arbitrary()?),
                r#ref: opt(u.arbitrary()?),
                topic: Topic::arbitrary(u)?,
                event: Event::arbitrary(u)?,
                payload: Body::arbitrary(u)?,
            },
            3 => Op::Yield(u.arbitrary()?),
            4 => Op::Sleep(u16::from_le_bytes(u.arbitrary()?)),
            _ => Op::Drain,
        })
    }
}

impl<'a> Arbitrary<'a> for Topic {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.arbitrary::<u8>()? % 8 {
            0 => Topic::Phoenix,
            1 => Topic::Room(u.arbitrary()?),
            2 => Topic::Auth,
            3 => Topic::CrashJoin,
            4 => Topic::SlowJoin,
            5 => Topic::PushJoin,
            6 => Topic::Unrouted,
            _ => Topic::Raw(text(u)?),
        })
    }
}

impl<'a> Arbitrary<'a> for Event {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const NAMED: [Event; 15] = [
            Event::Join,
            Event::Leave,
            Event::Heartbeat,
            Event::Echo,
            Event::NoReply,
            Event::Err,
            Event::Boom,
            Event::Stop,
            Event::StopAbnormal,
            Event::Broadcast,
            Event::Intercepted,
            Event::Push,
            Event::Sleep,
            Event::LateReply,
            Event::Subscribe,
        ];
        let i = usize::from(u.arbitrary::<u8>()? % 16);
        Ok(match NAMED.into_iter().nth(i) {
            Some(event) => event,
            None => Event::Raw(text(u)?),
        })
    }
}

impl<'a> Arbitrary<'a> for Body {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.arbitrary::<u8>()? % 4 {
            0 => Body::Empty,
            1 => Body::Object(text(u)?),
            2 => Body::NotObject,
            _ => Body::Binary(chunk(u)?.to_vec()),
        })
    }
}

impl Topic {
    fn name(&self) -> String {
        match self {
            Topic::Phoenix => "phoenix".into(),
            Topic::Room(n) => format!("room:{}", n % 4),
            Topic::Auth => "auth:x".into(),
            Topic::CrashJoin => "crashjoin:x".into(),
            Topic::SlowJoin => "slowjoin:x".into(),
            Topic::PushJoin => "pushjoin:x".into(),
            Topic::Unrouted => "nowhere:x".into(),
            Topic::Raw(s) => s.clone(),
        }
    }
}

impl Event {
    fn name(&self) -> &str {
        match self {
            Event::Join => "phx_join",
            Event::Leave => "phx_leave",
            Event::Heartbeat => "heartbeat",
            Event::Echo => "echo",
            Event::NoReply => "noreply",
            Event::Err => "err",
            Event::Boom => "boom",
            Event::Stop => "stop",
            Event::StopAbnormal => "stop_abnormal",
            Event::Broadcast => "broadcast",
            Event::Intercepted => "intercepted",
            Event::Push => "push",
            Event::Sleep => "sleep",
            Event::LateReply => "late_reply",
            Event::Subscribe => "subscribe",
            Event::Raw(s) => s,
        }
    }
}

impl Body {
    fn payload(&self) -> Payload {
        match self {
            Body::Empty => Payload::empty_object(),
            Body::Object(s) => {
                Payload::Json(Bytes::from(serde_json::json!({ "s": s }).to_string()))
            }
            Body::NotObject => Payload::Json(Bytes::from_static(b"[1,\"x\",null]")),
            Body::Binary(b) => Payload::Binary(Bytes::from(b.clone())),
        }
    }
}

/// A handler with one behaviour per topic prefix (join) and per event (handle_in), like the
/// conformance fixture but without panics (libFuzzer's hook aborts on any panic).
struct Fixture;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[async_trait::async_trait]
impl Channel for Fixture {
    async fn join(
        &self,
        topic: &str,
        _payload: Payload,
        socket: &mut Socket,
    ) -> Result<JoinOutcome, HandlerError> {
        match topic.split(':').next().unwrap_or_default() {
            "auth" => return Ok(JoinOutcome::Error(Payload::empty_object())),
            "crashjoin" => return Err(HandlerError::new("join failed")),
            "slowjoin" => tokio::time::sleep(ms(50)).await,
            "pushjoin" => {
                let _ = socket.push("in_join", Payload::empty_object());
                let _ = socket.broadcast("in_join_b", Payload::empty_object());
                let _ = socket.send_info(serde_json::json!({"after_join": true}));
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
        Ok(match event {
            "echo" => Outcome::ok(payload),
            "noreply" => Outcome::NoReply,
            "err" => Outcome::error(payload),
            "boom" => return Err(HandlerError::new("boom")),
            "stop" => Outcome::Stop {
                reason: StopReason::Shutdown("stop".into()),
                reply: Some(("ok".into(), Payload::empty_object())),
            },
            "stop_abnormal" => Outcome::Stop {
                reason: StopReason::Abnormal("bad".into()),
                reply: None,
            },
            "broadcast" | "intercepted" => {
                let _ = socket.broadcast(event, payload);
                Outcome::ok(Payload::empty_object())
            }
            "push" => {
                let _ = socket.push("pushed", payload);
                Outcome::NoReply
            }
            "sleep" => {
                tokio::time::sleep(ms(500)).await;
                Outcome::ok(Payload::empty_object())
            }
            "late_reply" => {
                if let Ok(r) = socket.socket_ref() {
                    tokio::spawn(async move {
                        tokio::time::sleep(ms(20)).await;
                        let _ = r.reply("ok", payload);
                    });
                }
                Outcome::NoReply
            }
            "subscribe" => {
                socket.subscribe("room:0");
                Outcome::ok(Payload::empty_object())
            }
            _ => Outcome::error(Payload::empty_object()),
        })
    }

    async fn handle_info(&self, info: Info, socket: &mut Socket) -> Result<Outcome, HandlerError> {
        if let Info::Broadcast(b) = info {
            let _ = socket.push("relayed", b.payload.clone());
        }
        Ok(Outcome::NoReply)
    }

    fn intercepts(&self) -> Vec<String> {
        vec!["intercepted".into()]
    }

    async fn terminate(&self, _reason: &TerminateReason, socket: &mut Socket) {
        let _ = socket.push("you_left", Payload::empty_object());
    }
}

/// What the client sent: refs as raw JSON (text frames) and as text (binary frames).
#[derive(Default)]
struct Sent {
    refs_json: HashSet<Vec<u8>>,
    refs_text: HashSet<String>,
    join_refs_json: HashSet<Vec<u8>>,
    join_refs_text: HashSet<String>,
}

impl Sent {
    fn record(&mut self, msg: &Message) {
        if let Some(r) = &msg.r#ref {
            self.refs_json.insert(r.as_json().to_vec());
            self.refs_text.insert(r.to_text().into_owned());
        }
        if let Some(r) = &msg.join_ref {
            self.join_refs_json.insert(r.as_json().to_vec());
            self.join_refs_text.insert(r.to_text().into_owned());
        }
    }

    fn known(set: &HashSet<Vec<u8>>, r: &Option<Ref>) -> bool {
        r.as_ref().is_none_or(|r| set.contains(r.as_json()))
    }

    /// Checks one server frame.
    fn check(&self, s: Serializer, frame: &Frame) {
        match frame {
            Frame::Text(text) => {
                let msg = s
                    .decode_text(text)
                    .expect("a server text frame decodes as a client one would");
                assert!(
                    Sent::known(&self.join_refs_json, &msg.join_ref),
                    "frame with a join_ref the client never sent: {msg:?}"
                );
                match msg.event.as_str() {
                    "phx_reply" => assert!(
                        Sent::known(&self.refs_json, &msg.r#ref),
                        "reply to a ref the client never sent: {msg:?}"
                    ),
                    "phx_close" | "phx_error" => assert!(
                        Sent::known(&self.join_refs_json, &msg.r#ref),
                        "close/error with a ref that is no join_ref: {msg:?}"
                    ),
                    _ => {}
                }
            }
            Frame::Binary(data) => {
                assert_eq!(s, Serializer::V2Json, "a binary frame on a V1 connection");
                self.check_binary(data);
            }
        }
    }

    /// Server binary frames (PROTOCOL.md 2.3): kind 0 push, 1 reply, 2 broadcast.
    fn check_binary(&self, data: &[u8]) {
        let (&kind, rest) = data.split_first().expect("an empty binary frame");
        let fields = match kind {
            0 => 3,
            1 => 4,
            2 => 2,
            _ => panic!("binary frame of unknown kind {kind}"),
        };
        assert!(rest.len() >= fields, "binary header truncated");
        let (lens, mut body) = rest.split_at(fields);
        let mut texts = Vec::new();
        for &len in lens {
            let (field, tail) = body
                .split_at_checked(usize::from(len))
                .expect("binary field lengths overrun the frame");
            texts.push(std::str::from_utf8(field).expect("a binary field is UTF-8"));
            body = tail;
        }
        let ok = |set: &HashSet<String>, t: &str| t.is_empty() || set.contains(t);
        if kind != 2 {
            assert!(
                ok(&self.join_refs_text, texts[0]),
                "binary frame with an unknown join_ref"
            );
        }
        if kind == 1 {
            assert!(
                ok(&self.refs_text, texts[1]),
                "binary reply to an unknown ref"
            );
        }
    }
}

fn drain(outbox: &Outbox, out: &mut Vec<Frame>) {
    while !outbox.is_empty() {
        // Never waits: a frame is pending (or the outbox closed, which returns at once).
        let Some(Ok(batch)) = poll_now(outbox.take()) else {
            break;
        };
        out.extend(batch);
    }
}

fn poll_now<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

fn routes() -> Router<Arc<dyn Channel>> {
    let handler: Arc<dyn Channel> = Arc::new(Fixture);
    let mut routes = Router::default();
    for p in [
        "room:*",
        "auth:*",
        "crashjoin:*",
        "slowjoin:*",
        "pushjoin:*",
    ] {
        routes.add(p, Arc::clone(&handler));
    }
    routes
}

async fn run(input: Input) {
    let s = if input.v2 {
        Serializer::V2Json
    } else {
        Serializer::V1Json
    };
    let config = MountConfig {
        max_channels: usize::from(input.max_channels % 4),
        request_timeout: ms(1 + u64::from(input.timeout) * 10),
        channel_queue: 1 + usize::from(input.channel_queue % 4),
        ..MountConfig::default()
    };
    let max_channels = config.max_channels;
    let mount = Arc::new(Mount {
        routes: routes(),
        config,
    });
    let hub = Hub::new("fuzz", 1);
    let outbox = Arc::new(Outbox::new(
        1 + usize::from(input.outbox_frames) * 8,
        1 << 20,
    ));
    let mut session = Session::new(
        hub,
        mount,
        Arc::clone(&outbox),
        s,
        "websocket",
        Connected::default(),
    );
    let mut sent = Sent::default();
    let mut frames = Vec::new();
    for op in input.ops {
        let msg = match op {
            Op::Text(bytes) => s.decode_text(&bytes).ok(),
            Op::Binary(bytes) => s.decode_binary(&bytes).ok(),
            Op::Msg {
                join_ref,
                r#ref,
                topic,
                event,
                payload,
            } => Some(Message {
                join_ref: join_ref.map(|n| Ref::from_text(&n.to_string())),
                r#ref: r#ref.map(|n| Ref::from_text(&n.to_string())),
                topic: topic.name(),
                event: event.name().to_owned(),
                payload: payload.payload(),
            }),
            Op::Yield(n) => {
                for _ in 0..n % 8 {
                    tokio::task::yield_now().await;
                }
                None
            }
            Op::Sleep(n) => {
                tokio::time::sleep(ms(u64::from(n % 1000))).await;
                None
            }
            Op::Drain => {
                drain(&outbox, &mut frames);
                None
            }
        };
        if let Some(msg) = msg {
            sent.record(&msg);
            session.handle(msg);
            assert!(
                session.channel_count() <= max_channels,
                "more channels than max_channels"
            );
        }
    }
    // Let everything in flight finish (time is paused: timeouts fire at once), then close.
    tokio::time::sleep(Duration::from_secs(5)).await;
    session.close(TerminateReason::Closed).await;
    drain(&outbox, &mut frames);
    for frame in &frames {
        sent.check(s, frame);
    }
}

fuzz_target!(|input: Input| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    rt.block_on(run(input));
});

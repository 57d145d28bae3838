//! Host requests as JavaScript sees them: one plain object per request, built on the pump
//! thread and handed over in batches (one ThreadsafeFunction call per batch).

use crate::payload::{payload_out, ref_out};
use napi::bindgen_prelude::{BigInt, Buffer};
use napi_derive::napi;
use switchboard::host::{HostRequest, Info, RequestBody};
use switchboard::pubsub::Broadcast;

/// What a connect request knows about the WebSocket upgrade (Phoenix `connect/3` params
/// and connect_info).
#[napi(object)]
#[derive(Debug)]
pub struct NativeConnectInfo {
    /// The socket mount path, e.g. `/socket`.
    pub mount: String,
    /// Query params as JSON object text (Plug-style nesting; `vsn` included).
    pub params: String,
    /// The decoded `base64url.bearer.phx.<token>` subprotocol token.
    pub auth_token: Option<String>,
    /// `ip:port` of the peer.
    pub peer_addr: Option<String>,
    /// The `Origin` header.
    pub origin: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// An HTTP request on a host route, read in full (at most 1 MiB).
#[napi(object)]
#[allow(missing_debug_implementations)] // napi's `Buffer` has no `Debug`
pub struct NativeHttpRequest {
    /// `GET`, `POST`, ... as sent.
    pub method: String,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The query string without `?` (empty when none).
    pub query: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The registered route prefix the core matched (the most specific).
    pub prefix: String,
    /// The body bytes.
    pub body: Buffer,
}

/// One request (or one host-subscription message) for JavaScript.
#[napi(object)]
#[allow(missing_debug_implementations)] // napi's `Buffer` has no `Debug`
pub struct NativeRequest {
    /// `connect`, `join`, `handleIn`, `handleInfo`, `handleOut`, `leave` (terminate),
    /// `http` (a host route; answer with `respond`), `message` (a broadcast on a host
    /// subscription).
    pub kind: String,
    /// Ticket to answer with; absent for `leave` and `message`.
    pub ticket: Option<BigInt>,
    /// For `leave`: the key to `release` once terminate is done.
    pub leave_key: Option<u32>,
    /// For `message`: the host subscription's id.
    pub subscription: Option<u32>,
    /// The channel id for actions (`channelPush`, ...); all kinds but `connect`, `message`.
    pub channel: Option<BigInt>,
    /// The channel topic (or the broadcast's topic for `message`).
    pub topic: Option<String>,
    /// The event: client event (`handleIn`), intercepted event (`handleOut`), broadcast event.
    pub event: Option<String>,
    /// JSON payload text, when the payload is JSON.
    pub payload: Option<String>,
    /// Binary payload bytes, when the payload is binary.
    pub binary: Option<Buffer>,
    /// The message's ref as raw JSON text (`handleIn` with a ref).
    pub r#ref: Option<String>,
    /// The channel's join_ref as raw JSON text.
    pub join_ref: Option<String>,
    /// The socket id returned by connect.
    pub socket_id: Option<String>,
    /// The channel's assigns, JSON object text; absent when empty.
    pub assigns: Option<String>,
    /// For `handleInfo`: `broadcast` (a subscribed topic's broadcast; `event`, `payload` and
    /// `infoTopic` are set) or `message` (a `sendInfo` value as JSON text in `payload`).
    pub info: Option<String>,
    /// For `handleInfo` of a broadcast: the topic it was broadcast on.
    pub info_topic: Option<String>,
    /// For `leave`: `left`, `closed`, `disconnected`, `drain`, `stop`, `crash` (the core's
    /// `TerminateReason::kind`).
    pub reason: Option<String>,
    /// For `leave` with `stop` (`normal`, `shutdown`, `shutdown:<detail>`, or the abnormal
    /// reason) or `crash` (the message): the core's `TerminateReason::detail`.
    pub detail: Option<String>,
    /// The pattern whose handler serves the channel, as registered (e.g. `room:*`); the core
    /// matched it. All channel kinds.
    pub pattern: Option<String>,
    /// For `connect`.
    pub connect: Option<NativeConnectInfo>,
    /// For `http`.
    pub http: Option<NativeHttpRequest>,
}

impl NativeRequest {
    fn empty(kind: &str) -> NativeRequest {
        NativeRequest {
            kind: kind.to_owned(),
            ticket: None,
            leave_key: None,
            subscription: None,
            channel: None,
            topic: None,
            event: None,
            payload: None,
            binary: None,
            r#ref: None,
            join_ref: None,
            socket_id: None,
            assigns: None,
            info: None,
            info_topic: None,
            reason: None,
            detail: None,
            pattern: None,
            connect: None,
            http: None,
        }
    }

    /// A broadcast received by host subscription `id`.
    pub fn message(id: u32, b: &Broadcast) -> NativeRequest {
        let mut out = NativeRequest::empty("message");
        out.subscription = Some(id);
        out.topic = Some(b.topic.clone());
        out.event = Some(b.event.clone());
        (out.payload, out.binary) = payload_out(&b.payload);
        out
    }

    /// `req` for JavaScript; `leave_key` is set for `Leave` requests.
    pub fn from_request(req: &HostRequest, leave_key: Option<u32>) -> NativeRequest {
        let kind = match req.body() {
            RequestBody::Connect { .. } => "connect",
            RequestBody::Join { .. } => "join",
            RequestBody::HandleIn { .. } => "handleIn",
            RequestBody::HandleInfo { .. } => "handleInfo",
            RequestBody::HandleOut { .. } => "handleOut",
            RequestBody::Leave { .. } => "leave",
            RequestBody::Http(_) => "http",
        };
        let mut out = NativeRequest::empty(kind);
        out.ticket = req.ticket().map(|t| BigInt::from(t.get()));
        out.leave_key = leave_key;
        if let Some(ch) = req.channel() {
            out.channel = Some(BigInt::from(ch.id.get()));
            out.topic = Some(ch.topic.clone());
            out.pattern = Some(ch.pattern.to_string());
            out.join_ref = ch.join_ref.as_ref().map(ref_out);
            out.socket_id = ch.socket_id.clone();
            // Absent when empty (most channels): JavaScript reads that as `{}`.
            if !ch.assigns.is_empty() {
                out.assigns = serde_json::to_string(&ch.assigns).ok();
            }
        }
        match req.body() {
            RequestBody::Connect { info, params_json } => {
                out.connect = Some(NativeConnectInfo {
                    mount: info.mount.clone(),
                    params: params_json.clone(),
                    auth_token: info.auth_token.clone(),
                    peer_addr: info.peer_addr.map(|a| a.to_string()),
                    origin: info.origin.clone(),
                    user_agent: info.user_agent.clone(),
                });
            }
            RequestBody::Join { payload, .. } => {
                (out.payload, out.binary) = payload_out(payload);
            }
            RequestBody::HandleIn {
                event,
                payload,
                r#ref,
                ..
            } => {
                out.event = Some(event.clone());
                (out.payload, out.binary) = payload_out(payload);
                out.r#ref = r#ref.as_ref().map(ref_out);
            }
            RequestBody::HandleInfo { info, payload, .. } => {
                (out.payload, out.binary) = payload_out(payload);
                match info {
                    Info::Broadcast(b) => {
                        out.info = Some("broadcast".into());
                        out.info_topic = Some(b.topic.clone());
                        out.event = Some(b.event.clone());
                    }
                    Info::Message(_) => out.info = Some("message".into()),
                }
            }
            RequestBody::HandleOut { event, payload, .. } => {
                out.event = Some(event.clone());
                (out.payload, out.binary) = payload_out(payload);
            }
            RequestBody::Http(http) => {
                out.http = Some(NativeHttpRequest {
                    method: http.method.clone(),
                    path: http.path.clone(),
                    query: http.query.clone(),
                    content_type: http.content_type.clone(),
                    prefix: http.prefix.clone(),
                    body: Buffer::from(http.body.to_vec()),
                });
            }
            RequestBody::Leave { reason, .. } => {
                out.reason = Some(reason.kind().to_owned());
                out.detail = reason.detail();
            }
        }
        out
    }
}

//! The Rust host API (DESIGN layer 7): what an application writes.
//!
//! A host registers a [`Channel`] handler per topic pattern and a [`Connect`] callback per
//! socket mount. The core calls them as requests that are each answered exactly once — the
//! shape the C, Python and Node front-ends wrap as request/answer events (docs/ABI.md
//! "Answering host requests", docs/BINDINGS.md "One host layer"):
//! one answer per request, a request timeout that fails the channel (`phx_error`), and
//! in-order handling per channel (the next request is released only after the previous one
//! was answered or timed out).
//!
//! Hosts that are not async Rust (C, Python, Node, or a plain thread) use a [`HostQueue`]
//! instead of implementing the traits: its [`QueueConnect`] and [`QueueChannel`] adapters
//! post every callback as a [`HostRequest`] with a [`Ticket`], any thread drains the queue
//! (`poll`, `wait`, an event fd or a wakeup callback) and answers with an [`Answer`], and
//! acts later on a channel by its [`ChannelId`] through a [`ChannelHandle`].

use crate::pubsub::Broadcast;
use crate::wire::Payload;
use std::sync::Arc;

/// Per-socket and per-channel state, a JSON object (Phoenix `socket.assigns`). JSON so that
/// every host language sees the same thing.
pub type Assigns = serde_json::Map<String, serde_json::Value>;

/// Handler failure: the channel crashes (`phx_error` to the client, reason `channel_crash`;
/// during join the reply is `{"reason":"join crashed"}`). The text is logged.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("handler error: {0}")]
pub struct HandlerError(pub String);

impl HandlerError {
    /// A handler error with a message.
    pub fn new(msg: impl Into<String>) -> HandlerError {
        HandlerError(msg.into())
    }
}

/// What `join` answers (Phoenix `{:ok, reply, socket}` / `{:error, reply}`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum JoinOutcome {
    /// Join accepted; the payload is the join reply (usually `{}`).
    Ok(Payload),
    /// Join refused; the payload is the error reply, e.g. `{"reason":"unauthorized"}`.
    Error(Payload),
}

/// How a channel stops (Phoenix `{:stop, reason, socket}`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum StopReason {
    /// `:normal` — client gets `phx_close`, no rejoin.
    Normal,
    /// `:shutdown` / `{:shutdown, detail}` — client gets `phx_close`, no rejoin.
    Shutdown(String),
    /// Any other reason — client gets `phx_error` and rejoins.
    Abnormal(String),
}

/// What `handle_in` / `handle_info` answer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// `{:noreply, socket}`: nothing is sent; the client's push times out.
    NoReply,
    /// `{:reply, {status, payload}, socket}`; only meaningful for `handle_in` (a
    /// `handle_info` has no ref to reply to, so it is ignored there).
    Reply { status: String, payload: Payload },
    /// `{:stop, reason, socket}` or `{:stop, reason, reply, socket}` (reply sent first).
    Stop {
        reason: StopReason,
        reply: Option<(String, Payload)>,
    },
}

impl Outcome {
    /// `{:reply, {:ok, payload}, socket}`.
    pub fn ok(payload: Payload) -> Outcome {
        Outcome::Reply {
            status: "ok".into(),
            payload,
        }
    }

    /// `{:reply, {:error, payload}, socket}`.
    pub fn error(payload: Payload) -> Outcome {
        Outcome::Reply {
            status: "error".into(),
            payload,
        }
    }
}

/// A message for `handle_info`.
#[derive(Clone, Debug)]
pub enum Info {
    /// A broadcast on a topic the channel subscribed to with `Socket::subscribe`.
    Broadcast(Arc<Broadcast>),
    /// A message the channel (or the host) sent to itself, e.g. `after_join`.
    Message(serde_json::Value),
}

/// Why a channel ended; passed to `terminate` (Phoenix terminate reasons).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TerminateReason {
    /// The client left (`{:shutdown, :left}`).
    Left,
    /// The transport closed or timed out (`{:shutdown, :closed}`).
    Closed,
    /// A `"disconnect"` broadcast on the socket id (`{:shutdown, :disconnected}`).
    Disconnected,
    /// The endpoint drained during shutdown.
    Drain,
    /// The handler returned `Outcome::Stop`.
    Stop(StopReason),
    /// The handler failed, panicked or exceeded the request timeout.
    Crash(String),
}

pub use crate::channel::{ChannelHandle, HandleError, Socket, SocketError, SocketRef};

mod adapters;
mod channels;
mod error_code;
mod hosted;
mod http;
mod notify;
mod options;
mod queue;
mod tickets;

pub use adapters::{QueueChannel, QueueConnect};
pub use channels::ChannelId;
pub use error_code::{ErrorCode, HostError};
pub use hosted::{ChannelRoute, HostConfig, HostMount, HostedEndpoint, HostedError, StaticFile};
pub use http::{HttpRouteError, MAX_HTTP_BODY, valid_http_prefix};
pub use notify::Wakeup;
pub use options::{
    Naming, OptionValue, Options, check_pattern, check_static_file, valid_header_value,
};
pub use queue::{
    Answer, AnswerError, ChannelContext, HostQueue, HostRequest, HttpRequest, QueueConfig,
    RequestBody, RequestKind,
};
pub use tickets::Ticket;

#[cfg(test)]
mod tests;

/// A channel handler, registered for a topic pattern (Phoenix `channel "room:*", RoomChannel`).
/// One handler value serves every channel instance of its pattern; per-instance state lives
/// in [`Socket::assigns`]. Calls for one channel instance never overlap and arrive in order;
/// each runs under the mount's request timeout. A returned `Err`, a panic or a timeout
/// crashes only that channel.
#[async_trait::async_trait]
pub trait Channel: Send + Sync + 'static {
    /// Phoenix `join/3`: decide whether the client may join `topic` with `payload` (the join
    /// params). The reply is written before anything else for this join_ref: pushes,
    /// broadcasts and `send_info` made here are deferred until right after an `ok` reply
    /// (Phoenix raises instead; see [`Socket`]) and dropped when the join is refused.
    /// Messages the client sends meanwhile wait for the join (PROTOCOL.md 9.2 #24).
    async fn join(
        &self,
        topic: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<JoinOutcome, HandlerError>;

    /// Phoenix `handle_in/3`: a client push `event` with `payload` on a joined channel.
    /// `payload` may be any JSON value or binary. To answer later, take
    /// [`Socket::socket_ref`] and return [`Outcome::NoReply`]. `phx_leave` never reaches
    /// this: the core answers it and calls `terminate` with [`TerminateReason::Left`].
    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError>;

    /// Phoenix `handle_info/2`: a message sent to the channel (see [`Info`]).
    async fn handle_info(
        &self,
        _info: Info,
        _socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        Ok(Outcome::NoReply)
    }

    /// Events whose broadcasts go through [`handle_out`](Self::handle_out) for each
    /// subscriber instead of the shared fastlane frame (Phoenix `intercept/1`).
    fn intercepts(&self) -> Vec<String> {
        Vec::new()
    }

    /// Phoenix `handle_out/3` for an intercepted broadcast; usually calls
    /// [`Socket::push`] (possibly with a changed payload) or drops the message.
    async fn handle_out(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        socket.push(event, payload)?;
        Ok(Outcome::NoReply)
    }

    /// Phoenix `terminate/2`: the channel ended. Pushes made here are sent after
    /// `phx_close` (PROTOCOL.md 3.3 rule 4) when the channel ended gracefully (leave,
    /// `Stop` normal/shutdown); after a crash or abnormal stop they are dropped (nothing
    /// follows `phx_error`), and after the connection ended there is nobody to send to.
    /// Runs under the request timeout. Not called after a duplicate join (4.5) nor for a
    /// join that did not succeed.
    async fn terminate(&self, _reason: &TerminateReason, _socket: &mut Socket) {}
}

/// What the connect callback sees (Phoenix `connect/3` params and connect_info).
#[derive(Clone, Debug, Default)]
pub struct ConnectInfo {
    /// The socket mount path, e.g. `/socket`.
    pub mount: String,
    /// Query params decoded like Plug (`user[id]=7` → `{"user":{"id":"7"}}`), `vsn` included.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The token from the `Sec-WebSocket-Protocol: base64url.bearer.phx.<token>` subprotocol,
    /// decoded (PROTOCOL.md 1.4).
    pub auth_token: Option<String>,
    /// Peer address of the TCP connection.
    pub peer_addr: Option<std::net::SocketAddr>,
    /// Request `Origin` header, if any.
    pub origin: Option<String>,
    /// Request `User-Agent` header, if any.
    pub user_agent: Option<String>,
}

/// A successful connect (Phoenix `{:ok, socket}`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connected {
    /// Socket assigns, copied into every channel joined on this connection.
    pub assigns: Assigns,
    /// Socket id (Phoenix `id/1`); the connection subscribes to it as a topic so that a
    /// `"disconnect"` broadcast there closes it (close 1001).
    pub id: Option<String>,
}

/// A refused connect: the upgrade is answered with this HTTP status (Phoenix `:error` → 403;
/// `{:error, reason}` through an error handler → e.g. 429). Empty body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
}

impl Default for Refused {
    fn default() -> Self {
        Refused { status: 403 }
    }
}

/// The connect callback of a socket mount (Phoenix `connect/3`).
#[async_trait::async_trait]
pub trait Connect: Send + Sync + 'static {
    /// Accept (with assigns and an optional socket id) or refuse the connection.
    async fn connect(&self, info: &ConnectInfo) -> Result<Connected, Refused>;
}

/// Accepts every connection with empty assigns and no id.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

#[async_trait::async_trait]
impl Connect for AcceptAll {
    async fn connect(&self, _info: &ConnectInfo) -> Result<Connected, Refused> {
        Ok(Connected::default())
    }
}

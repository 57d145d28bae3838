//! The handler contract: what an application implements and returns, below the layers that
//! run it. A [`Connect`] callback decides each connection; the `Channel` behaviour (in `channel`,
//! beside the `Socket` its callbacks receive) answers joins and messages with the outcomes
//! defined here. `channel` and `endpoint` depend on this module; it depends only
//! on `wire` and `pubsub`.

use crate::pubsub::Broadcast;
use crate::wire::{Payload, WireError};
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

/// Why a channel ended; passed to `terminate` (Phoenix terminate reasons). Its text form
/// ([`kind`](Self::kind), [`detail`](Self::detail), `Display`) is the same in every language.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
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

impl From<WireError> for HandlerError {
    fn from(e: WireError) -> Self {
        HandlerError(e.to_string())
    }
}

impl TerminateReason {
    /// The reason's kind as every host language names it: `left`, `closed`, `disconnected`,
    /// `drain`, `stop` or `crash`.
    pub fn kind(&self) -> &'static str {
        match self {
            TerminateReason::Left => "left",
            TerminateReason::Closed => "closed",
            TerminateReason::Disconnected => "disconnected",
            TerminateReason::Drain => "drain",
            TerminateReason::Stop(_) => "stop",
            TerminateReason::Crash(_) => "crash",
        }
    }

    /// What a `stop` or `crash` says: `normal`, `shutdown`, `shutdown:<detail>` or the abnormal
    /// reason for a stop; the failure for a crash. `None` for the other kinds.
    pub fn detail(&self) -> Option<String> {
        match self {
            TerminateReason::Stop(StopReason::Normal) => Some("normal".to_owned()),
            TerminateReason::Stop(StopReason::Shutdown(d)) if d.is_empty() => {
                Some("shutdown".to_owned())
            }
            TerminateReason::Stop(StopReason::Shutdown(d)) => Some(format!("shutdown:{d}")),
            TerminateReason::Stop(StopReason::Abnormal(d)) => Some(d.clone()),
            TerminateReason::Crash(d) => Some(d.clone()),
            _ => None,
        }
    }
}

/// `kind` or `kind:detail`, e.g. `left`, `stop:shutdown:duplicate_join`, `crash:timeout`: the
/// one text form of a reason in every host language.
impl std::fmt::Display for TerminateReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.detail() {
            Some(detail) => write!(f, "{}:{detail}", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminate_reasons_have_one_text_form() {
        let cases = [
            (TerminateReason::Left, "left"),
            (TerminateReason::Closed, "closed"),
            (TerminateReason::Disconnected, "disconnected"),
            (TerminateReason::Drain, "drain"),
            (TerminateReason::Stop(StopReason::Normal), "stop:normal"),
            (
                TerminateReason::Stop(StopReason::Shutdown(String::new())),
                "stop:shutdown",
            ),
            (
                TerminateReason::Stop(StopReason::Shutdown("x".into())),
                "stop:shutdown:x",
            ),
            (
                TerminateReason::Stop(StopReason::Abnormal("boom".into())),
                "stop:boom",
            ),
            (TerminateReason::Crash("timeout".into()), "crash:timeout"),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
    }
}

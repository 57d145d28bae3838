//! What the core asks a host: a [`HostRequest`] (its kind, the channel it is about, its
//! content) and how a host answers it through its ticket.

use super::answer::{Answer, AnswerError};
use super::channels::ChannelId;
use super::kind::RequestKind;
use super::tickets::{Ticket, Tickets};
use crate::handler::{Assigns, ConnectInfo, Info, TerminateReason};
use crate::wire::{Payload, Ref};
use bytes::Bytes;
use std::sync::Arc;

/// The channel a request is about: what a Phoenix handler sees of its socket.
#[derive(Clone, Debug)]
pub struct ChannelContext {
    /// Id for actions through [`HostQueue::channel`](crate::host::HostQueue::channel), stable for the channel's life.
    pub id: ChannelId,
    /// The channel topic, e.g. `room:lobby`.
    pub topic: String,
    /// The pattern whose handler serves this channel, as registered (e.g. `room:*`; the core
    /// matched it, first registered wins as in Phoenix). Empty when the handler was made
    /// without one ([`QueueChannel::pattern`](super::QueueChannel::pattern)).
    pub pattern: Arc<str>,
    /// The join_ref of the channel instance (`None` if the client sent null).
    pub join_ref: Option<Ref>,
    /// The socket id returned by connect (Phoenix `socket.id`), if any.
    pub socket_id: Option<String>,
    /// The channel's assigns when the request was made: the connect assigns at join, then
    /// whatever answers stored (see [`Answer`]).
    pub assigns: Assigns,
}

/// The content of a [`HostRequest`].
#[derive(Clone, Debug)]
pub enum RequestBody {
    /// A WebSocket upgrade to accept or refuse.
    Connect {
        /// Everything the endpoint knows about the connection.
        info: ConnectInfo,
        /// `info.params` as JSON object text, for hosts that take raw JSON.
        params_json: String,
    },
    /// A `phx_join`; `payload` is the join params (raw JSON or binary, as received).
    Join {
        channel: ChannelContext,
        payload: Payload,
    },
    /// A client push on a joined channel. `ref` is `None` when the client sent null (then
    /// a `Reply` answer is not sent).
    HandleIn {
        channel: ChannelContext,
        event: String,
        payload: Payload,
        r#ref: Option<Ref>,
    },
    /// A message for the channel: `Info::Message` sent with `ChannelHandle::send_info`, or
    /// `Info::Broadcast` on a topic the channel subscribed to. `payload` is the message as
    /// JSON text, or the broadcast's payload.
    HandleInfo {
        channel: ChannelContext,
        info: Info,
        payload: Payload,
    },
    /// An intercepted broadcast on the channel topic.
    HandleOut {
        channel: ChannelContext,
        event: String,
        payload: Payload,
    },
    /// The channel ended (see [`RequestKind::Leave`]).
    Leave {
        channel: ChannelContext,
        reason: TerminateReason,
    },
    /// An HTTP request on a host route (see [`RequestKind::Http`]).
    Http(HttpRequest),
}

/// An HTTP request for the host: what a plain HTTP handler needs, already read in full.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    /// `GET`, `POST`, ... as sent.
    pub method: String,
    /// The path, percent-encoded as sent, e.g. `/_test/channels`.
    pub path: String,
    /// The registered route prefix that matched (the most specific one), e.g. `/_test`.
    pub prefix: String,
    /// The query string without `?` (empty when there is none), percent-encoded as sent.
    pub query: String,
    /// The `Content-Type` header, when given and valid UTF-8.
    pub content_type: Option<String>,
    /// The body bytes (at most the route's body limit).
    pub body: bytes::Bytes,
}

impl RequestBody {
    /// The kind of request.
    pub fn kind(&self) -> RequestKind {
        match self {
            RequestBody::Connect { .. } => RequestKind::Connect,
            RequestBody::Join { .. } => RequestKind::Join,
            RequestBody::HandleIn { .. } => RequestKind::HandleIn,
            RequestBody::HandleInfo { .. } => RequestKind::HandleInfo,
            RequestBody::HandleOut { .. } => RequestKind::HandleOut,
            RequestBody::Leave { .. } => RequestKind::Leave,
            RequestBody::Http(_) => RequestKind::Http,
        }
    }
}

/// One request for the host, owned by whoever polled it. `Send`, so it may be answered on
/// another thread.
///
/// Dropping a request that has a ticket without answering it counts as a crash of that
/// handler: a join gets `{"reason":"join crashed"}`, a channel gets `phx_error`, a connect
/// gets 500. So the request must be kept alive until [`answer`](Self::answer) (or
/// [`HostQueue::answer`](crate::host::HostQueue::answer) with its ticket) was called.
pub struct HostRequest {
    pub(super) ticket: Option<Ticket>,
    pub(super) body: RequestBody,
    pub(super) tickets: Option<Arc<Tickets>>,
    /// For a `Leave` the core waits on (see [`RequestKind::Leave`]): dropping it, with the
    /// request, wakes the channel's `terminate`.
    pub(super) _leave_ack: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for HostRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostRequest")
            .field("ticket", &self.ticket)
            .field("body", &self.body)
            .finish()
    }
}

impl Drop for HostRequest {
    fn drop(&mut self) {
        if let (Some(ticket), Some(tickets)) = (self.ticket, &self.tickets) {
            tickets.drop_unanswered(ticket);
        }
    }
}

impl HostRequest {
    /// The kind of request.
    pub fn kind(&self) -> RequestKind {
        self.body.kind()
    }

    /// The ticket to answer with; `None` for `Leave`.
    pub fn ticket(&self) -> Option<Ticket> {
        self.ticket
    }

    /// The request's content.
    pub fn body(&self) -> &RequestBody {
        &self.body
    }

    /// The channel the request is about (all kinds but `Connect` and `Http`).
    pub fn channel(&self) -> Option<&ChannelContext> {
        match &self.body {
            RequestBody::Connect { .. } | RequestBody::Http(_) => None,
            RequestBody::Join { channel, .. }
            | RequestBody::HandleIn { channel, .. }
            | RequestBody::HandleInfo { channel, .. }
            | RequestBody::HandleOut { channel, .. }
            | RequestBody::Leave { channel, .. } => Some(channel),
        }
    }

    /// The channel id (all kinds but `Connect`).
    pub fn channel_id(&self) -> Option<ChannelId> {
        self.channel().map(|c| c.id)
    }

    /// The channel topic (all kinds but `Connect`).
    pub fn topic(&self) -> Option<&str> {
        self.channel().map(|c| c.topic.as_str())
    }

    /// The event: the client's event (`HandleIn`), the intercepted event (`HandleOut`), or a
    /// subscribed broadcast's event (`HandleInfo` with `Info::Broadcast`).
    pub fn event(&self) -> Option<&str> {
        match &self.body {
            RequestBody::HandleIn { event, .. } | RequestBody::HandleOut { event, .. } => {
                Some(event)
            }
            RequestBody::HandleInfo {
                info: Info::Broadcast(b),
                ..
            } => Some(&b.event),
            _ => None,
        }
    }

    /// The payload, raw JSON or binary: join params (`Join`), the message (`HandleIn`,
    /// `HandleOut`, `HandleInfo`). `Connect` params are in [`RequestBody::Connect`], an HTTP
    /// body in [`RequestBody::Http`].
    pub fn payload(&self) -> Option<&Payload> {
        match &self.body {
            RequestBody::Join { payload, .. }
            | RequestBody::HandleIn { payload, .. }
            | RequestBody::HandleInfo { payload, .. }
            | RequestBody::HandleOut { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// The message's `ref` (`HandleIn` only).
    pub fn r#ref(&self) -> Option<&Ref> {
        match &self.body {
            RequestBody::HandleIn { r#ref, .. } => r#ref.as_ref(),
            _ => None,
        }
    }

    /// The channel's join_ref.
    pub fn join_ref(&self) -> Option<&Ref> {
        self.channel().and_then(|c| c.join_ref.as_ref())
    }

    /// The socket id from connect.
    pub fn socket_id(&self) -> Option<&str> {
        self.channel().and_then(|c| c.socket_id.as_deref())
    }

    /// The channel's assigns.
    pub fn assigns(&self) -> Option<&Assigns> {
        self.channel().map(|c| &c.assigns)
    }

    /// Answers this request: same as [`HostQueue::answer`](crate::host::HostQueue::answer) with its ticket. A `Leave` has no
    /// ticket ([`AnswerError::WrongKind`]).
    pub fn answer(&self, answer: Answer) -> Result<(), AnswerError> {
        match (self.ticket, &self.tickets) {
            (Some(ticket), Some(tickets)) => tickets.answer(ticket, answer),
            _ => Err(AnswerError::WrongKind {
                request: self.kind(),
                answer: answer.name(),
            }),
        }
    }
}

/// `message` as JSON text, for `HandleInfo` requests.
pub(crate) fn info_payload(info: &Info) -> Payload {
    match info {
        Info::Broadcast(b) => b.payload.clone(),
        Info::Message(v) => Payload::Json(Bytes::from(v.to_string())),
    }
}

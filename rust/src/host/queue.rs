//! The host request queue (DESIGN "Host callbacks never run on a tokio worker", docs/ABI.md
//! "Receiving host requests"): the core posts each host callback (connect, join, handle_in,
//! handle_info, handle_out) as a [`HostRequest`] with a [`Ticket`], and awaits the [`Answer`]
//! asynchronously; any thread drains the queue ([`HostQueue::poll`]) and answers
//! ([`HostQueue::answer`]). This is the layer the C ABI, Python and Node front-ends wrap, so
//! ordering, timeouts, limits and "answer exactly once" live here and in the channel tasks,
//! not in the front-ends.

use super::channels::{ChannelId, Channels};
use super::notify::{Notifier, Wakeup};
use super::tickets::{Ticket, Tickets};
use super::{Assigns, ConnectInfo, Info, StopReason, TerminateReason};
use crate::channel::{ChannelHandle, HandleError};
use crate::wire::{Payload, Ref};
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Limits of a [`HostQueue`]. Defaults in [`QueueConfig::default`].
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Requests with a ticket that may be pending at once, queued or handed out and not yet
    /// answered (default 65 536). Also the capacity of the queue. A request beyond it fails
    /// at once: a join is answered `{"reason":"join crashed"}`, a message crashes its channel
    /// (`phx_error`), a connect is refused with 503.
    pub max_pending: usize,
    /// How long a connect request may wait for its answer (default 10 s); then the upgrade is
    /// refused with 503 and the ticket turns stale. HTTP route requests get the same time
    /// (then 504). (Channel requests use the mount's
    /// `MountConfig::request_timeout`.)
    pub connect_timeout: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_pending: 65_536,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What a [`HostRequest`] asks. Stable: the C ABI maps it to `sb_request_kind` values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RequestKind {
    /// Phoenix `connect/3`; answer [`Answer::ConnectOk`] or [`Answer::ConnectRefused`].
    Connect,
    /// Phoenix `join/3`; answer [`Answer::JoinOk`] or [`Answer::JoinError`].
    Join,
    /// Phoenix `handle_in/3`; answer [`Answer::Reply`], [`Answer::NoReply`] or [`Answer::Stop`].
    HandleIn,
    /// Phoenix `handle_info/2`; answer [`Answer::NoReply`] or [`Answer::Stop`] (a `Reply`
    /// is accepted and ignored: there is no ref to reply to).
    HandleInfo,
    /// Phoenix `handle_out/3` for an intercepted event; answer like `HandleInfo`. The
    /// broadcast is not pushed unless the host pushes it (through
    /// [`HostQueue::channel`]`(id).push(..)`) before answering.
    HandleOut,
    /// Phoenix `terminate/2`: the channel ended. No ticket, no answer. When the channel
    /// ended with `phx_close` (the client left, or a `Stop` with a normal or shutdown
    /// reason), the core waits until the host drops the request (or the mount's
    /// `request_timeout` passes) before it forgets the channel, and meanwhile
    /// [`HostQueue::channel`] still gives a handle whose `push`, `reply`, `broadcast` and
    /// `broadcast_from` work: what they send goes out after `phx_close`, as pushes from a
    /// Phoenix `terminate` do (PROTOCOL.md 3.3 rule 4). So drop the request when done with
    /// it. After a crash or a connection end nothing reaches the client and the core does
    /// not wait. Posted exactly once for every channel whose join was answered `JoinOk`, also when the core
    /// ends it without `terminate` (duplicate join: reason `Stop(Shutdown("duplicate_join"))`;
    /// a `JoinOk` that arrived as the join timed out: `Crash`; a channel aborted at the
    /// connection's close deadline: the close reason). Not posted for a refused or crashed
    /// join.
    Leave,
    /// An HTTP request on one of the host's HTTP routes (`HostConfig::http_routes`, or
    /// [`HostQueue::http_router`]); answer [`Answer::Http`]. Unanswered within the
    /// route's timeout: 504; dropped unanswered: 500.
    Http,
}

/// The channel a request is about: what a Phoenix handler sees of its socket.
#[derive(Clone, Debug)]
pub struct ChannelContext {
    /// Id for actions through [`HostQueue::channel`], stable for the channel's life.
    pub id: ChannelId,
    /// The channel topic, e.g. `room:lobby`.
    pub topic: String,
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
/// [`HostQueue::answer`] with its ticket) was called.
pub struct HostRequest {
    ticket: Option<Ticket>,
    body: RequestBody,
    tickets: Option<Arc<Tickets>>,
    /// For a `Leave` the core waits on (see [`RequestKind::Leave`]): dropping it, with the
    /// request, wakes the channel's `terminate`.
    _leave_ack: Option<tokio::sync::oneshot::Sender<()>>,
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

    /// Answers this request: same as [`HostQueue::answer`] with its ticket. A `Leave` has no
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

/// The host's answer to a request (the Phoenix callback return values). Optional `assigns`
/// replace the channel's assigns (Phoenix `assign/3` on the returned socket), so hosts can
/// keep per-channel state there; `None` leaves them unchanged.
#[derive(Clone, PartialEq, Debug)]
pub enum Answer {
    /// `{:ok, socket}` from `connect/3`: `assigns` are copied into every channel of the
    /// connection; `id` is the socket id (`"disconnect"` broadcasts there close it).
    ConnectOk {
        assigns: Assigns,
        id: Option<String>,
    },
    /// `:error` from `connect/3`: the upgrade is refused with this HTTP status (non-error
    /// statuses become 403).
    ConnectRefused { status: u16 },
    /// `{:ok, reply, socket}` from `join/3`; `reply` is the join reply (usually `{}`).
    JoinOk {
        reply: Payload,
        assigns: Option<Assigns>,
    },
    /// `{:error, reply}` from `join/3`, e.g. `{"reason":"unauthorized"}`.
    JoinError { reply: Payload },
    /// `{:reply, {status, payload}, socket}`: `[J, R, T, "phx_reply", {"status":
    /// status, "response": payload}]`. `payload` may be any JSON value or binary.
    Reply {
        status: String,
        payload: Payload,
        assigns: Option<Assigns>,
    },
    /// `{:noreply, socket}`.
    NoReply { assigns: Option<Assigns> },
    /// `{:stop, reason, socket}` / `{:stop, reason, reply, socket}` (reply first). Normal
    /// and shutdown reasons close (`phx_close`); others error (`phx_error`).
    Stop {
        reason: StopReason,
        reply: Option<(String, Payload)>,
        assigns: Option<Assigns>,
    },
    /// The response to an HTTP request: `status` (100-999; others become 500),
    /// `content_type` (an invalid header value is dropped) and the body bytes.
    Http {
        status: u16,
        content_type: String,
        body: bytes::Bytes,
    },
}

impl Answer {
    /// `{:reply, {:ok, payload}, socket}`.
    pub fn ok(payload: Payload) -> Answer {
        Answer::reply("ok", payload)
    }

    /// `{:reply, {:error, payload}, socket}`.
    pub fn error(payload: Payload) -> Answer {
        Answer::reply("error", payload)
    }

    /// `{:reply, {status, payload}, socket}`.
    pub fn reply(status: &str, payload: Payload) -> Answer {
        Answer::Reply {
            status: status.to_owned(),
            payload,
            assigns: None,
        }
    }

    /// `{:noreply, socket}`.
    pub fn noreply() -> Answer {
        Answer::NoReply { assigns: None }
    }

    /// `{:ok, reply, socket}` from `join/3`.
    pub fn join_ok(reply: Payload) -> Answer {
        Answer::JoinOk {
            reply,
            assigns: None,
        }
    }

    /// `{:error, reply}` from `join/3`.
    pub fn join_error(reply: Payload) -> Answer {
        Answer::JoinError { reply }
    }

    /// `{:stop, reason, socket}`.
    pub fn stop(reason: StopReason) -> Answer {
        Answer::Stop {
            reason,
            reply: None,
            assigns: None,
        }
    }

    /// The response to an HTTP request.
    pub fn http(
        status: u16,
        content_type: impl Into<String>,
        body: impl Into<bytes::Bytes>,
    ) -> Answer {
        Answer::Http {
            status,
            content_type: content_type.into(),
            body: body.into(),
        }
    }

    /// Sets the assigns of an answer that carries them (`JoinOk`, `Reply`, `NoReply`,
    /// `Stop`, `ConnectOk`); other answers are returned unchanged.
    pub fn with_assigns(mut self, new: Assigns) -> Answer {
        match &mut self {
            Answer::JoinOk { assigns, .. }
            | Answer::Reply { assigns, .. }
            | Answer::NoReply { assigns }
            | Answer::Stop { assigns, .. } => *assigns = Some(new),
            Answer::ConnectOk { assigns, .. } => *assigns = new,
            Answer::ConnectRefused { .. } | Answer::JoinError { .. } | Answer::Http { .. } => {}
        }
        self
    }

    /// Short name for errors and logs, e.g. `"JoinOk"`.
    pub fn name(&self) -> &'static str {
        match self {
            Answer::ConnectOk { .. } => "ConnectOk",
            Answer::ConnectRefused { .. } => "ConnectRefused",
            Answer::JoinOk { .. } => "JoinOk",
            Answer::JoinError { .. } => "JoinError",
            Answer::Reply { .. } => "Reply",
            Answer::NoReply { .. } => "NoReply",
            Answer::Stop { .. } => "Stop",
            Answer::Http { .. } => "Http",
        }
    }

    /// Whether this answer is valid for a request of `kind`.
    pub fn fits(&self, kind: RequestKind) -> bool {
        use RequestKind as K;
        match self {
            Answer::ConnectOk { .. } | Answer::ConnectRefused { .. } => kind == K::Connect,
            Answer::JoinOk { .. } | Answer::JoinError { .. } => kind == K::Join,
            Answer::Reply { .. } | Answer::NoReply { .. } | Answer::Stop { .. } => {
                matches!(kind, K::HandleIn | K::HandleInfo | K::HandleOut)
            }
            Answer::Http { .. } => kind == K::Http,
        }
    }
}

/// Why an answer was refused. Nothing changed in the core when one of these is returned.
/// The C ABI maps them to statuses (`SB_E_NOT_FOUND`, `SB_E_ALREADY_ANSWERED`,
/// `SB_E_STALE_TICKET`, `SB_E_INVALID_ARGUMENT`).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum AnswerError {
    /// No such ticket: never issued (0, garbage).
    #[error("unknown ticket")]
    NotFound,
    /// The request was already answered, or dropped unanswered (which answered it as a
    /// crash). Reliable while the ticket's slot was not reused, and for the last
    /// 4096 answered tickets whose slot was; older ones report `Stale`.
    #[error("request already answered")]
    AlreadyAnswered,
    /// The core no longer waits for this ticket: the request timed out (the channel
    /// already got `phx_error`, the join `"join crashed"`, the connect 503) or its
    /// connection ended. Every issued ticket that ended without an answer reports this,
    /// however many requests came after it.
    #[error("stale ticket: the request timed out or its connection ended")]
    Stale,
    /// The answer does not fit the request, e.g. `JoinOk` for a `HandleIn`, or any answer
    /// to a `Leave`. The request stays pending.
    #[error("{answer} is not an answer to a {request:?} request")]
    WrongKind {
        request: RequestKind,
        answer: &'static str,
    },
}

/// Shared state of a queue; what adapters and handles hold.
pub(crate) struct Inner {
    tx: Sender<HostRequest>,
    rx: Receiver<HostRequest>,
    /// `Leave` requests. Unbounded because there is at most one per joined channel, so they
    /// are bounded by the channel limits; a `Leave` must never be lost (hosts free state on
    /// it).
    leave_tx: Sender<HostRequest>,
    leave_rx: Receiver<HostRequest>,
    pub(crate) tickets: Arc<Tickets>,
    pub(crate) channels: Channels,
    notifier: Notifier,
    pub(crate) config: QueueConfig,
    /// Test hook run inside `poll` after the pops: a producer landing exactly there.
    #[cfg(test)]
    pub(crate) after_pops: parking_lot::Mutex<Option<Box<dyn Fn() + Send>>>,
}

/// Why a request could not be posted.
#[derive(Debug)]
pub(crate) enum PostError {
    /// `max_pending` reached.
    Full,
}

impl Inner {
    /// Posts a request with a ticket; the receiver gets the answer or, if the request is
    /// dropped unanswered, an error. The caller must [`Tickets::abandon`] the ticket when it
    /// stops waiting (see `adapters::Pending`).
    pub(crate) fn post(
        &self,
        body: RequestBody,
    ) -> Result<(Ticket, tokio::sync::oneshot::Receiver<Answer>), PostError> {
        let (ticket, rx) = self
            .tickets
            .issue(body.kind())
            .map_err(|_| PostError::Full)?;
        let req = HostRequest {
            ticket: Some(ticket),
            body,
            tickets: Some(Arc::clone(&self.tickets)),
            _leave_ack: None,
        };
        match self.tx.try_send(req) {
            Ok(()) => {}
            // Full: stale requests still occupy the queue. Dropping the request frees its
            // ticket (the caller sees `Full`, not a crash).
            Err(TrySendError::Full(req) | TrySendError::Disconnected(req)) => {
                self.tickets.abandon(ticket);
                drop(req);
                return Err(PostError::Full);
            }
        }
        self.notifier.pending();
        Ok((ticket, rx))
    }

    /// Posts a `Leave` (no ticket, never refused).
    pub(crate) fn post_leave(&self, channel: ChannelContext, reason: TerminateReason) {
        self.send_leave(channel, reason, None);
    }

    /// Posts a `Leave` whose drop the caller awaits: the receiver resolves (with an error)
    /// when the host dropped the request.
    pub(crate) fn post_leave_acked(
        &self,
        channel: ChannelContext,
        reason: TerminateReason,
    ) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send_leave(channel, reason, Some(tx));
        rx
    }

    fn send_leave(
        &self,
        channel: ChannelContext,
        reason: TerminateReason,
        ack: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let req = HostRequest {
            ticket: None,
            body: RequestBody::Leave { channel, reason },
            tickets: None,
            _leave_ack: ack,
        };
        // Cannot fail: unbounded, and `self` holds the receiver.
        let _ = self.leave_tx.send(req);
        self.notifier.pending();
    }
}

/// The host request queue: one per host (usually per hub), shared by every mount it serves.
/// Cheap to clone (an `Arc`); `Send + Sync`: poll, wait, answer and act from any threads.
///
/// ```no_run
/// # use switchboard::host::{HostQueue, Answer, RequestKind};
/// # use switchboard::endpoint::SocketMount;
/// # use switchboard::wire::Payload;
/// let queue = HostQueue::new();
/// let mount = SocketMount::new()
///     .connect(queue.connect_handler())
///     .channel("room:*", queue.channel_handler());
/// std::thread::spawn(move || loop {
///     queue.wait(std::time::Duration::from_secs(1));
///     for req in queue.poll(64) {
///         let answer = match req.kind() {
///             RequestKind::Connect => Answer::ConnectOk { assigns: Default::default(), id: None },
///             RequestKind::Join => Answer::join_ok(Payload::empty_object()),
///             RequestKind::Leave => continue,
///             _ => Answer::noreply(),
///         };
///         let _ = req.answer(answer);
///     }
/// });
/// ```
#[derive(Clone)]
pub struct HostQueue {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for HostQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostQueue")
            .field("queued", &self.len())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Default for HostQueue {
    fn default() -> Self {
        HostQueue::new()
    }
}

impl HostQueue {
    /// A queue with the default [`QueueConfig`].
    pub fn new() -> HostQueue {
        HostQueue::with_config(QueueConfig::default())
    }

    /// A queue with `config` (`max_pending` 0 is raised to 1).
    pub fn with_config(mut config: QueueConfig) -> HostQueue {
        config.max_pending = config.max_pending.max(1);
        let (tx, rx) = crossbeam_channel::bounded(config.max_pending);
        let (leave_tx, leave_rx) = crossbeam_channel::unbounded();
        HostQueue {
            inner: Arc::new(Inner {
                tx,
                rx,
                leave_tx,
                leave_rx,
                tickets: Arc::new(Tickets::new(config.max_pending)),
                channels: Channels::new(),
                notifier: Notifier::new(),
                config,
                #[cfg(test)]
                after_pops: parking_lot::Mutex::new(None),
            }),
        }
    }

    /// Takes up to `max` requests, oldest first, without blocking (an empty queue gives an
    /// empty vector). `Leave` requests come first. Requests the core already stopped waiting
    /// for (timed out while queued) are skipped. Resets the [`event_fd`](Self::event_fd)
    /// and, if requests remain after `max`, signals again so a host that stops early to
    /// share its loop is woken again. Any thread; concurrent pollers each get distinct
    /// requests.
    pub fn poll(&self, max: usize) -> Vec<HostRequest> {
        let mut out = Vec::new();
        self.poll_into(&mut out, max);
        out
    }

    /// [`poll`](Self::poll) appending to `out`; returns how many were appended.
    pub fn poll_into(&self, out: &mut Vec<HostRequest>, max: usize) -> usize {
        let inner = &self.inner;
        inner.notifier.reset();
        let mut n = 0;
        while n < max {
            let req = match inner.leave_rx.try_recv() {
                Ok(req) => req,
                Err(_) => match inner.rx.try_recv() {
                    Ok(req) => req,
                    Err(_) => break,
                },
            };
            if let Some(ticket) = req.ticket
                && !inner.tickets.is_pending(ticket)
            {
                continue;
            }
            out.push(req);
            n += 1;
        }
        #[cfg(test)]
        if let Some(hook) = inner.after_pops.lock().take() {
            hook();
        }
        if !inner.rx.is_empty() || !inner.leave_rx.is_empty() {
            inner.notifier.pending();
        }
        n
    }

    /// Blocks the calling thread until requests may be ready (returns `true`) or `timeout`
    /// passed (`false`). A `true` can be spurious (e.g. the request timed out meanwhile):
    /// poll and wait again. For a dedicated host thread; never call it on a tokio worker.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.inner.notifier.wait(timeout)
    }

    /// A Linux `eventfd` (`EFD_NONBLOCK | EFD_CLOEXEC`), readable while requests may be
    /// pending; register it level-triggered (epoll, libuv `UV_READABLE`, asyncio
    /// `add_reader`) and call [`poll`](Self::poll) when it is readable: poll resets it, so
    /// the host never reads it. Borrowed from the queue: do not close it. `None` if the
    /// kernel refused to create one.
    #[cfg(target_os = "linux")]
    pub fn event_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.inner.notifier.fd()
    }

    /// Installs (or with `None` removes) a wakeup callback meaning "there is work; poll".
    /// Called at most once per batch (coalesced like the event fd), on the thread that
    /// posted the request (a tokio worker) or in [`poll`](Self::poll) when work remains:
    /// it must be quick, must not block and must not call back into this queue (e.g. libuv
    /// `uv_async_send`). Runs once right away if work is already pending.
    pub fn set_wakeup(&self, wakeup: Option<Wakeup>) {
        self.inner.notifier.set_wakeup(wakeup);
    }

    /// Answers the request with `ticket`, from any thread. Errors: [`AnswerError`] (unknown
    /// ticket, already answered, stale after the request timeout, answer of the wrong
    /// kind). Each ticket is answered at most once.
    pub fn answer(&self, ticket: Ticket, answer: Answer) -> Result<(), AnswerError> {
        self.inner.tickets.answer(ticket, answer)
    }

    /// The kind of the request awaiting an answer under `ticket`, for front-ends that answer
    /// with generic verbs (the C ABI's `sb_reply(ticket, OK | ERROR | NOREPLY | STOP, ..)`)
    /// and must pick the matching [`Answer`]. Errors like [`answer`](Self::answer):
    /// `NotFound`, `AlreadyAnswered`, `Stale`.
    pub fn request_kind(&self, ticket: Ticket) -> Result<RequestKind, AnswerError> {
        self.inner.tickets.kind(ticket)
    }

    /// The handle of channel `id` for actions by id (push, broadcast_from, presence,
    /// subscribe, send_info): valid from its `Join` request until the channel starts ending,
    /// and for push, reply and broadcasts while the host holds the `Leave` request of a
    /// channel that closed with `phx_close` (see [`RequestKind::Leave`]);
    /// [`HandleError::NotFound`] otherwise. Pushes, broadcasts and `send_info` made before
    /// the join reply is written are deferred until right after an `ok` reply and dropped
    /// if the join fails (as inside a Phoenix `join`); presence and subscriptions take
    /// effect at once and end with the channel.
    pub fn channel(&self, id: ChannelId) -> Result<ChannelHandle, HandleError> {
        self.inner.channels.get(id)
    }

    /// Requests waiting to be polled (including stale ones that poll will skip).
    pub fn len(&self) -> usize {
        self.inner.rx.len() + self.inner.leave_rx.len()
    }

    /// True when nothing waits to be polled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A [`Connect`](super::Connect) handler that asks this queue (see
    /// [`QueueConnect`](super::QueueConnect)).
    pub fn connect_handler(&self) -> super::adapters::QueueConnect {
        super::adapters::QueueConnect::new(Arc::clone(&self.inner))
    }

    /// A [`Channel`](super::Channel) handler that asks this queue (see
    /// [`QueueChannel`](super::QueueChannel)).
    pub fn channel_handler(&self) -> super::adapters::QueueChannel {
        super::adapters::QueueChannel::new(Arc::clone(&self.inner))
    }

    /// Routes answered by this queue's host ([`RequestKind::Http`]), to add with
    /// `EndpointBuilder::route`: each prefix serves itself and every path below it, any
    /// method. The answer must come within `QueueConfig::connect_timeout` (else 504); a
    /// dropped request is a 500, a full queue 503, a body over
    /// [`MAX_HTTP_BODY`](super::MAX_HTTP_BODY) 413.
    ///
    /// Errors: [`HttpRouteError`](super::HttpRouteError) for a prefix that is not an absolute
    /// literal path.
    pub fn http_router(&self, prefixes: &[String]) -> Result<axum::Router, super::HttpRouteError> {
        super::http::router(&self.inner, prefixes, self.inner.config.connect_timeout)
    }
}

/// `message` as JSON text, for `HandleInfo` requests.
pub(crate) fn info_payload(info: &Info) -> Payload {
    match info {
        Info::Broadcast(b) => b.payload.clone(),
        Info::Message(v) => Payload::Json(Bytes::from(v.to_string())),
    }
}

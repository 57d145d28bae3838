//! The host request queue (DESIGN "Host callbacks never run on a tokio worker", docs/ABI.md
//! "Receiving host requests"): the core posts each host callback (connect, join, handle_in,
//! handle_info, handle_out) as a [`HostRequest`] with a [`Ticket`], and awaits the [`Answer`]
//! asynchronously; any thread drains the queue ([`HostQueue::poll`]) and answers
//! ([`HostQueue::answer`]). This is the layer the C ABI, Python and Node front-ends wrap, so
//! ordering, timeouts, limits and "answer exactly once" live here and in the channel tasks,
//! not in the front-ends.

use super::answer::{Answer, AnswerError};
use super::channels::{ChannelId, Channels};
use super::kind::RequestKind;
use super::notify::{Notifier, Wakeup};
use super::request::{ChannelContext, HostRequest, RequestBody};
use super::tickets::{Ticket, Tickets};
use crate::channel::{ChannelHandle, HandleError};
use crate::handler::TerminateReason;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Limits of a [`HostQueue`]. Defaults in [`QueueConfig::default`].
#[derive(Clone, Debug)]
#[non_exhaustive]
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

/// The host request queue: one per host (usually per backplane), shared by every mount it serves.
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
}

//! [`Channel`] and [`Connect`] implementations that turn each callback into a
//! [`HostRequest`](super::HostRequest) on a [`HostQueue`](super::HostQueue) and await the
//! answer. The core's channel task still owns ordering (one request per channel at a time),
//! the request timeout and crash handling; these adapters only translate.

use super::answer::Answer;
use super::channels::ChannelId;
use super::queue::{HostQueue, Inner, PostError};
use super::request::{ChannelContext, RequestBody, info_payload};
use super::tickets::{Ticket, Tickets};
use super::{
    Channel, Connect, ConnectInfo, Connected, HandlerError, Info, JoinOutcome, Outcome, Refused,
    Socket, StopReason, TerminateReason,
};
use crate::channel::SocketExtension;
use crate::wire::Payload;
use std::sync::Arc;

/// Marks the ticket stale when the waiting future is dropped before the answer came (the
/// core's request timeout, or the connection ended). A no-op once answered.
struct Pending {
    tickets: Arc<Tickets>,
    ticket: Ticket,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.tickets.abandon(self.ticket);
    }
}

/// Waits for a join answer. Dropped unanswered (request timeout, connection end), it first
/// turns the ticket stale, so no answer can land after that, then looks for an answer that
/// landed but was never read: the host was told `JoinOk` succeeded, so it is owed a
/// `Leave` for that channel id.
struct JoinWait<'a> {
    inner: &'a Inner,
    id: ChannelId,
    ticket: Ticket,
    rx: tokio::sync::oneshot::Receiver<Answer>,
}

impl Drop for JoinWait<'_> {
    fn drop(&mut self) {
        self.inner.tickets.abandon(self.ticket);
        if let Ok(Answer::JoinOk { .. }) = self.rx.try_recv() {
            self.inner.channels.joined(self.id, true);
        }
    }
}

pub(super) enum AskError {
    Full,
    Dropped,
}

impl From<AskError> for HandlerError {
    fn from(e: AskError) -> Self {
        match e {
            AskError::Full => HandlerError::new("host request queue full (max_pending reached)"),
            AskError::Dropped => HandlerError::new("host dropped the request without answering"),
        }
    }
}

/// Posts `body` and waits for its answer.
pub(super) async fn ask(inner: &Inner, body: RequestBody) -> Result<Answer, AskError> {
    let (ticket, rx) = inner.post(body).map_err(|PostError::Full| AskError::Full)?;
    let _pending = Pending {
        tickets: Arc::clone(&inner.tickets),
        ticket,
    };
    rx.await.map_err(|_| AskError::Dropped)
}

/// A [`Channel`] handler served by a host queue (see
/// [`HostQueue::channel_handler`](super::HostQueue::channel_handler)). Register it for any
/// number of patterns. Each channel instance gets a [`ChannelId`] at join; requests carry
/// it with the topic, join_ref, socket id and the current assigns.
#[derive(Clone)]
pub struct QueueChannel {
    inner: Arc<Inner>,
    intercepts: Vec<String>,
    pattern: Arc<str>,
}

impl std::fmt::Debug for QueueChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueChannel")
            .field("pattern", &self.pattern)
            .field("intercepts", &self.intercepts)
            .finish_non_exhaustive()
    }
}

impl QueueChannel {
    pub(crate) fn new(inner: Arc<Inner>) -> QueueChannel {
        QueueChannel {
            inner,
            intercepts: Vec::new(),
            pattern: Arc::from(""),
        }
    }

    /// The pattern this handler is registered for (e.g. `room:*`), given to the host in
    /// [`ChannelContext::pattern`] so that it finds its handler without matching topics
    /// itself. Register one value per pattern.
    pub fn pattern(mut self, pattern: &str) -> Self {
        self.pattern = Arc::from(pattern);
        self
    }

    /// Events whose broadcasts on the channel topic become `HandleOut` requests instead of
    /// going straight to the client (Phoenix `intercept ["new_msg"]`). Per handler value:
    /// register separate values for patterns with different intercepts.
    pub fn intercept<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> Self {
        self.intercepts.extend(events.into_iter().map(Into::into));
        self
    }

    fn context(&self, socket: &Socket) -> Result<ChannelContext, HandlerError> {
        match socket.extension::<HostSlot>() {
            None => Err(HandlerError::new(
                "channel has no host id (join did not run)",
            )),
            Some(slot) => Ok(context(slot, socket)),
        }
    }

    async fn ask_outcome(
        &self,
        body: RequestBody,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        let answer = ask(&self.inner, body).await?;
        outcome(answer, socket)
    }
}

fn context(slot: &HostSlot, socket: &Socket) -> ChannelContext {
    ChannelContext {
        id: slot.id,
        pattern: Arc::clone(&slot.pattern),
        topic: socket.topic().to_owned(),
        join_ref: socket.join_ref().cloned(),
        socket_id: socket.id().map(str::to_owned),
        assigns: socket.assigns().clone(),
    }
}

/// Applies an answer to a handle_in / handle_info / handle_out request.
fn outcome(answer: Answer, socket: &mut Socket) -> Result<Outcome, HandlerError> {
    let (outcome, assigns) = match answer {
        Answer::Reply {
            status,
            payload,
            assigns,
        } => (Outcome::Reply { status, payload }, assigns),
        Answer::NoReply { assigns } => (Outcome::NoReply, assigns),
        Answer::Stop {
            reason,
            reply,
            assigns,
        } => (Outcome::Stop { reason, reply }, assigns),
        // Refused by `Answer::fits` before it gets here.
        other => {
            return Err(HandlerError::new(format!(
                "unexpected answer {}",
                other.name()
            )));
        }
    };
    if let Some(assigns) = assigns {
        *socket.assigns_mut() = assigns;
    }
    Ok(outcome)
}

/// What the host request layer keeps on a channel's socket: the channel's id, freed when the
/// socket goes.
struct HostSlot {
    id: ChannelId,
    pattern: Arc<str>,
    inner: Arc<Inner>,
}

impl SocketExtension for HostSlot {
    /// However the channel ends (even without `terminate`: a duplicate join, a refused or
    /// crashed join), its id is freed when its socket goes, and a joined channel whose
    /// `terminate` never ran still gets its one `Leave`.
    fn socket_dropped(&mut self, socket: &Socket) {
        let fallback = || {
            socket.pending_stop().unwrap_or_else(|| {
                // Phoenix ends a replaced channel with `{:shutdown, :duplicate_join}`.
                TerminateReason::Stop(StopReason::Shutdown("duplicate_join".into()))
            })
        };
        if let Some(reason) = self.inner.channels.free(self.id, fallback) {
            self.inner.post_leave(context(self, socket), reason);
        }
    }
}

#[async_trait::async_trait]
impl Channel for QueueChannel {
    async fn join(
        &self,
        _topic: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<JoinOutcome, HandlerError> {
        let id = self
            .inner
            .channels
            .allocate(socket.handle())
            .ok_or_else(|| HandlerError::new("no channel id left"))?;
        let slot = HostSlot {
            id,
            pattern: Arc::clone(&self.pattern),
            inner: Arc::clone(&self.inner),
        };
        let channel = context(&slot, socket);
        socket.set_extension(slot);
        let body = RequestBody::Join { channel, payload };
        let (ticket, rx) = self
            .inner
            .post(body)
            .map_err(|PostError::Full| AskError::Full)?;
        let mut wait = JoinWait {
            inner: &self.inner,
            id,
            ticket,
            rx,
        };
        let answer = (&mut wait.rx).await.map_err(|_| AskError::Dropped)?;
        match answer {
            Answer::JoinOk { reply, assigns } => {
                if let Some(assigns) = assigns {
                    *socket.assigns_mut() = assigns;
                }
                self.inner.channels.joined(id, false);
                Ok(JoinOutcome::Ok(reply))
            }
            Answer::JoinError { reply } => Ok(JoinOutcome::Error(reply)),
            other => Err(HandlerError::new(format!(
                "unexpected answer {}",
                other.name()
            ))),
        }
    }

    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        let body = RequestBody::HandleIn {
            channel: self.context(socket)?,
            event: event.to_owned(),
            payload,
            r#ref: socket.current_ref.clone(),
        };
        self.ask_outcome(body, socket).await
    }

    async fn handle_info(&self, info: Info, socket: &mut Socket) -> Result<Outcome, HandlerError> {
        let payload = info_payload(&info);
        let body = RequestBody::HandleInfo {
            channel: self.context(socket)?,
            info,
            payload,
        };
        self.ask_outcome(body, socket).await
    }

    fn intercepts(&self) -> Vec<String> {
        self.intercepts.clone()
    }

    async fn handle_out(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        let body = RequestBody::HandleOut {
            channel: self.context(socket)?,
            event: event.to_owned(),
            payload,
        };
        self.ask_outcome(body, socket).await
    }

    async fn terminate(&self, reason: &TerminateReason, socket: &mut Socket) {
        let Ok(channel) = self.context(socket) else {
            return;
        };
        if !self.inner.channels.leave(channel.id) {
            return;
        }
        if !socket.closed_gracefully() {
            // Nothing more reaches the client; don't hold the channel (or a drain) up.
            self.inner.post_leave(channel, reason.clone());
            return;
        }
        // Phoenix pushes from `terminate` after `phx_close`: keep the channel's handle
        // usable until the host drops the `Leave` (the channel task's request timeout
        // bounds the wait; dropping this future closes the window).
        let _window = socket.terminate_window();
        let ack = self.inner.post_leave_acked(channel, reason.clone());
        let _ = ack.await;
    }
}

/// A [`Connect`] handler served by a host queue (see
/// [`HostQueue::connect_handler`](super::HostQueue::connect_handler)). Outcomes:
/// `ConnectOk` accepts, `ConnectRefused` answers its status, a dropped request 500, a full
/// queue or no answer within `QueueConfig::connect_timeout` 503.
#[derive(Clone)]
pub struct QueueConnect {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for QueueConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueConnect").finish_non_exhaustive()
    }
}

impl QueueConnect {
    pub(crate) fn new(inner: Arc<Inner>) -> QueueConnect {
        QueueConnect { inner }
    }
}

const INTERNAL_ERROR: u16 = 500;
const UNAVAILABLE: u16 = 503;

#[async_trait::async_trait]
impl Connect for QueueConnect {
    async fn connect(&self, info: &ConnectInfo) -> Result<Connected, Refused> {
        let params_json = serde_json::to_string(&info.params).unwrap_or_else(|_| "{}".into());
        let body = RequestBody::Connect {
            info: info.clone(),
            params_json,
        };
        let status =
            match tokio::time::timeout(self.inner.config.connect_timeout, ask(&self.inner, body))
                .await
            {
                Ok(Ok(Answer::ConnectOk { assigns, id })) => return Ok(Connected { assigns, id }),
                Ok(Ok(Answer::ConnectRefused { status })) => status,
                Ok(Ok(_)) | Ok(Err(AskError::Dropped)) => INTERNAL_ERROR,
                Ok(Err(AskError::Full)) | Err(_) => UNAVAILABLE,
            };
        Err(Refused { status })
    }
}

impl HostQueue {
    /// A [`Connect`](super::Connect) handler that asks this queue (see
    /// [`QueueConnect`](super::QueueConnect)).
    pub fn connect_handler(&self) -> QueueConnect {
        QueueConnect::new(Arc::clone(&self.inner))
    }

    /// A [`Channel`](super::Channel) handler that asks this queue (see
    /// [`QueueChannel`](super::QueueChannel)).
    pub fn channel_handler(&self) -> QueueChannel {
        QueueChannel::new(Arc::clone(&self.inner))
    }
}

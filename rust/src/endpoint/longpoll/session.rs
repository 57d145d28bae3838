//! One long-poll session on the node that holds it: the channel [`Session`] of a client that
//! reaches us by HTTP requests, its outbox, and its end when it is no longer polled.
//!
//! A GET takes what the outbox holds, or waits for it up to the window; a newer GET on the
//! same session answers the older one 204 at once, so a client (or a poll storm) holds at
//! most one waiting request per session. A POST hands its frames to the session in order.
//! The session ends, with the same `terminate`, leave and presence effects as a closed
//! WebSocket, when no GET came for `session_timeout`, when its outbox closes (slow consumer,
//! `"disconnect"` on the socket id, drain), or after a bad line.

use super::batch::{self, BadLine};
use super::token::SessionId;
use crate::channel::Session;
use crate::handler::TerminateReason;
use crate::metrics::Metrics;
use crate::outbox::{CloseReason, Outbox};
use crate::pubsub::Subscription;
use crate::wire::{Frame, Serializer};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::debug;

/// The answer to a poll.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Polled {
    /// Text frames, in order (200). Possibly empty when only binary frames were pending:
    /// long-poll carries text only (PROTOCOL.md 1.6).
    Messages(Vec<String>),
    /// Nothing within the window, or a newer poll took over (204).
    Nothing,
    /// The session ended (410: the client opens a new one).
    Gone,
}

/// The answer to a POST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Posted {
    /// Every frame was handed to the session (200).
    Dispatched,
    /// A bad line ended the session; the lines before it were dispatched.
    Refused(BadLine),
    /// The session had already ended (410).
    Gone,
}

/// One long-poll session.
#[derive(Debug)]
pub(crate) struct LongPollSession {
    pub(crate) mount: String,
    outbox: Arc<Outbox>,
    serializer: Serializer,
    max_frame_bytes: usize,
    /// How long a poll waits for frames (the mount's `longpoll_window`).
    pub(crate) window: Duration,
    /// `None` once the session ended.
    session: Mutex<Option<Session>>,
    /// When the last GET arrived or was answered, and how many are being answered now (the
    /// session does not expire under one); one lock, so the expiry check sees both at once.
    polls: Mutex<Polls>,
    /// Number of the newest GET; an older one that sees it change answers 204.
    generation: AtomicU64,
    newer_poll: Notify,
    /// Woken when a poll ends (the expiry timer re-checks).
    activity: Notify,
    /// Frames answered and slow consumers are counted here.
    metrics: Arc<Metrics>,
}

impl LongPollSession {
    pub(crate) fn new(
        mount: String,
        session: Session,
        outbox: Arc<Outbox>,
        serializer: Serializer,
        max_frame_bytes: usize,
        window: Duration,
        metrics: Arc<Metrics>,
    ) -> LongPollSession {
        LongPollSession {
            metrics,
            mount,
            outbox,
            serializer,
            max_frame_bytes,
            window,
            session: Mutex::new(Some(session)),
            polls: Mutex::new(Polls {
                last: Instant::now(),
                waiting: 0,
            }),
            generation: AtomicU64::new(0),
            newer_poll: Notify::new(),
            activity: Notify::new(),
        }
    }

    /// Answers a GET: what is pending, else what arrives within the window; with `budget`, at
    /// most that many bytes of frames (the rest waits for the next poll).
    pub(crate) async fn poll(&self, budget: Option<usize>) -> Polled {
        let window = self.window;
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.newer_poll.notify_waiters();
        let _polling = Polling::start(self);
        self.wait(generation, window, budget).await
    }

    async fn wait(&self, generation: u64, window: Duration, budget: Option<usize>) -> Polled {
        let superseded = async {
            loop {
                let newer = self.newer_poll.notified();
                tokio::pin!(newer);
                newer.as_mut().enable();
                if self.generation.load(Ordering::Acquire) != generation {
                    return;
                }
                newer.await;
            }
        };
        tokio::select! {
            biased;
            () = superseded => Polled::Nothing,
            taken = async {
                match budget {
                    Some(max) => self.outbox.take_bounded(max).await,
                    None => self.outbox.take().await,
                }
            } => match taken {
                Ok(batch) => {
                    self.metrics.messages_sent.add(batch.len() as u64);
                    Polled::Messages(batch.into_iter().filter_map(text).collect())
                }
                Err(_) => Polled::Gone,
            },
            () = tokio::time::sleep(window) => Polled::Nothing,
        }
    }

    /// Answers a POST: decodes `body` and hands each frame to the session in order.
    pub(crate) fn post(&self, body: &[u8], ndjson: bool) -> Posted {
        let (messages, bad) = batch::decode(body, ndjson, self.serializer, self.max_frame_bytes);
        let mut session = self.session.lock();
        let Some(session) = session.as_mut() else {
            return Posted::Gone;
        };
        if self.outbox.closed().is_some() {
            return Posted::Gone;
        }
        for msg in messages {
            session.handle(msg);
        }
        match bad {
            None => Posted::Dispatched,
            Some(bad) => {
                debug!(?bad, "long-poll batch refused; ending the session");
                self.outbox.close(CloseReason::Gone);
                Posted::Refused(bad)
            }
        }
    }

    /// Runs until the session ends, then terminates its channels. `timeout`: how long it
    /// lives without a GET.
    pub(crate) async fn run(&self, timeout: Duration) {
        let reason = loop {
            let polled = self.activity.notified();
            tokio::pin!(polled);
            polled.as_mut().enable();
            let (idle_until, polling) = {
                let polls = self.polls.lock();
                (polls.last + timeout, polls.waiting > 0)
            };
            // Under a waiting poll the clock does not run: only the poll's end restarts it.
            if !polling && Instant::now() >= idle_until {
                break TerminateReason::Closed;
            }
            let expiry = async {
                if polling {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep_until(idle_until).await;
            };
            tokio::select! {
                reason = self.outbox.closed_wait() => break match reason {
                    CloseReason::Disconnect => TerminateReason::Disconnected,
                    CloseReason::Drain => TerminateReason::Drain,
                    CloseReason::SlowConsumer => {
                        self.metrics.slow_consumer_disconnects.inc();
                        TerminateReason::Closed
                    }
                    CloseReason::Gone | CloseReason::RateLimited => TerminateReason::Closed,
                },
                () = &mut polled => {}
                () = expiry => {}
            }
        };
        self.outbox.close(CloseReason::Gone);
        debug!(?reason, "long-poll session ended");
        let session = self.session.lock().take();
        if let Some(session) = session {
            session.close(reason).await;
        }
    }
}

#[derive(Debug)]
struct Polls {
    last: Instant,
    waiting: usize,
}

/// A GET in progress: the session does not expire under it, and its end (answered, or
/// dropped because the client went away) restarts the expiry clock.
struct Polling<'a>(&'a LongPollSession);

impl<'a> Polling<'a> {
    fn start(session: &'a LongPollSession) -> Polling<'a> {
        let mut polls = session.polls.lock();
        polls.waiting += 1;
        polls.last = Instant::now();
        drop(polls);
        Polling(session)
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        let mut polls = self.0.polls.lock();
        polls.waiting -= 1;
        polls.last = Instant::now();
        drop(polls);
        self.0.activity.notify_waiters();
    }
}

/// A text frame as the string a poll answer carries; binary frames are dropped.
fn text(frame: Frame) -> Option<String> {
    match frame {
        Frame::Text(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Frame::Binary(_) => {
            debug!("binary frame dropped: long-poll carries text frames only");
            None
        }
    }
}

/// An entry of [`Sessions`]: the session, and what lives as long as it does.
#[derive(Debug)]
struct Held {
    session: Arc<LongPollSession>,
    /// The `"disconnect"` subscription on the socket id.
    _id_subscription: Option<Subscription>,
}

/// The long-poll sessions this node holds, by id.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    live: Mutex<HashMap<SessionId, Held>>,
}

impl Sessions {
    pub(crate) fn insert(
        &self,
        id: SessionId,
        session: Arc<LongPollSession>,
        id_subscription: Option<Subscription>,
    ) {
        self.live.lock().insert(
            id,
            Held {
                session,
                _id_subscription: id_subscription,
            },
        );
    }

    /// The live session `id` of `mount`.
    pub(crate) fn get(&self, id: &SessionId, mount: &str) -> Option<Arc<LongPollSession>> {
        self.live
            .lock()
            .get(id)
            .filter(|h| h.session.mount == mount)
            .map(|h| h.session.clone())
    }

    pub(crate) fn remove(&self, id: &SessionId) {
        let held = self.live.lock().remove(id);
        drop(held);
    }

    /// Sessions held.
    pub(crate) fn len(&self) -> usize {
        self.live.lock().len()
    }
}

//! Long-poll requests for a session that another node of the cluster holds, served through
//! the broker, as Phoenix forwards them through PubSub: no sticky sessions.
//!
//! Each endpoint subscribes to two topics, named by an HMAC of its holder name
//! (`<node>#<random id>`, the name tokens carry) under the cluster's secret, so that only
//! nodes can compute them — a client of an app that routes every topic cannot join them:
//! one for requests for its sessions, one for answers to the requests it forwarded. A node
//! that receives a GET or POST whose token names another holder broadcasts the request (JSON:
//! an id, its own holder name, the token, the mount, the body in base64) on that holder's
//! request topic; the holder verifies the token again, polls (at most [`MAX_REPLY`] bytes of
//! frames) or posts exactly as for a local request and broadcasts the answer on the asker's
//! reply topic. No answer in time: a poll is treated as a gone session (a new one opens, as
//! Phoenix), a POST is answered 408. A restarted node is a new holder: requests for its old
//! sessions go unanswered rather than to sessions of its new life.

use super::Hub;
use super::session::Polled;
use super::token::{Claims, Signer};
use crate::channel::Backplane;
use crate::pubsub::{Broadcast, Delivery, Subscription};
use crate::wire::Payload;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::debug;

const EVENT: &str = "longpoll";
/// The largest POST body forwarded (bigger: 413), and the most frame bytes one forwarded poll
/// answer carries (the rest waits for the next poll): a forwarded message stays well under
/// NATS's default 1 MiB, and one client cannot flood every node's broker connection.
pub(crate) const MAX_BODY: usize = 256 * 1024;
pub(crate) const MAX_REPLY: usize = 256 * 1024;

/// The two topics of one endpoint.
pub(crate) struct Topics {
    pub(crate) requests: String,
    pub(crate) replies: String,
}

pub(crate) fn requests_topic(signer: &Signer, holder: &str) -> String {
    format!("sb:longpoll:{}", signer.tag(&format!("requests {holder}")))
}

pub(crate) fn replies_topic(signer: &Signer, holder: &str) -> String {
    format!("sb:longpoll:{}", signer.tag(&format!("replies {holder}")))
}

/// How much longer than the window a forwarded poll waits for its answer (Phoenix
/// `pubsub_timeout_ms`).
const PUBSUB_TIMEOUT: Duration = Duration::from_millis(2_000);

#[derive(Serialize, Deserialize)]
struct Request {
    id: u64,
    /// The asker's holder name: where the answer goes.
    reply_to: String,
    token: String,
    mount: String,
    #[serde(flatten)]
    op: Op,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Poll,
    Post { ndjson: bool, body: String },
}

#[derive(Serialize, Deserialize)]
struct Reply {
    id: u64,
    status: u16,
    #[serde(default)]
    messages: Vec<String>,
}

/// Forwards this node's requests for remote sessions and serves the other nodes' requests
/// for its own.
pub(crate) struct Forwarder {
    backplane: Arc<Backplane>,
    holder: String,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    subscriptions: Mutex<Vec<Subscription>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// Subscribes this endpoint's request and reply topics. Requests are served on `runtime`.
    pub(crate) fn start(
        backplane: Arc<Backplane>,
        topics: Topics,
        holder: &str,
        hub: Weak<Hub>,
        runtime: tokio::runtime::Handle,
    ) -> Arc<Forwarder> {
        let forwarder = Arc::new(Forwarder {
            backplane: backplane.clone(),
            holder: holder.to_owned(),
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&forwarder);
        let replies = backplane.pubsub().subscribe(
            &topics.replies,
            Delivery::Mailbox(Arc::new(move |b| {
                if let (Some(f), Some(reply)) = (weak.upgrade(), parse::<Reply>(b)) {
                    f.answered(reply);
                }
            })),
        );
        let requests = backplane.pubsub().subscribe(
            &topics.requests,
            Delivery::Mailbox(Arc::new(move |b| {
                // Runs inside the publisher's call: the work goes to a task.
                let (Some(hub), Some(request)) = (hub.upgrade(), parse::<Request>(b)) else {
                    return;
                };
                runtime.spawn(async move {
                    let to = replies_topic(&hub.signer, &request.reply_to);
                    let reply = serve(&hub, request).await;
                    if let Some(f) = &hub.forwarder {
                        f.send(&to, &reply);
                    }
                });
            })),
        );
        forwarder.subscriptions.lock().extend([replies, requests]);
        forwarder
    }

    /// Polls a remote session; [`Polled::Gone`] when its node does not answer in time.
    pub(crate) async fn poll(&self, hub: &Hub, to: Target<'_>, window: Duration) -> Polled {
        match self.ask(hub, to, Op::Poll, window + PUBSUB_TIMEOUT).await {
            Some(Reply {
                status: 200,
                messages,
                ..
            }) => Polled::Messages(messages),
            Some(Reply { status: 204, .. }) => Polled::Nothing,
            _ => Polled::Gone,
        }
    }

    /// Posts to a remote session; the logical status, 408 when its node does not answer
    /// within `window`.
    pub(crate) async fn post(
        &self,
        hub: &Hub,
        to: Target<'_>,
        body: Bytes,
        ndjson: bool,
        window: Duration,
    ) -> u16 {
        let op = Op::Post {
            ndjson,
            body: STANDARD.encode(&body),
        };
        match self.ask(hub, to, op, window).await {
            Some(reply) => reply.status,
            None => 408,
        }
    }

    async fn ask(&self, hub: &Hub, to: Target<'_>, op: Op, wait: Duration) -> Option<Reply> {
        let (claims, token, mount) = to;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        // Removes the entry however this ends (answered, timed out, request dropped).
        let _pending = Pending(self, id);
        let request = Request {
            id,
            reply_to: self.holder.clone(),
            token: token.to_owned(),
            mount: mount.to_owned(),
            op,
        };
        if !self.send(&requests_topic(&hub.signer, &claims.node), &request) {
            return None;
        }
        tokio::time::timeout(wait, rx).await.ok()?.ok()
    }

    fn answered(&self, reply: Reply) {
        if let Some(tx) = self.pending.lock().remove(&reply.id) {
            let _ = tx.send(reply);
        }
    }

    /// Broadcasts `message` on `topic` through the broker; false when it could not be sent.
    fn send<T: Serialize>(&self, topic: &str, message: &T) -> bool {
        let Ok(json) = serde_json::to_vec(message) else {
            return false;
        };
        match self
            .backplane
            .broadcast(topic, EVENT, Payload::Json(Bytes::from(json)))
        {
            Ok(_) => true,
            Err(e) => {
                debug!(error = %e, topic, "long-poll forward not sent");
                false
            }
        }
    }
}

/// Whom a forwarded request is for: the token's claims, the token, the mount path.
pub(crate) type Target<'a> = (&'a Claims, &'a str, &'a str);

struct Pending<'a>(&'a Forwarder, u64);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.pending.lock().remove(&self.1);
    }
}

fn parse<T: for<'de> Deserialize<'de>>(b: &Broadcast) -> Option<T> {
    match &b.payload {
        Payload::Json(raw) if b.event == EVENT => serde_json::from_slice(raw).ok(),
        _ => None,
    }
}

/// Serves another node's request for one of this node's sessions.
async fn serve(hub: &Hub, request: Request) -> Reply {
    let session = hub.local(&request.token, &request.mount);
    let (status, messages) = match (session, request.op) {
        (None, _) => (410, Vec::new()),
        (Some(session), Op::Poll) => match session.poll(Some(MAX_REPLY)).await {
            Polled::Messages(messages) => (200, messages),
            Polled::Nothing => (204, Vec::new()),
            Polled::Gone => (410, Vec::new()),
        },
        (Some(session), Op::Post { ndjson, body }) => match STANDARD.decode(body) {
            Ok(body) => (
                super::posted_status(session.post(&body, ndjson)),
                Vec::new(),
            ),
            Err(_) => (400, Vec::new()),
        },
    };
    Reply {
        id: request.id,
        status,
        messages,
    }
}

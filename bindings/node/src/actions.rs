//! What JavaScript does to connections (answers, pushes, replies, broadcasts, disconnects)
//! runs on one task of the endpoint's channel runtime, in the order JavaScript asked.
//!
//! Why not directly on the JS thread: a broadcast wakes every subscriber's connection task,
//! and a wake from a thread outside the runtimes unparks a worker each time. Measured with
//! 1,000 subscribers: ~1.1 ms of JS thread per `broadcastFrom`. Why the channel runtime and
//! not the connections' one: there the task would wait behind every writer the previous
//! broadcast woke, so one publisher's pushes would be answered one per write pass. One
//! ordered queue (not a task per call) keeps what a handler
//! did in order: a broadcast made before returning a reply reaches clients before the reply,
//! as with a Rust handler.
//!
//! Everything that can be checked is checked on the JS thread before queueing (payload JSON,
//! object payloads, live channel, pending ticket), so the caller still gets its error; what
//! can only fail later (the channel ended meanwhile, a subscriber whose serializer cannot
//! carry the payload) is reported on stderr.

use crate::error::{Result, state};
use std::sync::Arc;
use switchboard::channel::{ChannelHandle, HandleError, Hub};
use switchboard::host::{Answer, HostRequest};
use switchboard::wire::{Payload, Ref};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// How a channel sends.
#[derive(Clone, Copy, Debug)]
pub enum SendKind {
    Push,
    Broadcast,
    BroadcastFrom,
}

pub enum Action {
    /// A channel's push, broadcast or broadcast_from.
    Send {
        handle: ChannelHandle,
        kind: SendKind,
        event: String,
        payload: Payload,
    },
    /// A late reply on a channel.
    Reply {
        handle: ChannelHandle,
        r#ref: Ref,
        status: String,
        payload: Payload,
    },
    /// A hub broadcast (`local`: this node only).
    Broadcast {
        local: bool,
        topic: String,
        event: String,
        payload: Payload,
    },
    /// A `"disconnect"` broadcast on a socket id.
    Disconnect { socket_id: String },
    /// Answers a request (then drops it).
    Answer { req: HostRequest, answer: Answer },
    /// Drops a request: unanswered (a crashed handler) or a released `Leave`.
    Drop(HostRequest),
}

/// The sending side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Actions {
    tx: UnboundedSender<Action>,
}

impl Actions {
    /// Starts the task on `runtime`; it ends when every `Actions` is dropped or the runtime
    /// stops (queued actions are then dropped: requests among them count as crashed).
    pub fn start(runtime: &tokio::runtime::Handle, hub: Arc<Hub>) -> Actions {
        let (tx, mut rx) = unbounded_channel::<Action>();
        runtime.spawn(async move {
            while let Some(action) = rx.recv().await {
                apply(&hub, action);
            }
        });
        Actions { tx }
    }

    /// Queues `action`. Errors: SB_E_INVALID_STATE once the endpoint closed.
    pub fn run(&self, action: Action) -> Result<()> {
        self.tx
            .send(action)
            .map_err(|_| state("the endpoint is closed"))
    }
}

fn report(what: &str, e: impl std::fmt::Display) {
    eprintln!("switchboard: {what} failed: {e}");
}

fn apply(hub: &Hub, action: Action) {
    match action {
        Action::Send {
            handle,
            kind,
            event,
            payload,
        } => {
            let sent = match kind {
                SendKind::Push => handle.push(&event, payload),
                SendKind::Broadcast => handle.broadcast(&event, payload),
                SendKind::BroadcastFrom => handle.broadcast_from(&event, payload),
            };
            match sent {
                // The channel ended after the call was queued: as a send to a dead process.
                Ok(()) | Err(HandleError::NotFound) => {}
                Err(e) => report(&format!("{kind:?} {event:?}"), e),
            }
        }
        Action::Reply {
            handle,
            r#ref,
            status,
            payload,
        } => match handle.reply(&r#ref, &status, payload) {
            Ok(()) | Err(HandleError::NotFound) => {}
            Err(e) => report("reply", e),
        },
        Action::Broadcast {
            local,
            topic,
            event,
            payload,
        } => {
            let published = if local {
                hub.local_broadcast(&topic, &event, payload)
            } else {
                hub.broadcast(&topic, &event, payload)
            };
            if let Err(e) = published {
                report(&format!("broadcast on {topic:?}"), e);
            }
        }
        Action::Disconnect { socket_id } => {
            if let Err(e) = hub.disconnect(&socket_id) {
                report(&format!("disconnect {socket_id:?}"), e);
            }
        }
        // Refused only when the request timed out meanwhile: its channel already failed.
        Action::Answer { req, answer } => drop(req.answer(answer)),
        Action::Drop(req) => drop(req),
    }
}

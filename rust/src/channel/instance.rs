//! One channel instance as seen from outside its task: its identity, its life phase and the
//! gate every outgoing frame passes through.
//!
//! The session (connection reader thread), PubSub mailboxes (publisher threads), the channel
//! task and `SocketRef`s all touch an instance concurrently. One small mutex, the *life lock*,
//! orders them: a frame is written only while the phase allows it, and the phase changes in
//! the same critical section that writes the terminal frame (`phx_close`, `phx_error`, an
//! error join reply). So once the session sees an instance as ended, no frame of that
//! join_ref can follow what the session writes next, and a killed instance can never write
//! again even if its task is still running on another core.
//!
//! Lock order: the life lock may be held while pushing to the outbox or `try_send`ing to the
//! inbox (both leaf operations). It is never held while calling PubSub or Presence, because a
//! publish calls mailboxes that take life locks.

use super::backplane::Backplane;
use super::frames::{JOIN_CRASHED, close_frame, unjoined_reply};
pub(crate) use super::inbox::Cmd;
use super::inbox::{Inbox, TrySendError};
use crate::handler::TerminateReason;
use crate::outbox::Outbox;
use crate::presence::OwnerId;
use crate::pubsub::Subscription;
use crate::wire::{Frame, Payload, Ref, Serializer, WireError};
use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::oneshot;

/// What became of a command handed to an instance.
#[derive(Debug)]
#[must_use]
pub(crate) enum Delivery {
    /// In the inbox; the task will handle it.
    Queued,
    /// The instance no longer takes commands (it ended); here is the command back.
    Refused(Cmd),
    /// The inbox was full: the command is dropped and the channel crashed.
    Overflowed,
}

/// Where an instance is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// `join` is running; client messages queue behind it.
    Joining,
    /// Joined; messages are handled.
    Joined,
    /// `phx_close` was written; `terminate` may still push (PROTOCOL.md 3.3 rule 4).
    Closing,
    /// Nothing more is written for this join_ref.
    Dead,
}

impl Phase {
    /// True while the session routes messages to the instance and it counts against the
    /// channel limit.
    pub(crate) fn routable(self) -> bool {
        matches!(self, Phase::Joining | Phase::Joined)
    }
}

/// Why the task must stop at its next step, set by someone other than the task.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum StopRequest {
    /// The connection ended (`Session::close` / drop); no frames, `terminate(reason)`.
    Session(TerminateReason),
    /// The inbox overflowed; `phx_error` is already written; `terminate(Crash)`.
    Overflow,
}

#[derive(Debug)]
pub(crate) struct Life {
    pub(crate) phase: Phase,
    pub(crate) stop: Option<StopRequest>,
    /// Counted in the backplane census (joined and not yet ended).
    censused: bool,
    /// Counted in the session's channel-limit counter (from creation until it leaves the
    /// routable phases, or until a duplicate join supersedes it).
    counted: bool,
    /// A duplicate join that arrived while this instance was still joining, waiting for this
    /// join's answer (see [`Instance::supersede`]). Told `true` when this instance answered its
    /// join with ok and then ended, so the successor owes the client this join_ref's
    /// `phx_close`; `false` when it ended any other way (refused, crashed, stopped).
    successor: Option<oneshot::Sender<bool>>,
}

/// The shared part of one channel instance.
pub(crate) struct Instance {
    pub(crate) backplane: Arc<Backplane>,
    pub(crate) topic: String,
    pub(crate) join_ref: Option<Ref>,
    /// The `ref` of the `phx_join` message, for the join reply.
    pub(crate) join_msg_ref: Option<Ref>,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) serializer: Serializer,
    pub(crate) owner: OwnerId,
    /// Commands for the task; also wakes it for a stop request.
    pub(crate) inbox: Inbox,
    life: Mutex<Life>,
    /// The fastlane subscription to `topic` (joined instances). Here rather than in the task
    /// so that whoever ends the instance (an overflow, a duplicate join) stops its broadcasts
    /// at once, even while the task is still busy in a handler. Never locked together with
    /// `life`.
    fastlane: Mutex<Option<Subscription>>,
    /// Routable instances of the owning session (the channel limit counter).
    session_live: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("topic", &self.topic)
            .field("join_ref", &self.join_ref)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// `{"reason":"channel_crash"}`, the `phx_error` payload since Phoenix 1.8.10.
const CRASH_PAYLOAD: &[u8] = br#"{"reason":"channel_crash"}"#;

impl Instance {
    /// A new instance in phase `Joining`, already counted in `session_live`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        backplane: Arc<Backplane>,
        topic: String,
        join_ref: Option<Ref>,
        join_msg_ref: Option<Ref>,
        outbox: Arc<Outbox>,
        serializer: Serializer,
        queue: usize,
        session_live: Arc<AtomicUsize>,
    ) -> Instance {
        session_live.fetch_add(1, Ordering::AcqRel);
        let owner = backplane.next_owner();
        Instance {
            backplane,
            topic,
            join_ref,
            join_msg_ref,
            outbox,
            serializer,
            owner,
            inbox: Inbox::new(queue),
            life: Mutex::new(Life {
                phase: Phase::Joining,
                stop: None,
                censused: false,
                counted: true,
                successor: None,
            }),
            session_live,
            fastlane: Mutex::new(None),
        }
    }

    /// Stores the fastlane subscription, taken while the caller holds `life` of a joined
    /// instance (so it cannot have ended meanwhile).
    pub(crate) fn set_fastlane(&self, life: &Life, sub: Subscription) {
        debug_assert_eq!(life.phase, Phase::Joined);
        *self.fastlane.lock() = Some(sub);
    }

    /// Id of the fastlane subscription (for `broadcast_from` through a `ChannelHandle`);
    /// `None` before the join reply and after the end.
    pub(crate) fn fastlane_id(&self) -> Option<crate::pubsub::SubscriberId> {
        self.fastlane.lock().as_ref().map(Subscription::id)
    }

    /// Ends the fastlane subscription (idempotent). Must not be called with the life lock
    /// held.
    pub(crate) fn unsubscribe(&self) {
        let sub = self.fastlane.lock().take();
        // Dropped after the fastlane lock is released: unsubscribing takes a PubSub lock.
        drop(sub);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Life> {
        self.life.lock()
    }

    pub(crate) fn phase(&self) -> Phase {
        self.life.lock().phase
    }

    /// Moves to `phase`; leaving the routable phases releases the channel-limit slot and the
    /// census entry exactly once.
    pub(crate) fn set_phase(&self, life: &mut Life, phase: Phase) {
        if phase != Phase::Joining
            && let Some(successor) = life.successor.take()
        {
            // Ended while joining, without a join reply of ours the successor must close.
            let _ = successor.send(false);
        }
        if life.phase.routable() && !phase.routable() {
            self.uncount(life);
            if life.censused {
                life.censused = false;
                self.backplane.census_remove(&self.topic);
            }
        }
        life.phase = phase;
    }

    /// Releases the channel-limit slot, once.
    fn uncount(&self, life: &mut Life) {
        if std::mem::take(&mut life.counted) {
            self.session_live.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// `Joining` → `Joined`: counts the channel in the backplane census.
    pub(crate) fn set_joined(&self, life: &mut Life) {
        life.phase = Phase::Joined;
        if !life.censused {
            life.censused = true;
            self.backplane.census_add(&self.topic);
        }
    }

    /// Writes `frame` if this instance may still write (any phase but `Dead`). Returns whether
    /// it was queued. A closed outbox (connection ending) silently drops it, as Phoenix's
    /// send to a dead transport does.
    pub(crate) fn emit_locked(&self, life: &Life, frame: Frame) -> bool {
        if life.phase == Phase::Dead {
            return false;
        }
        self.outbox.push(frame).is_ok()
    }

    /// Ends the routable life: moves to `phase` (releasing the channel-limit slot and the
    /// census entry) and then writes the terminal `frames` (if this instance may still
    /// write), all in one critical section. Counters go first so that anyone who has seen a
    /// terminal frame also sees the channel gone.
    pub(crate) fn end_locked(
        &self,
        life: &mut Life,
        phase: Phase,
        frames: impl IntoIterator<Item = Frame>,
    ) {
        let may_write = life.phase != Phase::Dead;
        self.set_phase(life, phase);
        if may_write {
            for frame in frames {
                let _ = self.outbox.push(frame);
            }
        }
    }

    /// [`emit_locked`](Self::emit_locked) taking the lock.
    pub(crate) fn emit(&self, frame: Frame) -> bool {
        let life = self.life.lock();
        self.emit_locked(&life, frame)
    }

    /// A `phx_reply` for `r#ref`, tagged with the stored join_ref (F11).
    pub(crate) fn encode_reply(
        &self,
        r#ref: Option<&Ref>,
        status: &str,
        payload: &Payload,
    ) -> Result<Frame, WireError> {
        self.serializer
            .encode_reply(self.join_ref.as_ref(), r#ref, &self.topic, status, payload)
    }

    /// The join reply (F2-F4), answering the `phx_join` message's ref.
    pub(crate) fn encode_join_reply(
        &self,
        status: &str,
        payload: &Payload,
    ) -> Result<Frame, WireError> {
        self.encode_reply(self.join_msg_ref.as_ref(), status, payload)
    }

    /// A push `[J, null, T, E, P]` (F12).
    pub(crate) fn encode_push(&self, event: &str, payload: &Payload) -> Result<Frame, WireError> {
        self.serializer
            .encode_message(self.join_ref.as_ref(), None, &self.topic, event, payload)
    }

    /// `[J, J, T, "phx_close", {}]` (F15).
    pub(crate) fn encode_close(&self) -> Option<Frame> {
        close_frame(self.serializer, self.join_ref.as_ref(), &self.topic)
    }

    /// `[J, J, T, "phx_error", {"reason":"channel_crash"}]` (F14).
    pub(crate) fn encode_error(&self) -> Option<Frame> {
        let payload = Payload::Json(Bytes::from_static(CRASH_PAYLOAD));
        let j = self.join_ref.as_ref();
        self.serializer
            .encode_message(j, j, &self.topic, "phx_error", &payload)
            .ok()
    }

    /// Hands `cmd` to the task. A full inbox crashes the channel (the command is dropped).
    pub(crate) fn deliver(&self, cmd: Cmd) -> Delivery {
        let mut life = self.life.lock();
        if !life.phase.routable() {
            return Delivery::Refused(cmd);
        }
        match self.inbox.try_send(cmd) {
            Ok(()) => Delivery::Queued,
            Err(TrySendError::Full) => {
                crate::warn_limited!(topic = %crate::logging::clip(&self.topic), join_ref = ?self.join_ref,
                    "channel inbox full, crashing the channel");
                self.crash_locked(&mut life, StopRequest::Overflow);
                drop(life);
                self.unsubscribe();
                Delivery::Overflowed
            }
            Err(TrySendError::Closed(cmd)) => {
                // The inbox was closed without ending the phase: nothing to write.
                self.set_phase(&mut life, Phase::Dead);
                Delivery::Refused(cmd)
            }
        }
    }

    /// Fails the instance from outside its task: writes `phx_error` (joined) or the
    /// "join crashed" reply (joining), and asks the task to stop.
    fn crash_locked(&self, life: &mut Life, why: StopRequest) {
        let frame = match life.phase {
            Phase::Joined => self.encode_error(),
            Phase::Joining => self
                .encode_join_reply("error", &Payload::Json(Bytes::from_static(JOIN_CRASHED)))
                .ok(),
            Phase::Closing | Phase::Dead => return,
        };
        self.end_locked(life, Phase::Dead, frame);
        if life.stop.is_none() {
            life.stop = Some(why);
        }
        self.inbox.wake();
    }

    /// The connection is ending: stop writing at once and let the task run `terminate(reason)`
    /// at its next step. No-op for an instance that already ended.
    pub(crate) fn request_stop(&self, reason: TerminateReason) {
        let mut life = self.life.lock();
        if life.phase.routable() {
            self.set_phase(&mut life, Phase::Dead);
            life.stop = Some(StopRequest::Session(reason));
        }
        drop(life);
        self.unsubscribe();
        self.inbox.wake();
    }

    /// Duplicate join (PROTOCOL.md 4.5): the instance must stop writing now, without
    /// `terminate`. Returns true when it was still routable, i.e. when the caller owes the
    /// client its `phx_close` (an instance that already wrote its own terminal frame does
    /// not get a second one).
    pub(crate) fn kill(&self) -> bool {
        let mut life = self.life.lock();
        let was_live = life.phase.routable();
        if was_live {
            self.set_phase(&mut life, Phase::Dead);
        }
        drop(life);
        if was_live {
            self.unsubscribe();
        }
        was_live
    }

    /// Duplicate join of an instance still joining (PROTOCOL.md 4.5, pipelined joins): Phoenix
    /// answers every join, because its socket process runs one join at a time. So this
    /// instance is not killed now: it answers its own join, then (accepted) ends at once
    /// without `terminate` (see [`Instance::end_superseded`]), and the receiver returned here
    /// learns whether the client is owed this join_ref's `phx_close` (true) or not (refused,
    /// crashed, stopped). `None` when the instance is no longer joining: the caller kills it
    /// instead (decided under the life lock, so a join answered meanwhile is not missed). A
    /// superseded instance no longer counts against the channel limit: its successor takes
    /// its slot.
    pub(crate) fn supersede(&self) -> Option<oneshot::Receiver<bool>> {
        let mut life = self.life.lock();
        if life.phase != Phase::Joining {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        life.successor = Some(tx);
        self.uncount(&mut life);
        Some(rx)
    }

    /// Whether a duplicate join waits for this instance's join (see [`Instance::supersede`]).
    pub(crate) fn superseded(life: &Life) -> bool {
        life.successor.is_some()
    }

    /// The end of a superseded instance whose join was accepted, with the life lock held:
    /// writes the join reply (`frames`), ends the instance without `terminate`, drops the
    /// commands queued behind the join (they were for the join_ref the client replaced, as
    /// Phoenix's kill of the old channel drops them) and tells the successor that it owes
    /// this join_ref's `phx_close`.
    pub(crate) fn end_superseded(&self, life: &mut Life, frames: impl IntoIterator<Item = Frame>) {
        let successor = life.successor.take();
        self.end_locked(life, Phase::Dead, frames);
        self.inbox.close();
        while self.inbox.try_recv().is_some() {}
        if let Some(successor) = successor {
            let _ = successor.send(true);
        }
    }

    /// Takes a pending stop request.
    pub(crate) fn take_stop(&self) -> Option<StopRequest> {
        self.life.lock().stop.take()
    }

    /// Ends an instance whose join failed, with the life lock held: the remaining queued
    /// client messages get the answer an unjoined topic gets (they were waiting for the
    /// join, PROTOCOL.md 9.2 #24), and the inbox is closed so the session sees the topic
    /// as not joined from now on.
    pub(crate) fn end_unjoined(&self, life: &mut Life, frames: impl IntoIterator<Item = Frame>) {
        self.end_locked(life, Phase::Dead, frames);
        self.inbox.close();
        while let Some(cmd) = self.inbox.try_recv() {
            if let Cmd::In(msg) = cmd
                && let Some(frame) = unjoined_reply(self.serializer, &msg)
            {
                // Not `emit_locked`: these answers belong to no join_ref.
                let _ = self.outbox.push(frame);
            }
        }
    }
}

//! One tokio task per channel instance: runs `join`, then `handle_in` / `handle_info` /
//! `handle_out` one at a time in arrival order, each under the request timeout, and turns
//! their results into frames (PROTOCOL.md 3.1 F2-F4, F9, F11-F15).
//!
//! A handler error, panic or timeout crashes only this channel: `phx_error` (or, during join,
//! the `"join crashed"` reply) is written first, then `terminate` runs with
//! [`TerminateReason::Crash`] and anything it pushes is dropped, so a crashed join_ref never
//! writes after its `phx_error`. A graceful end (`phx_close`: leave, `Stop` normal/shutdown)
//! lets `terminate` push after `phx_close`, as Phoenix does (3.3 rule 4).

use super::Channel;
use super::frames::{JOIN_CRASHED, close_frame};
use super::instance::{Cmd, Instance, Phase, StopRequest};
use super::recovery;
use super::socket::{Deferred, Socket};
use crate::handler::{HandlerError, Info, JoinOutcome, Outcome, StopReason, TerminateReason};
use crate::logging::clip;
use crate::metrics::{Callback, Metrics};
use crate::pubsub::{Delivery, Mailbox};
use crate::wire::{Payload, Ref};
use bytes::Bytes;
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// The task's owned state. Its `Drop` is the channel's last word, also when the task is
/// aborted (duplicate join, `Session::close` deadline): subscriptions end first, then the
/// instance's presences leave, then the instance is marked dead.
pub(crate) struct ChannelTask {
    handler: Arc<dyn Channel>,
    socket: Socket,
    timeout: Duration,
    /// Where each handler call's duration is recorded.
    metrics: Arc<Metrics>,
}

impl Drop for ChannelTask {
    fn drop(&mut self) {
        self.socket.unsubscribe_all();
        let inst = &self.socket.inst;
        {
            let mut life = inst.lock();
            inst.set_phase(&mut life, Phase::Dead);
        }
        inst.backplane.presence().untrack_owner(inst.owner);
        // Commands still queued (an aborted task) are dropped now, not with the instance.
        inst.inbox.close();
        while inst.inbox.try_recv().is_some() {}
    }
}

/// Runs `fut` under `timeout`, catching panics; every failure becomes a crash reason.
async fn call<T>(
    timeout: Duration,
    metrics: &Metrics,
    callback: Callback,
    fut: impl Future<Output = Result<T, HandlerError>>,
) -> Result<T, String> {
    let started = std::time::Instant::now();
    let answered = tokio::time::timeout(timeout, AssertUnwindSafe(fut).catch_unwind()).await;
    metrics.callback(callback, started.elapsed());
    match answered {
        Err(_) => Err(format!(
            "request timed out after {} ms",
            timeout.as_millis()
        )),
        Ok(Err(panic)) => Err(format!("handler panicked: {}", panic_text(panic.as_ref()))),
        Ok(Ok(Err(e))) => Err(e.0),
        Ok(Ok(Ok(v))) => Ok(v),
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "non-text panic payload"
    }
}

/// What a join replaces on its topic (duplicate join, PROTOCOL.md 4.5).
#[derive(Debug)]
pub(crate) enum Replaced {
    /// Nothing: the topic had no live channel.
    Nothing,
    /// A joined channel, killed by the session just now: the join_ref whose `phx_close`
    /// follows this join's reply.
    Killed(Option<Ref>),
    /// A channel still joining ([`Instance::supersede`]): this join waits until that join is
    /// answered, then follows its reply; the receiver says whether the old join_ref's
    /// `phx_close` is owed.
    Joining {
        join_ref: Option<Ref>,
        settled: tokio::sync::oneshot::Receiver<bool>,
    },
}

/// The whole life of one channel instance.
pub(crate) fn run(
    t: ChannelTask,
    payload: Payload,
    replaced: Replaced,
) -> impl Future<Output = ()> + Send + 'static {
    // Boxed before the task's future exists: an async fn keeps its arguments for its whole
    // life, and a joined channel needs neither the join payload nor the replaced join_ref.
    serve(Box::new(Start {
        t,
        payload,
        replaced,
    }))
}

/// What a channel task starts from (see [`run`]).
struct Start {
    t: ChannelTask,
    payload: Payload,
    replaced: Replaced,
}

/// Joins, then handles commands until the channel ends. Every await but the idle wait is
/// boxed: a task's size is that of its largest state, fixed at spawn, and an idle joined
/// channel should not carry the state of its join or of a handler call for its whole life.
async fn serve(start: Box<Start>) {
    let Some(mut t) = Box::pin(join(start)).await else {
        return;
    };
    loop {
        // A stop request goes before any waiting command.
        if let Some(stop) = t.socket.inst.take_stop() {
            Box::pin(t.finish(stop)).await;
            return;
        }
        match t.socket.inst.inbox.try_recv() {
            Some(cmd) => {
                if !Box::pin(t.step(cmd)).await {
                    return;
                }
            }
            // Ended without a stop request for this task (killed by a duplicate join).
            None if !t.socket.inst.phase().routable() => return,
            None => t.socket.inst.inbox.wait().await,
        }
    }
}

/// The join: `join` callback, reply, deferred actions, then the `send_info`s made during
/// the join. Returns the task when the channel is joined and goes on serving.
async fn join(start: Box<Start>) -> Option<ChannelTask> {
    let Start {
        mut t,
        payload,
        replaced,
    } = *start;
    let inst = Arc::clone(&t.socket.inst);
    let replaced = match replaced {
        Replaced::Nothing => None,
        Replaced::Killed(old) => Some(old),
        Replaced::Joining { join_ref, settled } => {
            // A dropped sender (the old instance is gone) owes nothing either.
            let owes_close = settled.await.unwrap_or(false);
            if inst.phase() != Phase::Joining {
                // The connection closed, or this join crashed (inbox overflow) while waiting:
                // never joined. The replaced join_ref still gets its phx_close, written for it
                // since this instance may not write any more.
                if owes_close
                    && let Some(frame) =
                        close_frame(inst.serializer, join_ref.as_ref(), &inst.topic)
                {
                    let _ = inst.outbox.push(frame);
                }
                return None;
            }
            owes_close.then_some(join_ref)
        }
    };
    // Read before the handler takes the payload (it sees `_since` too).
    let since = recovery::requested_since(&payload);
    let handler = Arc::clone(&t.handler);
    let joined = Box::pin(call(
        t.timeout,
        &t.metrics,
        Callback::Join,
        handler.join(&inst.topic, payload, &mut t.socket),
    ))
    .await;
    let reply = match &joined {
        Ok(JoinOutcome::Ok(reply)) => inst.encode_join_reply("ok", reply),
        Ok(JoinOutcome::Error(reply)) => inst.encode_join_reply("error", reply),
        Err(_) => inst.encode_join_reply("error", &join_crashed()),
    };
    let reply = match reply {
        Ok(frame) => Ok(frame),
        Err(e) => {
            // e.g. a binary join reply under V1: the join cannot be answered as written.
            crate::warn_limited!(topic = %clip(&inst.topic), error = %e, "join reply cannot be encoded");
            inst.encode_join_reply("error", &join_crashed())
        }
    };
    let accepted = matches!(joined, Ok(JoinOutcome::Ok(_))) && reply.is_ok();
    // Built before the life lock: it asks the handler for its intercepts (user code).
    let fastlane = accepted.then(|| t.fastlane_delivery());
    // Decided under the life lock, acted upon after it (the guard must not live across an
    // await).
    let interrupted = {
        let mut life = inst.lock();
        if life.phase != Phase::Joining {
            // Killed by a duplicate join, crashed by an inbox overflow (its reply is
            // written), or the connection closed while joining.
            Some(life.stop.take())
        } else {
            // The join reply, then (duplicate join) the old join_ref's phx_close.
            let replaced_close = replaced
                .as_ref()
                .and_then(|old| close_frame(inst.serializer, old.as_ref(), &inst.topic));
            let frames = reply.ok().into_iter().chain(replaced_close);
            if accepted && Instance::superseded(&life) {
                // A duplicate join waits for this answer; this channel ends right after it.
                tracing::debug!(topic = %inst.topic, join_ref = ?inst.join_ref,
                    "joined, then closed by a pipelined duplicate join");
                inst.end_superseded(&mut life, frames);
                return None;
            }
            if let Some(delivery) = fastlane {
                // Counted before the reply is visible.
                inst.set_joined(&mut life);
                // The reply is queued the moment the fastlane subscription exists, before any
                // publisher reaches it: no broadcast overtakes the reply, and one made by
                // anyone who saw the reply reaches this channel (Phoenix subscribes before it
                // replies). Publishers never take the life lock, so this cannot deadlock.
                let pubsub = inst.backplane.pubsub();
                let sub = match since {
                    None => pubsub.subscribe_then(&inst.topic, delivery, || {
                        for frame in frames {
                            inst.emit_locked(&life, frame);
                        }
                    }),
                    // A resume: the reply, then `sb_recovery` and what was missed, all before
                    // any live broadcast (docs/HISTORY.md).
                    Some(since) => {
                        let intercepts = match &delivery {
                            Delivery::Fastlane { intercepts, .. } => Arc::clone(intercepts),
                            Delivery::Mailbox(_) => Arc::from([]),
                        };
                        let max = recovery::max_replay(&inst);
                        let since = since.as_ref().map(Option::as_deref).map_err(|why| *why);
                        pubsub.subscribe_recover(&inst.topic, delivery, since, max, |found| {
                            for frame in frames {
                                inst.emit_locked(&life, frame);
                            }
                            recovery::emit(&inst, &life, &intercepts, found);
                        })
                    }
                };
                t.socket.fastlane_id = Some(sub.id());
                inst.set_fastlane(&life, sub);
            } else {
                match &joined {
                    Err(why) => {
                        crate::warn_limited!(topic = %clip(&inst.topic), join_ref = ?inst.join_ref,
                        reason = %clip(why), "join crashed")
                    }
                    _ => tracing::debug!(topic = %inst.topic, join_ref = ?inst.join_ref,
                        "join refused"),
                }
                inst.end_unjoined(&mut life, frames);
                return None;
            }
            None
        }
    };
    if let Some(stop) = interrupted {
        if let (true, Some(StopRequest::Session(reason))) = (accepted, stop) {
            t.socket.joined = true;
            Box::pin(t.terminate(reason)).await;
        }
        return None;
    }
    tracing::debug!(topic = %inst.topic, join_ref = ?inst.join_ref, "joined");
    t.socket.joined = true;
    let deferred = t.socket.take_deferred();
    let mut infos = Vec::new();
    for d in deferred {
        match d {
            Deferred::Push(frame) => {
                inst.emit(frame);
            }
            Deferred::Broadcast { from_self, b } => {
                if let Err(e) = t.socket.publish_now(from_self, b) {
                    crate::warn_limited!(topic = %clip(&inst.topic), error = %e, "broadcast from join failed");
                }
            }
            Deferred::Info(v) => infos.push(v),
        }
    }
    for info in infos {
        if !Box::pin(t.step(Cmd::Info(Box::new(info)))).await {
            return None;
        }
    }
    Some(t)
}

fn join_crashed() -> Payload {
    Payload::Json(Bytes::from_static(JOIN_CRASHED))
}

impl ChannelTask {
    pub(crate) fn new(handler: Arc<dyn Channel>, socket: Socket, timeout: Duration) -> ChannelTask {
        ChannelTask {
            metrics: Arc::clone(socket.inst.backplane.metrics()),
            handler,
            socket,
            timeout,
        }
    }

    fn inst(&self) -> Arc<Instance> {
        Arc::clone(&self.socket.inst)
    }

    /// Subscribes to the channel topic as a fastlane subscriber: broadcasts are written to the
    /// outbox by the publisher, intercepted events come back through the inbox as `Cmd::Out`.
    /// How broadcasts on the channel topic reach this channel: straight into the connection's
    /// outbox, intercepted events through `handle_out`.
    fn fastlane_delivery(&self) -> Delivery {
        let inst = self.inst();
        let intercepts: Arc<[String]> = self.handler.intercepts().into();
        let intercept_mailbox: Option<Mailbox> = if intercepts.is_empty() {
            None
        } else {
            let weak = Arc::downgrade(&inst);
            Some(Arc::new(move |b: &Arc<crate::pubsub::Broadcast>| {
                if let Some(inst) = weak.upgrade() {
                    let _ = inst.deliver(Cmd::Out(Arc::clone(b)));
                }
            }))
        };
        Delivery::Fastlane {
            outbox: Arc::clone(&inst.outbox),
            serializer: inst.serializer,
            intercepts,
            intercept_mailbox,
        }
    }

    /// Handles one command. Returns false when the channel ended.
    async fn step(&mut self, cmd: Cmd) -> bool {
        let handler = Arc::clone(&self.handler);
        let timeout = self.timeout;
        match cmd {
            Cmd::In(msg) if msg.event == "phx_leave" => {
                self.leave(msg.r#ref.as_ref()).await;
                false
            }
            Cmd::In(msg) => {
                self.socket.current_ref = msg.r#ref.clone();
                let res = call(
                    timeout,
                    &self.metrics,
                    Callback::HandleIn,
                    handler.handle_in(&msg.event, msg.payload, &mut self.socket),
                )
                .await;
                self.socket.current_ref = None;
                self.outcome(res, msg.r#ref.as_ref(), "handle_in").await
            }
            Cmd::Info(v) => {
                let res = call(
                    timeout,
                    &self.metrics,
                    Callback::HandleInfo,
                    handler.handle_info(Info::Message(*v), &mut self.socket),
                )
                .await;
                self.outcome(res, None, "handle_info").await
            }
            Cmd::External(b) => {
                let res = call(
                    timeout,
                    &self.metrics,
                    Callback::HandleInfo,
                    handler.handle_info(Info::Broadcast(b), &mut self.socket),
                )
                .await;
                self.outcome(res, None, "handle_info").await
            }
            Cmd::Out(b) => {
                let res = call(
                    timeout,
                    &self.metrics,
                    Callback::HandleOut,
                    handler.handle_out(&b.event, b.payload.clone(), &mut self.socket),
                )
                .await;
                self.outcome(res, None, "handle_out").await
            }
        }
    }

    /// Applies a handler result. `r#ref` is the message's ref (only `handle_in` has one).
    async fn outcome(
        &mut self,
        res: Result<Outcome, String>,
        r#ref: Option<&Ref>,
        callback: &'static str,
    ) -> bool {
        let inst = self.inst();
        match res {
            Err(why) => {
                self.crash(format!("{callback}: {why}")).await;
                false
            }
            Ok(Outcome::NoReply) => true,
            Ok(Outcome::Reply { status, payload }) => {
                let Some(r) = r#ref else {
                    // Phoenix has no ref to answer either (a push with ref null, or
                    // handle_info / handle_out).
                    tracing::debug!(topic = %inst.topic, callback, "reply without a ref ignored");
                    return true;
                };
                match inst.encode_reply(Some(r), &status, &payload) {
                    Ok(frame) => {
                        inst.emit(frame);
                        true
                    }
                    Err(e) => {
                        self.crash(format!("{callback}: reply cannot be encoded: {e}"))
                            .await;
                        false
                    }
                }
            }
            Ok(Outcome::Stop { reason, reply }) => {
                if let (Some((status, payload)), Some(r)) = (reply, r#ref) {
                    match inst.encode_reply(Some(r), &status, &payload) {
                        Ok(frame) => {
                            inst.emit(frame);
                        }
                        Err(e) => crate::warn_limited!(topic = %clip(&inst.topic), error = %e,
                            "stop reply cannot be encoded"),
                    }
                }
                self.stop(reason).await;
                false
            }
        }
    }

    /// F9: reply `ok`, `phx_close`, then `terminate(Left)`.
    async fn leave(&mut self, r#ref: Option<&Ref>) {
        let inst = self.inst();
        tracing::debug!(topic = %inst.topic, join_ref = ?inst.join_ref, "leave");
        {
            let mut life = inst.lock();
            let reply = inst
                .encode_reply(r#ref, "ok", &Payload::empty_object())
                .ok();
            let frames = reply.into_iter().chain(inst.encode_close());
            inst.end_locked(&mut life, Phase::Closing, frames);
        }
        self.socket.unsubscribe_all();
        self.terminate(TerminateReason::Left).await;
    }

    /// `Outcome::Stop`: graceful reasons close (F15), others error (F14).
    async fn stop(&mut self, reason: StopReason) {
        let inst = self.inst();
        {
            let mut life = inst.lock();
            match &reason {
                StopReason::Normal | StopReason::Shutdown(_) => {
                    tracing::debug!(topic = %inst.topic, join_ref = ?inst.join_ref,
                        ?reason, "channel stopped");
                    inst.end_locked(&mut life, Phase::Closing, inst.encode_close());
                }
                StopReason::Abnormal(why) => {
                    crate::warn_limited!(topic = %clip(&inst.topic), join_ref = ?inst.join_ref,
                        reason = %clip(why), "channel stopped abnormally");
                    inst.end_locked(&mut life, Phase::Dead, inst.encode_error());
                }
            }
        }
        self.socket.unsubscribe_all();
        self.terminate(TerminateReason::Stop(reason)).await;
    }

    /// F14 for a failed handler call, then `terminate(Crash)` with its frames dropped.
    async fn crash(&mut self, why: String) {
        let inst = self.inst();
        crate::warn_limited!(topic = %clip(&inst.topic), join_ref = ?inst.join_ref, reason = %clip(&why),
            "channel crashed");
        {
            let mut life = inst.lock();
            // Only a joined channel announces its crash; one that already ended (e.g. an
            // overflow crash from outside) has written its terminal frame.
            let frame = (life.phase == Phase::Joined)
                .then(|| inst.encode_error())
                .flatten();
            inst.end_locked(&mut life, Phase::Dead, frame);
        }
        self.socket.unsubscribe_all();
        self.terminate(TerminateReason::Crash(why)).await;
    }

    /// A stop requested from outside (connection end, inbox overflow); the phase is already
    /// `Dead`, so nothing is written.
    async fn finish(&mut self, stop: StopRequest) {
        let inst = self.inst();
        self.socket.unsubscribe_all();
        let reason = match stop {
            StopRequest::Session(reason) => reason,
            StopRequest::Overflow => TerminateReason::Crash("channel queue full".to_owned()),
        };
        tracing::debug!(topic = %inst.topic, join_ref = ?inst.join_ref, ?reason,
            "channel terminating");
        self.terminate(reason).await;
    }

    /// `terminate` under the request timeout; its failure is only logged.
    async fn terminate(&mut self, reason: TerminateReason) {
        let handler = Arc::clone(&self.handler);
        let socket = &mut self.socket;
        let res = call(self.timeout, &self.metrics, Callback::Terminate, async {
            handler.terminate(&reason, socket).await;
            Ok(())
        })
        .await;
        if let Err(why) = res {
            crate::warn_limited!(topic = %clip(&self.socket.inst.topic), reason = %clip(&why), "terminate failed");
        }
    }
}

//! `NativeEndpoint`: the endpoint a Python host runs — the core's tokio runtime, the socket mounts, the
//! host request queue and the hub (PubSub, Presence) — and every action by channel id.
//!
//! Threading (docs/BINDINGS.md "Python: threading"): no Rust thread ever calls into Python.
//! Requests reach Python through the queue's event fd (`fileno()`, for `loop.add_reader`) and
//! `poll()` on the loop's thread. Calls that block (start, drain, shutdown, close, wait)
//! detach from the interpreter; O(1) actions do not.

use crate::config::host_config;
use crate::errors::{Error, Result};
use crate::payload::{payload_in, payload_out};
use crate::request::Request;
use crate::subscription::Subscription;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::Arc;
use std::time::Duration;
use switchboard::channel::ChannelHandle;
use switchboard::host::{self, ChannelId, ErrorCode, HostError, HostedEndpoint};

/// A Switchboard endpoint hosted from Python (see the `switchboard` package for the asyncio
/// API built on it): the core's [`HostedEndpoint`], the same host layer the C ABI wraps.
/// `frozen` and `Sync`: safe to share between threads.
#[pyclass(frozen, module = "switchboard._native")]
#[derive(Debug)]
pub struct NativeEndpoint {
    inner: Arc<HostedEndpoint>,
    closed: std::sync::atomic::AtomicBool,
}

impl NativeEndpoint {
    fn channel(&self, id: u64) -> Result<ChannelHandle> {
        Ok(self.inner.queue().channel(ChannelId::from_raw(id))?)
    }
}

fn meta(json: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    Ok(host::json_object(json, "meta")?)
}

#[pymethods]
impl NativeEndpoint {
    /// Starts the runtime threads (does not listen yet). `config`: see `config::host_config`.
    /// Raises `InvalidArgumentError`, `SwitchboardOSError` (threads could not start).
    #[new]
    fn new(config: &Bound<'_, PyDict>) -> PyResult<NativeEndpoint> {
        let config = host_config(config)?;
        Ok(NativeEndpoint {
            inner: Arc::new(HostedEndpoint::new(config).map_err(Error::from)?),
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Binds and starts serving; returns the bound port. Blocks (detached) for the bind only.
    /// Raises `StateError` (already started, or shut down), `SwitchboardOSError` (cannot
    /// bind), `InvalidArgumentError` (bad mount path or HTTP route, route conflict).
    fn start(&self, py: Python<'_>) -> PyResult<u16> {
        let inner = Arc::clone(&self.inner);
        let addr = py.detach(move || inner.start()).map_err(Error::from)?;
        Ok(addr.port())
    }

    /// The bound TCP port. Raises `StateError` when not running.
    fn local_port(&self) -> PyResult<u16> {
        match self.inner.local_addr() {
            Some(addr) => Ok(addr.port()),
            None => Err(Error::state("the endpoint is not running").into()),
        }
    }

    /// The request queue's event fd: readable while requests may be pending. Borrowed: do
    /// not close it. Register it with `loop.add_reader` and call `poll` when readable.
    fn fileno(&self) -> PyResult<i32> {
        use std::os::fd::AsRawFd;
        match self.inner.queue().event_fd() {
            Some(fd) => Ok(fd.as_raw_fd()),
            None => Err(Error::from(HostError::new(ErrorCode::Io, "no eventfd available")).into()),
        }
    }

    /// Takes up to `max` pending requests without blocking (oldest first; `Leave` first).
    /// Resets the event fd.
    fn poll(&self, max: usize) -> Vec<Request> {
        self.inner
            .queue()
            .poll(max)
            .into_iter()
            .map(Request::new)
            .collect()
    }

    /// Blocks (detached) until requests may be pending or `timeout_ms` passed; returns
    /// whether they may be. For hosts without `add_reader` (e.g. Windows' Proactor loop).
    fn wait(&self, py: Python<'_>, timeout_ms: u64) -> bool {
        let queue = self.inner.queue().clone();
        py.detach(move || queue.wait(Duration::from_millis(timeout_ms)))
    }

    /// Requests waiting to be polled.
    fn pending(&self) -> usize {
        self.inner.queue().len()
    }

    /// Closes every connection with 1012 in batches (Phoenix's drainer); blocks (detached)
    /// until they finished or the drain timeout passed. Returns `(closed, remaining)`.
    /// Raises `StateError` when not running.
    fn drain(&self, py: Python<'_>) -> PyResult<(usize, usize)> {
        let inner = Arc::clone(&self.inner);
        let report = py.detach(move || inner.drain()).map_err(Error::from)?;
        Ok((report.closed, report.remaining))
    }

    /// Drains, then stops the listener. Idempotent; blocks (detached).
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.shutdown()).map_err(Error::from)?;
        Ok(())
    }

    /// Stops and joins the runtime threads, dropping connections that are still open (call
    /// `shutdown` first for a graceful stop): afterwards nothing of this endpoint runs.
    /// Idempotent; blocks (detached).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.close()).map_err(Error::from)?;
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// True once `close` ran.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Broadcast to every subscriber of `topic` (Phoenix `Endpoint.broadcast/3`, or
    /// `local_broadcast/3` when `local`). `payload`: JSON object text (str or bytes), or
    /// raw bytes when `binary`. Returns the local subscribers reached. The core checks, in
    /// its words: `StateError` before `start` and once `shutdown` or `close` began,
    /// `InvalidArgumentError` for an empty topic or event; then `InvalidJsonError`,
    /// `EncodeError` (not an object), `BrokerError`.
    #[pyo3(signature = (topic, event, payload, binary=false, local=false))]
    fn broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: &Bound<'_, PyAny>,
        binary: bool,
        local: bool,
    ) -> PyResult<usize> {
        let payload = payload_in(payload, binary)?;
        let delivered = self
            .inner
            .broadcast(local, topic, event, payload)
            .map_err(Error::from)?;
        Ok(delivered.local)
    }

    /// Closes every connection whose socket id is `socket_id` (close 1001). Returns the
    /// local connections reached. The core checks, in its words: `StateError` before
    /// `start` and once `shutdown` or `close` began, `InvalidArgumentError` for an empty
    /// socket id; then `BrokerError`.
    fn disconnect(&self, socket_id: &str) -> PyResult<usize> {
        let delivered = self.inner.disconnect(socket_id).map_err(Error::from)?;
        Ok(delivered.local)
    }

    /// Live channels on `topic` on this node.
    fn channel_count(&self, topic: &str) -> usize {
        self.inner.backplane().channel_count(topic)
    }

    /// `topic`'s history as JSON object text (docs/HISTORY.md "Host API"): the first
    /// `limit` messages after `since`, or the latest `limit` without it (0: all kept).
    /// Raises `InvalidArgumentError` (a negative limit, empty topic, no history rule for
    /// it, `since` not a position).
    #[pyo3(signature = (topic, since, limit))]
    fn history(&self, topic: &str, since: Option<&str>, limit: i64) -> PyResult<String> {
        let limit = switchboard::host::history_limit(limit).map_err(Error::from)?;
        Ok(self
            .inner
            .history(topic, since, limit)
            .map_err(Error::from)?)
    }

    /// The metrics in the Prometheus text format (docs/OPERATIONS.md "Metrics").
    fn metrics(&self) -> String {
        self.inner.metrics_text()
    }

    /// What the endpoint holds now, as JSON object text (docs/OPERATIONS.md "Introspection").
    fn census(&self) -> String {
        self.inner.census()
    }

    /// The `presence_state` of `topic` as JSON object text (`{key: {"metas": [...]}}`).
    fn presence_list<'py>(&self, py: Python<'py>, topic: &str) -> Bound<'py, PyBytes> {
        let list = self.inner.backplane().presence().list(topic);
        payload_out(py, &list).0
    }

    /// Subscribes the host to `topic`: broadcasts on it queue up (at most `capacity`;
    /// newer ones are dropped and counted when full) for `Subscription.poll`.
    fn subscribe(&self, topic: &str, capacity: usize) -> PyResult<Subscription> {
        Ok(Subscription::new(self.inner.backplane(), topic, capacity)?)
    }

    // ---- actions on one channel, by the id its Join request carried ----

    /// Pushes `event` to the channel's client (Phoenix `push/3`). Raises, in this order,
    /// `ChannelNotFoundError` (ended), `InvalidArgumentError` (empty event), `EncodeError`,
    /// `InvalidJsonError`, `QueueFullError`.
    #[pyo3(signature = (channel_id, event, payload, binary=false))]
    fn push(
        &self,
        channel_id: u64,
        event: &str,
        payload: &Bound<'_, PyAny>,
        binary: bool,
    ) -> PyResult<()> {
        let ch = self.channel(channel_id)?;
        let event = host::non_empty(event, "event").map_err(Error::from)?;
        let payload = payload_in(payload, binary)?;
        ch.push(event, payload).map_err(Error::from)?;
        Ok(())
    }

    /// Broadcasts on the channel's topic (Phoenix `broadcast/3`, or `broadcast_from/3`
    /// when `exclude_self`). Raises as `push` (plus `BrokerError`).
    #[pyo3(signature = (channel_id, event, payload, binary=false, exclude_self=false))]
    fn channel_broadcast(
        &self,
        channel_id: u64,
        event: &str,
        payload: &Bound<'_, PyAny>,
        binary: bool,
        exclude_self: bool,
    ) -> PyResult<()> {
        let h = self.channel(channel_id)?;
        let event = host::non_empty(event, "event").map_err(Error::from)?;
        let payload = payload_in(payload, binary)?;
        if exclude_self {
            h.broadcast_from(event, payload)
        } else {
            h.broadcast(event, payload)
        }
        .map_err(Error::from)?;
        Ok(())
    }

    /// Replies to a message answered with noreply earlier (Phoenix `reply(socket_ref, ...)`);
    /// `ref_json` is the message's ref as the request gave it. Raises, in this order,
    /// `ChannelNotFoundError` (ended), `InvalidArgumentError` (no ref, empty status), then as
    /// `push`.
    #[pyo3(signature = (channel_id, ref_json, status, payload, binary=false))]
    fn reply(
        &self,
        channel_id: u64,
        ref_json: &str,
        status: &str,
        payload: &Bound<'_, PyAny>,
        binary: bool,
    ) -> PyResult<()> {
        let ch = self.channel(channel_id)?;
        let r = host::json_ref(ref_json).map_err(Error::from)?;
        let status = host::non_empty(status, "status").map_err(Error::from)?;
        let payload = payload_in(payload, binary)?;
        ch.reply(&r, status, payload).map_err(Error::from)?;
        Ok(())
    }

    /// Queues a message (JSON text) for the channel's `handle_info` (Phoenix `send/2`).
    fn send_info(&self, channel_id: u64, message_json: &str) -> PyResult<()> {
        let value = host::json_value(message_json, "message").map_err(Error::from)?;
        self.channel(channel_id)?
            .send_info(value)
            .map_err(Error::from)?;
        Ok(())
    }

    /// Subscribes the channel to `topic`: its broadcasts reach `handle_info`. Raises
    /// `ChannelNotFoundError` (ended), then `InvalidArgumentError` (empty topic).
    fn channel_subscribe(&self, channel_id: u64, topic: &str) -> PyResult<()> {
        let ch = self.channel(channel_id)?;
        let topic = host::non_empty(topic, "topic").map_err(Error::from)?;
        ch.subscribe(topic).map_err(Error::from)?;
        Ok(())
    }

    /// Undoes `channel_subscribe`; returns whether it was subscribed.
    fn channel_unsubscribe(&self, channel_id: u64, topic: &str) -> PyResult<bool> {
        Ok(self
            .channel(channel_id)?
            .unsubscribe(topic)
            .map_err(Error::from)?)
    }

    /// Tracks `key` with `meta_json` (a JSON object) on the channel's topic; returns the
    /// `phx_ref`. Raises `PresenceError` (already tracked), `ChannelNotFoundError`.
    fn track(&self, channel_id: u64, key: &str, meta_json: &str) -> PyResult<String> {
        let meta = meta(meta_json)?;
        Ok(self
            .channel(channel_id)?
            .track(key, meta)
            .map_err(Error::from)?)
    }

    /// Stops tracking `key` on the channel's topic (idempotent).
    fn untrack(&self, channel_id: u64, key: &str) -> PyResult<()> {
        self.channel(channel_id)?
            .untrack(key)
            .map_err(Error::from)?;
        Ok(())
    }

    /// Replaces the meta of `key`; returns the new `phx_ref`. Raises `PresenceError` (not
    /// tracked).
    fn update(&self, channel_id: u64, key: &str, meta_json: &str) -> PyResult<String> {
        let meta = meta(meta_json)?;
        Ok(self
            .channel(channel_id)?
            .update(key, meta)
            .map_err(Error::from)?)
    }

    /// The channel topic's `presence_state` as JSON object text.
    fn channel_presence_list<'py>(
        &self,
        py: Python<'py>,
        channel_id: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let list = self
            .channel(channel_id)?
            .presence_list()
            .map_err(Error::from)?;
        Ok(payload_out(py, &list).0)
    }
}

//! `sb_endpoint`: one endpoint with its own tokio runtime, its lifecycle, and the host actions
//! on it (broadcast, local broadcast, disconnect).

use crate::boundary::{
    from_handle, into_handle, sb_ffi_boundary, try_out, try_ref, try_str, write_opt,
};
use crate::codec::sb_buffer;
use crate::config::sb_config;
use crate::message::payload_from_c;
use crate::status::{Error, Result, core_error, sb_status};
use crate::version::SB_ABI_VERSION;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use switchboard_core::channel::Backplane;
use switchboard_core::host::{self, HostError, HostQueue, HostedEndpoint};
use switchboard_core::pubsub::Delivered;

/// A Switchboard endpoint hosted from C (opaque): the core's queue-hosted endpoint (its config,
/// the hub with PubSub and presence, the host queue) and the runtime that serves WebSocket
/// connections. All functions taking a `const sb_endpoint *` are safe to call from any thread
/// concurrently; only `sb_endpoint_free` needs exclusive access.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct sb_endpoint {
    pub(crate) inner: Arc<EndpointInner>,
}

#[derive(Debug)]
pub(crate) struct EndpointInner {
    pub(crate) endpoint: HostedEndpoint,
    pub(crate) core: Arc<Backplane>,
    pub(crate) queue: HostQueue,
    poisoned: AtomicBool,
}

const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<sb_endpoint>();
};

/// Runs `f` on a live, non-poisoned endpoint; a panic inside poisons it (docs/ABI.md "Panics and
/// poisoning").
pub(crate) fn with_endpoint(
    endpoint: *const sb_endpoint,
    f: impl FnOnce(&EndpointInner) -> Result<()>,
) -> sb_status {
    sb_ffi_boundary!({
        let endpoint = try_ref(endpoint, "endpoint")?;
        let inner = &endpoint.inner;
        if inner.poisoned.load(Ordering::Acquire) {
            return Err(Error::new(
                sb_status::SB_E_POISONED,
                "an earlier panic poisoned this endpoint; only sb_endpoint_free is allowed",
            ));
        }
        // Poison before re-raising, so the boundary still reports the panic itself.
        let guard = PoisonOnUnwind(&inner.poisoned);
        let result = f(inner);
        std::mem::forget(guard);
        result
    })
}

struct PoisonOnUnwind<'a>(&'a AtomicBool);

impl Drop for PoisonOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Creates an endpoint from a copy of `config` (the caller may free `config` right away) and starts
/// its runtime threads; it does not listen yet (`sb_endpoint_start`).
///
/// `abi_version`: pass `SB_ABI_VERSION` from the header you compiled against; a library with
/// another ABI refuses with `SB_E_ABI_MISMATCH` (zlib's version check).
///
/// Ownership: `*out` is owned by the caller; free it with `sb_endpoint_free`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`config`, `out`), `SB_E_ABI_MISMATCH`, `SB_E_IO`
/// (threads could not be started), `SB_E_INVALID_ARGUMENT` (the bind host name does not
/// resolve).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_new(
    config: *const sb_config,
    abi_version: u32,
    out: *mut *mut sb_endpoint,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_ref(config, "config")?.clone();
        let out = try_out(out, "out")?;
        if abi_version != SB_ABI_VERSION {
            return Err(Error::new(
                sb_status::SB_E_ABI_MISMATCH,
                format!(
                    "compiled against ABI {abi_version:#x}, library has ABI {SB_ABI_VERSION:#x}"
                ),
            ));
        }
        let endpoint = HostedEndpoint::new(config.host_config()?).map_err(core_error)?;
        out.write(into_handle(sb_endpoint {
            inner: Arc::new(EndpointInner {
                core: endpoint.backplane().clone(),
                queue: endpoint.queue().clone(),
                endpoint,
                poisoned: AtomicBool::new(false),
            }),
        }));
        Ok(())
    })
}

/// Frees an endpoint. NULL is a no-op. An endpoint that was not shut down has its connections
/// dropped without a close frame. Joins every thread of the endpoint before returning;
/// afterwards no callback of this endpoint runs again. Subscriptions of this endpoint stay
/// valid to free but receive nothing more. Must not be called from a callback of this library.
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_free(endpoint: *mut sb_endpoint) {
    crate::boundary::value_call((), || {
        if let Some(endpoint) = from_handle(endpoint) {
            // Joins the workers, so no wakeup runs after sb_endpoint_free returns. On a runtime
            // thread it refuses; the runtime then stops in the background when dropped.
            let _ = endpoint.inner.endpoint.close();
        }
    });
}

/// Binds the configured address and starts serving the socket mounts; returns once listening.
/// Blocks the calling thread for the bind, and in a cluster (option `broker`) first until the
/// broker answers (at most `broker_connect_timeout_ms`; unreachable, it starts alone and keeps
/// retrying) and then 1.5 `broker_heartbeat_ms` while it listens for a namesake. Must not be
/// called from a callback of this library.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_STATE` (already started or shut
/// down), `SB_E_IO` (cannot bind: address in use, no permission), `SB_E_INVALID_ARGUMENT`
/// (a static file route that is also a socket route), `SB_E_BROKER` (another live process
/// has this node name, docs/CLUSTER.md "Node identity"), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_start(endpoint: *const sb_endpoint) -> sb_status {
    with_endpoint(endpoint, |inner| {
        inner.endpoint.start().map_err(core_error)?;
        Ok(())
    })
}

/// Writes the TCP port the endpoint listens on to `*out_port` (the real one when bound to port 0).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_STATE` (not started, or shut down),
/// `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_local_port(
    endpoint: *const sb_endpoint,
    out_port: *mut u16,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let out = try_out(out_port, "out_port")?;
        let port = inner
            .endpoint
            .running()
            .map_err(core_error)?
            .local_addr()
            .port();
        out.write(port);
        Ok(())
    })
}

/// Stops accepting WebSocket connections (new upgrades get HTTP 503) and closes every live
/// one with 1012 in batches, as Phoenix's drainer, per `sb_config_set_drain`; their channels
/// terminate. Blocks until every connection finished or the drain timeout passed, then
/// writes the connections still open to `*out_remaining` (optional: may be NULL).
/// Idempotent; the endpoint keeps serving nothing new afterwards but actions still work.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`endpoint`), `SB_E_INVALID_STATE` (not started, or shut
/// down), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_drain(
    endpoint: *const sb_endpoint,
    out_remaining: *mut usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let report = inner.endpoint.drain().map_err(core_error)?;
        write_opt(out_remaining, report.remaining);
        Ok(())
    })
}

/// Drains (see `sb_endpoint_drain`), then stops the HTTP listener and waits for it. Blocks the
/// calling thread. Idempotent: later calls, and a call on an endpoint that was never started,
/// return `SB_OK` at once.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_IO` (the server failed while stopping),
/// `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_shutdown(endpoint: *const sb_endpoint) -> sb_status {
    with_endpoint(endpoint, |inner| {
        inner.endpoint.shutdown().map_err(core_error)
    })
}

fn delivered(out: *mut usize, result: std::result::Result<Delivered, HostError>) -> Result<()> {
    let delivered = result.map_err(core_error)?;
    write_opt(out, delivered.local);
    Ok(())
}

/// Broadcasts `event` with `payload` to every subscriber of `topic` on every node (Phoenix
/// `Endpoint.broadcast/3`): joined clients get the frame, host subscriptions get the message.
///
/// `topic`, `event`: UTF-8, borrowed for the call. `payload`: `payload_len` bytes, a JSON
/// object when `payload_kind` is `SB_PAYLOAD_KIND_JSON` or raw bytes for
/// `SB_PAYLOAD_KIND_BINARY` (sent as a V2 binary broadcast frame; V1 clients cannot receive it);
/// copied once and shared by every subscriber. `*out_delivered` (optional, may be NULL) gets
/// the number of local subscribers reached.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_STATE` (before
/// `sb_endpoint_start`, like Phoenix's broadcast without a running endpoint; after
/// `sb_endpoint_shutdown` broadcasts still work, so that a terminate may broadcast), `SB_E_INVALID_ARGUMENT` (unknown `payload_kind`, empty topic or event),
/// `SB_E_INVALID_JSON`, `SB_E_ENCODE` (JSON that is not an object; binary with topic or event
/// over 255 bytes), `SB_E_BROKER`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_broadcast(
    endpoint: *const sb_endpoint,
    topic: *const u8,
    topic_len: usize,
    event: *const u8,
    event_len: usize,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
    out_delivered: *mut usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let (topic, event) = texts(topic, topic_len, event, event_len)?;
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        delivered(
            out_delivered,
            inner.endpoint.broadcast(false, topic, event, payload),
        )
    })
}

/// Like `sb_broadcast`, but only this node's subscribers (Phoenix
/// `Endpoint.local_broadcast/3`). Same arguments and statuses.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_local_broadcast(
    endpoint: *const sb_endpoint,
    topic: *const u8,
    topic_len: usize,
    event: *const u8,
    event_len: usize,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
    out_delivered: *mut usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let (topic, event) = texts(topic, topic_len, event, event_len)?;
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        delivered(
            out_delivered,
            inner.endpoint.broadcast(true, topic, event, payload),
        )
    })
}

/// Closes every connection whose socket id is `socket_id` (UTF-8) with close code 1001, on
/// every node: a `"disconnect"` broadcast on that id, as Phoenix's
/// `Endpoint.broadcast(socket_id, "disconnect", %{})`. `*out_delivered` (optional) gets the
/// local subscribers reached.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_STATE` (as
/// `sb_broadcast`), `SB_E_INVALID_ARGUMENT` (empty id), `SB_E_BROKER`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_disconnect(
    endpoint: *const sb_endpoint,
    socket_id: *const u8,
    socket_id_len: usize,
    out_delivered: *mut usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let id = try_str(socket_id, socket_id_len, "socket_id")?;
        delivered(out_delivered, inner.endpoint.disconnect(id))
    })
}

/// Writes to `*out_count` how many channels are joined to `topic` (UTF-8, exact topic) on
/// this node, over all connections: what a control route or a health check reports.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_channel_count(
    endpoint: *const sb_endpoint,
    topic: *const u8,
    topic_len: usize,
    out_count: *mut usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let topic = try_str(topic, topic_len, "topic")?;
        let out = try_out(out_count, "out_count")?;
        out.write(inner.core.channel_count(topic));
        Ok(())
    })
}

/// Reads `topic`'s history (docs/HISTORY.md "Host API") into a new `sb_buffer` owned by the
/// caller, as JSON object text `{"messages": [{"position", "event", "payload"}...],
/// "position": <latest or null>, "recovered": <bool>, "reason"?: <text>}`, oldest first: the
/// first `limit` messages after the position `since` (UTF-8; NULL with length 0 for none),
/// or without `since` the latest `limit`; `limit` 0 reads every kept message. A binary
/// payload comes as `"binary": "<base64>"`. `recovered` is false (with `reason`
/// `unknown_epoch`, `unknown_position` or `trimmed`) when the messages do not follow `since`
/// without a gap; the latest kept ones are given then. Readable in every endpoint phase.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
/// topic, a topic no history rule matches, `since` not a position), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_history(
    endpoint: *const sb_endpoint,
    topic: *const u8,
    topic_len: usize,
    since: *const u8,
    since_len: usize,
    limit: usize,
    out: *mut *mut sb_buffer,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let out = try_out(out, "out")?;
        let topic = try_str(topic, topic_len, "topic")?;
        let since = if since.is_null() && since_len == 0 {
            None
        } else {
            Some(try_str(since, since_len, "since")?)
        };
        let page = inner
            .endpoint
            .history(topic, since, limit)
            .map_err(core_error)?;
        out.write(sb_buffer::text_handle(page));
        Ok(())
    })
}

/// Writes the endpoint's metrics (docs/OPERATIONS.md "Metrics") into a new `sb_buffer`
/// owned by the caller, as text in the Prometheus text format 0.0.4 — what option
/// `metrics_path` serves over HTTP — for an application that exports its own metrics.
/// Readable in every endpoint phase (connections count 0 before start and after close).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_metrics(
    endpoint: *const sb_endpoint,
    out: *mut *mut sb_buffer,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let out = try_out(out, "out")?;
        out.write(sb_buffer::text_handle(inner.endpoint.metrics_text()));
        Ok(())
    })
}

/// Writes what the endpoint holds now (docs/OPERATIONS.md "Introspection") into a new
/// `sb_buffer` owned by the caller, as JSON object text: `{"node", "connections":
/// {"websocket", "longpoll"}, "channels", "topics": [{"topic", "subscribers", "channels"}],
/// "presence": [{"topic", "entries"}], "cluster": null | {"broker", "up", "nodes": [{"node",
/// "incarnation", "last_heartbeat_ms"}]}}`. Readable in every endpoint phase.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_census(
    endpoint: *const sb_endpoint,
    out: *mut *mut sb_buffer,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let out = try_out(out, "out")?;
        out.write(sb_buffer::text_handle(inner.endpoint.census()));
        Ok(())
    })
}

/// `topic` and `event` as UTF-8 text (the endpoint checks what they hold).
pub(crate) fn texts<'a>(
    topic: *const u8,
    topic_len: usize,
    event: *const u8,
    event_len: usize,
) -> Result<(&'a str, &'a str)> {
    Ok((
        try_str(topic, topic_len, "topic")?,
        try_str(event, event_len, "event")?,
    ))
}

/// `topic` and `event` as non-empty UTF-8 text, for frames encoded without an endpoint.
pub(crate) fn topic_event<'a>(
    topic: *const u8,
    topic_len: usize,
    event: *const u8,
    event_len: usize,
) -> Result<(&'a str, &'a str)> {
    let (topic, event) = texts(topic, topic_len, event, event_len)?;
    host::non_empty(topic, "topic")?;
    host::non_empty(event, "event")?;
    Ok((topic, event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{sb_config_free, sb_config_new};
    use crate::version::sb_last_error_message;

    fn last_error() -> String {
        let mut buf = [0 as std::ffi::c_char; 256];
        let n = sb_last_error_message(buf.as_mut_ptr(), buf.len());
        // SAFETY: sb_last_error_message NUL-terminates within `buf`.
        let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(text.to_bytes().len(), n.min(255));
        text.to_string_lossy().into_owned()
    }

    /// A panic inside an endpoint call is a status, not an abort, and leaves the endpoint
    /// poisoned: only `sb_endpoint_free` is allowed afterwards (docs/ABI.md "Panics and
    /// poisoning"). C cannot trigger a panic on purpose, so this is tested here.
    #[test]
    fn a_panic_becomes_a_status_and_poisons_the_endpoint() {
        let mut cfg = std::ptr::null_mut();
        assert_eq!(sb_config_new(&mut cfg), sb_status::SB_OK);
        let mut endpoint = std::ptr::null_mut();
        assert_eq!(
            sb_endpoint_new(cfg, SB_ABI_VERSION, &mut endpoint),
            sb_status::SB_OK
        );
        sb_config_free(cfg);

        let status = with_endpoint(endpoint, |_| panic!("boom in a test"));
        assert_eq!(status, sb_status::SB_E_PANIC);
        assert!(last_error().contains("boom in a test"), "{}", last_error());

        let topic = b"room:1";
        let mut delivered = 7usize;
        let status = sb_disconnect(endpoint, topic.as_ptr(), topic.len(), &mut delivered);
        assert_eq!(status, sb_status::SB_E_POISONED);
        assert_eq!(delivered, 7, "out-params are untouched on failure");
        sb_endpoint_free(endpoint);
    }

    #[test]
    fn last_error_has_snprintf_semantics() {
        crate::status::set_last_error("0123456789");
        let mut small = [1 as std::ffi::c_char; 4];
        assert_eq!(sb_last_error_message(small.as_mut_ptr(), small.len()), 10);
        assert_eq!(small.map(|c| c as u8), *b"012\0");
        assert_eq!(sb_last_error_message(std::ptr::null_mut(), 0), 10);
    }
}

//! `sb_subscription`: a host-side subscription to a topic, so that a C program receives
//! broadcasts without a WebSocket (Phoenix `Endpoint.subscribe/1` from a non-channel process).

use crate::boundary::{from_handle, into_handle, sb_ffi_boundary, try_out, try_ref, write_opt};
use crate::endpoint::{sb_endpoint, texts, with_endpoint};
use crate::message::{payload_from_c, sb_message};
use crate::status::{Error, sb_status};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, sync_channel};
use std::time::Duration;
use switchboard_core::host;
use switchboard_core::pubsub::{Broadcast, Delivery, Subscription};

/// A host-side subscription (opaque) from `sb_subscribe`; free with `sb_subscription_free`,
/// which unsubscribes. Safe to use from any thread; it may outlive its endpoint (it then receives
/// nothing more).
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct sb_subscription {
    rx: Mutex<Receiver<Arc<Broadcast>>>,
    dropped: Arc<AtomicU64>,
    subscription: Subscription,
}

const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<sb_subscription>();
};

/// Subscribes the host to `topic` (UTF-8, exact topic name). Every broadcast on it — from
/// `sb_broadcast`, from channels, from other nodes — is queued for
/// `sb_subscription_poll` / `sb_subscription_wait`. `capacity` (at least 1) bounds the
/// queue in messages; when it is full, newer broadcasts are dropped and counted by
/// `sb_subscription_dropped`, so a host that stops reading cannot grow memory.
///
/// Ownership: `*out` is owned by the caller (`sb_subscription_free`).
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
/// topic, capacity 0), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_subscribe(
    endpoint: *const sb_endpoint,
    topic: *const u8,
    topic_len: usize,
    capacity: usize,
    out: *mut *mut sb_subscription,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let out = try_out(out, "out")?;
        let topic = crate::boundary::try_str(topic, topic_len, "topic")?;
        host::non_empty(topic, "topic")?;
        if capacity == 0 {
            return Err(Error::invalid("`capacity` must be at least 1"));
        }
        let (tx, rx) = sync_channel::<Arc<Broadcast>>(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let subscription = inner.core.pubsub().subscribe(
            topic,
            Delivery::Mailbox(Arc::new(move |b| {
                if tx.try_send(b.clone()).is_err() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })),
        );
        out.write(into_handle(sb_subscription {
            rx: Mutex::new(rx),
            dropped,
            subscription,
        }));
        Ok(())
    })
}

/// Unsubscribes and frees. NULL is a no-op. Queued messages are discarded.
#[unsafe(no_mangle)]
pub extern "C" fn sb_subscription_free(subscription: *mut sb_subscription) {
    crate::boundary::value_call((), || drop(from_handle(subscription)));
}

/// Takes the oldest queued broadcast without blocking: `*out` gets a new `sb_message` (owned
/// by the caller, `sb_message_free`; no join_ref or ref) or NULL when none is waiting.
///
/// Statuses: `SB_OK` (also when nothing was waiting), `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_subscription_poll(
    subscription: *const sb_subscription,
    out: *mut *mut sb_message,
) -> sb_status {
    sb_ffi_boundary!({
        let sub = try_ref(subscription, "subscription")?;
        let out = try_out(out, "out")?;
        let next = match sub.rx.lock().try_recv() {
            Ok(b) => into_handle(sb_message::from(&*b)),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => std::ptr::null_mut(),
        };
        out.write(next);
        Ok(())
    })
}

/// Like `sb_subscription_poll`, but waits up to `timeout_ms` milliseconds for a broadcast.
/// Blocks the calling thread; must not be called from a callback of this library.
///
/// Statuses: `SB_OK` (`*out` is a message), `SB_E_TIMEOUT` (nothing arrived; `*out` is left
/// untouched), `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_subscription_wait(
    subscription: *const sb_subscription,
    timeout_ms: u32,
    out: *mut *mut sb_message,
) -> sb_status {
    sb_ffi_boundary!({
        let sub = try_ref(subscription, "subscription")?;
        let out = try_out(out, "out")?;
        let received = sub
            .rx
            .lock()
            .recv_timeout(Duration::from_millis(u64::from(timeout_ms)));
        match received {
            Ok(b) => {
                out.write(into_handle(sb_message::from(&*b)));
                Ok(())
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => Err(Error::new(
                sb_status::SB_E_TIMEOUT,
                format!("no broadcast within {timeout_ms} ms"),
            )),
        }
    })
}

/// Broadcasts dropped because the queue was full; 0 when `subscription` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sb_subscription_dropped(subscription: *const sb_subscription) -> u64 {
    crate::boundary::value_call(0, || {
        try_ref(subscription, "subscription").map_or(0, |s| s.dropped.load(Ordering::Relaxed))
    })
}

/// Like `sb_broadcast` but skips `from` (a subscription of this host), as Phoenix
/// `broadcast_from/4` skips the sending process. Same arguments, statuses and
/// `*out_delivered` (optional) as `sb_broadcast`, plus `SB_E_NULL_POINTER` for `from`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_broadcast_from(
    endpoint: *const sb_endpoint,
    from: *const sb_subscription,
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
        let from = try_ref(from, "from")?;
        let (topic, event) = texts(topic, topic_len, event, event_len)?;
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        let delivered = inner
            .endpoint
            .publisher(topic, event)?
            .pubsub()
            .broadcast_from(
                from.subscription.id(),
                Broadcast {
                    topic: topic.to_owned(),
                    event: event.to_owned(),
                    payload,
                },
            )
            .map_err(crate::status::core_error)?;
        write_opt(out_delivered, delivered.local);
        Ok(())
    })
}

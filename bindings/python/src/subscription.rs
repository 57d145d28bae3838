//! `Subscription`: a host-side subscription to a topic (Phoenix `Endpoint.subscribe/1` from a
//! non-channel process). Broadcasts are queued by the publishing thread and signalled on an
//! eventfd, so Python's loop wakes through `add_reader`; no Rust thread enters Python.
//!
//! Wakeups use the host queue's protocol: the producer pushes, then sets `notified` and
//! writes the fd only if it was clear; `poll` resets the fd, clears the flag, then pops, and
//! signals again if messages remain after `max`.

use crate::errors::{Error, Result};
use crate::payload::payload_out;
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use switchboard::channel::Backplane;
use switchboard::host::{ErrorCode, HostError};
use switchboard::pubsub::{Broadcast, Delivery, Subscription as CoreSubscription};

struct Signal {
    notified: AtomicBool,
    fd: OwnedFd,
}

impl Signal {
    fn pending(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            // EAGAIN: the counter is saturated, i.e. already readable.
            let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
        }
    }

    fn reset(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
        self.notified.swap(false, Ordering::AcqRel);
    }
}

/// One host-side subscription. `close()` (or garbage collection) unsubscribes.
#[pyclass(frozen, module = "switchboard._native")]
pub struct Subscription {
    topic: String,
    rx: Mutex<Receiver<Arc<Broadcast>>>,
    signal: Arc<Signal>,
    dropped: Arc<AtomicU64>,
    subscription: Mutex<Option<CoreSubscription>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(core: &Arc<Backplane>, topic: &str, capacity: usize) -> Result<Subscription> {
        switchboard::host::non_empty(topic, "topic")?;
        if capacity == 0 {
            return Err(Error::invalid("capacity must be at least 1"));
        }
        use rustix::event::{EventfdFlags, eventfd};
        let fd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)
            .map_err(|e| Error::from(HostError::new(ErrorCode::Io, format!("eventfd: {e}"))))?;
        let signal = Arc::new(Signal {
            notified: AtomicBool::new(false),
            fd,
        });
        let (tx, rx) = sync_channel::<Arc<Broadcast>>(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let (counter, producer) = (Arc::clone(&dropped), Arc::clone(&signal));
        let subscription = core.pubsub().subscribe(
            topic,
            Delivery::Mailbox(Arc::new(move |b| {
                if tx.try_send(Arc::clone(b)).is_err() {
                    counter.fetch_add(1, Ordering::Relaxed);
                } else {
                    producer.pending();
                }
            })),
        );
        Ok(Subscription {
            topic: topic.to_owned(),
            rx: Mutex::new(rx),
            signal,
            dropped,
            subscription: Mutex::new(Some(subscription)),
        })
    }
}

type Message<'py> = (String, Bound<'py, PyBytes>, bool);

#[pymethods]
impl Subscription {
    /// The subscribed topic.
    #[getter]
    fn topic(&self) -> &str {
        &self.topic
    }

    /// An eventfd, readable while messages may be queued (borrowed; do not close it).
    fn fileno(&self) -> i32 {
        self.signal.fd.as_fd().as_raw_fd()
    }

    /// Takes up to `max` queued broadcasts without blocking: `(event, payload, binary)`
    /// tuples, oldest first. Resets the fd.
    fn poll<'py>(&self, py: Python<'py>, max: usize) -> Vec<Message<'py>> {
        self.signal.reset();
        let rx = self.rx.lock();
        let mut out = Vec::new();
        while out.len() < max {
            match rx.try_recv() {
                Ok(b) => {
                    let (payload, binary) = payload_out(py, &b.payload);
                    out.push((b.event.clone(), payload, binary));
                }
                Err(_) => return out,
            }
        }
        // Stopped at `max` with more possibly queued: stay readable.
        self.signal.notified.store(false, Ordering::Release);
        self.signal.pending();
        out
    }

    /// Broadcasts dropped because the queue was full.
    #[getter]
    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Unsubscribes (idempotent); queued messages stay readable.
    fn close(&self) {
        drop(self.subscription.lock().take());
    }

    /// True once `close` ran.
    #[getter]
    fn closed(&self) -> bool {
        self.subscription.lock().is_none()
    }
}

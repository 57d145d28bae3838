//! The live connections of an endpoint, so that a drain can reach every one of them and wait
//! until they are gone.

use crate::channel::Bucket;
use crate::metrics::{Limit, Metrics};
use crate::outbox::Outbox;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    live: HashMap<u64, Arc<Outbox>>,
    draining: bool,
    /// The most live connections (0: no limit).
    max: usize,
    /// Connection attempts admitted per second (`connections_per_second`; `None`: no limit).
    attempts: Option<Bucket>,
}

/// Registry of live connections (their outboxes) plus the drain flag.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    inner: Mutex<Inner>,
    /// Woken whenever a connection leaves the registry.
    left: Notify,
    /// Where refusals by `max_connections` / `connections_per_second` are counted.
    metrics: Arc<Metrics>,
}

/// Membership of one connection; dropping it (the connection task ended) removes it.
#[derive(Debug)]
pub(crate) struct Registered {
    conns: Arc<Connections>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.conns.inner.lock().live.remove(&self.id);
        self.conns.left.notify_waiters();
    }
}

impl Connections {
    /// A registry that holds at most `max` connections (0: no limit) and admits at most
    /// `per_second` connection attempts a second (0: no limit).
    pub(crate) fn with_limits(max: usize, per_second: u32, metrics: Arc<Metrics>) -> Connections {
        let c = Connections {
            metrics,
            ..Connections::default()
        };
        let mut inner = c.inner.lock();
        inner.max = max;
        inner.attempts = Bucket::new(per_second);
        drop(inner);
        c
    }

    /// Whether one more connection attempt may go on to the connect callback now (a token
    /// bucket with a one-second burst); refused ones are answered 429.
    pub(crate) fn admit(&self) -> bool {
        let mut inner = self.inner.lock();
        let admitted = match &mut inner.attempts {
            Some(bucket) => bucket.take(std::time::Instant::now()),
            None => true,
        };
        if !admitted {
            self.metrics.rate_limited(Limit::ConnectionsPerSecond);
        }
        admitted
    }

    /// Adds a connection; `None` once a drain has begun or the registry is full (new
    /// connections are refused, 503).
    pub(crate) fn register(self: &Arc<Self>, outbox: Arc<Outbox>) -> Option<Registered> {
        let mut inner = self.inner.lock();
        if inner.draining {
            return None;
        }
        if inner.max > 0 && inner.live.len() >= inner.max {
            self.metrics.rate_limited(Limit::MaxConnections);
            return None;
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.live.insert(id, outbox);
        Some(Registered {
            conns: self.clone(),
            id,
        })
    }

    /// True once [`begin_drain`](Self::begin_drain) ran.
    pub(crate) fn draining(&self) -> bool {
        self.inner.lock().draining
    }

    /// Number of live connections.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().live.len()
    }

    /// Refuses new connections from now on and returns the outboxes of the live ones.
    pub(crate) fn begin_drain(&self) -> Vec<Arc<Outbox>> {
        let mut inner = self.inner.lock();
        inner.draining = true;
        inner.live.values().cloned().collect()
    }

    /// Waits until no connection is left or `deadline` passes; true when none is left.
    pub(crate) async fn wait_empty(&self, deadline: Instant) -> bool {
        loop {
            let left = self.left.notified();
            tokio::pin!(left);
            // Register interest before looking, so a removal in between is not missed.
            left.as_mut().enable();
            if self.len() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, left).await.is_err() {
                return self.len() == 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn drain_refuses_new_connections_and_waits_for_the_live_ones() {
        let conns = Arc::new(Connections::default());
        let a = conns
            .register(Arc::new(Outbox::new(1, 1)))
            .expect("not draining");
        assert_eq!(conns.len(), 1);
        let snapshot = conns.begin_drain();
        assert_eq!(snapshot.len(), 1);
        assert!(conns.register(Arc::new(Outbox::new(1, 1))).is_none());
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(!conns.wait_empty(deadline).await, "still one live");
        let waiter = {
            let conns = conns.clone();
            tokio::spawn(async move {
                conns
                    .wait_empty(Instant::now() + Duration::from_secs(5))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a);
        assert!(waiter.await.expect("task"));
    }
}

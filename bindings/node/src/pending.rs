//! Requests handed to JavaScript and not yet answered. A [`HostRequest`] dropped unanswered
//! counts as a crash of its handler, so the binding keeps each one alive here until
//! JavaScript answers it by ticket (or fails it, or releases a `Leave`).

use crate::request::NativeRequest;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use switchboard::host::{HostQueue, HostRequest, Ticket};

#[derive(Default)]
pub struct Pending {
    tickets: Mutex<HashMap<u64, HostRequest>>,
    leaves: Mutex<HashMap<u32, (Instant, HostRequest)>>,
    next_leave: AtomicU32,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("tickets", &self.tickets.lock().len())
            .field("leaves", &self.leaves.lock().len())
            .finish()
    }
}

impl Pending {
    /// Keeps `req` until it is answered or released, and describes it for JavaScript.
    pub fn hold(&self, req: HostRequest) -> NativeRequest {
        match req.ticket() {
            Some(ticket) => {
                let out = NativeRequest::from_request(&req, None);
                self.tickets.lock().insert(ticket.get(), req);
                out
            }
            None => {
                // Never 0, so a missing key reads as "no key" in JavaScript too.
                let key = self.next_leave.fetch_add(1, Ordering::Relaxed).max(1);
                let out = NativeRequest::from_request(&req, Some(key));
                self.leaves.lock().insert(key, (Instant::now(), req));
                out
            }
        }
    }

    /// Takes the request of `ticket` out (to answer or to drop it).
    pub fn take(&self, ticket: u64) -> Option<HostRequest> {
        self.tickets.lock().remove(&ticket)
    }

    /// Takes the `Leave` request of `key` out (dropping it lets the core forget its channel).
    pub fn take_leave(&self, key: u32) -> Option<HostRequest> {
        self.leaves.lock().remove(&key).map(|(_, req)| req)
    }

    /// Forgets requests the core no longer waits for: tickets that timed out or whose
    /// connection ended (their handler never settled), and `Leave`s held past `leave_ttl`
    /// (the core stopped waiting for them at its request timeout).
    pub fn sweep(&self, queue: &HostQueue, leave_ttl: Duration) {
        let stale: Vec<HostRequest> = {
            let mut tickets = self.tickets.lock();
            let dead: Vec<u64> = tickets
                .keys()
                .copied()
                .filter(|t| queue.request_kind(Ticket::from_raw(*t)).is_err())
                .collect();
            dead.iter().filter_map(|t| tickets.remove(t)).collect()
        };
        drop(stale);
        let now = Instant::now();
        let old: Vec<(Instant, HostRequest)> = {
            let mut leaves = self.leaves.lock();
            let dead: Vec<u32> = leaves
                .iter()
                .filter(|(_, (at, _))| now.duration_since(*at) > leave_ttl)
                .map(|(k, _)| *k)
                .collect();
            dead.iter().filter_map(|k| leaves.remove(k)).collect()
        };
        drop(old);
    }

    /// Drops everything (at close).
    pub fn clear(&self) {
        let tickets = std::mem::take(&mut *self.tickets.lock());
        let leaves = std::mem::take(&mut *self.leaves.lock());
        drop((tickets, leaves));
    }
}

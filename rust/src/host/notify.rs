//! Wakeups for hosts that drain the request queue (docs/ABI.md "Receiving host requests"): a
//! coalescing `notified` flag, a Linux eventfd that is readable while requests may be
//! pending, a condition variable for blocking waits, and an optional wakeup callback.
//!
//! Protocol (no wakeup is ever lost, at most one signal per batch):
//! - a producer pushes, then swaps the flag to set, and signals (fd write, condvar, callback)
//!   only if the flag was clear;
//! - a poll resets the fd, then swaps the flag to clear, then pops; if requests remain after
//!   the pops it signals again.
//!
//! Invariant: while the flag is set, a signal has been (or is about to be) given after the
//! last reset, so the fd is readable and waiters return. The flag swap in poll is a
//! read-modify-write, so it synchronizes with the producer's swap and the pops that follow
//! it see every push made before that swap.

use parking_lot::{Condvar, Mutex, RwLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The host's wakeup callback: "there is work" (see [`HostQueue::set_wakeup`](super::HostQueue::set_wakeup)).
pub type Wakeup = Arc<dyn Fn() + Send + Sync + 'static>;

pub(crate) struct Notifier {
    notified: AtomicBool,
    lock: Mutex<()>,
    cond: Condvar,
    wakeup: RwLock<Option<Wakeup>>,
    #[cfg(target_os = "linux")]
    fd: Option<std::os::fd::OwnedFd>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("notified", &self.notified.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Notifier {
    pub(crate) fn new() -> Notifier {
        Notifier {
            notified: AtomicBool::new(false),
            lock: Mutex::new(()),
            cond: Condvar::new(),
            wakeup: RwLock::new(None),
            #[cfg(target_os = "linux")]
            fd: new_eventfd(),
        }
    }

    /// Producer side, after a push: signals unless a signal is already outstanding.
    pub(crate) fn pending(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.signal();
        }
    }

    /// Consumer side, before popping: resets the fd, then clears the flag.
    pub(crate) fn reset(&self) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            let mut buf = [0u8; 8];
            // EAGAIN (nothing to reset) is the common case; any other error leaves the fd
            // readable, which only costs the host a spurious wakeup.
            let _ = rustix::io::read(fd, &mut buf);
        }
        self.notified.swap(false, Ordering::AcqRel);
    }

    /// True while a signal is outstanding (requests may be pending).
    pub(crate) fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    fn signal(&self) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            // EAGAIN means the counter is saturated, i.e. already readable.
            let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
        }
        {
            // Taken so that a waiter between its check and its sleep cannot miss this.
            let _guard = self.lock.lock();
            self.cond.notify_all();
        }
        let cb = self.wakeup.read().clone();
        if let Some(cb) = cb {
            cb();
        }
    }

    /// Blocks until a signal is outstanding or `timeout` passed. Returns whether one is.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = self.lock.lock();
        loop {
            if self.is_notified() {
                return true;
            }
            match deadline {
                Some(deadline) => {
                    if self.cond.wait_until(&mut guard, deadline).timed_out() {
                        return self.is_notified();
                    }
                }
                // A timeout too large to represent: wait without one.
                None => self.cond.wait(&mut guard),
            }
        }
    }

    /// Installs (or with `None` removes) the wakeup callback. If a signal is already
    /// outstanding the new callback runs once right away, so no pending work goes unseen.
    pub(crate) fn set_wakeup(&self, cb: Option<Wakeup>) {
        *self.wakeup.write() = cb.clone();
        if let (Some(cb), true) = (cb, self.is_notified()) {
            cb();
        }
    }

    #[cfg(target_os = "linux")]
    pub(crate) fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.fd.as_ref().map(AsFd::as_fd)
    }
}

#[cfg(target_os = "linux")]
fn new_eventfd() -> Option<std::os::fd::OwnedFd> {
    use rustix::event::{EventfdFlags, eventfd};
    match eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC) {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::warn!(error = %e, "eventfd unavailable; hosts must use wait() or a wakeup callback");
            None
        }
    }
}

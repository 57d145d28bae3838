//! The event pump (docs/BINDINGS.md "Node: the event pump"): a binding-owned Rust thread
//! waits for host requests (and host-subscription messages), drains a batch and makes ONE
//! non-blocking ThreadsafeFunction call per batch. JavaScript dispatches, awaits the handlers
//! and answers synchronously by ticket; Rust never touches a Promise.
//!
//! Backpressure: at most [`MAX_IN_FLIGHT`] batches wait for the JS thread; beyond that the pump
//! stops draining, the core's bounded queue fills and the core refuses further requests
//! (its `max_pending` rule), so a busy event loop never grows memory without bound.

use crate::pending::Pending;
use crate::request::NativeRequest;
use napi::bindgen_prelude::Unknown;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use switchboard::host::HostQueue;
use switchboard::pubsub::Broadcast;

/// Requests per batch (one JS call).
const BATCH: usize = 256;
/// Batches handed to the JS thread and not yet run.
const MAX_IN_FLIGHT: usize = 8;
/// How often requests whose handler never settled are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A batch travels through the TSFN inside a shared slot, so that a refused call (the TSFN
/// drops its data then) loses nothing the pump would still need.
pub struct Batch(Arc<Mutex<Option<Vec<NativeRequest>>>>);

/// The JS callback: gets one array of requests per call. Weak (never holds the event loop
/// by itself); the endpoint holds it with `ref()` while listening.
pub type BatchFn = ThreadsafeFunction<Batch, Unknown<'static>, Vec<NativeRequest>, Status, false>;

/// What the pump thread reads.
pub struct Source {
    pub queue: HostQueue,
    pub pending: Arc<Pending>,
    pub inbox: Receiver<(u32, Arc<Broadcast>)>,
    /// `Leave`s held longer than this are forgotten (the core stopped waiting).
    pub leave_ttl: Duration,
}

/// State shared by the pump thread, the TSFN callback and the endpoint.
#[derive(Debug, Default)]
pub struct Shared {
    stop: AtomicBool,
    /// Batches handed to the TSFN and not yet run on the JS thread.
    in_flight: AtomicUsize,
    /// Set while the pump thread holds requests it took from the queue and has not yet
    /// counted in `in_flight` (see [`Shared::delivered`]).
    taking: AtomicBool,
    /// The pump thread, to wake it.
    thread: Mutex<Option<std::thread::Thread>>,
}

impl Shared {
    /// Whether every request posted to `queue` so far has reached the JS thread. Read in
    /// this order: requests the pump took are flagged by `taking` until they count in
    /// `in_flight`, so none can be missed between the queue and the TSFN.
    pub fn delivered(&self, queue: &HostQueue) -> bool {
        queue.is_empty()
            && !self.taking.load(Ordering::SeqCst)
            && self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Wakes the pump thread (new work, or room for another batch).
    pub fn wake(&self) {
        if let Some(t) = &*self.thread.lock() {
            t.unpark();
        }
    }
}

/// The running pump: its thread and the JS-side handle of the TSFN (for ref/unref/abort).
pub struct Pump {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Shared with the pump thread, which calls it; taken (and aborted) at stop.
    tsfn: Arc<Mutex<Option<BatchFn>>>,
    queue: HostQueue,
}

impl std::fmt::Debug for Pump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pump")
            .field("running", &self.thread.is_some())
            .field("in_flight", &self.shared.in_flight.load(Ordering::Relaxed))
            .finish()
    }
}

/// Builds the TSFN around `callback`; each call runs `callback(requests)` on the JS thread.
pub fn batch_fn(
    callback: napi::bindgen_prelude::Function<'_, Vec<NativeRequest>, Unknown<'static>>,
    shared: Arc<Shared>,
) -> napi::Result<BatchFn> {
    callback
        .build_threadsafe_function::<Batch>()
        .callee_handled::<false>()
        .build_callback(move |ctx| {
            // The batch is now on the JS thread: room for another one.
            shared.in_flight.fetch_sub(1, Ordering::AcqRel);
            shared.wake();
            Ok(ctx.value.0.lock().take().unwrap_or_default())
        })
}

impl Pump {
    /// Starts the pump thread. The TSFN starts unref'd: `refer` when the endpoint listens.
    pub fn start(
        env: &Env,
        mut tsfn: BatchFn,
        source: Source,
        shared: Arc<Shared>,
    ) -> napi::Result<Pump> {
        #[allow(deprecated)] // napi-rs keeps ref/unref for exactly this use (net.Server-like)
        tsfn.unref(env)?;
        let queue = source.queue.clone();
        let tsfn = Arc::new(Mutex::new(Some(tsfn)));
        let thread = {
            let (shared, tsfn) = (shared.clone(), tsfn.clone());
            std::thread::Builder::new()
                .name("switchboard-node-pump".into())
                .spawn(move || run(source, tsfn, &shared))
                .map_err(|e| napi::Error::from_reason(format!("cannot start the pump: {e}")))?
        };
        *shared.thread.lock() = Some(thread.thread().clone());
        let wake = shared.clone();
        queue.set_wakeup(Some(Arc::new(move || wake.wake())));
        Ok(Pump {
            shared,
            thread: Some(thread),
            tsfn,
            queue,
        })
    }

    /// Keeps the Node event loop alive (like a listening `net.Server`).
    pub fn refer(&mut self, env: &Env) -> napi::Result<()> {
        match &mut *self.tsfn.lock() {
            #[allow(deprecated)]
            Some(tsfn) => tsfn.refer(env),
            None => Ok(()),
        }
    }

    /// Lets the process exit while the endpoint is still open.
    pub fn unref(&mut self, env: &Env) -> napi::Result<()> {
        match &mut *self.tsfn.lock() {
            #[allow(deprecated)]
            Some(tsfn) => tsfn.unref(env),
            None => Ok(()),
        }
    }

    /// Stops the thread and aborts the TSFN, so nothing calls into JavaScript afterwards and
    /// the event loop is free to end. Idempotent. Runs on the JS thread.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.queue.set_wakeup(None);
        let tsfn = self.tsfn.lock().take();
        if let Some(tsfn) = tsfn {
            #[allow(deprecated)] // abort is what releases the loop now (napi-rs#1732)
            let _ = tsfn.abort();
        }
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(source: Source, tsfn: Arc<Mutex<Option<BatchFn>>>, shared: &Shared) {
    let (stop, in_flight) = (&shared.stop, &shared.in_flight);
    let mut reqs = Vec::with_capacity(BATCH);
    let mut last_sweep = Instant::now();
    while !stop.load(Ordering::Acquire) {
        if last_sweep.elapsed() >= SWEEP_EVERY {
            source.pending.sweep(&source.queue, source.leave_ttl);
            last_sweep = Instant::now();
        }
        if in_flight.load(Ordering::Acquire) >= MAX_IN_FLIGHT {
            std::thread::park_timeout(SWEEP_EVERY);
            continue;
        }
        reqs.clear();
        shared.taking.store(true, Ordering::SeqCst);
        source.queue.poll_into(&mut reqs, BATCH);
        let mut batch: Vec<NativeRequest> =
            reqs.drain(..).map(|r| source.pending.hold(r)).collect();
        while batch.len() < BATCH {
            match source.inbox.try_recv() {
                Ok((id, b)) => batch.push(NativeRequest::message(id, &b)),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            shared.taking.store(false, Ordering::SeqCst);
            std::thread::park_timeout(SWEEP_EVERY);
            continue;
        }
        in_flight.fetch_add(1, Ordering::SeqCst);
        shared.taking.store(false, Ordering::SeqCst);
        let slot = Arc::new(Mutex::new(Some(batch)));
        let status = match &*tsfn.lock() {
            Some(f) => f.call(Batch(slot), ThreadsafeFunctionCallMode::NonBlocking),
            None => Status::Closing,
        };
        if status != Status::Ok {
            // Closing (the endpoint or the environment is going away): the requests still
            // held are dropped with the endpoint, which answers them as crashes.
            in_flight.fetch_sub(1, Ordering::AcqRel);
            break;
        }
    }
}

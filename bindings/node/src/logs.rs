//! The library's log events for Node (docs/OPERATIONS.md "Logs"): `setLogHandler` in the
//! facade installs the core's bounded `LogQueue` as the log sink, and a binding-owned thread
//! hands what it queued to JavaScript, one non-blocking ThreadsafeFunction call per batch. The
//! TSFN is unref'd: logging never keeps the process alive, and a busy event loop makes the
//! queue drop (and count) events rather than grow.

use napi::bindgen_prelude::{Function, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Result, Status};
use napi_derive::napi;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use switchboard::logging::bridge::{LogLevel, LogQueue, LogSink, set_log_sink};

/// Events kept for JavaScript at most; more are dropped and counted.
const CAPACITY: usize = 10_000;

/// One log event as JavaScript gets it.
#[napi(object)]
#[derive(Debug)]
pub struct NativeLogEvent {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// The emitting module, e.g. `switchboard::endpoint::connection`.
    pub target: String,
    /// The text with its fields (`malformed frame, closing with 1011 socket_id=u1` (`-`: no socket id)).
    pub message: String,
    /// The context by name: `socket_id`, `topic`, `node`, `error`, ...
    pub fields: HashMap<String, String>,
    /// Events dropped so far because JavaScript did not keep up.
    pub dropped: f64,
}

type LogFn =
    ThreadsafeFunction<Vec<NativeLogEvent>, Unknown<'static>, Vec<NativeLogEvent>, Status, false>;

/// The running forwarder: its stop flag and thread.
struct Forwarder {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

static FORWARDER: Mutex<Option<Forwarder>> = Mutex::new(None);

/// Sends the library's events at `level` (1 = error … 5 = trace) or more severe to
/// `on_logs(events)`, replacing any handler set before; `None` (or level 0) stops.
#[napi]
pub fn set_log_handler(
    env: Env,
    on_logs: Option<Function<'_, Vec<NativeLogEvent>, Unknown<'static>>>,
    level: u32,
) -> Result<()> {
    let mut forwarder = FORWARDER.lock();
    if let Some(old) = forwarder.take() {
        old.stop.store(true, Ordering::Release);
        let _ = old.thread.join();
    }
    let (Some(on_logs), Some(level)) = (on_logs, LogLevel::from_number(level)) else {
        return set_log_sink(None).map_err(|e| napi::Error::from_reason(e.to_string()));
    };
    let mut tsfn: LogFn = on_logs
        .build_threadsafe_function::<Vec<NativeLogEvent>>()
        .callee_handled::<false>()
        .build_callback(|ctx| Ok(ctx.value))?;
    #[allow(deprecated)] // unref: logging alone never keeps the process alive
    tsfn.unref(&env)?;
    let queue = LogQueue::new(CAPACITY);
    set_log_sink(Some((Arc::clone(&queue) as Arc<dyn LogSink>, level)))
        .map_err(|e| napi::Error::from_reason(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("switchboard-node-logs".into())
            .spawn(move || forward(&queue, &tsfn, &stop))
            .map_err(|e| napi::Error::from_reason(format!("cannot start the log thread: {e}")))?
    };
    *forwarder = Some(Forwarder { stop, thread });
    Ok(())
}

fn forward(queue: &LogQueue, tsfn: &LogFn, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        let events = queue.take(Duration::from_millis(100), 256);
        if events.is_empty() {
            continue;
        }
        let dropped = queue.dropped() as f64;
        let batch = events
            .into_iter()
            .map(|e| NativeLogEvent {
                level: e.level.name().to_owned(),
                target: e.target.to_owned(),
                message: e.line(),
                fields: e
                    .fields
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                dropped,
            })
            .collect();
        tsfn.call(batch, ThreadsafeFunctionCallMode::NonBlocking);
    }
}

//! The library's `tracing` events handed to a host language's own logging (docs/OPERATIONS.md
//! "Logs"): C's `sb_set_log_callback`, Python's `logging` (logger `switchboard`) and Node's
//! `onLog` all install a [`LogSink`] here. One `tracing_subscriber` layer, process-wide (each
//! built library — the C library, the Python extension, the Node addon — has its own copy of
//! this state), filtered by the most verbose level a sink asked for. An event caused by a sink
//! on its own thread is dropped rather than re-entered.

use parking_lot::RwLock;
use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Severity of a log event, most severe first; the numbers are C's `sb_log_level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed (a file could not be read, a connection task died).
    Error = 1,
    /// Something unexpected that the library handled (a bad frame, a broker link lost).
    Warn = 2,
    /// Lifecycle: listening, draining, shut down, broker link up.
    Info = 3,
    /// Per-connection detail.
    Debug = 4,
    /// Per-frame detail; costly.
    Trace = 5,
}

impl LogLevel {
    /// The level of number `n` (1 = error … 5 = trace).
    pub fn from_number(n: u32) -> Option<LogLevel> {
        [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ]
        .into_iter()
        .find(|l| *l as u32 == n)
    }

    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    fn of(level: &Level) -> LogLevel {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        }
    }
}

/// One log event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    pub level: LogLevel,
    /// The emitting module, e.g. `switchboard::endpoint::connection`.
    pub target: &'static str,
    /// The text, without its fields.
    pub message: String,
    /// The event's context in order: `socket_id`, `topic`, `node`, `error`, ...
    pub fields: Vec<(&'static str, String)>,
}

impl LogEvent {
    /// `message key=value ...`, as tracing's own formatter writes an event.
    pub fn line(&self) -> String {
        let mut line = self.message.clone();
        for (k, v) in &self.fields {
            if !line.is_empty() {
                line.push(' ');
            }
            let _ = write!(line, "{k}={v}");
        }
        line
    }
}

/// Where log events go. Called on the thread that logged (a runtime worker, or the caller of
/// a library function), possibly on several at once: be quick, do not block, do not call
/// back into the endpoint.
pub trait LogSink: Send + Sync + 'static {
    fn log(&self, event: &LogEvent);
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
/// The most verbose level passed on, as a [`LogLevel`] number; 0 while no sink is set.
static MAX_LEVEL: AtomicU32 = AtomicU32::new(0);
static INSTALLED: OnceLock<bool> = OnceLock::new();

thread_local! {
    /// Set while this thread runs a sink: an event it causes is dropped, not re-entered.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// Why a sink could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("another tracing subscriber is already installed in this library")]
pub struct SinkError;

/// Sends the library's events at `max_level` or more severe to `sink` from now on (replacing
/// any sink set before; `None` stops logging, the default). The replaced sink is dropped once
/// its last running call returned.
pub fn set_log_sink(sink: Option<(Arc<dyn LogSink>, LogLevel)>) -> Result<(), SinkError> {
    let sink = match sink {
        Some((sink, level)) => {
            let installed = *INSTALLED.get_or_init(|| {
                let subscriber = tracing_subscriber::registry().with(BridgeLayer);
                tracing::subscriber::set_global_default(subscriber).is_ok()
            });
            if !installed {
                return Err(SinkError);
            }
            MAX_LEVEL.store(level as u32, Ordering::Relaxed);
            Some(sink)
        }
        None => {
            MAX_LEVEL.store(0, Ordering::Relaxed);
            None
        }
    };
    let old = std::mem::replace(&mut *SINK.write(), sink);
    // The callsites' cached interest follows the new level.
    tracing::callsite::rebuild_interest_cache();
    // Outside the lock: may run the old sink's cleanup.
    drop(old);
    Ok(())
}

fn passes(level: &Level) -> bool {
    (LogLevel::of(level) as u32) <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Forwards events to the sink.
struct BridgeLayer;

impl<S: Subscriber> Layer<S> for BridgeLayer {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        // Recomputed for every callsite by `rebuild_interest_cache` when the level changes.
        if passes(meta.level()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        passes(meta.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match MAX_LEVEL.load(Ordering::Relaxed) {
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            5 => LevelFilter::TRACE,
            _ => LevelFilter::OFF,
        })
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if IN_SINK.get() {
            return;
        }
        // Cloned out of the lock: the sink never runs under it, so replacing the sink cannot
        // wait for (or deadlock with) a slow sink.
        let Some(sink) = SINK.read().clone() else {
            return;
        };
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let event = LogEvent {
            level: LogLevel::of(meta.level()),
            target: meta.target(),
            message: fields.message,
            fields: fields.rest,
        };
        IN_SINK.set(true);
        sink.log(&event);
        IN_SINK.set(false);
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(&'static str, String)>,
}

impl Fields {
    fn field(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else {
            self.rest.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, format!("{value:?}"));
    }
}

/// A sink that queues events for a host thread to take ([`take`](Self::take)): for languages
/// whose logging must run on their own threads (Python's `logging` under the GIL, Node's
/// JavaScript thread). Bounded: when the host does not keep up, newer events are dropped and
/// counted ([`dropped`](Self::dropped)), so logging never blocks the endpoint nor grows memory.
#[derive(Debug)]
pub struct LogQueue {
    tx: crossbeam_channel::Sender<LogEvent>,
    rx: crossbeam_channel::Receiver<LogEvent>,
    dropped: AtomicU64,
}

impl LogQueue {
    /// A queue holding at most `capacity` events.
    pub fn new(capacity: usize) -> Arc<LogQueue> {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        Arc::new(LogQueue {
            tx,
            rx,
            dropped: AtomicU64::new(0),
        })
    }

    /// Waits up to `timeout` for an event, then takes every queued one (at most `max`).
    pub fn take(&self, timeout: Duration, max: usize) -> Vec<LogEvent> {
        let mut out = Vec::new();
        if let Ok(first) = self.rx.recv_timeout(timeout) {
            out.push(first);
            while out.len() < max {
                match self.rx.try_recv() {
                    Ok(e) => out.push(e),
                    Err(_) => break,
                }
            }
        }
        out
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl LogSink for LogQueue {
    fn log(&self, event: &LogEvent) {
        if self.tx.try_send(event.clone()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_line_is_its_message_then_its_fields() {
        let e = LogEvent {
            level: LogLevel::Warn,
            target: "switchboard::endpoint",
            message: "slow consumer".into(),
            fields: vec![("socket_id", "u1".into()), ("topic", "room:1".into())],
        };
        assert_eq!(e.line(), "slow consumer socket_id=u1 topic=room:1");
        assert_eq!(LogLevel::from_number(2), Some(LogLevel::Warn));
        assert_eq!(LogLevel::from_number(0), None);
        assert_eq!(LogLevel::Trace.name(), "trace");
    }

    #[test]
    fn a_full_queue_drops_and_counts_newer_events() {
        let q = LogQueue::new(2);
        let e = LogEvent {
            level: LogLevel::Info,
            target: "t",
            message: "m".into(),
            fields: Vec::new(),
        };
        for _ in 0..5 {
            q.log(&e);
        }
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.take(Duration::from_millis(10), 10).len(), 2);
        assert!(q.take(Duration::from_millis(10), 10).is_empty());
    }
}

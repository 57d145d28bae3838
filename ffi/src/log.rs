//! `sb_set_log_callback`: the library's `tracing` events (level, target, message) routed to a
//! C callback by a `tracing_subscriber` layer. The library is its own copy of `tracing` (a
//! cdylib / staticlib links it in), so this global subscriber is private to libswitchboard
//! and does not meet a Rust host's own.

use crate::boundary::sb_ffi_boundary;
use crate::status::{Error, sb_status};
use parking_lot::RwLock;
use std::cell::Cell;
use std::ffi::c_void;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Severity of a log line, most severe first (tracing's levels).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum sb_log_level {
    /// Something failed (a file could not be read, a connection task died).
    Error = 1,
    /// Something unexpected that the library handled (a static file not found, a bad frame).
    Warn = 2,
    /// Lifecycle: listening, draining, shut down.
    Info = 3,
    /// Per-connection detail.
    Debug = 4,
    /// Per-frame detail; costly.
    Trace = 5,
}

impl sb_log_level {
    fn of(level: &Level) -> sb_log_level {
        match *level {
            Level::ERROR => sb_log_level::Error,
            Level::WARN => sb_log_level::Warn,
            Level::INFO => sb_log_level::Info,
            Level::DEBUG => sb_log_level::Debug,
            Level::TRACE => sb_log_level::Trace,
        }
    }
}

type LogFn = extern "C" fn(*mut c_void, u32, *const u8, usize, *const u8, usize);

/// The installed callback with its user data; `user_data_free` runs when the last in-flight
/// call is done with it (the `Arc` drops).
struct Sink {
    cb: LogFn,
    user_data: *mut c_void,
    free: Option<extern "C" fn(*mut c_void)>,
}

// SAFETY: the header documents that `cb` is called from any thread, concurrently, and that
// `user_data_free` runs once on any thread; the library never dereferences `user_data`.
unsafe impl Send for Sink {}
// SAFETY: as above.
unsafe impl Sync for Sink {}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            free(self.user_data);
        }
    }
}

static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);
/// The most verbose level passed on, as an `sb_log_level`; 0 while no callback is set.
static MAX_LEVEL: AtomicU32 = AtomicU32::new(0);
static INSTALLED: OnceLock<bool> = OnceLock::new();

thread_local! {
    /// Set while this thread runs the callback: an event it causes is dropped, not re-entered.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

fn passes(level: &Level) -> bool {
    (sb_log_level::of(level) as u32) <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Forwards events to the C callback.
struct CallbackLayer;

impl<S: Subscriber> Layer<S> for CallbackLayer {
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
        if IN_CALLBACK.get() {
            return;
        }
        // Cloned out of the lock: the callback never runs under it, so replacing the sink
        // cannot wait for (or deadlock with) a slow callback.
        let Some(sink) = SINK.read().clone() else {
            return;
        };
        let meta = event.metadata();
        let mut line = Line::default();
        event.record(&mut line);
        let target = meta.target();
        IN_CALLBACK.set(true);
        (sink.cb)(
            sink.user_data,
            sb_log_level::of(meta.level()) as u32,
            target.as_ptr(),
            target.len(),
            line.0.as_ptr(),
            line.0.len(),
        );
        IN_CALLBACK.set(false);
    }
}

/// `message key=value ...`, as tracing's own formatter writes an event's fields.
#[derive(Default)]
struct Line(String);

impl Line {
    fn field(&mut self, field: &Field, value: &dyn std::fmt::Display) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value}");
        } else {
            let _ = write!(self.0, "{}={value}", field.name());
        }
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, &format_args!("{value:?}"));
    }
}

fn level_from_u32(value: u32) -> crate::status::Result<u32> {
    match value {
        1..=5 => Ok(value),
        other => Err(Error::invalid(format!(
            "unknown log level {other} (SB_LOG_LEVEL_ERROR = 1 ... SB_LOG_LEVEL_TRACE = 5)"
        ))),
    }
}

/// Routes the library's log events to `cb` (process-wide: every endpoint): `cb(user_data, level,
/// target, target_len, message, message_len)` for each event at `max_level` (an
/// `sb_log_level`) or more severe. `level` is an `sb_log_level`; `target` is the emitting
/// module (e.g. `switchboard::endpoint::static_files`) and `message` the text with its fields
/// (`static file not found path=/srv/app.js`), both UTF-8, not NUL-terminated and borrowed for
/// the call only. A NULL `cb` removes the callback (the library then logs nothing, the
/// default); `max_level` is ignored then, and a `user_data_free` given with it runs at once.
///
/// Threads: `cb` is called on the thread that logged — an endpoint worker thread or the caller of
/// an `sb_*` function — possibly from several threads at once. It must be quick, must not
/// block on the endpoint and must not call any `sb_*` function (the library may hold internal
/// state while it logs); events logged while it runs on the same thread are dropped.
/// `user_data_free(user_data)` (optional) runs exactly once, on any thread, after the callback
/// was replaced or removed and its last running call returned. Safe to call at any time,
/// from any thread.
///
/// Statuses: `SB_OK`, `SB_E_INVALID_ARGUMENT` (unknown `max_level`; nothing changes),
/// `SB_E_INVALID_STATE` (the library's log subscriber could not be installed).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_set_log_callback(
    cb: Option<extern "C" fn(*mut c_void, u32, *const u8, usize, *const u8, usize)>,
    max_level: u32,
    user_data: *mut c_void,
    user_data_free: Option<extern "C" fn(*mut c_void)>,
) -> sb_status {
    sb_ffi_boundary!({
        let sink = match cb {
            Some(cb) => {
                let level = level_from_u32(max_level)?;
                let installed = *INSTALLED.get_or_init(|| {
                    let subscriber = tracing_subscriber::registry().with(CallbackLayer);
                    tracing::subscriber::set_global_default(subscriber).is_ok()
                });
                if !installed {
                    return Err(Error::state(
                        "another tracing subscriber is already installed in this library",
                    ));
                }
                MAX_LEVEL.store(level, Ordering::Relaxed);
                Some(Arc::new(Sink {
                    cb,
                    user_data,
                    free: user_data_free,
                }))
            }
            None => {
                MAX_LEVEL.store(0, Ordering::Relaxed);
                if let Some(free) = user_data_free {
                    free(user_data);
                }
                None
            }
        };
        let old = std::mem::replace(&mut *SINK.write(), sink);
        // The callsites' cached interest follows the new level.
        tracing::callsite::rebuild_interest_cache();
        // Outside the lock: may run user_data_free of the old callback.
        drop(old);
        Ok(())
    })
}

//! `sb_set_log_callback`: the library's `tracing` events (level, target, message) routed to a
//! C callback through the core's log bridge (`switchboard::logging::bridge`). The library is
//! its own copy of `tracing` (a cdylib / staticlib links it in), so this global subscriber is
//! private to libswitchboard and does not meet a Rust host's own.

use crate::boundary::sb_ffi_boundary;
use crate::status::{Error, sb_status};
use std::ffi::c_void;
use std::sync::Arc;
use switchboard_core::logging::bridge::{LogEvent, LogLevel, LogSink, set_log_sink};

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

impl LogSink for Sink {
    fn log(&self, event: &LogEvent) {
        let line = event.line();
        (self.cb)(
            self.user_data,
            event.level as u32,
            event.target.as_ptr(),
            event.target.len(),
            line.as_ptr(),
            line.len(),
        );
    }
}

fn level_from_u32(value: u32) -> crate::status::Result<LogLevel> {
    LogLevel::from_number(value).ok_or_else(|| {
        Error::invalid(format!(
            "unknown log level {value} (SB_LOG_LEVEL_ERROR = 1 ... SB_LOG_LEVEL_TRACE = 5)"
        ))
    })
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
        let sink: Option<(Arc<dyn LogSink>, LogLevel)> = match cb {
            Some(cb) => {
                let level = level_from_u32(max_level)?;
                Some((
                    Arc::new(Sink {
                        cb,
                        user_data,
                        free: user_data_free,
                    }),
                    level,
                ))
            }
            None => {
                if let Some(free) = user_data_free {
                    free(user_data);
                }
                None
            }
        };
        set_log_sink(sink).map_err(|e| Error::state(e.to_string()))
    })
}

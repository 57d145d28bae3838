//! Logs a hostile client cannot flood: client-supplied text is clipped ([`clip`]), and
//! warnings a client can trigger at will go through [`warn_limited!`], which lets through a
//! few per second per call site and then says how many it suppressed. Routine client mistakes
//! (a push to a topic that is not joined, an unmatched topic, a refused handshake) log at
//! debug only.

pub mod bridge;

use parking_lot::Mutex;
use std::fmt;
use std::time::{Duration, Instant};

/// Most bytes of a client-supplied string that go into a log line.
pub const CLIP_BYTES: usize = 128;

/// Warnings let through per call site and window.
const BURST: u32 = 10;
/// The window of [`BURST`].
const WINDOW: Duration = Duration::from_secs(1);

/// Displays at most [`CLIP_BYTES`] of `text` (cut at a character boundary), followed by
/// `…(N bytes)` when it was longer.
pub fn clip(text: &str) -> Clipped<'_> {
    Clipped(text)
}

/// See [`clip`].
#[derive(Clone, Copy)]
pub struct Clipped<'a>(&'a str);

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        if text.len() <= CLIP_BYTES {
            return f.write_str(text);
        }
        let mut end = CLIP_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{}…({} bytes)", &text[..end], text.len())
    }
}

impl fmt::Debug for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// The budget of one call site of [`warn_limited!`].
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Option<Instant>,
    emitted: u32,
    suppressed: u64,
}

impl Limiter {
    /// A fresh budget (usable in a `static`).
    pub const fn new() -> Limiter {
        Limiter {
            state: Mutex::new(Window {
                started: None,
                emitted: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when a message may be logged now, `n` being how many were suppressed since
    /// the last one that was; `None` when this one is to be suppressed.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut w = self.state.lock();
        if w.started.is_none_or(|t| now.duration_since(t) >= WINDOW) {
            w.started = Some(now);
            w.emitted = 0;
        }
        if w.emitted < BURST {
            w.emitted += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed += 1;
            None
        }
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new()
    }
}

/// A `tracing` event at `$level` (`WARN`, `ERROR`) through `tracing::$macro!` with a
/// per-call-site budget ([`Limiter`]): at most 10 per second; the first one after a
/// suppression is preceded by "N similar messages suppressed". Use [`warn_limited!`] or
/// [`error_limited!`].
#[macro_export]
#[doc(hidden)]
macro_rules! log_limited {
    ($level:ident, $macro:ident, $($arg:tt)+) => {{
        if tracing::enabled!(tracing::Level::$level) {
            static LIMITER: $crate::logging::Limiter = $crate::logging::Limiter::new();
            if let Some(suppressed) = LIMITER.admit() {
                if suppressed > 0 {
                    tracing::$macro!(suppressed, "{suppressed} similar messages suppressed");
                }
                tracing::$macro!($($arg)+);
            }
        }
    }};
}

/// `tracing::warn!` with a per-call-site budget (see [`log_limited!`]).
#[macro_export]
#[doc(hidden)]
macro_rules! warn_limited {
    ($($arg:tt)+) => { $crate::log_limited!(WARN, warn, $($arg)+) };
}

/// `tracing::error!` with a per-call-site budget (see [`log_limited!`]).
#[macro_export]
#[doc(hidden)]
macro_rules! error_limited {
    ($($arg:tt)+) => { $crate::log_limited!(ERROR, error, $($arg)+) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_at_a_char_boundary() {
        assert_eq!(clip("room:lobby").to_string(), "room:lobby");
        let long = "é".repeat(100); // 200 bytes
        let shown = clip(&long).to_string();
        assert!(shown.ends_with("…(200 bytes)"), "{shown}");
        assert_eq!(shown.trim_end_matches("…(200 bytes)"), "é".repeat(64));
        assert_eq!(
            clip(&"x".repeat(10_000)).to_string().len(),
            128 + "…(10000 bytes)".len()
        );
    }

    #[test]
    fn limiter_admits_a_burst_per_window_and_counts_the_rest() {
        let l = Limiter::new();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(l.admit_at(t0), Some(0));
        }
        for _ in 0..25 {
            assert_eq!(l.admit_at(t0 + Duration::from_millis(500)), None);
        }
        // The next window's first message reports what was suppressed, once.
        assert_eq!(l.admit_at(t0 + WINDOW), Some(25));
        assert_eq!(l.admit_at(t0 + WINDOW), Some(0));
    }
}

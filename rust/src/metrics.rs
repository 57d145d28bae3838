//! The counters an endpoint keeps for its operators (docs/OPERATIONS.md "Metrics"): cheap to
//! bump on the hot path, read when someone asks (a Prometheus scrape, the host API). Gauges
//! that already exist as state (connections, channels, presence entries) are not kept here:
//! the endpoint counts them when read. Rendering is the endpoint's job
//! (`endpoint::metrics`); this module has no dependency on it.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Stripes of a [`Counter`]: threads bump different cache lines, so two workers counting
/// frames at a million a second do not bounce one line between their cores.
const STRIPES: usize = 8;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe(AtomicU64);

/// A monotonic counter, striped by thread. `add` is one relaxed atomic add on a line this
/// thread mostly owns; `get` sums the stripes (a scrape, not a hot path).
#[derive(Debug, Default)]
pub struct Counter {
    stripes: [Stripe; STRIPES],
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe, handed out round robin as threads first count.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn stripe() -> usize {
    STRIPE.with(|s| {
        let mut i = s.get();
        if i == usize::MAX {
            i = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
            s.set(i);
        }
        i
    })
}

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.stripes[stripe()].0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds 1.
    pub fn inc(&self) {
        self.add(1);
    }

    /// The total so far.
    pub fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// Upper bounds of the [`Histogram`] buckets, in seconds: 100 µs (a host answering from
/// memory) to 10 s (the default request timeout); one more bucket holds the rest (`+Inf`).
pub const BUCKETS_SECONDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A latency histogram with the fixed [`BUCKETS_SECONDS`]: one atomic add per bucket hit
/// and one for the sum.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Non-cumulative: `counts[i]` holds observations in `(bound[i-1], bound[i]]`, the last
    /// one those above every bound.
    counts: [AtomicU64; BUCKETS_SECONDS.len() + 1],
    sum_nanos: AtomicU64,
}

/// What a [`Histogram`] holds at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations in this bucket alone)`; the last bound is
    /// `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS_SECONDS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(BUCKETS_SECONDS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The buckets, count and sum now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let buckets: Vec<(f64, u64)> = BUCKETS_SECONDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        HistogramSnapshot {
            count: buckets.iter().map(|(_, n)| n).sum(),
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            buckets,
        }
    }
}

/// Which limit refused something (the `limit` label of `switchboard_rate_limited_total`,
/// named as the option that sets it, docs/OPTIONS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A connection over `max_connections` (HTTP 503).
    MaxConnections,
    /// A connection attempt over `connections_per_second` (HTTP 429).
    ConnectionsPerSecond,
    /// A client message over `messages_per_second` (`{"reason":"rate_limited"}`).
    MessagesPerSecond,
    /// A join over `joins_per_second` (`{"reason":"rate_limited"}`).
    JoinsPerSecond,
}

impl Limit {
    /// Every limit, in label order.
    pub const ALL: [Limit; 4] = [
        Limit::MaxConnections,
        Limit::ConnectionsPerSecond,
        Limit::MessagesPerSecond,
        Limit::JoinsPerSecond,
    ];

    /// The option's name, used as the label value.
    pub fn name(self) -> &'static str {
        match self {
            Limit::MaxConnections => "max_connections",
            Limit::ConnectionsPerSecond => "connections_per_second",
            Limit::MessagesPerSecond => "messages_per_second",
            Limit::JoinsPerSecond => "joins_per_second",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The application callback a [`Histogram`] of `switchboard_host_request_duration_seconds`
/// times (its `kind` label: the Phoenix callback's name). For a C, Python or Node host it is
/// the time from the request's posting to its answer; for a Rust handler, the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    Connect,
    Join,
    HandleIn,
    HandleInfo,
    HandleOut,
    Terminate,
}

impl Callback {
    /// Every callback, in label order.
    pub const ALL: [Callback; 6] = [
        Callback::Connect,
        Callback::Join,
        Callback::HandleIn,
        Callback::HandleInfo,
        Callback::HandleOut,
        Callback::Terminate,
    ];

    /// The Phoenix callback's name (the label value).
    pub fn name(self) -> &'static str {
        match self {
            Callback::Connect => "connect",
            Callback::Join => "join",
            Callback::HandleIn => "handle_in",
            Callback::HandleInfo => "handle_info",
            Callback::HandleOut => "handle_out",
            Callback::Terminate => "terminate",
        }
    }
}

/// The counters of one endpoint (shared by everything its backplane serves).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Client frames decoded (every transport; heartbeats included).
    pub messages_received: Counter,
    /// Frames handed to client sockets (WebSocket writes, long-poll answers).
    pub messages_sent: Counter,
    /// Broadcasts published on this node (`broadcast`, `local_broadcast`, `broadcast_from`,
    /// presence diffs); those from other nodes count in the broker's `in` direction.
    pub broadcasts: Counter,
    /// Connections closed by the slow-consumer policy (WebSocket 1013, long-poll sessions).
    pub slow_consumer_disconnects: Counter,
    rate_limited: [Counter; Limit::ALL.len()],
    callbacks: [Histogram; Callback::ALL.len()],
}

impl Metrics {
    /// Counts one thing `limit` refused.
    pub fn rate_limited(&self, limit: Limit) {
        self.rate_limited[limit.index()].inc();
    }

    /// What `limit` refused so far.
    pub fn rate_limited_count(&self, limit: Limit) -> u64 {
        self.rate_limited[limit.index()].get()
    }

    /// Records how long the application took to answer `callback`.
    pub fn callback(&self, callback: Callback, took: Duration) {
        self.callbacks[callback as usize].observe(took);
    }

    /// `(callback, histogram)` of every callback, in label order.
    pub fn callback_durations(&self) -> Vec<(Callback, HistogramSnapshot)> {
        Callback::ALL
            .iter()
            .zip(&self.callbacks)
            .map(|(c, h)| (*c, h.snapshot()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_counter_sums_what_every_thread_added() {
        let c = Arc::new(Counter::default());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.inc();
                    }
                    c.add(5);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(c.get(), 12 * 1005);
    }

    #[test]
    fn a_histogram_puts_each_duration_in_the_first_bucket_that_holds_it() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(50)); // ≤ 0.0001
        h.observe(Duration::from_micros(100)); // ≤ 0.0001 (bounds are inclusive)
        h.observe(Duration::from_millis(3)); // ≤ 0.005
        h.observe(Duration::from_secs(60)); // +Inf
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets.len(), BUCKETS_SECONDS.len() + 1);
        assert_eq!(s.buckets[0], (0.0001, 2));
        assert_eq!(s.buckets[5], (0.005, 1));
        assert_eq!(s.buckets[16], (f64::INFINITY, 1));
        assert!((s.sum_seconds - 60.00315).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn callbacks_are_timed_apart() {
        let m = Metrics::default();
        m.callback(Callback::HandleIn, Duration::from_millis(1));
        m.callback(Callback::HandleIn, Duration::from_millis(2));
        m.callback(Callback::Join, Duration::from_millis(2));
        let d = m.callback_durations();
        assert_eq!(d.len(), Callback::ALL.len());
        assert_eq!(d[1].0.name(), "join");
        assert_eq!(d[1].1.count, 1);
        assert_eq!(d[2].0.name(), "handle_in");
        assert_eq!(d[2].1.count, 2);
        assert_eq!(d[0].1.count, 0);
    }

    #[test]
    fn limits_are_counted_apart() {
        let m = Metrics::default();
        m.rate_limited(Limit::JoinsPerSecond);
        m.rate_limited(Limit::JoinsPerSecond);
        m.rate_limited(Limit::MaxConnections);
        assert_eq!(m.rate_limited_count(Limit::JoinsPerSecond), 2);
        assert_eq!(m.rate_limited_count(Limit::MaxConnections), 1);
        assert_eq!(m.rate_limited_count(Limit::MessagesPerSecond), 0);
    }
}

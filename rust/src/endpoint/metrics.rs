//! The endpoint's metrics in the Prometheus text format (docs/OPERATIONS.md "Metrics"): the
//! counters of [`crate::metrics`] plus what the endpoint holds at the instant of the scrape
//! (connections, channels, presence entries, the broker link), encoded by `prometheus-client`.

use super::introspect::Census;
use crate::metrics::{HistogramSnapshot, Limit};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`render`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every value of one scrape, read before encoding so that no lock is held while it runs.
#[derive(Debug)]
struct Scrape {
    census: Census,
    received: u64,
    sent: u64,
    broadcasts: u64,
    slow_consumers: u64,
    rate_limited: Vec<(&'static str, u64)>,
    callbacks: Vec<(&'static str, HistogramSnapshot)>,
    /// `(up, envelopes sent, envelopes received)` when clustered.
    broker: Option<(bool, u64, u64)>,
}

/// The metrics text of an endpoint whose state is `census` and counters `backplane`'s.
pub fn render(census: Census, backplane: &crate::channel::Backplane) -> String {
    let m = backplane.metrics();
    let scrape = Scrape {
        census,
        received: m.messages_received.get(),
        sent: m.messages_sent.get(),
        broadcasts: m.broadcasts.get(),
        slow_consumers: m.slow_consumer_disconnects.get(),
        rate_limited: Limit::ALL
            .iter()
            .map(|l| (l.name(), m.rate_limited_count(*l)))
            .collect(),
        callbacks: m
            .callback_durations()
            .into_iter()
            .map(|(c, h)| (c.name(), h))
            .collect(),
        broker: backplane.cluster().map(|c| {
            let stats = c.stats();
            (c.is_up(), stats.published, stats.received)
        }),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: usize) -> std::fmt::Result {
    let m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(m)
}

/// `name` is given without `_total`, which the encoder appends to counters.
fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(m)
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let c = &self.census;
        {
            let mut family = enc.encode_descriptor(
                "switchboard_connections",
                "Live client connections, by transport (long-poll: sessions held by this node).",
                None,
                MetricType::Gauge,
            )?;
            let conns = c.connections;
            for (transport, n) in [("websocket", conns.websocket), ("longpoll", conns.longpoll)] {
                let labels = vec![("transport", transport)];
                ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        gauge(
            &mut enc,
            "switchboard_channels",
            "Joined channels on this node.",
            c.channels,
        )?;
        gauge(
            &mut enc,
            "switchboard_presence_entries",
            "Presence metas listed on this node's topics (every node's, in a cluster).",
            c.presence_entries(),
        )?;
        counter(
            &mut enc,
            "switchboard_messages_received",
            "Client frames decoded (every transport, heartbeats included).",
            self.received,
        )?;
        counter(
            &mut enc,
            "switchboard_messages_sent",
            "Frames written to clients.",
            self.sent,
        )?;
        counter(
            &mut enc,
            "switchboard_broadcasts",
            "Broadcasts published on this node (presence diffs included).",
            self.broadcasts,
        )?;
        counter(
            &mut enc,
            "switchboard_slow_consumer_disconnects",
            "Connections closed because the client did not read what was sent to it.",
            self.slow_consumers,
        )?;
        {
            let mut family = enc.encode_descriptor(
                "switchboard_rate_limited",
                "Connections and messages refused by a limit, by the option that set it.",
                None,
                MetricType::Counter,
            )?;
            for (limit, n) in &self.rate_limited {
                let labels = vec![("limit", *limit)];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = enc.encode_descriptor(
                "switchboard_host_request_duration_seconds",
                "Time the application took to answer a callback, by callback.",
                None,
                MetricType::Histogram,
            )?;
            for (kind, h) in &self.callbacks {
                let labels = vec![("kind", *kind)];
                family
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)?;
            }
        }
        if let Some((up, sent, received)) = self.broker {
            gauge(
                &mut enc,
                "switchboard_broker_up",
                "1 while the link to the cluster's broker is up.",
                usize::from(up),
            )?;
            let mut family = enc.encode_descriptor(
                "switchboard_broker_messages",
                "Broadcasts handed to the broker (out) and received from other nodes (in).",
                None,
                MetricType::Counter,
            )?;
            for (direction, n) in [("out", sent), ("in", received)] {
                let labels = vec![("direction", direction)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

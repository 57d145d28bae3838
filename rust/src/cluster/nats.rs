//! The NATS link: one client connection that publishes and subscribes on the app's subject.
//! The client reconnects and resubscribes by itself (with our backoff); its connection events
//! say when the link is up or down. `no_echo`: the server does not send a node its own
//! envelopes back.

use super::link::{Backoff, Outbound, Shared};
use async_nats::{ConnectOptions, Event};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// Envelopes taken from the queue at once.
const BATCH: usize = 256;

pub(super) async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Outbound>) {
    let events = shared.clone();
    let was_up = Arc::new(AtomicBool::new(false));
    let max = shared.config.reconnect_max;
    let options = ConnectOptions::new()
        .name(shared.config.node.as_str())
        .no_echo()
        .retry_on_initial_connect()
        .connection_timeout(shared.config.connect_timeout)
        .reconnect_delay_callback(move |attempts| {
            let mut backoff = Backoff::new(max);
            (0..attempts.min(32)).fold(backoff.next_delay(), |_, _| backoff.next_delay())
        })
        .event_callback(move |event| {
            let (shared, was_up) = (events.clone(), was_up.clone());
            async move {
                match event {
                    Event::Connected => shared.link_up(was_up.swap(true, Ordering::AcqRel)),
                    Event::Disconnected => shared.link_down("disconnected from the NATS server"),
                    Event::SlowConsumer(_) => {
                        tracing::warn!(node = %shared.config.node, "NATS says this node reads too slowly: envelopes were dropped");
                    }
                    _ => {}
                }
            }
        });
    let client = match options.connect(shared.config.url.as_str()).await {
        Ok(client) => client,
        Err(e) => {
            shared.link_down(&format!("bad NATS URL: {e}"));
            tracing::error!(url = %shared.config.url, error = %e, "cannot use the NATS URL: this node stays alone");
            return;
        }
    };
    let subject = shared.config.prefix.clone();
    let mut messages = loop {
        match client.subscribe(subject.clone()).await {
            Ok(sub) => break sub,
            Err(e) => {
                shared.link_down(&format!("cannot subscribe: {e}"));
                tokio::time::sleep(max).await;
            }
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            msg = messages.next() => match msg {
                Some(msg) => shared.receive(msg.payload),
                None => {
                    shared.link_down("the NATS subscription ended");
                    return;
                }
            },
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                for outbound in batch.drain(..) {
                    // NATS keeps no history: the core refuses history with it, so nothing
                    // is recorded here.
                    let Outbound::Envelope(envelope) = outbound else {
                        continue;
                    };
                    if let Err(e) = client.publish(subject.clone(), envelope).await {
                        shared.lost_in_send(1);
                        crate::warn_limited!(error = %e, "NATS publish failed");
                    }
                }
            }
        }
    }
}

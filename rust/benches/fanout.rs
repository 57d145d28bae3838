//! Fan-out benchmark: one broadcast of a ~100-byte JSON object to N fastlane subscribers,
//! each with its own outbox (one per connection, as in production), PROTOCOL.md 5.2.
//! Run with `cargo bench -p switchboard --bench fanout`; divide the time per broadcast by N
//! (or read the Melem/s throughput) for the cost per delivery.
//!
//! Only the `broadcast` call is timed. Between broadcasts the outboxes are drained outside
//! the measurement (the connection writers' job), so every push lands in an empty queue whose
//! buffer is already allocated, like a steady-state connection keeping up with its traffic.

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::FutureExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard::outbox::Outbox;
use switchboard::pubsub::{Broadcast, Delivery, PubSub};
use switchboard::wire::{Payload, Serializer};

/// A ~100-byte object payload, the size of a typical chat message.
const PAYLOAD: &str = r#"{"body":"hello everyone, this is a typical chat line","user":"alice","ts":1718000000123,"id":"m-0042"}"#;

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    g.sample_size(10).warm_up_time(Duration::from_millis(300));
    let broadcast = Broadcast {
        topic: "room:lobby".into(),
        event: "new_msg".into(),
        payload: Payload::Json(Bytes::from_static(PAYLOAD.as_bytes())),
    };
    for n in [1_000usize, 10_000, 100_000] {
        let pubsub = PubSub::new(0);
        let outboxes: Vec<Arc<Outbox>> = (0..n)
            .map(|_| Arc::new(Outbox::new(1024, 1 << 20)))
            .collect();
        let _subscriptions: Vec<_> = outboxes
            .iter()
            .map(|outbox| {
                pubsub.subscribe(
                    "room:lobby",
                    Delivery::Fastlane {
                        outbox: outbox.clone(),
                        serializer: Serializer::V2Json,
                        intercepts: Arc::new([]),
                        intercept_mailbox: None,
                    },
                )
            })
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.measurement_time(Duration::from_secs(if n >= 100_000 { 3 } else { 1 }));
        g.bench_function(BenchmarkId::new("v2_fastlane", n), |b| {
            let mut sink = Vec::new();
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let one = broadcast.clone();
                    let start = Instant::now();
                    let delivered = pubsub.broadcast(one).expect("valid broadcast");
                    timed += start.elapsed();
                    assert_eq!(delivered.local, n);
                    for outbox in &outboxes {
                        // Frames are pending, so this completes without waiting.
                        let _ = outbox.drain_into(&mut sink).now_or_never();
                        sink.clear();
                    }
                }
                timed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);

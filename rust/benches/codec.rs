//! Wire codec micro-benchmarks: decode of typical client frames and encode of typical server
//! frames (PROTOCOL.md 2). Run with `cargo bench -p switchboard --bench codec`.

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use switchboard::wire::{Payload, Ref, Serializer};

/// A ~100-byte object payload, the size of a typical chat message.
const PAYLOAD: &str = r#"{"body":"hello everyone, this is a typical chat line","user":"alice","ts":1718000000123,"id":"m-0042"}"#;

fn decode(c: &mut Criterion) {
    let v2 = format!(r#"["6","23","room:lobby","new_msg",{PAYLOAD}]"#);
    let v1 = format!(
        r#"{{"topic":"room:lobby","event":"new_msg","payload":{PAYLOAD},"ref":"23","join_ref":"6"}}"#
    );
    let mut binary = vec![0u8, 1, 2, 10, 7];
    binary.extend_from_slice(b"623room:lobbynew_msg");
    binary.extend_from_slice(PAYLOAD.as_bytes());

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("v2_push_text", |b| {
        b.iter(|| Serializer::V2Json.decode_text(black_box(v2.as_bytes())))
    });
    g.bench_function("v1_push_text", |b| {
        b.iter(|| Serializer::V1Json.decode_text(black_box(v1.as_bytes())))
    });
    g.bench_function("v2_push_binary", |b| {
        b.iter(|| Serializer::V2Json.decode_binary(black_box(&binary)))
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let payload = Payload::Json(Bytes::from_static(PAYLOAD.as_bytes()));
    let binary = Payload::Binary(Bytes::from_static(PAYLOAD.as_bytes()));
    let reply = Payload::Json(Bytes::from_static(br#"{"echo":{"x":1}}"#));
    let join_ref = Ref::from_text("6");
    let r#ref = Ref::from_text("23");

    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("v2_reply", |b| {
        b.iter(|| {
            Serializer::V2Json.encode_reply(
                Some(&join_ref),
                Some(&r#ref),
                black_box("room:lobby"),
                "ok",
                black_box(&reply),
            )
        })
    });
    g.bench_function("v2_broadcast_text", |b| {
        b.iter(|| {
            Serializer::V2Json.encode_message(
                None,
                None,
                black_box("room:lobby"),
                "new_msg",
                black_box(&payload),
            )
        })
    });
    g.bench_function("v1_broadcast_text", |b| {
        b.iter(|| {
            Serializer::V1Json.encode_message(
                None,
                None,
                black_box("room:lobby"),
                "new_msg",
                black_box(&payload),
            )
        })
    });
    g.bench_function("v2_broadcast_binary", |b| {
        b.iter(|| {
            Serializer::V2Json.encode_message(
                None,
                None,
                black_box("room:lobby"),
                "new_msg",
                black_box(&binary),
            )
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = decode, encode
}
criterion_main!(benches);

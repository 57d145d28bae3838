//! `roundtrip`: K clients each keep one `ping` push in flight on their own `bench:*` topic
//! and wait for its ok reply (the channel contract: the reply's response is the push's
//! payload); round trips per second, latency from send to reply, server CPU per round trip.
//! Every round trip crosses the server's handle_in once, so with a host behind the C ABI it
//! measures one request/answer through the ABI (bench/README.md).

use super::{Common, Outcome, latency_json, us_per};
use crate::clock::now_ns;
use crate::conn::{Ws, new_histogram};
use crate::payload;
use crate::procfs::Meter;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// `roundtrip` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Clients (K), each with one push in flight.
    #[arg(short = 'n', long, default_value_t = 32)]
    pub clients: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds of round trips before the measured phase (not counted).
    #[arg(long, default_value_t = 2)]
    pub warmup_s: u64,
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// What one client did in the measured phase.
#[derive(Debug)]
struct Report {
    round_trips: u64,
    latency: Histogram<u64>,
}

/// Runs the scenario.
pub async fn run(common: &Common, args: &Args) -> Result<Outcome, String> {
    if common.protocol != crate::proto::Protocol::PhoenixJson {
        return Err("roundtrip speaks Phoenix JSON only (--protocol phoenix-json)".into());
    }
    let target = common.target()?;
    eprintln!("roundtrip: connecting {} clients", args.clients);
    let mut clients = Vec::with_capacity(args.clients);
    for index in 0..args.clients {
        let ws = target
            .open_joined(index, &format!("rt{index}"), None)
            .await
            .map_err(|e| format!("client {index}: {e}"))?;
        clients.push(ws);
    }
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let reply_timeout = Duration::from_secs(common.timeout_s);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, ws) in clients.into_iter().enumerate() {
        let (phase, bytes) = (phase.clone(), common.payload_bytes);
        tasks.spawn(client(ws, index, phase, bytes, reply_timeout));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup_s)).await;
    let meter = Meter::start(common.server_pid);
    phase.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    phase.store(STOP, Ordering::Relaxed);
    let measured = meter.finish();

    let (mut round_trips, mut latency, mut failed, mut first_error) =
        (0u64, new_histogram(), 0u64, None);
    while let Some(done) = tasks.join_next().await {
        match done.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(r) => {
                round_trips += r.round_trips;
                let _ = latency.add(&r.latency);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let secs = measured.wall.as_secs_f64();
    let per = |cpu| us_per(cpu, round_trips);
    let result = json!({
        "scenario": "roundtrip",
        "protocol": common.protocol.name(),
        "clients": args.clients,
        "payload_bytes": common.payload_bytes,
        "duration_s": secs,
        "round_trips": round_trips,
        "round_trips_per_s": if secs > 0.0 { round_trips as f64 / secs } else { 0.0 },
        "latency": latency_json(&latency),
        "server_cpu_s": measured.server_cpu.map(|c| c.as_secs_f64()),
        "server_cpu_us_per_round_trip": per(measured.server_cpu),
        "server_rss_kib": measured.server_rss_kib,
        "loadgen_cpu_s": measured.own_cpu.map(|c| c.as_secs_f64()),
        "loadgen_cpu_us_per_round_trip": per(measured.own_cpu),
        "failed_clients": failed,
        "first_error": first_error,
    });
    let f = |v: &serde_json::Value| v.as_f64().map_or("-".to_owned(), |x| format!("{x:.2}"));
    let summary = format!(
        "roundtrip {}: {round_trips} round trips in {secs:.2} s = {}/s with {} clients; server {} \
         µs CPU/round trip; latency p50 {} µs p99 {} µs; failed clients {failed}",
        common.protocol.name(),
        f(&result["round_trips_per_s"]),
        args.clients,
        f(&result["server_cpu_us_per_round_trip"]),
        f(&result["latency"]["p50_us"]),
        f(&result["latency"]["p99_us"]),
    );
    Ok(Outcome {
        result,
        summary,
        lost: failed > 0,
    })
}

/// One client: ping, wait for the echoing ok reply, repeat until the phase is `STOP`.
async fn client(
    mut ws: Ws,
    index: usize,
    phase: Arc<AtomicU8>,
    bytes: usize,
    reply_timeout: Duration,
) -> Result<Report, String> {
    let topic = format!("bench:rt{index}");
    let mut report = Report {
        round_trips: 0,
        latency: new_histogram(),
    };
    // Refs from 2 on: the join used "1".
    let mut seq = 1u64;
    loop {
        let now = phase.load(Ordering::Relaxed);
        if now == STOP {
            let _ = ws.close(None).await;
            return Ok(report);
        }
        seq += 1;
        let sent = now_ns();
        let frame = format!(
            "[\"1\",\"{seq}\",\"{topic}\",\"ping\",{}]",
            payload::json(sent, seq, bytes)
        );
        ws.send(Message::text(frame))
            .await
            .map_err(|e| format!("client {index}: send: {e}"))?;
        tokio::time::timeout(reply_timeout, await_echo(&mut ws, seq))
            .await
            .map_err(|_| format!("client {index}: no reply to ping {seq} in {reply_timeout:?}"))?
            .map_err(|e| format!("client {index}: {e}"))?;
        if now == MEASURE && phase.load(Ordering::Relaxed) == MEASURE {
            report.round_trips += 1;
            let _ = report.latency.record(now_ns().saturating_sub(sent).max(1));
        }
    }
}

/// Reads until the reply to push `seq`; it must be ok and carry the pushed payload back.
async fn await_echo(ws: &mut Ws, seq: u64) -> Result<(), String> {
    let want_ref = format!("\"{seq}\"");
    loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection closed".into()),
        };
        let Ok(serde_json::Value::Array(v)) = serde_json::from_str::<serde_json::Value>(&text)
        else {
            continue;
        };
        if v.get(3).and_then(|e| e.as_str()) != Some("phx_reply")
            || v.get(1).map(ToString::to_string).as_deref() != Some(want_ref.as_str())
        {
            continue;
        }
        let status = v[4].get("status").and_then(|s| s.as_str());
        let echoed = payload::parse_json(text.as_bytes()).map(|(_, s)| s);
        return if status == Some("ok") && echoed == Some(seq) {
            Ok(())
        } else {
            Err(format!("reply to ping {seq} is not an ok echo: {text}"))
        };
    }
}

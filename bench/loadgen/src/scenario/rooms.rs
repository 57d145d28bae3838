//! `rooms`: R rooms with S subscribers each (a chat service); at a total rate of X messages
//! per second a random member of a random room publishes, for D seconds. Every other member
//! of the room must receive it.

use super::{Common, Fleet, Outcome, Spec, latency_json, loss, merge, phase_json, summary};
use crate::clock::now_ns;
use crate::conn::Shared;
use crate::procfs::Meter;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// `rooms` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Rooms (R).
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Subscribers per room (S, at least 2); each may publish.
    #[arg(long, default_value_t = 10)]
    pub per_room: usize,
    /// Published messages per second, all rooms together.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Publishing time in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// xorshift64*: publisher choice only needs to be spread, not secure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1) as u64) as usize
    }
}

fn room_name(r: usize) -> String {
    format!("room{r}")
}

/// Runs the scenario.
pub async fn run(common: &Common, args: &Args) -> Result<Outcome, String> {
    if args.per_room < 2 || args.rooms == 0 {
        return Err("rooms needs --rooms >= 1 and --per-room >= 2".into());
    }
    let target = common.target()?;
    let (r_count, s_count) = (args.rooms, args.per_room);
    let shared = Arc::new(Shared::new(0));
    let specs: Vec<Spec> = (0..r_count * s_count)
        .map(|i| Spec {
            room: room_name(i / s_count),
            publisher: true,
            presence_key: None,
            node: 0,
        })
        .collect();
    eprintln!("rooms: connecting {} clients", specs.len());
    let fleet = Fleet::connect(
        std::slice::from_ref(&target),
        shared.clone(),
        &specs,
        common.connect_concurrency,
    )
    .await?;
    let probers: Vec<(usize, String)> = (0..r_count).map(|r| (r * s_count, room_name(r))).collect();
    fleet
        .probe(common, &probers, (r_count * (s_count - 1)) as u64)
        .await?;

    let mut rng = Rng(now_ns() | 1);
    let mut room_seq = vec![0u64; r_count];
    let mut published = vec![0u64; r_count * s_count];
    let mut sent = 0u64;
    let meter = Meter::start(common.server_pid);
    let started = Instant::now();
    let duration = Duration::from_secs(args.seconds);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while started.elapsed() < duration {
        tick.tick().await;
        let due = (args.rate as f64 * started.elapsed().as_secs_f64()) as u64;
        while sent < due {
            let r = rng.below(r_count);
            let index = r * s_count + rng.below(s_count);
            let (Some(seq), Some(p)) = (room_seq.get_mut(r), published.get_mut(index)) else {
                continue;
            };
            let s = *seq;
            *seq += 1;
            *p += 1;
            sent += 1;
            fleet
                .send(index, common.publish(&room_name(r), now_ns(), s))
                .await?;
        }
    }
    let expected_total: u64 = room_seq.iter().map(|n| n * (s_count as u64 - 1)).sum();
    let complete = fleet
        .await_deliveries(expected_total, Duration::from_secs(common.timeout_s))
        .await;
    let measured = meter.finish();
    let delivered = shared.delivered.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let latency = shared.merged_latency();
    let reports = fleet.stop().await;
    let loss = loss(&reports, |i| {
        let room_total = room_seq.get(i / s_count).copied().unwrap_or(0);
        room_total - published.get(i).copied().unwrap_or(0)
    });
    let lost = !loss["ok"].as_bool().unwrap_or(false);
    let result = merge(
        json!({
            "scenario": "rooms",
            "protocol": common.protocol.name(),
            "rooms": r_count,
            "per_room": s_count,
            "rate": args.rate,
            "published": sent,
            "payload_bytes": common.payload_bytes,
            "expected_deliveries": expected_total,
            "complete": complete,
            "latency": latency_json(&latency),
            "loss": loss,
        }),
        phase_json(&measured, delivered),
    );
    Ok(Outcome {
        summary: summary("rooms", &result),
        result,
        lost,
    })
}

//! `burst`: N subscribers on one topic; one publisher connection sends M broadcasts back to
//! back (or with at most `--window` broadcasts not yet fully delivered); the measured phase
//! ends when every subscriber has every message (or the timeout passes).

use super::{Common, Fleet, Outcome, cluster, latency_json, loss, merge, phase_json, summary};
use crate::clock::now_ns;
use crate::procfs::Meter;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// `burst` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Subscribers (N).
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Broadcasts (M).
    #[arg(short = 'm', long, default_value_t = 100)]
    pub messages: u64,
    /// At most this many broadcasts in flight (published, not yet delivered to all); 0 = no
    /// limit, all M back to back.
    #[arg(long, default_value_t = 0)]
    pub window: u64,
    /// Two servers of one cluster instead of one (`--second-url` ...).
    #[command(flatten)]
    pub cluster: cluster::Args,
}

/// Runs the scenario.
pub async fn run(common: &Common, args: &Args) -> Result<Outcome, String> {
    let room = "fanout".to_owned();
    let n = args.subscribers as u64;
    let fleet = Fleet::fan_out(
        common,
        &args.cluster,
        "burst",
        &room,
        args.subscribers,
        args.messages as usize,
    )
    .await?;
    let shared = fleet.shared.clone();

    let cluster_meter = cluster::Meter::start(&args.cluster).await?;
    let meter = Meter::start(common.server_pid);
    for s in 0..args.messages {
        if args.window > 0 && s >= args.window {
            let need = (s + 1 - args.window) * n;
            fleet
                .await_deliveries(need, Duration::from_secs(common.timeout_s))
                .await;
        }
        fleet.send(0, common.publish(&room, now_ns(), s)).await?;
    }
    let expected_total = n * args.messages;
    let complete = fleet
        .await_deliveries(expected_total, Duration::from_secs(common.timeout_s))
        .await;
    let measured = meter.finish();
    let cluster_phase = cluster_meter.finish().await;
    let delivered = shared.delivered.load(Ordering::Relaxed);
    // Give duplicates a moment to show up before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let latency = shared.merged_latency();
    let reports = fleet.stop().await;
    let messages = args.messages;
    let loss = loss(reports.get(1..).unwrap_or_default(), |_| messages);
    let lost = !loss["ok"].as_bool().unwrap_or(false);
    let result = merge(
        json!({
            "scenario": "burst",
            "protocol": common.protocol.name(),
            "subscribers": n,
            "messages": args.messages,
            "window": args.window,
            "payload_bytes": common.payload_bytes,
            "expected_deliveries": expected_total,
            "complete": complete,
            "latency": latency_json(&latency),
            "loss": loss,
        }),
        phase_json(&measured, delivered),
    );
    // A cluster run's figures replace the single-server ones (both nodes' total CPU).
    let result = merge(result, cluster_phase.json(&measured, &reports, messages));
    Ok(Outcome {
        summary: summary("burst", &result),
        result,
        lost,
    })
}

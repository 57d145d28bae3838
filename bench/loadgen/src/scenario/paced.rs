//! `paced`: one broadcast per interval (default 1 s) for K broadcasts to N subscribers; per
//! broadcast, the time until the last subscriber had it (its max latency).

use super::{Common, Fleet, Outcome, cluster, latency_json, loss, merge, phase_json, summary};
use crate::clock::now_ns;
use crate::procfs::Meter;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// `paced` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Subscribers (N).
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Broadcasts (K), one per interval.
    #[arg(short = 'k', long, default_value_t = 10)]
    pub broadcasts: u64,
    /// Interval between broadcasts, in ms.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Two servers of one cluster instead of one (`--second-url` ...).
    #[command(flatten)]
    pub cluster: cluster::Args,
}

/// Runs the scenario.
pub async fn run(common: &Common, args: &Args) -> Result<Outcome, String> {
    let room = "paced".to_owned();
    let n = args.subscribers as u64;
    let fleet = Fleet::fan_out(
        common,
        &args.cluster,
        "paced",
        &room,
        args.subscribers,
        args.broadcasts as usize,
    )
    .await?;
    let shared = fleet.shared.clone();

    let cluster_meter = cluster::Meter::start(&args.cluster).await?;
    let meter = Meter::start(common.server_pid);
    let mut tick = tokio::time::interval(Duration::from_millis(args.interval_ms.max(1)));
    for s in 0..args.broadcasts {
        tick.tick().await;
        fleet.send(0, common.publish(&room, now_ns(), s)).await?;
    }
    let expected_total = n * args.broadcasts;
    let complete = fleet
        .await_deliveries(expected_total, Duration::from_secs(common.timeout_s))
        .await;
    let measured = meter.finish();
    let cluster_phase = cluster_meter.finish().await;
    let delivered = shared.delivered.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let latency = shared.merged_latency();
    let reports = fleet.stop().await;
    let k = args.broadcasts;
    let loss = loss(reports.get(1..).unwrap_or_default(), |_| k);
    let lost = !loss["ok"].as_bool().unwrap_or(false);

    // Time until all N had broadcast s = its max latency, if all N got it.
    let per_broadcast_ms: Vec<Option<f64>> = shared
        .per_seq
        .iter()
        .map(|(count, max)| {
            (count.load(Ordering::Relaxed) == n).then(|| max.load(Ordering::Relaxed) as f64 / 1e6)
        })
        .collect();
    let complete_ms: Vec<f64> = per_broadcast_ms.iter().flatten().copied().collect();
    let worst = complete_ms
        .iter()
        .copied()
        .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
    let mut sorted = complete_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied();
    let result = merge(
        json!({
            "scenario": "paced",
            "protocol": common.protocol.name(),
            "subscribers": n,
            "broadcasts": k,
            "interval_ms": args.interval_ms,
            "payload_bytes": common.payload_bytes,
            "expected_deliveries": expected_total,
            "complete": complete,
            "all_reached_ms": per_broadcast_ms,
            "all_reached_ms_max": worst,
            "all_reached_ms_median": median,
            "latency": latency_json(&latency),
            "loss": loss,
        }),
        phase_json(&measured, delivered),
    );
    // A cluster run's figures replace the single-server ones (both nodes' total CPU).
    let result = merge(result, cluster_phase.json(&measured, &reports, k));
    let human = format!(
        "{}; time to reach all {n}: median {:?} ms, worst {:?} ms",
        summary("paced", &result),
        median,
        worst
    );
    Ok(Outcome {
        summary: human,
        result,
        lost,
    })
}

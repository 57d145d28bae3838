//! `presence-churn` (Phoenix only): W watchers stay joined to `presence:churn`; C churners
//! repeatedly join it (the server tracks them, a `presence_diff` with one join goes to
//! everyone on the topic) and leave it (a diff with one leave), for D seconds. Every watcher
//! must see one join and one leave meta per churn cycle.

use super::{Common, Fleet, Outcome, Spec};
use crate::conn::{Shared, await_reply};
use crate::procfs::Meter;
use futures_util::SinkExt;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// `presence-churn` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Watchers (joined for the whole run).
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Churners (join, leave, repeat).
    #[arg(long, default_value_t = 10)]
    pub churners: usize,
    /// Churning time in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

const ROOM: &str = "churn";

/// One churner: join/leave cycles until `deadline`; returns the completed cycles.
async fn churner(
    common: Common,
    index: usize,
    deadline: Instant,
) -> Result<u64, crate::conn::ConnError> {
    let target = common.target()?;
    let mut ws = target.open(index, ROOM).await?;
    let topic = format!("presence:{ROOM}");
    let mut next_ref = 1u64;
    let mut cycles = 0;
    while Instant::now() < deadline {
        let join_ref = next_ref;
        next_ref += 2;
        ws.send(Message::text(format!(
            "[\"{join_ref}\",\"{join_ref}\",\"{topic}\",\"phx_join\",{{\"key\":\"c{index}\"}}]"
        )))
        .await?;
        await_reply(&mut ws, &join_ref.to_string()).await?;
        let leave_ref = join_ref + 1;
        ws.send(Message::text(format!(
            "[\"{join_ref}\",\"{leave_ref}\",\"{topic}\",\"phx_leave\",{{}}]"
        )))
        .await?;
        await_reply(&mut ws, &leave_ref.to_string()).await?;
        cycles += 1;
    }
    Ok(cycles)
}

/// Runs the scenario.
pub async fn run(common: &Common, args: &Args) -> Result<Outcome, String> {
    if !common.protocol.is_phoenix() {
        return Err("presence-churn needs a Phoenix protocol".into());
    }
    let target = common.target()?;
    let shared = Arc::new(Shared::new(0));
    let specs: Vec<Spec> = (0..args.watchers)
        .map(|i| Spec {
            room: ROOM.into(),
            publisher: false,
            presence_key: Some(format!("w{i}")),
            node: 0,
        })
        .collect();
    eprintln!("presence-churn: connecting {} watchers", specs.len());
    let fleet = Fleet::connect(
        std::slice::from_ref(&target),
        shared.clone(),
        &specs,
        common.connect_concurrency,
    )
    .await?;
    // The watchers' own joins produce diffs too; let them drain before measuring.
    let mut last = u64::MAX;
    while shared.diffs.load(Ordering::Relaxed) != last {
        last = shared.diffs.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    shared.reset();

    let meter = Meter::start(common.server_pid);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..args.churners {
        tasks.spawn(churner(common.clone(), args.watchers + c, deadline));
    }
    let (mut cycles, mut failed, mut first_error) = (0u64, 0u64, None);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(n)) => cycles += n,
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let per_watcher = 2 * cycles;
    let expected = per_watcher * args.watchers as u64;
    let wait_until = Instant::now() + Duration::from_secs(common.timeout_s);
    while shared.diff_metas.load(Ordering::Relaxed) < expected && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let measured = meter.finish();
    let diffs = shared.diffs.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reports = fleet.stop().await;
    let (mut missing, mut extra, mut closed) = (0u64, 0u64, 0u64);
    for r in &reports {
        missing += per_watcher.saturating_sub(r.diff_metas);
        extra += r.diff_metas.saturating_sub(per_watcher);
        closed += u64::from(r.closed_early);
    }
    let secs = measured.wall.as_secs_f64();
    let lost = missing > 0 || extra > 0 || closed > 0 || failed > 0;
    let result = json!({
        "scenario": "presence-churn",
        "protocol": common.protocol.name(),
        "watchers": args.watchers,
        "churners": args.churners,
        "cycles": cycles,
        "churner_failures": failed,
        "first_error": first_error,
        "duration_s": secs,
        "diffs_delivered": diffs,
        "diffs_per_s": if secs > 0.0 { diffs as f64 / secs } else { 0.0 },
        "cycles_per_s": if secs > 0.0 { cycles as f64 / secs } else { 0.0 },
        "server_cpu_s": measured.server_cpu.map(|c| c.as_secs_f64()),
        "server_cpu_us_per_diff": measured.server_cpu.filter(|_| diffs > 0)
            .map(|c| c.as_nanos() as f64 / 1000.0 / diffs as f64),
        "server_rss_kib": measured.server_rss_kib,
        "loadgen_cpu_s": measured.own_cpu.map(|c| c.as_secs_f64()),
        "loss": {
            "missing_metas": missing,
            "unexpected_metas": extra,
            "closed_early": closed,
            "ok": !lost,
        },
    });
    let summary = format!(
        "presence-churn {}: {cycles} join/leave cycles, {diffs} diffs delivered in {secs:.2} s = {:.0}/s; \
         server {:?} µs CPU/diff; missing {missing} extra {extra}",
        common.protocol.name(),
        result["diffs_per_s"].as_f64().unwrap_or(0.0),
        result["server_cpu_us_per_diff"].as_f64(),
    );
    Ok(Outcome {
        result,
        summary,
        lost,
    })
}

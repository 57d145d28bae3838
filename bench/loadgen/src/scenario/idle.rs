//! `idle`: N connected, joined, idle clients; server RSS per client from `VmRSS` before the
//! clients connect and after they all joined and the server settled.

use super::{Common, Fleet, Outcome, Spec};
use crate::conn::Shared;
use crate::procfs::{Meter, rss_kib};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// `idle` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Clients (N).
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub clients: usize,
    /// Seconds to wait after the last join before reading RSS (the server's CPU over this
    /// time is reported too).
    #[arg(long, default_value_t = 3)]
    pub settle_s: u64,
}

/// Runs the scenario.
pub async fn run(common: &Common, args: &Args) -> Result<Outcome, String> {
    let Some(pid) = common.server_pid else {
        return Err("idle needs --server-pid (it measures the server's RSS)".into());
    };
    let target = common.target()?;
    let before = rss_kib(Some(pid)).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let own_before = rss_kib(None).ok();
    let specs: Vec<Spec> = (0..args.clients)
        .map(|_| Spec {
            room: "idle".into(),
            publisher: false,
            presence_key: None,
            node: 0,
        })
        .collect();
    eprintln!("idle: connecting {} clients", specs.len());
    let fleet = Fleet::connect(
        std::slice::from_ref(&target),
        Arc::new(Shared::new(0)),
        &specs,
        common.connect_concurrency,
    )
    .await?;
    let meter = Meter::start(Some(pid));
    tokio::time::sleep(Duration::from_secs(args.settle_s)).await;
    let measured = meter.finish();
    let after = measured.server_rss_kib.unwrap_or(before);
    let own_after = rss_kib(None).ok();
    let reports = fleet.stop().await;
    let dropped = reports.iter().filter(|r| r.closed_early).count();
    let n = args.clients.max(1) as f64;
    let per_client = after.saturating_sub(before) as f64 * 1024.0 / n;
    let result = json!({
        "scenario": "idle",
        "protocol": common.protocol.name(),
        "clients": args.clients,
        "server_rss_kib_before": before,
        "server_rss_kib_after": after,
        "server_rss_bytes_per_client": per_client,
        "server_cpu_s_while_idle": measured.server_cpu.map(|c| c.as_secs_f64()),
        "settle_s": args.settle_s,
        "loadgen_rss_bytes_per_client": own_before
            .zip(own_after)
            .map(|(b, a)| a.saturating_sub(b) as f64 * 1024.0 / n),
        "closed_early": dropped,
    });
    let summary = format!(
        "idle {}: {} clients, server RSS {before} → {after} KiB = {:.2} KiB/client; {dropped} dropped",
        common.protocol.name(),
        args.clients,
        per_client / 1024.0
    );
    Ok(Outcome {
        result,
        summary,
        lost: dropped > 0,
    })
}

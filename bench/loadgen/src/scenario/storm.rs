//! `connect-storm`: N clients connect and join as fast as the server accepts them (at most
//! `--connect-concurrency` in progress); connects per second and connect + join time.
//! Every client stays connected until all have finished, so the server holds N at the end.

use super::{Common, Outcome, latency_json};
use crate::conn::{Ws, new_histogram};
use crate::procfs::Meter;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Semaphore;

/// `connect-storm` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Clients (N).
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub clients: usize,
}

/// Runs the scenario.
pub async fn run(common: &Common, args: &Args) -> Result<Outcome, String> {
    let target = common.target()?;
    let gate = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let times = Arc::new(Mutex::new(new_histogram()));
    let held: Arc<Mutex<Vec<Ws>>> = Arc::new(Mutex::new(Vec::with_capacity(args.clients)));
    let mut tasks = tokio::task::JoinSet::new();
    eprintln!("connect-storm: {} clients", args.clients);
    let meter = Meter::start(common.server_pid);
    for index in 0..args.clients {
        let (target, gate, times, held) =
            (target.clone(), gate.clone(), times.clone(), held.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let started = Instant::now();
            let ws = target
                .open_joined(index, "storm", None)
                .await
                .map_err(|e| format!("client {index}: {e}"))?;
            let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            if let Ok(mut h) = times.lock() {
                let _ = h.record(ns.max(1));
            }
            if let Ok(mut held) = held.lock() {
                held.push(ws);
            }
            Ok::<(), String>(())
        });
    }
    let mut failed = 0u64;
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.map_err(|e| e.to_string()).and_then(|r| r) {
            failed += 1;
            first_error.get_or_insert(e);
        }
    }
    let measured = meter.finish();
    let connected = held.lock().map(|h| h.len()).unwrap_or(0) as u64;
    if let Ok(mut held) = held.lock() {
        held.clear();
    }
    let latency = times.lock().map(|h| latency_json(&h)).unwrap_or_default();
    let secs = measured.wall.as_secs_f64();
    let per_connect = |cpu: Option<std::time::Duration>| {
        cpu.filter(|_| connected > 0)
            .map(|c| c.as_nanos() as f64 / 1000.0 / connected as f64)
    };
    let result = json!({
        "scenario": "connect-storm",
        "protocol": common.protocol.name(),
        "clients": args.clients,
        "connected": connected,
        "failed": failed,
        "first_error": first_error,
        "concurrency": common.connect_concurrency,
        "duration_s": secs,
        "connects_per_s": if secs > 0.0 { connected as f64 / secs } else { 0.0 },
        "connect_join": latency,
        "server_cpu_s": measured.server_cpu.map(|c| c.as_secs_f64()),
        "server_cpu_us_per_connect": per_connect(measured.server_cpu),
        "server_rss_kib": measured.server_rss_kib,
        "loadgen_cpu_s": measured.own_cpu.map(|c| c.as_secs_f64()),
    });
    let summary = format!(
        "connect-storm {}: {connected}/{} connected in {secs:.2} s = {:.0}/s; connect+join p99 {} µs; \
         server {:?} µs CPU/connect",
        common.protocol.name(),
        args.clients,
        result["connects_per_s"].as_f64().unwrap_or(0.0),
        result["connect_join"]["p99_us"],
        result["server_cpu_us_per_connect"].as_f64(),
    );
    Ok(Outcome {
        result,
        summary,
        lost: failed > 0,
    })
}

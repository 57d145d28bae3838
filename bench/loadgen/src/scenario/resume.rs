//! `resume`: what resuming a crowd costs after an outage (docs/HISTORY.md). N clients join one
//! `bench:*` topic with `{"_since": null}` and keep the position their `sb_recovery` names;
//! all disconnect; a publisher broadcasts M messages through the bench channel's `pub` (as
//! `burst` does) while they are away, the outage lasting at least `--outage-secs`; then all N
//! reconnect at once and rejoin with `_since` = their position. Measured from the first
//! reconnect until every client has `sb_recovery` with `recovered: true` and all M messages
//! (exactly those, in order, once each: [`check`]): that time, each client's own resume time,
//! and the server's CPU over the phase per replayed message. Needs a server that keeps at
//! least M messages of `bench:*` (the Rust bench server with env `SB_HISTORY`).

mod check;

use super::{Common, Outcome, latency_json, us_per};
use crate::clock::now_ns;
use crate::conn::{Target, Ws, await_reply, new_histogram};
use crate::procfs::{Measured, Meter, listen_overflows};
use crate::proto::Protocol;
use check::{Check, loss_json};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// `resume` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Resuming clients (N).
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub clients: usize,
    /// Messages broadcast during the outage (M), which every client must get on resume: the
    /// server must keep at least M (and a resume replays at most 512 by default).
    #[arg(short = 'm', long, default_value_t = 100)]
    pub messages: u64,
    /// Shortest outage in seconds, from the last disconnect to the first reconnect (longer
    /// when publishing the M messages takes longer).
    #[arg(long, default_value_t = 10)]
    pub outage_secs: u64,
    /// Reconnects in progress at once; 0 = all N at once.
    #[arg(long, default_value_t = 0)]
    pub reconnect_concurrency: usize,
}

/// The topic's room (topic `bench:resume`).
const ROOM: &str = "resume";

/// Connection index of the publisher; the clients are 1..=N (their source addresses).
const PUBLISHER: usize = 0;

/// What one resuming client did.
#[derive(Debug)]
struct Report {
    check: Check,
    /// From its reconnect attempt until its resume was complete.
    latency: Option<Duration>,
    /// From the first reconnect attempt of all until its resume was complete.
    finished: Option<Duration>,
    error: Option<String>,
    closed_early: bool,
}

/// Runs the scenario.
pub async fn run(common: &Common, args: &Args) -> Result<Outcome, String> {
    if common.protocol != Protocol::PhoenixJson {
        return Err("resume speaks Phoenix JSON only (--protocol phoenix-json)".into());
    }
    if args.clients == 0 {
        return Err("resume needs at least one client (-n)".into());
    }
    let target = common.target()?;
    let topic = format!("bench:{ROOM}");
    let mut publisher = target
        .open_joined(PUBLISHER, ROOM, None)
        .await
        .map_err(|e| format!("publisher: {e}"))?;
    eprintln!(
        "resume: {} clients join {topic} with _since null",
        args.clients
    );
    let positions = positions(&target, &topic, args.clients, common.connect_concurrency).await?;
    let outage = Instant::now();
    publish(&mut publisher, common, args.messages).await?;
    tokio::time::sleep(Duration::from_secs(args.outage_secs).saturating_sub(outage.elapsed()))
        .await;
    let outage_s = outage.elapsed().as_secs_f64();
    eprintln!(
        "resume: {} messages published in a {outage_s:.1} s outage; {} clients reconnect",
        args.messages, args.clients
    );

    let (reports, phase) = reconnect(common, args, &target, &topic, positions).await;
    let (measured, complete) = (phase.measured, phase.complete);
    let _ = publisher.close(None).await;

    let (mut latency, mut failed, mut closed, mut first_error) = (new_histogram(), 0, 0, None);
    let mut all_resumed = None::<Duration>;
    for r in &reports {
        if let Some(l) = r.latency {
            let _ = latency.record(u64::try_from(l.as_nanos()).unwrap_or(u64::MAX).max(1));
        }
        all_resumed = all_resumed.max(r.finished);
        failed += u64::from(r.latency.is_none());
        closed += u64::from(r.closed_early);
        if let Some(e) = &r.error {
            first_error.get_or_insert_with(|| e.clone());
        }
    }
    let checks: Vec<Check> = reports.into_iter().map(|r| r.check).collect();
    let replayed: u64 = checks.iter().map(|c| c.received).sum();
    let loss = loss_json(&checks, args.clients, args.messages, failed, closed);
    let lost = !loss["ok"].as_bool().unwrap_or(false);
    let secs = measured.wall.as_secs_f64();
    let result = json!({
        "scenario": "resume",
        "protocol": common.protocol.name(),
        "clients": args.clients,
        "messages": args.messages,
        "payload_bytes": common.payload_bytes,
        "outage_s": outage_s,
        "reconnect_concurrency": args.reconnect_concurrency,
        "listen_overflows": phase.listen_overflows,
        "expected_replays": args.clients as u64 * args.messages,
        "replayed": replayed,
        "complete": complete,
        "resumed_clients": latency.len(),
        // Until the last client had everything; null when some never did.
        "resume_all_ms": all_resumed.filter(|_| complete).map(|d| d.as_secs_f64() * 1e3),
        "resume_latency": latency_json(&latency),
        "duration_s": secs,
        "replays_per_s": if secs > 0.0 { replayed as f64 / secs } else { 0.0 },
        "server_cpu_s": measured.server_cpu.map(|c| c.as_secs_f64()),
        "server_cpu_us_per_replayed": us_per(measured.server_cpu, replayed),
        "server_cpu_us_per_client": us_per(measured.server_cpu, latency.len()),
        "server_rss_kib": measured.server_rss_kib,
        "loadgen_cpu_s": measured.own_cpu.map(|c| c.as_secs_f64()),
        "first_error": first_error,
        "loss": loss,
    });
    Ok(Outcome {
        summary: summary(&result),
        result,
        lost,
    })
}

/// Joins `clients` clients to `topic` with `_since: null` (at most `concurrency` joining at
/// once), keeps the position each one's `sb_recovery` names, then disconnects them all.
/// Positions in client order (client `i` is connection `i + 1`).
async fn positions(
    target: &Target,
    topic: &str,
    clients: usize,
    concurrency: usize,
) -> Result<Vec<String>, String> {
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for i in 0..clients {
        let (target, topic, gate) = (target.clone(), topic.to_owned(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let work = async {
                let mut ws = target.open(i + 1, ROOM).await.map_err(|e| e.to_string())?;
                let position = join_for_position(&mut ws, &topic).await?;
                Ok::<_, String>((i, ws, position))
            };
            tokio::time::timeout(target.connect_timeout, work)
                .await
                .map_err(|_| "connect + join timed out".to_owned())?
                .map_err(|e| format!("client {i}: {e}"))
        });
    }
    let mut joined = Vec::with_capacity(clients);
    while let Some(done) = tasks.join_next().await {
        match done.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(client) => joined.push(client),
            // The rest are dropped with `tasks`, their connections closed.
            Err(e) => {
                return Err(format!(
                    "joining with _since null (does the server keep history of bench:*? \
                     The Rust bench server does with env SB_HISTORY): {e}"
                ));
            }
        }
    }
    joined.sort_by_key(|(i, _, _)| *i);
    let mut positions = Vec::with_capacity(clients);
    for (_, mut ws, position) in joined {
        let _ = ws.close(None).await;
        positions.push(position);
    }
    Ok(positions)
}

/// A `phx_join` of `topic` with params `{"_since": since}` (join_ref and ref `"1"`).
fn join_frame(topic: &str, since: &Value) -> Message {
    let params = json!({ "_since": since });
    Message::text(format!("[\"1\",\"1\",\"{topic}\",\"phx_join\",{params}]"))
}

/// Joins `topic` with `_since: null`; the topic's latest position, from `sb_recovery`.
async fn join_for_position(ws: &mut Ws, topic: &str) -> Result<String, String> {
    ws.send(join_frame(topic, &Value::Null))
        .await
        .map_err(|e| e.to_string())?;
    let mut check = Check::new(0);
    while !check.done() {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => check.frame(t.as_str())?,
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection closed".into()),
        }
    }
    // `done` implies a position: `Check` refuses an sb_recovery without one.
    check
        .position
        .ok_or_else(|| "sb_recovery named no position".into())
}

/// The outage's broadcasts: `messages` `pub` pushes as `burst` sends them, then a `ping`
/// whose reply proves that the channel has handled them all, so that every one is in the
/// topic's history before anybody reconnects.
async fn publish(publisher: &mut Ws, common: &Common, messages: u64) -> Result<(), String> {
    let failed = |e: tokio_tungstenite::tungstenite::Error| format!("publisher: {e}");
    for s in 0..messages {
        publisher
            .feed(common.publish(ROOM, now_ns(), s))
            .await
            .map_err(failed)?;
    }
    let ping = format!("[\"1\",\"outage\",\"bench:{ROOM}\",\"ping\",{{}}]");
    publisher.send(Message::text(ping)).await.map_err(failed)?;
    tokio::time::timeout(
        Duration::from_secs(common.timeout_s),
        await_reply(publisher, "outage"),
    )
    .await
    .map_err(|_| "publisher: no reply to the ping after the broadcasts".to_owned())?
    .map_err(|e| format!("publisher: {e}"))
}

/// Every client reconnects (all at once, or `--reconnect-concurrency` at a time) and rejoins
/// from its position. The measured phase ends once all have resumed or failed, or the timeout
/// passed (then `complete` is false); the clients keep reading 200 ms more, in which
/// duplicates would show, and then disconnect, outside the phase.
async fn reconnect(
    common: &Common,
    args: &Args,
    target: &Target,
    topic: &str,
    positions: Vec<String>,
) -> (Vec<Report>, Phase) {
    let gate = (args.reconnect_concurrency > 0)
        .then(|| Arc::new(Semaphore::new(args.reconnect_concurrency)));
    let (stop, stop_rx) = watch::channel(false);
    let (resumed, ended) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let overflows = listen_overflows();
    let meter = Meter::start(common.server_pid);
    let first = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, position) in positions.into_iter().enumerate() {
        let client = Client {
            target: target.clone(),
            index: i + 1,
            topic: topic.to_owned(),
            since: position,
            expected: args.messages,
            first,
        };
        let (gate, stop_rx) = (gate.clone(), stop_rx.clone());
        let (resumed, ended) = (resumed.clone(), ended.clone());
        tasks.spawn(async move {
            let permit = match gate {
                Some(g) => g.acquire_owned().await.ok(),
                None => None,
            };
            client.run(permit, stop_rx, &resumed, &ended).await
        });
    }
    let n = args.clients as u64;
    let deadline = first + Duration::from_secs(common.timeout_s);
    let mut last_note = Instant::now();
    while ended.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        if last_note.elapsed() > Duration::from_secs(2) {
            eprintln!("  resumed {}/{n}", resumed.load(Ordering::Relaxed));
            last_note = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let measured = meter.finish();
    let overflows = listen_overflows()
        .zip(overflows)
        .map(|(after, before)| after.saturating_sub(before));
    let complete = resumed.load(Ordering::Relaxed) == n;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(true);
    let mut reports = Vec::with_capacity(args.clients);
    // A task still connecting when the timeout passed has received nothing: it is aborted
    // and counted by `loss_json` as a client without a report.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(done) = tasks.join_next().await {
            if let Ok(r) = done {
                reports.push(r);
            }
        }
    })
    .await;
    tasks.abort_all();
    let phase = Phase {
        measured,
        complete,
        listen_overflows: overflows,
    };
    (reports, phase)
}

/// The measured phase of [`reconnect`].
#[derive(Debug)]
struct Phase {
    measured: Measured,
    /// Every client resumed before the timeout.
    complete: bool,
    /// Reconnects the kernel dropped for a full accept queue (they retry after 1 s).
    listen_overflows: Option<u64>,
}

/// One resuming client.
struct Client {
    target: Target,
    index: usize,
    topic: String,
    since: String,
    expected: u64,
    /// When the first client started reconnecting.
    first: Instant,
}

impl Client {
    /// Reconnects and resumes; bumps `resumed` when it has everything and `ended` once it
    /// resumed or failed (and then lets the next client of `--reconnect-concurrency` in by
    /// dropping `permit`), then keeps reading (more would be duplicates) until `stop`.
    async fn run(
        self,
        mut permit: Option<OwnedSemaphorePermit>,
        mut stop: watch::Receiver<bool>,
        resumed: &AtomicU64,
        ended: &AtomicU64,
    ) -> Report {
        let started = Instant::now();
        let mut report = Report {
            check: Check::new(self.expected),
            latency: None,
            finished: None,
            error: None,
            closed_early: false,
        };
        let opened = tokio::time::timeout(
            self.target.connect_timeout,
            self.target.open(self.index, ROOM),
        )
        .await;
        let join = join_frame(&self.topic, &Value::String(self.since.clone()));
        let mut ws = match opened {
            Ok(Ok(mut ws)) => match ws.send(join).await {
                Ok(()) => ws,
                Err(e) => return self.failed(report, e.to_string(), ended),
            },
            Ok(Err(e)) => return self.failed(report, e.to_string(), ended),
            Err(_) => return self.failed(report, "connect timed out".into(), ended),
        };
        loop {
            let frame = tokio::select! {
                biased;
                _ = stop.changed() => break,
                frame = ws.next() => frame,
            };
            let outcome = match frame {
                Some(Ok(Message::Text(t))) => report.check.frame(t.as_str()),
                Some(Ok(_)) => Ok(()),
                Some(Err(_)) | None => {
                    report.closed_early = true;
                    Err("connection closed".to_owned())
                }
            };
            if let Err(e) = outcome {
                if report.latency.is_none() {
                    return self.failed(report, e, ended);
                }
                // After a complete resume: whatever ended it counts against it.
                report.check.unexpected += u64::from(!report.closed_early);
                report.error = Some(format!("client {}: {e}", self.index - 1));
                break;
            }
            if report.latency.is_none() && report.check.done() {
                report.latency = Some(started.elapsed());
                report.finished = Some(self.first.elapsed());
                resumed.fetch_add(1, Ordering::Relaxed);
                ended.fetch_add(1, Ordering::Relaxed);
                drop(permit.take());
            }
        }
        let _ = ws.close(None).await;
        report
    }

    fn failed(&self, mut report: Report, error: String, ended: &AtomicU64) -> Report {
        report.error = Some(format!("client {}: {error}", self.index - 1));
        ended.fetch_add(1, Ordering::Relaxed);
        report
    }
}

/// One line for humans.
fn summary(r: &Value) -> String {
    let f = |v: &Value| v.as_f64().map_or("-".to_owned(), |x| format!("{x:.2}"));
    format!(
        "resume {}: {}/{} clients resumed {} missed messages each after {} s; all in {} ms; \
         per client p50 {} µs p99 {} µs; server {} µs CPU/replayed message, {} µs/client; \
         listen queue overflows {}; loss {}",
        r["protocol"].as_str().unwrap_or(""),
        r["resumed_clients"],
        r["clients"],
        r["messages"],
        f(&r["outage_s"]),
        f(&r["resume_all_ms"]),
        f(&r["resume_latency"]["p50_us"]),
        f(&r["resume_latency"]["p99_us"]),
        f(&r["server_cpu_us_per_replayed"]),
        f(&r["server_cpu_us_per_client"]),
        r["listen_overflows"],
        r["loss"],
    )
}

//! `longpoll-room`: N subscribers of one room, over long-polling (`--transport polling`:
//! Phoenix long-poll for `phoenix-json`, Engine.IO polling for `socketio`; [`crate::poll`]) or
//! over WebSocket (`--transport websocket`, the clients of every other scenario); one
//! publisher on a WebSocket broadcasts to the room at a fixed rate for a fixed time. The
//! measured phase runs from the first publish until every subscriber has every message (or
//! the timeout passes): deliveries/s, latency publish → receive, loss, server CPU per
//! delivery, and for pollers the poll answers per delivery.

use super::{Common, Fleet, Outcome, Spec, latency_json, loss, merge, phase_json, summary};
use crate::clock::now_ns;
use crate::conn::Shared;
use crate::poll::Pollers;
use crate::procfs::Meter;
use crate::proto::Protocol;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How the subscribers receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// HTTP long-polling, one keep-alive connection per subscriber.
    Polling,
    /// One WebSocket per subscriber.
    Websocket,
}

/// `longpoll-room` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Subscribers (N).
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Broadcasts per second.
    #[arg(long, default_value_t = 20)]
    pub rate: u64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// The subscribers' transport.
    #[arg(long, value_enum, default_value_t = Transport::Polling)]
    pub transport: Transport,
}

/// Runs the scenario.
pub async fn run(common: &Common, args: &Args) -> Result<Outcome, String> {
    if !matches!(common.protocol, Protocol::PhoenixJson | Protocol::Socketio) {
        return Err("longpoll-room speaks phoenix-json or socketio".into());
    }
    let room = "longpoll".to_owned();
    let n = args.subscribers as u64;
    let rate = args.rate.max(1);
    let broadcasts = rate * args.seconds;
    let polling = args.transport == Transport::Polling;
    let target = common.target()?;
    let shared = Arc::new(Shared::new(broadcasts as usize));
    // The publisher, and the subscribers too over WebSocket.
    let websockets = if polling { 0 } else { args.subscribers };
    let specs: Vec<Spec> = (0..=websockets)
        .map(|i| Spec {
            room: room.clone(),
            publisher: i == 0,
            presence_key: None,
            node: 0,
        })
        .collect();
    eprintln!(
        "longpoll-room: {n} subscribers over {:?}, {rate} broadcasts/s for {} s",
        args.transport, args.seconds
    );
    let fleet = Fleet::connect(
        std::slice::from_ref(&target),
        shared.clone(),
        &specs,
        common.connect_concurrency,
    )
    .await?;
    let pollers = if polling {
        let connected = Pollers::connect(
            &target,
            shared.clone(),
            &room,
            args.subscribers,
            common.connect_concurrency,
        )
        .await;
        match connected {
            Ok(p) => Some(p),
            Err(e) => {
                fleet.stop().await;
                return Err(e);
            }
        }
    } else {
        None
    };
    fleet.probe(common, &[(0, room.clone())], n).await?;
    let polls = || pollers.as_ref().map(|p| p.polls.load(Ordering::Relaxed));
    let polls_before = polls();

    let meter = Meter::start(common.server_pid);
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    for s in 0..broadcasts {
        tick.tick().await;
        fleet.send(0, common.publish(&room, now_ns(), s)).await?;
    }
    let expected_total = n * broadcasts;
    let complete = fleet
        .await_deliveries(expected_total, Duration::from_secs(common.timeout_s))
        .await;
    let measured = meter.finish();
    let delivered = shared.delivered.load(Ordering::Relaxed);
    let polls = polls().zip(polls_before).map(|(a, b)| a - b);
    // Give duplicates a moment to show up before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let latency = shared.merged_latency();
    let reports = match pollers {
        Some(p) => {
            let r = p.stop().await;
            fleet.stop().await;
            r
        }
        None => fleet.stop().await.get(1..).unwrap_or_default().to_vec(),
    };
    let loss = loss(&reports, |_| broadcasts);
    let lost = !loss["ok"].as_bool().unwrap_or(false);
    let result = merge(
        json!({
            "scenario": "longpoll-room",
            "protocol": common.protocol.name(),
            "transport": if polling { "polling" } else { "websocket" },
            "subscribers": n,
            "rate": rate,
            "seconds": args.seconds,
            "broadcasts": broadcasts,
            "payload_bytes": common.payload_bytes,
            "expected_deliveries": expected_total,
            "complete": complete,
            "polls": polls,
            "deliveries_per_poll": polls.filter(|&p| p > 0).map(|p| delivered as f64 / p as f64),
            "latency": latency_json(&latency),
            "loss": loss,
        }),
        phase_json(&measured, delivered),
    );
    Ok(Outcome {
        summary: format!(
            "{}; {:?} polls, {} deliveries/poll",
            summary("longpoll-room", &result),
            polls,
            result["deliveries_per_poll"]
        ),
        result,
        lost,
    })
}

//! The benchmark server on the Rust host API (issue 6 item 2; contract: bench/PROTOCOLS.md).
//!
//! `cargo run --release --example bench` (env `PORT`, default 0 = any free port). Prints
//! `LISTENING 127.0.0.1:<port>` on stdout; exits on stdin EOF or SIGTERM. Socket at `/socket`:
//!
//! * `bench:*`: join ok `{}` (no presence); a push `pub` with any payload (JSON or binary) is
//!   broadcast to every other subscriber of the topic as `msg` with the same payload
//!   (`broadcast_from`), with no reply; a push `ping` with any payload is answered ok with the
//!   same payload (the handle_in round trip of the `roundtrip` scenario);
//! * `presence:*`: join ok `{}`, then the client is tracked under the join param `key` (any
//!   JSON value; missing → `""`) with meta `{"online_at": <ms since epoch>}` and gets the
//!   topic's `presence_state` (the `after_join` pattern); every track/untrack sends a
//!   `presence_diff` to the topic.
//!
//! Limits raised for benchmarks: the per-connection outbox holds `BENCH_OUTBOX_FRAMES`
//! frames (default 65 536) and `BENCH_OUTBOX_BYTES` bytes (default 64 MiB) so a burst of
//! broadcasts does not trip the slow-consumer policy; the open-file soft limit is raised to
//! the hard limit at start.
//!
//! Cluster (the bench's `cluster-burst` / `cluster-paced`, docs/CLUSTER.md): env `SB_CLUSTER`
//! (a broker URL, `redis://127.0.0.1:P` or `nats://127.0.0.1:P`; unset or empty: a single
//! node) and `SB_NODE` (the node name; default `bench-<pid>@127.0.0.1` in a cluster, so two
//! nodes started alike never share a name). Each node delivers its own broadcasts and the
//! others get them through the broker.
//!
//! History (the bench's `sb-history` row and `resume` scenario, docs/HISTORY.md): env
//! `SB_HISTORY=<size>` (1 to 1,000,000; unset or empty: no history) keeps the last `<size>`
//! broadcasts of every `bench:*` topic for 10 minutes, so their frames carry a stream position
//! as `ref` and a join with `_since` is answered with `sb_recovery` and the missed messages.
//! `presence:*` gets no rule: presence events are never kept. With `SB_CLUSTER` too, history
//! is what docs/HISTORY.md ("Where history lives") says of a cluster: a NATS broker refuses
//! it (the start fails). The bench runs it on a single node.
//!
//! Long-poll (the bench's `longpoll-room` scenario, docs/LONGPOLL.md): env `SB_LONGPOLL=1`
//! serves the long-poll transport at `/socket/longpoll` beside the WebSocket, with a poll
//! window of `SB_LONGPOLL_WINDOW_MS` (default 10 000, Phoenix's); unset, empty or `0`: off.

// PORT, logs, the LISTENING line and exit on EOF/SIGTERM, as in the conformance fixtures.
#[path = "../../tests/fixtures/rust/support/process.rs"]
mod process;

use process::env_number;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard::cluster::ClusterConfig;
use switchboard::endpoint::{Endpoint, SocketMount};
use switchboard::host::{Channel, HandlerError, Info, JoinOutcome, Outcome, Socket};
use switchboard::pubsub::history::HistoryRule;
use switchboard::wire::Payload;

const WHO: &str = "bench";

/// How long `SB_HISTORY` keeps a message: far longer than any bench run (the `resume`
/// scenario's outage is 10 s), so only the size decides what a resume finds.
const HISTORY_TTL: Duration = Duration::from_secs(600);

/// The largest `SB_HISTORY` size, the engine's own limit (docs/HISTORY.md).
const HISTORY_MAX: u64 = 1_000_000;

/// `bench:*`: fan-out of `pub` as `msg` to everyone but the sender; `ping` answered in kind.
struct Bench;

#[async_trait::async_trait]
impl Channel for Bench {
    async fn join(
        &self,
        _topic: &str,
        _payload: Payload,
        _socket: &mut Socket,
    ) -> Result<JoinOutcome, HandlerError> {
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        match event {
            "pub" => {
                socket.broadcast_from("msg", payload)?;
                Ok(Outcome::NoReply)
            }
            "ping" => Ok(Outcome::ok(payload)),
            _ => Err(HandlerError::new(format!("unknown event {event:?}"))),
        }
    }
}

/// `presence:*`: tracks each joined client under its `key` join param.
struct Presence;

#[async_trait::async_trait]
impl Channel for Presence {
    async fn join(
        &self,
        _topic: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<JoinOutcome, HandlerError> {
        let key = match &payload {
            Payload::Json(raw) => match serde_json::from_slice::<Value>(raw) {
                Ok(Value::Object(params)) => match params.get("key") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                },
                _ => String::new(),
            },
            Payload::Binary(_) => String::new(),
        };
        socket
            .assigns_mut()
            .insert("presence_key".into(), Value::String(key));
        // Tracked after the join reply, so the client sees its reply before the diff.
        socket.send_info(json!("after_join"))?;
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    async fn handle_in(
        &self,
        event: &str,
        _payload: Payload,
        _socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        Err(HandlerError::new(format!("unknown event {event:?}")))
    }

    async fn handle_info(&self, info: Info, socket: &mut Socket) -> Result<Outcome, HandlerError> {
        if let Info::Message(Value::String(m)) = &info
            && m == "after_join"
        {
            let key = socket
                .assigns()
                .get("presence_key")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let online_at = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let mut meta = serde_json::Map::new();
            meta.insert("online_at".into(), json!(online_at));
            socket.track(&key, meta)?;
            socket.push("presence_state", socket.presence_list())?;
        }
        Ok(Outcome::NoReply)
    }
}

/// Raises the open-file soft limit to the hard limit: each subscriber is one descriptor.
fn raise_nofile() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    if let Err(e) = setrlimit(Resource::Nofile, limit) {
        eprintln!("bench: cannot raise the open-file limit: {e}");
    }
}

/// The cluster to join when env `SB_CLUSTER` names a broker (`None`: a single node).
fn cluster_from_env() -> Option<ClusterConfig> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = env("SB_CLUSTER")?;
    let node = env("SB_NODE").unwrap_or_else(|| format!("bench-{}@127.0.0.1", std::process::id()));
    Some(ClusterConfig::new(url, node))
}

/// The long-poll window in ms when env `SB_LONGPOLL` turns long-poll on (`None`: off).
fn longpoll_from_env() -> Option<u64> {
    let on = std::env::var("SB_LONGPOLL").is_ok_and(|v| !matches!(v.trim(), "" | "0"));
    on.then(|| env_number(WHO, "SB_LONGPOLL_WINDOW_MS", 10_000))
}

/// The `bench:*` history rule when env `SB_HISTORY` gives a size (`None`: unset or empty, no
/// history); exits with status 2 when it is not a number from 1 to 1,000,000, before the
/// runner waits for a LISTENING line that would never come.
fn history_from_env() -> Option<HistoryRule> {
    let set = std::env::var("SB_HISTORY").is_ok_and(|v| !v.trim().is_empty());
    if !set {
        return None;
    }
    let size = env_number(WHO, "SB_HISTORY", 0);
    if !(1..=HISTORY_MAX).contains(&size) {
        eprintln!("{WHO}: SB_HISTORY must be from 1 to {HISTORY_MAX} messages, got {size}");
        std::process::exit(2);
    }
    Some(HistoryRule {
        size: size as usize,
        ttl: HISTORY_TTL,
    })
}

#[tokio::main]
async fn main() {
    process::init_tracing();
    raise_nofile();

    let port = process::port(WHO);
    let outbox_frames = env_number(WHO, "BENCH_OUTBOX_FRAMES", 65_536) as usize;
    let outbox_bytes = env_number(WHO, "BENCH_OUTBOX_BYTES", 64 * 1024 * 1024) as usize;

    let mut mount = SocketMount::new()
        .channel("bench:*", Bench)
        .channel("presence:*", Presence)
        .outbox_limits(outbox_frames, outbox_bytes);
    if let Some(window_ms) = longpoll_from_env() {
        mount = mount.longpoll(window_ms);
    }
    let mut builder = Endpoint::builder()
        .bind(([127, 0, 0, 1], port))
        .node("bench@127.0.0.1")
        .socket("/socket", mount);
    // The node name is then the cluster's. Start waits for the broker (up to 5 s) and
    // listens 1.5 heartbeats for a namesake before LISTENING; the loadgen's readiness probes
    // then check that broadcasts cross before anything is measured.
    if let Some(cluster) = cluster_from_env() {
        builder = builder.cluster(cluster);
    }
    if let Some(rule) = history_from_env() {
        builder = builder.history("bench:*", rule);
    }
    let started = builder.start().await;
    let _endpoint = process::listening(WHO, started);
    process::runner_gone(WHO).await;
    std::process::exit(0);
}

//! The chat demo on the Rust host API (contract: `examples/chat/CONTRACT.md`).
//!
//! `npm ci && cargo run --release --example chat`, then open <http://127.0.0.1:4000/>
//! (`PORT` overrides; `PORT=0` picks a free port). Serves the page (`examples/chat/`) and the
//! stock phoenix client from `node_modules/phoenix`, and a socket at `/socket`:
//!
//! * connect needs a non-empty `user` param (else HTTP 403); the name goes into the assigns;
//! * `room:*` is the only channel: join ok `{}`, then (through `send_info` → `handle_info`)
//!   the user is tracked in presence with `{"online_at": <ms since epoch>}` and gets the
//!   room's `presence_state`;
//! * `new_msg {body}` is broadcast to the room as `new_msg {user, body}` and answered ok `{}`.
//!
//! Cluster (docs/CLUSTER.md, CONTRACT.md "Cluster"): env `SB_CLUSTER` (a broker URL,
//! `redis://127.0.0.1:6379` or `nats://127.0.0.1:4222`; unset or empty: a single node), `SB_NODE`
//! (the node name; default `chat@127.0.0.1`, or `chat-<pid>@127.0.0.1` in a cluster) and
//! `SB_HEARTBEAT_MS` (`broker_heartbeat_ms`), `SB_NODE_DOWN_MS` (`presence_down_period_ms`) and
//! `SB_PRESENCE_BROADCAST_MS` (`presence_broadcast_period_ms`). Chat messages then reach the room on every node.
//!
//! History (docs/HISTORY.md, CONTRACT.md "History"): alone or on Redis, `room:*` keeps the
//! last `SB_HISTORY_SIZE` (100) messages for `SB_HISTORY_TTL_MS` (600 000) ms, so a page that
//! rejoins with `_since` gets what it missed.
//!
//! Long-poll (docs/LONGPOLL.md, CONTRACT.md "Long-poll"): `/socket` also serves Phoenix's
//! long-poll transport at `/socket/longpoll`, for browsers whose WebSocket cannot get through;
//! env `SB_LONGPOLL_WINDOW_MS` (`longpoll_window_ms`) and `SB_SECRET_KEY_BASE`
//! (`secret_key_base`, needed in a cluster: every node must accept the others' session tokens).

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use switchboard::endpoint::{Endpoint, SocketMount};
use switchboard::host::{
    Channel, Connect, ConnectInfo, Connected, HandlerError, HostConfig, HostError, Info,
    JoinOutcome, Naming, OptionValue, Options, Outcome, Refused, Socket, SocketError,
};
use switchboard::pubsub::PublishError;
use switchboard::wire::Payload;
use tracing::{error, info, warn};

/// Where the page and the phoenix client live: the repo root, found from the crate's own
/// location (so the binary works from any directory), else the working directory.
fn repo_root() -> PathBuf {
    let from_crate = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if from_crate.join("examples/chat/index.html").is_file() {
        from_crate
    } else {
        PathBuf::from(".")
    }
}

/// Largest `new_msg` payload, in bytes of JSON text (examples/chat/CONTRACT.md).
const MAX_MESSAGE_BYTES: usize = 8192;

const PHOENIX_MJS: &str = "node_modules/phoenix/priv/static/phoenix.mjs";

fn json_payload(value: &Value) -> Payload {
    Payload::Json(Bytes::from(value.to_string()))
}

/// The connect callback: a non-empty `user` param is required (Phoenix `connect/3`
/// returning `:error` → 403).
struct ChatConnect;

#[async_trait::async_trait]
impl Connect for ChatConnect {
    async fn connect(&self, info: &ConnectInfo) -> Result<Connected, Refused> {
        let user = info
            .params
            .get("user")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(Refused::default)?;
        let mut connected = Connected::default();
        connected.assigns.insert("user".into(), json!(user));
        Ok(connected)
    }
}

fn user_of(socket: &Socket) -> String {
    socket
        .assigns()
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The `room:*` channel.
struct Room;

#[async_trait::async_trait]
impl Channel for Room {
    async fn join(
        &self,
        _topic: &str,
        _payload: Payload,
        socket: &mut Socket,
    ) -> Result<JoinOutcome, HandlerError> {
        // Presence is tracked after the join reply (the Phoenix `after_join` pattern).
        socket.send_info(json!("after_join"))?;
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    async fn handle_info(&self, info: Info, socket: &mut Socket) -> Result<Outcome, HandlerError> {
        if let Info::Message(Value::String(m)) = &info
            && m == "after_join"
        {
            let online_at = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let mut meta = serde_json::Map::new();
            meta.insert("online_at".into(), json!(online_at));
            socket.track(&user_of(socket), meta)?;
            socket.push("presence_state", socket.presence_list())?;
        }
        Ok(Outcome::NoReply)
    }

    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        if event != "new_msg" {
            return Err(HandlerError::new(format!("unknown event {event:?}")));
        }
        // Checked before parsing: parsing is the costly part of a message (CONTRACT.md).
        if payload.len() > MAX_MESSAGE_BYTES {
            return Ok(Outcome::error(json_payload(
                &json!({"reason": "message too long"}),
            )));
        }
        let body = match &payload {
            Payload::Json(raw) => serde_json::from_slice::<Value>(raw)
                .ok()
                .and_then(|v| v.get("body").and_then(Value::as_str).map(str::to_owned)),
            Payload::Binary(_) => None,
        };
        let Some(body) = body else {
            return Ok(Outcome::error(json_payload(
                &json!({"reason": "body must be a string"}),
            )));
        };
        let message = json!({"user": user_of(socket), "body": body});
        match socket.broadcast("new_msg", json_payload(&message)) {
            Ok(()) => {}
            // In a cluster whose broker is unreachable: the room's clients on this node have
            // the message, the other nodes do not (CONTRACT.md "Cluster"). Not retried.
            Err(SocketError::Publish(PublishError::Broker(e))) => {
                warn!(error = %e, "new_msg reached this node only");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Outcome::ok(Payload::empty_object()))
    }
}

/// Serves one file, read on every request so edits to the page need no rebuild.
async fn file(path: PathBuf, content_type: &'static str) -> Response {
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            bytes,
        )
            .into_response(),
        Err(e) if path.ends_with("phoenix.mjs") => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "{} is missing ({e}): run `npm ci` at the repository root first\n",
                path.display()
            ),
        )
            .into_response(),
        Err(e) => {
            error!(path = %path.display(), error = %e, "cannot read page file");
            (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
    }
}

fn page_routes(root: &Path) -> Router {
    let index = root.join("examples/chat/index.html");
    let app = root.join("examples/chat/app.js");
    let phoenix = root.join(PHOENIX_MJS);
    Router::new()
        .route(
            "/",
            get(move || file(index.clone(), "text/html; charset=utf-8")),
        )
        .route("/app.js", get(move || file(app.clone(), "text/javascript")))
        .route(
            "/phoenix.mjs",
            get(move || file(phoenix.clone(), "text/javascript")),
        )
        .merge(heap_routes())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => match p.trim().parse() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("chat: PORT must be a port number, got {p:?}");
                std::process::exit(2);
            }
        },
        Err(_) => 4000,
    };

    let root = repo_root();
    if !root.join(PHOENIX_MJS).is_file() {
        eprintln!(
            "chat: {} not found under {}: run `npm ci` at the repository root first \
             (the page loads the stock phoenix client from there)",
            PHOENIX_MJS,
            root.display()
        );
    }

    let (node, config) = match options_from_env() {
        Ok(found) => found,
        Err(e) => {
            eprintln!("chat: {e}");
            std::process::exit(1);
        }
    };
    let HostConfig {
        cluster,
        history,
        secret_key_base,
        mounts,
        metrics_path,
        ..
    } = config;
    let mut builder = Endpoint::builder()
        .bind(([127, 0, 0, 1], port))
        .node(node.clone());
    if let Some(cluster) = &cluster {
        builder = builder.cluster(cluster.clone());
    }
    for (pattern, rule) in history.rules() {
        builder = builder.history(pattern, rule);
    }
    if let Some(secret) = secret_key_base {
        builder = builder.secret_key_base(secret);
    }
    if let Some(path) = metrics_path {
        builder = builder.metrics_path(path);
    }
    // The kernel's one mount, `/socket`: its transport options carry long-poll and its window.
    let transport = mounts
        .into_iter()
        .next()
        .map(|mount| mount.transport)
        .unwrap_or_default();
    let started = builder
        .socket(
            "/socket",
            SocketMount::new()
                .connect(ChatConnect)
                .channel("room:*", Room)
                .transport_config(transport),
        )
        .route(page_routes(&root))
        .start()
        .await;
    let endpoint = match started {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("chat: {e}");
            std::process::exit(1);
        }
    };
    if let Some(cluster) = &cluster {
        // One write, so that the line never interleaves with the log's.
        let line = format!("chat: node {node} joined the cluster at {}\n", cluster.url);
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    let addr = endpoint.local_addr();
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "LISTENING {addr}");
    let _ = writeln!(stdout, "Chat demo on http://{addr}/");
    let _ = stdout.flush();

    wait_for_stop().await;
    info!("stopping");
    if let Err(e) = endpoint.shutdown().await {
        eprintln!("chat: {e}");
        std::process::exit(1);
    }
}

/// Env text as an option value: an integer when it reads as one, else the text itself, which
/// the options kernel then refuses with its own message (`must be an integer ... (got the
/// string "abc")`), as in C, Python and Node.
fn env_value(text: String) -> OptionValue {
    match text.trim().parse::<i128>() {
        Ok(n) => OptionValue::Int(n),
        Err(_) => OptionValue::Text(text),
    }
}

/// The cluster's timing options, from env (CONTRACT.md "Cluster").
const CLUSTER_ENV: [(&str, &str); 3] = [
    ("SB_HEARTBEAT_MS", "broker_heartbeat_ms"),
    ("SB_NODE_DOWN_MS", "presence_down_period_ms"),
    ("SB_PRESENCE_BROADCAST_MS", "presence_broadcast_period_ms"),
];

/// How many `room:*` messages a single node keeps, and for how long (ms): CONTRACT.md
/// "History", overridden by env `SB_HISTORY_SIZE` and `SB_HISTORY_TTL_MS`.
const HISTORY_SIZE: i128 = 100;
const HISTORY_TTL_MS: i128 = 600_000;

/// The node name and the endpoint's configuration: when env `SB_CLUSTER` names a broker, the
/// cluster to join; else the rooms' history; long-poll on the one mount, `/socket`, and the
/// secret that signs its session tokens. The env values go through the options kernel every
/// host language uses (`broker`, `node`, `broker_heartbeat_ms`, `history`, `longpoll_window_ms`,
/// `secret_key_base`: docs/OPTIONS.md), so they get the same checks, defaults and error
/// messages as the C, Python and Node demos (in a cluster, a missing `SB_SECRET_KEY_BASE` too).
fn options_from_env() -> Result<(String, HostConfig), HostError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let broker = env("SB_CLUSTER");
    let node = env("SB_NODE").unwrap_or_else(|| {
        if broker.is_some() {
            // Two demos of one machine in one cluster must not share a name (the core
            // refuses a second live node with the same name).
            format!("chat-{}@127.0.0.1", std::process::id())
        } else {
            "chat@127.0.0.1".to_owned()
        }
    });
    let mut options = Options::new(Naming::Snake);
    options.set("node", OptionValue::Text(node.clone()))?;
    // NATS keeps no messages: a cluster on it has no history (the core refuses it there).
    let nats = broker.as_ref().is_some_and(|b| b.starts_with("nats://"));
    if let Some(broker) = broker {
        options.set("broker", OptionValue::Text(broker))?;
    }
    if !nats {
        let value =
            |var: &str, default: i128| env(var).map_or(OptionValue::Int(default), env_value);
        let rule = OptionValue::Map(vec![
            ("topic".into(), OptionValue::Text("room:*".into())),
            ("size".into(), value("SB_HISTORY_SIZE", HISTORY_SIZE)),
            ("ttl_ms".into(), value("SB_HISTORY_TTL_MS", HISTORY_TTL_MS)),
        ]);
        options.set("history", OptionValue::List(vec![rule]))?;
    }
    for (var, option) in CLUSTER_ENV {
        if let Some(value) = env(var) {
            options.set(option, env_value(value))?;
        }
    }
    // Long-poll for browsers whose WebSocket cannot get through (a proxy that drops upgrades);
    // the page falls back to it by itself (CONTRACT.md "Long-poll").
    options.set("longpoll", OptionValue::Bool(true))?;
    if let Some(value) = env("SB_LONGPOLL_WINDOW_MS") {
        options.set("longpoll_window_ms", env_value(value))?;
    }
    // Always text: a secret made of digits is still a secret, not a number.
    if let Some(secret) = env("SB_SECRET_KEY_BASE") {
        options.set("secret_key_base", OptionValue::Text(secret))?;
    }
    // Prometheus metrics for operators (CONTRACT.md "Metrics").
    options.set("metrics_path", OptionValue::Text("/metrics".into()))?;
    let config = options.build()?;
    Ok((node, config))
}

/// Ctrl-C or SIGTERM.
async fn wait_for_stop() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

// Built with `--features heap-stats` (scripts/soak.sh): the live heap, counted by the crate's
// allocator, as plain text at `GET /_heap` (bytes). Off by default: the demo then has neither the
// allocator nor the route.
#[cfg(feature = "heap-stats")]
#[global_allocator]
static ALLOC: switchboard::heap_stats::Counting = switchboard::heap_stats::Counting;

#[cfg(feature = "heap-stats")]
fn heap_routes() -> Router {
    Router::new().route(
        "/_heap",
        get(|| async { format!("{}\n", switchboard::heap_stats::live_bytes()) }),
    )
}

#[cfg(not(feature = "heap-stats"))]
fn heap_routes() -> Router {
    Router::new()
}

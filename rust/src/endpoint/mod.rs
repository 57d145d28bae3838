//! The tokio endpoint (DESIGN layer 8): an HTTP server whose socket mounts serve the Phoenix
//! WebSocket transport at `<mount>/websocket`, sharing one [`Backplane`] (PubSub, Presence).
//!
//! ```no_run
//! # use switchboard::endpoint::{Endpoint, SocketMount};
//! # use switchboard::host::AcceptAll;
//! # async fn run() -> Result<(), switchboard::endpoint::EndpointError> {
//! let endpoint = Endpoint::builder()
//!     .bind(([127, 0, 0, 1], 4000))
//!     .socket("/socket", SocketMount::new().connect(AcceptAll).max_channels(100))
//!     .route(axum::Router::new().route("/", axum::routing::get(|| async { "hello" })))
//!     .start()
//!     .await?;
//! println!("listening on {}", endpoint.local_addr());
//! endpoint.backplane().broadcast("room:lobby", "new_msg", switchboard::wire::Payload::empty_object()).ok();
//! endpoint.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! What a connection goes through: the handshake ([`http`]: method, `check_origin`, auth
//! token, `vsn`, connect callback → 101 or an HTTP error status), then the transport
//! ([`connection`]: reader → [`Session`](crate::channel::Session), outbox → writer, idle
//! timeout, frame limit, slow-consumer policy), then the close code that says why it ended
//! (see the `*_CLOSE_CODE` constants).

mod config;
mod connection;
mod http;
pub mod introspect;
mod listener;
mod longpoll;
pub mod metrics;
mod origin;
pub mod params;
mod registry;
mod static_files;

/// Private items the cargo-fuzz targets in `fuzz/` call directly (feature `fuzzing`); not a
/// stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use super::origin::origin_allowed;
}

pub use config::{
    CheckOrigin, DISCONNECT_CLOSE_CODE, DRAIN_CLOSE_CODE, IDLE_CLOSE_CODE, INVALID_UTF8_CLOSE_CODE,
    MALFORMED_CLOSE_CODE, PROTOCOL_CLOSE_CODE, RATE_LIMITED_CLOSE_CODE, SLOW_CONSUMER_CLOSE_CODE,
    SocketMount, TOO_BIG_CLOSE_CODE, TransportConfig,
};
pub use listener::HandshakeConfig;
pub(crate) use listener::MIN_HEADER_BYTES;
pub use longpoll::MIN_SECRET_BYTES;
pub(crate) use static_files::valid_route as valid_static_route;

use crate::channel::Backplane;
use crate::cluster::{Cluster, ClusterConfig, ClusterError};
use crate::outbox::CloseReason;
use crate::pubsub::history::{HistoryConfig, HistoryRule};
use crate::pubsub::{Broadcast, Delivery, Subscription};
use axum::Router;
use axum::routing::any;
use http::MountState;
use registry::Connections;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

/// Entry point: [`Endpoint::builder`].
#[derive(Debug)]
pub struct Endpoint;

impl Endpoint {
    /// A builder with the defaults documented on each setter.
    pub fn builder() -> EndpointBuilder {
        EndpointBuilder::default()
    }
}

/// How a drain closes connections (Phoenix `drainer` options). Defaults as Phoenix: batches
/// of 10 000 connections every 2 000 ms, within 30 000 ms.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainConfig {
    /// Connections closed at once (close 1012).
    pub batch_size: usize,
    /// Pause between two batches, so clients do not all reconnect at the same instant.
    pub batch_interval: Duration,
    /// Total time a drain may take, waiting for channels to terminate included; connections
    /// still open afterwards are reported in [`DrainReport::remaining`].
    pub timeout: Duration,
}

impl DrainConfig {
    /// Batches of `batch_size` connections, `batch_interval` apart, within `timeout` in all.
    pub fn new(batch_size: usize, batch_interval: Duration, timeout: Duration) -> DrainConfig {
        DrainConfig {
            batch_size,
            batch_interval,
            timeout,
        }
    }
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig {
            batch_size: 10_000,
            batch_interval: Duration::from_millis(2_000),
            timeout: Duration::from_millis(30_000),
        }
    }
}

/// Builds and starts an endpoint.
#[derive(Debug)]
pub struct EndpointBuilder {
    addr: SocketAddr,
    backplane: Option<Arc<Backplane>>,
    node: String,
    shards: usize,
    mounts: Vec<(String, SocketMount)>,
    router: Router,
    static_files: Vec<static_files::StaticFile>,
    drain: DrainConfig,
    handshake: HandshakeConfig,
    cluster: Option<ClusterConfig>,
    history: HistoryConfig,
    secret_key_base: Option<Vec<u8>>,
    max_connections: usize,
    connections_per_second: u32,
    metrics_path: Option<String>,
}

impl Default for EndpointBuilder {
    fn default() -> Self {
        EndpointBuilder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            backplane: None,
            node: "switchboard@localhost".to_owned(),
            shards: 0,
            mounts: Vec::new(),
            router: Router::new(),
            static_files: Vec::new(),
            drain: DrainConfig::default(),
            handshake: HandshakeConfig::default(),
            cluster: None,
            history: HistoryConfig::default(),
            secret_key_base: None,
            max_connections: 0,
            connections_per_second: 0,
            metrics_path: None,
        }
    }
}

impl EndpointBuilder {
    /// Address to listen on (default `127.0.0.1:0`: loopback, any free port; read the port
    /// back with [`RunningEndpoint::local_addr`]).
    pub fn bind(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.addr = addr.into();
        self
    }

    /// Uses an existing backplane (e.g. one the host's own routes already hold) instead of creating
    /// one from [`node`](Self::node) and [`shards`](Self::shards).
    pub fn backplane(mut self, backplane: Arc<Backplane>) -> Self {
        self.backplane = Some(backplane);
        self
    }

    /// This node's name for presence (default `"switchboard@localhost"`); ignored with
    /// [`backplane`](Self::backplane).
    pub fn node(mut self, name: impl Into<String>) -> Self {
        self.node = name.into();
        self
    }

    /// PubSub and presence shards (default 0 = one per available core); ignored with
    /// [`backplane`](Self::backplane).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Mounts a socket at `path` (e.g. `"/socket"`); its WebSocket transport is served at
    /// `<path>/websocket`. `path` must start with `/`, must not end with `/` and must not
    /// contain `{`, `}` or `?`; every mount needs its own path.
    pub fn socket(mut self, path: impl Into<String>, mount: SocketMount) -> Self {
        self.mounts.push((path.into(), mount));
        self
    }

    /// Serves the file at `path` for `GET route` (and `HEAD`) with `content_type`, e.g.
    /// `("/", "page/index.html", "text/html; charset=utf-8")`, for hosts without an HTTP
    /// server of their own. The file is read on every request: 404 when it is missing, 500
    /// when it cannot be read. `route` must be a literal absolute path; checked by
    /// [`start`](Self::start) ([`EndpointError::StaticFile`], and
    /// [`EndpointError::RouteConflict`] for a route used twice or by another route).
    pub fn static_file(
        mut self,
        route: impl Into<String>,
        path: impl Into<std::path::PathBuf>,
        content_type: impl Into<String>,
    ) -> Self {
        self.static_files.push(static_files::StaticFile {
            route: route.into(),
            path: path.into(),
            content_type: content_type.into(),
        });
        self
    }

    /// Adds the host's own routes (pages, health checks, control routes); merged with the
    /// socket routes, so their paths must not overlap.
    pub fn route(mut self, router: Router) -> Self {
        self.router = self.router.merge(router);
        self
    }

    /// Drain batching and timeout (default [`DrainConfig::default`]).
    pub fn drain(mut self, drain: DrainConfig) -> Self {
        self.drain = drain;
        self
    }

    /// Limits of connections before they are WebSockets: header read timeout, header bytes,
    /// connections in handshake (default [`HandshakeConfig::default`]).
    pub fn handshake(mut self, handshake: HandshakeConfig) -> Self {
        self.handshake = handshake;
        self
    }

    /// Makes this node one of a cluster (docs/CLUSTER.md): broadcasts reach the subscribers of
    /// every node through the broker of `config.url`; the node name is `config.node`.
    /// Ignored with [`backplane`](Self::backplane) (build it with
    /// [`Backplane::with_cluster`]).
    pub fn cluster(mut self, config: ClusterConfig) -> Self {
        self.cluster = Some(config);
        self
    }

    /// Keeps the broadcasts of topics matching `pattern` (`"room:*"` or an exact topic; the
    /// first matching call wins) so that clients can resume from a stream position
    /// (docs/HISTORY.md). Ignored with [`backplane`](Self::backplane) (build it with
    /// [`Backplane::with_history`]); refused by [`start`](Self::start) with a
    /// [`cluster`](Self::cluster) ([`EndpointError::History`]).
    pub fn history(mut self, pattern: &str, rule: HistoryRule) -> Self {
        self.history.add(pattern, rule);
        self
    }

    /// The secret that signs long-poll session tokens (Phoenix `secret_key_base`), at least
    /// [`MIN_SECRET_BYTES`] bytes. Default: a random secret drawn at start, which only this
    /// process knows; every node of a cluster with long-poll mounts needs the same secret, so
    /// that each accepts the tokens of the others ([`start`](Self::start) refuses a cluster
    /// with long-poll and no secret: [`EndpointError::Secret`]).
    pub fn secret_key_base(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret_key_base = Some(secret.into());
        self
    }

    /// The most connections (WebSocket connections and long-poll sessions) served at once
    /// (default 0: no limit); one more is answered HTTP 503, as during a drain.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Connection attempts (WebSocket upgrades and new long-poll sessions) that reach the
    /// connect callback per second, endpoint-wide (a token bucket with a one-second burst;
    /// default 0: no limit); the others are answered HTTP 429 and their clients retry with
    /// backoff.
    pub fn connections_per_second(mut self, rate: u32) -> Self {
        self.connections_per_second = rate;
        self
    }

    /// Serves the endpoint's metrics in the Prometheus text format at `GET path` (e.g.
    /// `/metrics`; default: not served). The same text is always readable with
    /// [`RunningEndpoint::metrics_text`]. Names and labels in docs/OPERATIONS.md "Metrics".
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = Some(path.into());
        self
    }

    /// Binds the listener and starts serving on the current tokio runtime.
    ///
    /// Errors: [`EndpointError::MountPath`] / [`EndpointError::DuplicateMount`] for bad mount
    /// paths, [`EndpointError::RouteConflict`] when host routes overlap a socket route,
    /// [`EndpointError::Bind`] when the address cannot be bound.
    pub async fn start(self) -> Result<RunningEndpoint, EndpointError> {
        // Checked before a cluster link is made.
        let clustered = match &self.backplane {
            Some(backplane) => backplane.cluster().is_some(),
            None => self.cluster.is_some(),
        };
        let secret = self
            .mounts
            .iter()
            .any(|(_, m)| m.transport.longpoll)
            .then(|| longpoll_secret(self.secret_key_base.as_deref(), clustered))
            .transpose()?
            .map(|secret| secret.map(<[u8]>::to_vec));
        let backplane = match (self.backplane, self.cluster) {
            (Some(backplane), _) => backplane,
            (None, None) => Backplane::with_history(&self.node, self.shards, self.history),
            (None, Some(config)) => {
                if let Some(why) = crate::cluster::history_refused(&config, &self.history) {
                    return Err(EndpointError::History(why.to_owned()));
                }
                let node = config.node.clone();
                let cluster = Arc::new(Cluster::start(config, &tokio::runtime::Handle::current())?);
                // Built first, so presence syncs with the other nodes while `ready` listens for
                // a namesake (whose messages the other nodes ignore while this node beats).
                let backplane = Backplane::with_cluster_history(
                    &node,
                    self.shards,
                    cluster.clone(),
                    self.history,
                );
                cluster.ready().await?;
                backplane
            }
        };
        let conns = Arc::new(Connections::with_limits(
            self.max_connections,
            self.connections_per_second,
            backplane.metrics().clone(),
        ));
        let longpoll = secret.map(|secret| {
            longpoll::Hub::new(
                secret.as_deref(),
                &backplane,
                tokio::runtime::Handle::current(),
            )
        });
        let mut app = Router::new();
        let mut paths: Vec<String> = Vec::new();
        let mut socket_routes: Vec<String> = Vec::new();
        for (path, mount) in self.mounts {
            validate_mount_path(&path)?;
            if paths.contains(&path) {
                return Err(EndpointError::DuplicateMount(path));
            }
            let (channel_mount, connect, transport) = mount.into_parts();
            let hub = longpoll.clone().filter(|_| transport.longpoll);
            let state = Arc::new(MountState {
                path: path.clone(),
                mount: channel_mount,
                connect,
                transport,
                backplane: backplane.clone(),
                conns: conns.clone(),
            });
            let route = format!("{path}/websocket");
            app = app.route(&route, any(http::websocket).with_state(state.clone()));
            socket_routes.push(route);
            if let Some(hub) = hub {
                let route = format!("{path}/longpoll");
                let lp = Arc::new(longpoll::LongPollRoute { st: state, hub });
                app = app.route(&route, any(longpoll::handle).with_state(lp));
                socket_routes.push(route);
            }
            paths.push(path);
        }
        let mut host_routes = self.router;
        if let Some(path) = &self.metrics_path {
            if !valid_metrics_path(path) {
                return Err(EndpointError::MetricsPath(path.clone()));
            }
            let st = Arc::new(Observed {
                backplane: backplane.clone(),
                conns: conns.clone(),
                longpoll: longpoll.clone(),
            });
            host_routes = host_routes.route(
                path,
                axum::routing::get(move || {
                    let st = st.clone();
                    async move {
                        (
                            [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
                            st.metrics_text(),
                        )
                    }
                }),
            );
        }
        let files = static_files::router(&self.static_files, &socket_routes)?;
        // axum reports overlapping routes by panicking; turn that into an error.
        let app = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            app.merge(host_routes).merge(files)
        }))
        .map_err(|panic| EndpointError::RouteConflict(panic_text(&panic)))?;

        let listener = listen(self.addr).map_err(|source| EndpointError::Bind {
            addr: self.addr,
            source,
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| EndpointError::Bind {
                addr: self.addr,
                source,
            })?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(listener::serve(listener, app, self.handshake, stop_rx));
        info!(addr = %local_addr, mounts = ?paths, "endpoint listening");
        Ok(RunningEndpoint {
            inner: Arc::new(Running {
                local_addr,
                backplane,
                conns,
                longpoll,
                drain: self.drain,
                stop: parking_lot::Mutex::new(Some(stop_tx)),
                server: tokio::sync::Mutex::new(Some(server)),
            }),
        })
    }
}

/// A socket mount path: `/name[/more]`, no trailing `/`, none of `{}?#*`.
pub(crate) fn valid_mount_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() > 1
        && !path.ends_with('/')
        && !path.contains(['{', '}', '?', '#', '*'])
}

/// A metrics path: `/…`, none of `{}*` (axum's route syntax).
pub fn valid_metrics_path(path: &str) -> bool {
    path.starts_with('/') && !path.contains(['{', '}', '*'])
}

fn validate_mount_path(path: &str) -> Result<(), EndpointError> {
    if valid_mount_path(path) {
        Ok(())
    } else {
        Err(EndpointError::MountPath(path.to_owned()))
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "overlapping routes".to_owned())
}

/// Why an endpoint could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The listen address could not be bound (in use, no permission, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// A socket mount path that is not `/name[/more]`.
    #[error(
        "invalid socket mount path {0:?} (must start with `/`, not end with `/`, no `{{}}?#*`)"
    )]
    MountPath(String),
    /// Two socket mounts with the same path.
    #[error("socket mount path {0:?} is used twice")]
    DuplicateMount(String),
    /// Host routes overlap a socket route or each other.
    #[error("conflicting routes: {0}")]
    RouteConflict(String),
    /// A static file's route or content type is invalid (see
    /// [`EndpointBuilder::static_file`]).
    #[error("invalid static file: {0}")]
    StaticFile(String),
    /// The HTTP server failed while running.
    #[error("server error: {0}")]
    Server(String),
    /// The cluster configuration is invalid, or another live node has this node's name.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The metrics path is not an absolute path without `{}*`.
    #[error("invalid metrics path {0:?} (must start with `/`, no `{{}}*`)")]
    MetricsPath(String),
    /// History cannot be kept with this configuration (docs/HISTORY.md).
    #[error("{0}")]
    History(String),
    /// The long-poll secret is too short, or missing in a cluster (docs/LONGPOLL.md).
    #[error("{0}")]
    Secret(String),
}

/// The long-poll token secret, checked: `None` (draw one at random) is refused in a cluster,
/// where every node must accept the others' tokens.
fn longpoll_secret(secret: Option<&[u8]>, clustered: bool) -> Result<Option<&[u8]>, EndpointError> {
    match secret_refused(secret, clustered, "secret_key_base") {
        Some(why) => Err(EndpointError::Secret(why)),
        None => Ok(secret),
    }
}

/// Why a long-poll secret cannot serve (`name`: the option as the caller's language spells
/// it): shorter than [`MIN_SECRET_BYTES`], or missing in a cluster.
pub(crate) fn secret_refused(secret: Option<&[u8]>, clustered: bool, name: &str) -> Option<String> {
    match secret {
        Some(s) if s.len() < MIN_SECRET_BYTES => Some(format!(
            "`{name}` must be at least {MIN_SECRET_BYTES} bytes, the same on every node of a cluster (got {})",
            s.len()
        )),
        None if clustered => Some(format!(
            "long-poll in a cluster needs `{name}`, the same on every node, so that every node accepts the others' session tokens"
        )),
        _ => None,
    }
}

/// Connections the kernel queues before they are accepted. Tokio's `bind` asks for 128,
/// which 1,000 clients reconnecting at once after an outage overflow: the rest then wait for
/// the kernel's 1 s SYN retry. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with [`LISTEN_BACKLOG`] and `SO_REUSEADDR` (as tokio's `bind`).
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Outcome of [`RunningEndpoint::drain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections that were asked to close (1012).
    pub closed: usize,
    /// Connections still open when the drain timeout passed (0 when all finished).
    pub remaining: usize,
}

/// What the metrics route and [`RunningEndpoint::census`] read.
#[derive(Debug)]
struct Observed {
    backplane: Arc<Backplane>,
    conns: Arc<Connections>,
    longpoll: Option<Arc<longpoll::Hub>>,
}

impl Observed {
    fn census(&self) -> introspect::Census {
        let longpoll = self.longpoll.as_ref().map_or(0, |hub| hub.session_count());
        let connections = introspect::ConnectionCensus {
            websocket: self.conns.len().saturating_sub(longpoll),
            longpoll,
        };
        introspect::Census::of(&self.backplane, connections)
    }

    fn metrics_text(&self) -> String {
        metrics::render(self.census(), &self.backplane)
    }
}

#[derive(Debug)]
struct Running {
    local_addr: SocketAddr,
    backplane: Arc<Backplane>,
    conns: Arc<Connections>,
    longpoll: Option<Arc<longpoll::Hub>>,
    drain: DrainConfig,
    stop: parking_lot::Mutex<Option<oneshot::Sender<()>>>,
    server: tokio::sync::Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

/// A started endpoint. Cheap to clone; every clone controls the same server.
#[derive(Clone, Debug)]
pub struct RunningEndpoint {
    inner: Arc<Running>,
}

impl RunningEndpoint {
    /// The address actually bound (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The shared backplane: `broadcast`, `local_broadcast`, `disconnect(socket_id)` (close 1001),
    /// `presence()`, `channel_count(topic)`.
    pub fn backplane(&self) -> &Arc<Backplane> {
        &self.inner.backplane
    }

    /// What the endpoint holds now: connections, channels, topics, presence, the cluster
    /// (docs/OPERATIONS.md "Introspection").
    pub fn census(&self) -> introspect::Census {
        self.observed().census()
    }

    /// The endpoint's metrics in the Prometheus text format (docs/OPERATIONS.md "Metrics"),
    /// as [`EndpointBuilder::metrics_path`] serves them.
    pub fn metrics_text(&self) -> String {
        self.observed().metrics_text()
    }

    fn observed(&self) -> Observed {
        Observed {
            backplane: self.inner.backplane.clone(),
            conns: self.inner.conns.clone(),
            longpoll: self.inner.longpoll.clone(),
        }
    }

    /// Live connections: WebSocket connections and long-poll sessions.
    pub fn connection_count(&self) -> usize {
        self.inner.conns.len()
    }

    /// Live long-poll sessions held by this node (a part of
    /// [`connection_count`](Self::connection_count)).
    pub fn longpoll_session_count(&self) -> usize {
        self.inner
            .longpoll
            .as_ref()
            .map_or(0, |hub| hub.session_count())
    }

    /// A host-side subscription to `topic`: every broadcast on it (from any publisher,
    /// including other nodes through the broker) arrives in the returned receiver.
    /// `capacity` (at least 1) bounds how many undelivered broadcasts it holds; when full,
    /// newer broadcasts are dropped and counted in [`HostSubscription::dropped`], so a host
    /// that stops reading cannot grow memory. Dropping it unsubscribes.
    pub fn subscribe(&self, topic: &str, capacity: usize) -> HostSubscription {
        let (tx, rx) = mpsc::channel::<Arc<Broadcast>>(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let subscription = self.inner.backplane.pubsub().subscribe(
            topic,
            Delivery::Mailbox(Arc::new(move |b| {
                if tx.try_send(b.clone()).is_err() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })),
        );
        HostSubscription {
            rx,
            dropped,
            subscription,
        }
    }

    /// Stops accepting WebSocket connections (new upgrades get 503) and closes every live
    /// one with 1012, in batches ([`DrainConfig`]); their channels terminate with
    /// [`TerminateReason::Drain`](crate::handler::TerminateReason::Drain). Returns when all
    /// connections finished or the drain timeout passed. HTTP routes keep being served;
    /// idempotent.
    pub async fn drain(&self) -> DrainReport {
        let cfg = &self.inner.drain;
        let deadline = Instant::now() + cfg.timeout;
        let outboxes = self.inner.conns.begin_drain();
        info!(connections = outboxes.len(), "draining");
        for (i, batch) in outboxes.chunks(cfg.batch_size.max(1)).enumerate() {
            if i > 0 {
                let next = (Instant::now() + cfg.batch_interval).min(deadline);
                tokio::time::sleep_until(next).await;
            }
            for outbox in batch {
                outbox.close(CloseReason::Drain);
            }
        }
        self.inner.conns.wait_empty(deadline).await;
        let report = DrainReport {
            closed: outboxes.len(),
            remaining: self.inner.conns.len(),
        };
        if report.remaining > 0 {
            warn!(remaining = report.remaining, "drain timed out");
        } else {
            info!(closed = report.closed, "drained");
        }
        report
    }

    /// Drains, then stops the HTTP server (in-flight requests get up to the drain timeout)
    /// and waits for it. Later calls return at once.
    pub async fn shutdown(&self) -> Result<DrainReport, EndpointError> {
        let report = self.drain().await;
        if let Some(stop) = self.inner.stop.lock().take() {
            let _ = stop.send(());
        }
        let mut server = self.inner.server.lock().await;
        if let Some(mut task) = server.take() {
            match tokio::time::timeout(self.inner.drain.timeout, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(EndpointError::Server(e.to_string())),
                Ok(Err(e)) => return Err(EndpointError::Server(e.to_string())),
                Err(_) => {
                    warn!("HTTP server did not stop in time; aborting it");
                    task.abort();
                }
            }
        }
        info!("endpoint stopped");
        Ok(report)
    }
}

/// A host-side subscription from [`RunningEndpoint::subscribe`].
#[derive(Debug)]
pub struct HostSubscription {
    rx: mpsc::Receiver<Arc<Broadcast>>,
    dropped: Arc<AtomicU64>,
    subscription: Subscription,
}

impl HostSubscription {
    /// The next broadcast, waiting for one.
    pub async fn recv(&mut self) -> Option<Arc<Broadcast>> {
        self.rx.recv().await
    }

    /// The next broadcast if one is waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Broadcast>> {
        self.rx.try_recv().ok()
    }

    /// Broadcasts dropped because the receiver was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The subscribed topic.
    pub fn topic(&self) -> &str {
        self.subscription.topic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_validated() {
        for bad in ["", "/", "socket", "/socket/", "/ws/{tenant}", "/a?b"] {
            assert!(validate_mount_path(bad).is_err(), "{bad:?}");
        }
        for good in ["/socket", "/api/socket", "/limited"] {
            assert!(validate_mount_path(good).is_ok(), "{good:?}");
        }
    }
}

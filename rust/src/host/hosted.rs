//! A queue-hosted endpoint: the whole server a non-Rust host drives (the C ABI, the Python
//! and Node bindings), from one plain-data [`HostConfig`]. It owns the tokio runtime, the
//! core [`Backplane`] and the [`HostQueue`]; the host only polls requests and answers them, so the
//! three front-ends are thin and behave the same (docs/BINDINGS.md "One host layer").

use super::HostQueue;
use super::error_code::{ErrorCode, HostError};
use super::inputs::non_empty;
use super::queue::QueueConfig;
use crate::channel::Backplane;
use crate::cluster::{Cluster, ClusterConfig, ClusterError};
use crate::endpoint::introspect::{Census, ConnectionCensus};
use crate::endpoint::{
    DrainConfig, DrainReport, Endpoint, EndpointError, HandshakeConfig, RunningEndpoint,
    SocketMount, TransportConfig,
};
use crate::pubsub::Delivered;
use crate::pubsub::history::HistoryConfig;
use crate::wire::Payload;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// How long [`HostedEndpoint::close`] waits for runtime tasks to finish before it leaves them.
const RUNTIME_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One socket mount (Phoenix `socket "/socket", UserSocket`): clients connect to
/// `<path>/websocket`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostMount {
    /// Absolute path without a trailing `/`, e.g. `/socket`.
    pub path: String,
    /// Channels one connection may join at once (default 100, Phoenix
    /// `max_channels_per_transport`... as a per-mount limit).
    pub max_channels: usize,
    /// Client messages and joins per second per connection (0: no limit; see
    /// [`MountConfig`](crate::channel::MountConfig)).
    pub messages_per_second: u32,
    pub joins_per_second: u32,
    /// WebSocket limits and origin check of this mount.
    pub transport: TransportConfig,
}

impl HostMount {
    /// A mount at `path` with the default limits.
    pub fn new(path: impl Into<String>) -> HostMount {
        HostMount {
            path: path.into(),
            max_channels: 100,
            messages_per_second: 0,
            joins_per_second: 0,
            transport: TransportConfig::default(),
        }
    }
}

/// Topic pattern served by the host (`room:*` prefix or an exact topic), with the events it
/// intercepts (Phoenix `intercept [...]`: they arrive as `HandleOut` requests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelRoute {
    pub pattern: String,
    pub intercepts: Vec<String>,
}

/// A file served with `GET route` (see `EndpointBuilder::static_file`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticFile {
    /// Literal absolute path, e.g. `/app.js`.
    pub route: String,
    /// File system path, read on every request (404 when missing).
    pub path: String,
    /// The `Content-Type` answered, e.g. `text/javascript`.
    pub content_type: String,
}

/// Everything a queue-hosted endpoint needs, as plain data. Defaults: listen on
/// `127.0.0.1:0`, one mount `/socket`, no channel routes, connect accepted without asking
/// the host, request timeout 10 000 ms.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostConfig {
    /// Listen address (default `127.0.0.1:0`: loopback, any free port).
    pub bind: SocketAddr,
    /// This node's name in presence and the broker.
    pub node: String,
    /// Socket mounts; empty means one [`HostMount::new("/socket")`](HostMount::new).
    pub mounts: Vec<HostMount>,
    /// PubSub and presence shards (0: one per CPU).
    pub shards: usize,
    /// Runtime worker threads (0: one per CPU).
    pub worker_threads: usize,
    /// How long the host may take to answer a channel request (join, handle_in, ...) before
    /// the channel crashes (`phx_error`). Also the time a connect or HTTP request may wait
    /// (then 503 / 504). Default 10 s (option `request_timeout_ms`).
    pub request_timeout: Duration,
    /// How a drain closes connections.
    pub drain: DrainConfig,
    /// Limits of connections before their WebSocket upgrade (header read timeout, header
    /// bytes, connections in handshake).
    pub handshake: HandshakeConfig,
    /// Topic patterns routed to the host, on every mount.
    pub channels: Vec<ChannelRoute>,
    /// Ask the host about every connection (`Connect` requests); otherwise all are accepted.
    pub host_connect: bool,
    /// Requests with a ticket that may be pending at once (see `QueueConfig::max_pending`).
    pub max_pending: usize,
    /// Files served with `GET`.
    pub static_files: Vec<StaticFile>,
    /// Path prefixes whose HTTP requests the host answers (`RequestKind::Http`).
    pub http_routes: Vec<String>,
    /// The cluster this node joins (its `node` is this config's [`node`](Self::node)); none:
    /// a single node.
    pub cluster: Option<ClusterConfig>,
    /// Topics that keep their broadcasts for clients that resume (docs/HISTORY.md).
    pub history: HistoryConfig,
    /// The secret that signs long-poll session tokens (option `secret_key_base`); `None`:
    /// random per process (refused in a cluster with long-poll, docs/LONGPOLL.md).
    pub secret_key_base: Option<String>,
    /// The most connections served at once (option `max_connections`; 0: no limit).
    pub max_connections: usize,
    /// Connection attempts admitted per second (option `connections_per_second`; 0: no limit).
    pub connections_per_second: u32,
    /// Where `GET` serves the metrics text (option `metrics_path`; `None`: not served).
    pub metrics_path: Option<String>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            node: "switchboard@localhost".to_owned(),
            mounts: Vec::new(),
            shards: 0,
            worker_threads: 0,
            request_timeout: Duration::from_secs(10),
            drain: DrainConfig::default(),
            handshake: HandshakeConfig::default(),
            channels: Vec::new(),
            host_connect: false,
            max_pending: QueueConfig::default().max_pending,
            static_files: Vec::new(),
            http_routes: Vec::new(),
            cluster: None,
            history: HistoryConfig::default(),
            secret_key_base: None,
            max_connections: 0,
            connections_per_second: 0,
            metrics_path: None,
        }
    }
}

impl HostConfig {
    /// The mounts to serve: the configured ones, or `/socket` with defaults.
    pub fn effective_mounts(&self) -> Vec<HostMount> {
        if self.mounts.is_empty() {
            vec![HostMount::new("/socket")]
        } else {
            self.mounts.clone()
        }
    }

    fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            max_pending: self.max_pending,
            connect_timeout: self.request_timeout,
        }
    }

    fn socket_mount(
        &self,
        mount: &HostMount,
        queue: &HostQueue,
        channels: &tokio::runtime::Handle,
    ) -> SocketMount {
        let mut socket = SocketMount::new()
            .channel_runtime(channels.clone())
            .max_channels(mount.max_channels)
            .rate_limits(mount.messages_per_second, mount.joins_per_second)
            .request_timeout(self.request_timeout)
            .transport_config(mount.transport.clone());
        if self.host_connect {
            socket = socket.connect(queue.connect_handler());
        }
        for route in &self.channels {
            socket = socket.channel(
                &route.pattern,
                queue
                    .channel_handler()
                    .pattern(&route.pattern)
                    .intercept(route.intercepts.iter().cloned()),
            );
        }
        socket
    }
}

/// Why a [`HostedEndpoint`] call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostedError {
    /// `start` was not called yet.
    #[error("the endpoint is not started")]
    NotStarted,
    /// `start` was called before.
    #[error("the endpoint was already started")]
    AlreadyStarted,
    /// `shutdown` or `close` ran.
    #[error("the endpoint was shut down")]
    Stopped,
    /// A blocking call from one of the endpoint's own runtime threads (it would deadlock).
    #[error("blocking endpoint calls cannot run on a Switchboard runtime thread")]
    OnRuntimeThread,
    /// Threads could not start, the address could not be bound, or the server failed.
    #[error("{0}")]
    Io(String),
    /// A mount path, route or static file the endpoint refused.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The cluster configuration is invalid, or another live node has this node's name.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl From<EndpointError> for HostedError {
    fn from(e: EndpointError) -> Self {
        match e {
            EndpointError::Bind { .. } | EndpointError::Server(_) => HostedError::Io(e.to_string()),
            EndpointError::MountPath(_)
            | EndpointError::DuplicateMount(_)
            | EndpointError::RouteConflict(_)
            | EndpointError::StaticFile(_)
            | EndpointError::History(_)
            | EndpointError::MetricsPath(_)
            | EndpointError::Secret(_) => HostedError::InvalidConfig(e.to_string()),
            EndpointError::Cluster(e) => HostedError::Cluster(e),
        }
    }
}

impl From<HostedError> for HostError {
    fn from(e: HostedError) -> HostError {
        let code = match e {
            HostedError::NotStarted
            | HostedError::AlreadyStarted
            | HostedError::Stopped
            | HostedError::OnRuntimeThread => ErrorCode::InvalidState,
            HostedError::Io(_) => ErrorCode::Io,
            HostedError::InvalidConfig(_) => ErrorCode::InvalidArgument,
            HostedError::Cluster(ClusterError::Config(_)) => ErrorCode::InvalidArgument,
            HostedError::Cluster(_) => ErrorCode::Broker,
        };
        HostError::new(code, e.to_string())
    }
}

#[derive(Debug)]
enum State {
    Created,
    Running(RunningEndpoint),
    Stopped,
}

/// An endpoint served from its own runtime threads and hosted through a [`HostQueue`].
/// Connections run on one runtime (`worker_threads`), channel tasks on a second one with a
/// single thread (see `MountConfig::channel_runtime`: a host's answers must not queue behind
/// the connection writers a broadcast woke).
/// `Send + Sync`: every method may be called from any thread; the blocking ones (`start`,
/// `drain`, `shutdown`, `close`) refuse to run on the endpoint's own runtime threads.
#[derive(Debug)]
pub struct HostedEndpoint {
    config: HostConfig,
    backplane: Arc<Backplane>,
    queue: HostQueue,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    channel_runtime: Mutex<Option<tokio::runtime::Runtime>>,
    channel_handle: tokio::runtime::Handle,
    state: Mutex<State>,
    /// [`Phase`] of `state`, read without its lock by every host broadcast.
    phase: AtomicU8,
}

/// Where a [`HostedEndpoint`] is in its life, as [`HostedEndpoint::publisher`] reads it.
#[repr(u8)]
enum Phase {
    Created = 0,
    Running = 1,
    Stopped = 2,
}

impl HostedEndpoint {
    /// Starts the runtime threads (it does not listen yet: [`start`](Self::start)).
    /// Errors: [`HostedError::Io`] when threads cannot start.
    pub fn new(config: HostConfig) -> Result<HostedEndpoint, HostedError> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all().thread_name("switchboard");
        if config.worker_threads > 0 {
            builder.worker_threads(config.worker_threads);
        }
        let runtime = builder
            .build()
            .map_err(|e| HostedError::Io(format!("cannot start runtime: {e}")))?;
        let channel_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("switchboard-channels")
            .build()
            .map_err(|e| HostedError::Io(format!("cannot start channel runtime: {e}")))?;
        let backplane = match &config.cluster {
            None => Backplane::with_history(&config.node, config.shards, config.history.clone()),
            Some(cluster) => {
                let mut cluster = cluster.clone();
                cluster.node.clone_from(&config.node);
                let cluster = Cluster::start(cluster, runtime.handle())?;
                Backplane::with_cluster_history(
                    &config.node,
                    config.shards,
                    Arc::new(cluster),
                    config.history.clone(),
                )
            }
        };
        let queue = HostQueue::with_config(config.queue_config());
        Ok(HostedEndpoint {
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            channel_handle: channel_runtime.handle().clone(),
            channel_runtime: Mutex::new(Some(channel_runtime)),
            backplane,
            queue,
            config,
            state: Mutex::new(State::Created),
            phase: AtomicU8::new(Phase::Created as u8),
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The request queue the host drains and answers.
    pub fn queue(&self) -> &HostQueue {
        &self.queue
    }

    /// The core backplane: presence, pubsub, channel counts. A host's own broadcasts go
    /// through [`broadcast`](Self::broadcast) / [`publisher`](Self::publisher), which refuse
    /// them while the endpoint is not running.
    pub fn backplane(&self) -> &Arc<Backplane> {
        &self.backplane
    }

    /// The backplane for a host broadcast on `topic` with `event`, after the checks every
    /// front-end shares, in this order: the endpoint was started and is not closed (Phoenix's
    /// `Endpoint.broadcast/3` needs the endpoint's PubSub running), then `topic` and `event`
    /// are not empty. The payload is checked by the broadcast itself. Between `shutdown` and
    /// `close` broadcasts still work: a channel's terminate may broadcast while the drain ends
    /// it, as in Phoenix.
    ///
    /// Errors: [`ErrorCode::InvalidState`](super::ErrorCode::InvalidState) before `start`
    /// and after `close`, [`ErrorCode::InvalidArgument`](super::ErrorCode::InvalidArgument)
    /// for an empty topic or event.
    pub fn publisher(&self, topic: &str, event: &str) -> Result<&Arc<Backplane>, HostError> {
        self.check_running()?;
        non_empty(topic, "topic")?;
        non_empty(event, "event")?;
        Ok(&self.backplane)
    }

    /// A host broadcast (Phoenix `Endpoint.broadcast/3`, or `local_broadcast/3` with
    /// `local`): checked by [`publisher`](Self::publisher), then made. Errors: those of
    /// `publisher`, [`ErrorCode::Encode`](super::ErrorCode::Encode) for a payload that is
    /// neither a JSON object nor binary (or does not fit a binary frame),
    /// [`ErrorCode::Broker`](super::ErrorCode::Broker).
    pub fn broadcast(
        &self,
        local: bool,
        topic: &str,
        event: &str,
        payload: Payload,
    ) -> Result<Delivered, HostError> {
        let backplane = self.publisher(topic, event)?;
        let delivered = if local {
            backplane.local_broadcast(topic, event, payload)
        } else {
            backplane.broadcast(topic, event, payload)
        };
        Ok(delivered?)
    }

    /// Closes every connection whose socket id is `socket_id` on every node (Phoenix
    /// `Endpoint.broadcast(socket_id, "disconnect", %{})`). Errors: those of
    /// [`publisher`](Self::publisher) (an empty socket id is `InvalidArgument`), `Broker`.
    pub fn disconnect(&self, socket_id: &str) -> Result<Delivered, HostError> {
        self.check_running()?;
        non_empty(socket_id, "socket id")?;
        Ok(self.backplane.disconnect(socket_id)?)
    }

    /// A topic's history as JSON text (docs/HISTORY.md "Host API"): see
    /// [`history_page`](super::history_page) for the shape, `limit` (0: all kept) and errors.
    /// Readable in every phase.
    pub fn history(
        &self,
        topic: &str,
        since: Option<&str>,
        limit: usize,
    ) -> Result<String, HostError> {
        super::history_page(&self.backplane, topic, since, limit)
    }

    /// What the endpoint holds now, as JSON text (docs/OPERATIONS.md "Introspection");
    /// readable in every phase (no connections before start or after close).
    pub fn census(&self) -> String {
        self.census_now().to_json()
    }

    /// The metrics in the Prometheus text format (docs/OPERATIONS.md "Metrics"), as
    /// `metrics_path` serves them; readable in every phase.
    pub fn metrics_text(&self) -> String {
        crate::endpoint::metrics::render(self.census_now(), &self.backplane)
    }

    /// The running endpoint's census; before start and after close, no connections.
    fn census_now(&self) -> Census {
        match &*self.state.lock() {
            State::Running(running) => running.census(),
            _ => Census::of(&self.backplane, ConnectionCensus::default()),
        }
    }

    fn check_running(&self) -> Result<(), HostedError> {
        match self.phase.load(Ordering::Acquire) {
            p if p == Phase::Running as u8 => Ok(()),
            p if p == Phase::Created as u8 => Err(HostedError::NotStarted),
            _ => Err(HostedError::Stopped),
        }
    }

    /// The connections' runtime, for front-ends that spawn work next to the endpoint.
    pub fn runtime_handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// The channel tasks' runtime (one thread): where a front-end applies the answers and
    /// actions of its host, so they do not queue behind connection writers.
    pub fn channel_runtime_handle(&self) -> &tokio::runtime::Handle {
        &self.channel_handle
    }

    /// Binds and serves every mount, static file and HTTP route; returns the bound address
    /// once listening. Blocks for the bind only.
    ///
    /// Errors: `AlreadyStarted`, `Stopped`, `OnRuntimeThread`, `Io` (address in use, no
    /// permission), `InvalidConfig` (bad mount path, route conflict, bad HTTP prefix).
    pub fn start(&self) -> Result<SocketAddr, HostedError> {
        not_on_runtime()?;
        let mut state = self.state.lock();
        match *state {
            State::Created => {}
            State::Running(_) => return Err(HostedError::AlreadyStarted),
            State::Stopped => return Err(HostedError::Stopped),
        }
        if let Some(cluster) = self.backplane.cluster() {
            self.handle.block_on(cluster.ready())?;
        }
        let cfg = &self.config;
        let mut builder = Endpoint::builder()
            .bind(cfg.bind)
            .backplane(self.backplane.clone())
            .drain(cfg.drain.clone())
            .handshake(cfg.handshake.clone())
            .max_connections(cfg.max_connections)
            .connections_per_second(cfg.connections_per_second);
        if let Some(secret) = &cfg.secret_key_base {
            builder = builder.secret_key_base(secret.as_bytes());
        }
        if let Some(path) = &cfg.metrics_path {
            builder = builder.metrics_path(path.clone());
        }
        for mount in cfg.effective_mounts() {
            let socket = cfg.socket_mount(&mount, &self.queue, &self.channel_handle);
            builder = builder.socket(mount.path.clone(), socket);
        }
        for file in &cfg.static_files {
            builder = builder.static_file(&file.route, &file.path, &file.content_type);
        }
        if !cfg.http_routes.is_empty() {
            let routes = self
                .queue
                .http_router(&cfg.http_routes)
                .map_err(|e| HostedError::InvalidConfig(e.to_string()))?;
            builder = builder.route(routes);
        }
        let running = self.handle.block_on(builder.start())?;
        let addr = running.local_addr();
        *state = State::Running(running);
        self.phase.store(Phase::Running as u8, Ordering::Release);
        Ok(addr)
    }

    /// The bound address while running.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &*self.state.lock() {
            State::Running(running) => Some(running.local_addr()),
            _ => None,
        }
    }

    /// The running endpoint (connection count, host subscriptions).
    /// Errors: `NotStarted`, `Stopped`.
    pub fn running(&self) -> Result<RunningEndpoint, HostedError> {
        match &*self.state.lock() {
            State::Running(running) => Ok(running.clone()),
            State::Created => Err(HostedError::NotStarted),
            State::Stopped => Err(HostedError::Stopped),
        }
    }

    /// Stops accepting WebSocket connections (503) and closes each live one with 1012, in
    /// batches per [`HostConfig::drain`]; blocks until all finished or the drain timeout.
    /// Idempotent. Errors: `NotStarted`, `Stopped`, `OnRuntimeThread`.
    pub fn drain(&self) -> Result<DrainReport, HostedError> {
        not_on_runtime()?;
        let running = self.running()?;
        Ok(self.handle.block_on(running.drain()))
    }

    /// Drains, then stops the listener and waits for it. Idempotent: later calls, and a call
    /// before `start`, return at once. Errors: `OnRuntimeThread`, `Io` (the server failed
    /// while stopping).
    pub fn shutdown(&self) -> Result<(), HostedError> {
        not_on_runtime()?;
        let previous = std::mem::replace(&mut *self.state.lock(), State::Stopped);
        if let State::Running(running) = previous {
            self.handle.block_on(running.shutdown())?;
        }
        Ok(())
    }

    /// Drops every connection without draining and stops the runtime threads, joining them:
    /// afterwards no request is posted and no wakeup callback runs. Call `shutdown` first for
    /// a graceful stop. Idempotent. Errors: `OnRuntimeThread`.
    pub fn close(&self) -> Result<(), HostedError> {
        not_on_runtime()?;
        *self.state.lock() = State::Stopped;
        self.phase.store(Phase::Stopped as u8, Ordering::Release);
        // Dropping the callback first, and joining the workers, is what guarantees that no
        // wakeup runs after `close` returns.
        self.queue.set_wakeup(None);
        // Connections first: their ends are what terminate the channels.
        for runtime in [&self.runtime, &self.channel_runtime] {
            if let Some(runtime) = runtime.lock().take() {
                runtime.shutdown_timeout(RUNTIME_STOP_TIMEOUT);
            }
        }
        Ok(())
    }
}

impl Drop for HostedEndpoint {
    fn drop(&mut self) {
        // Dropped on a runtime thread (the last `Arc` held by a task), a blocking shutdown
        // would panic.
        let blocking = tokio::runtime::Handle::try_current().is_err();
        if blocking {
            self.queue.set_wakeup(None);
        }
        for runtime in [
            self.runtime.get_mut().take(),
            self.channel_runtime.get_mut().take(),
        ] {
            match runtime {
                Some(runtime) if blocking => runtime.shutdown_timeout(RUNTIME_STOP_TIMEOUT),
                Some(runtime) => runtime.shutdown_background(),
                None => {}
            }
        }
    }
}

fn not_on_runtime() -> Result<(), HostedError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(HostedError::OnRuntimeThread);
    }
    Ok(())
}

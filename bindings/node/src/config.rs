//! The endpoint configuration as JavaScript passes it (the facade fills in defaults and
//! documents them in `index.d.ts`), checked and turned into the host layer's [`HostConfig`].

use crate::error::{Result, invalid};
use napi_derive::napi;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::endpoint::{CheckOrigin, DrainConfig, TransportConfig};
use switchboard::host::{ChannelRoute, HostConfig, HostMount, StaticFile};

/// One socket mount and its limits (unset fields take the endpoint-wide value).
#[napi(object)]
#[derive(Clone, Debug)]
pub struct NativeMount {
    /// Mount path, e.g. `/socket` (the transport is at `<path>/websocket`).
    pub path: String,
    /// Channels one connection may join at once (Phoenix default 100).
    pub max_channels: Option<u32>,
    /// Decode the `base64url.bearer.phx.<token>` subprotocol (default true).
    pub auth_token: Option<bool>,
    /// Allowed `Origin`s (Phoenix `check_origin`); absent = no check.
    pub check_origin: Option<Vec<String>>,
    /// Largest accepted frame, in bytes (default 8 MiB).
    pub max_frame_bytes: Option<u32>,
    /// Close a connection silent this long, in ms (default 60 000).
    pub idle_timeout_ms: Option<u32>,
    /// Outbound queue limit per connection in frames (default 1 024) and bytes (default
    /// 8 MiB); beyond it the connection is closed as a slow consumer (1013).
    pub outbox_max_frames: Option<u32>,
    pub outbox_max_bytes: Option<u32>,
}

/// A topic pattern served by JavaScript handlers.
#[napi(object)]
#[derive(Clone, Debug)]
pub struct NativeChannelRoute {
    /// `room:*` style pattern.
    pub pattern: String,
    /// Events whose broadcasts reach `handleOut` per subscriber (Phoenix `intercept`).
    pub intercepts: Vec<String>,
}

/// A file served with `GET` on the endpoint's port.
#[napi(object)]
#[derive(Clone, Debug)]
pub struct NativeStaticFile {
    /// Route, e.g. `/` or `/app.js`.
    pub route: String,
    /// File path (read on every request).
    pub path: String,
    /// `Content-Type` of the answer.
    pub content_type: String,
}

/// Everything `new NativeEndpoint` needs.
#[napi(object)]
#[derive(Clone, Debug)]
pub struct NativeConfig {
    /// `ip:port` to listen on (port 0 = any free port).
    pub bind: String,
    /// This node's name (presence `phx_ref`s are unique per node).
    pub node: String,
    /// Socket mounts; at least one.
    pub mounts: Vec<NativeMount>,
    /// Defaults for every mount.
    pub max_channels: u32,
    pub auth_token: bool,
    pub check_origin: Option<Vec<String>>,
    pub max_frame_bytes: u32,
    pub idle_timeout_ms: u32,
    pub outbox_max_frames: u32,
    pub outbox_max_bytes: u32,
    /// How long one host request may stay unanswered, in ms.
    pub request_timeout_ms: u32,
    /// Requests pending at once before the core refuses more.
    pub max_pending: u32,
    /// PubSub shards and runtime worker threads (0 = one per core).
    pub shards: u32,
    pub worker_threads: u32,
    /// Topic patterns handled in JavaScript.
    pub channels: Vec<NativeChannelRoute>,
    /// Ask JavaScript on every WebSocket connect (else every connect is accepted).
    pub host_connect: bool,
    /// Files served on the same port.
    pub static_files: Vec<NativeStaticFile>,
    /// Path prefixes whose HTTP requests JavaScript answers (`http` requests).
    pub http_routes: Vec<String>,
    /// Drain: connections closed per batch, pause between batches, and total limit (ms).
    pub drain_batch_size: u32,
    pub drain_interval_ms: u32,
    pub drain_timeout_ms: u32,
}

impl NativeConfig {
    /// The core's configuration. Errors: an unparsable `bind` (SB_E_INVALID_ARGUMENT); mount
    /// paths, routes and static files are checked by the core at `start`.
    pub fn into_host_config(self) -> Result<HostConfig> {
        let bind: SocketAddr = self
            .bind
            .parse()
            .map_err(|_| invalid(format!("{:?} is not `ip:port`", self.bind)))?;
        let mounts = self
            .mounts
            .iter()
            .map(|m| HostMount {
                path: m.path.clone(),
                max_channels: m.max_channels.unwrap_or(self.max_channels) as usize,
                transport: TransportConfig {
                    check_origin: match m.check_origin.as_ref().or(self.check_origin.as_ref()) {
                        Some(origins) => CheckOrigin::Allow(origins.clone()),
                        None => CheckOrigin::Off,
                    },
                    auth_token: m.auth_token.unwrap_or(self.auth_token),
                    max_frame_size: m.max_frame_bytes.unwrap_or(self.max_frame_bytes) as usize,
                    idle_timeout: Duration::from_millis(u64::from(
                        m.idle_timeout_ms.unwrap_or(self.idle_timeout_ms),
                    )),
                    outbox_max_frames: m.outbox_max_frames.unwrap_or(self.outbox_max_frames)
                        as usize,
                    outbox_max_bytes: m.outbox_max_bytes.unwrap_or(self.outbox_max_bytes) as usize,
                    ..TransportConfig::default()
                },
            })
            .collect();
        Ok(HostConfig {
            bind,
            node: self.node,
            mounts,
            shards: self.shards as usize,
            worker_threads: self.worker_threads as usize,
            request_timeout_ms: u64::from(self.request_timeout_ms),
            drain: DrainConfig {
                batch_size: self.drain_batch_size.max(1) as usize,
                batch_interval: Duration::from_millis(u64::from(self.drain_interval_ms)),
                timeout: Duration::from_millis(u64::from(self.drain_timeout_ms)),
            },
            channels: self
                .channels
                .into_iter()
                .map(|c| ChannelRoute {
                    pattern: c.pattern,
                    intercepts: c.intercepts,
                })
                .collect(),
            host_connect: self.host_connect,
            max_pending: self.max_pending as usize,
            static_files: self
                .static_files
                .into_iter()
                .map(|f| StaticFile {
                    route: f.route,
                    path: f.path,
                    content_type: f.content_type,
                })
                .collect(),
            http_routes: self.http_routes,
        })
    }
}

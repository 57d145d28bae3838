//! The endpoint configuration as JavaScript passes it (the facade fills in defaults and
//! documents them in `index.d.ts`), checked and turned into the host layer's config.

use napi_derive::napi;

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
    /// Drain: connections closed per batch, pause between batches, and total limit (ms).
    pub drain_batch_size: u32,
    pub drain_interval_ms: u32,
    pub drain_timeout_ms: u32,
}

//! `sb_config`: the endpoint configuration builder (docs/ABI.md "Objects and lifetimes"): typed
//! setters that validate and return a status; `sb_hub_new` copies it.

use crate::boundary::{
    from_handle, into_handle, sb_ffi_boundary, try_mut, try_out, try_ref, try_str,
};
use crate::status::{Error, Result, sb_status};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard_core::endpoint::{CheckOrigin, DrainConfig, TransportConfig};
use switchboard_core::host::{ChannelRoute, HostConfig, HostMount, StaticFile};

/// Endpoint configuration under construction (opaque). Created by `sb_config_new`, freed by
/// `sb_config_free`. Not thread-safe: use one config from one thread at a time.
#[allow(non_camel_case_types)]
#[derive(Clone, Debug, Default)]
pub struct sb_config {
    /// Everything but the mounts, which are built from the fields below at `sb_hub_new`.
    pub(crate) host: HostConfig,
    /// Socket mounts in order; a mount without limits of its own gets the ones below.
    pub(crate) mounts: Vec<(String, Option<MountLimits>)>,
    pub(crate) max_channels: Option<usize>,
    pub(crate) transport: TransportConfig,
}

/// What `sb_config_add_socket_with_limits` copies from its `limits` config.
#[derive(Clone, Debug, Default)]
pub(crate) struct MountLimits {
    max_channels: Option<usize>,
    transport: TransportConfig,
}

impl sb_config {
    /// The core configuration: `host` with one mount per path (`/socket` when none was
    /// added), each with its own limits or this config's.
    pub(crate) fn host_config(&self) -> HostConfig {
        let paths = if self.mounts.is_empty() {
            vec![("/socket".to_owned(), None)]
        } else {
            self.mounts.clone()
        };
        let mounts = paths
            .into_iter()
            .map(|(path, own)| {
                let limits = own.unwrap_or_else(|| self.limits());
                let mut mount = HostMount::new(path);
                if let Some(max) = limits.max_channels {
                    mount.max_channels = max;
                }
                mount.transport = limits.transport;
                mount
            })
            .collect();
        HostConfig {
            mounts,
            ..self.host.clone()
        }
    }

    fn limits(&self) -> MountLimits {
        MountLimits {
            max_channels: self.max_channels,
            transport: self.transport.clone(),
        }
    }

    fn add_mount(&mut self, path: *const u8, len: usize, own: Option<MountLimits>) -> Result<()> {
        let path = try_str(path, len, "path")?;
        if !valid_mount_path(path) {
            return Err(Error::invalid(format!(
                "invalid socket mount path {path:?} (must start with `/`, not end with `/`, no `{{}}?#*`)"
            )));
        }
        if self.mounts.iter().any(|(p, _)| p == path) {
            return Err(Error::invalid(format!(
                "socket mount path {path:?} is added twice"
            )));
        }
        self.mounts.push((path.to_owned(), own));
        Ok(())
    }
}

fn positive<T: PartialEq + Default + std::fmt::Display>(value: T, what: &str) -> Result<T> {
    if value == T::default() {
        Err(Error::invalid(format!("`{what}` must be greater than 0")))
    } else {
        Ok(value)
    }
}

/// RFC 9110 field values: visible ASCII, spaces and tabs (what a `Content-Type` may hold).
pub(crate) fn valid_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

fn to_usize(value: u64, what: &str) -> Result<usize> {
    usize::try_from(value).map_err(|_| Error::invalid(format!("`{what}` {value} is too large")))
}

/// Same rule as the core endpoint: `/name[/more]`, no trailing `/`, none of `{}?#*`.
fn valid_mount_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() > 1
        && !path.ends_with('/')
        && !path.contains(['{', '}', '?', '#', '*'])
}

/// Creates a configuration with every default: bind `127.0.0.1:0`, node
/// `"switchboard@localhost"`, one socket mount at `/socket` (unless `sb_config_add_socket`
/// adds others), shards and worker threads 0 (= one per core), max channels 100, request
/// timeout 10 000 ms, idle timeout 60 000 ms, max frame 8 MiB, outbox 1 024 frames / 8 MiB,
/// no origin check, auth token decoding on, drain batches of 10 000 every 2 000 ms within
/// 30 000 ms (Phoenix's defaults where Phoenix has one).
///
/// Ownership: `*out` is owned by the caller; free it with `sb_config_free`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`out`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_new(out: *mut *mut sb_config) -> sb_status {
    sb_ffi_boundary!({
        let out = try_out(out, "out")?;
        out.write(into_handle(sb_config::default()));
        Ok(())
    })
}

/// Frees a configuration. NULL is a no-op. A hub created from it keeps its own copy.
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_free(config: *mut sb_config) {
    crate::boundary::value_call((), || drop(from_handle(config)));
}

/// Sets the listen address, `host:port` text such as `"127.0.0.1:4000"` or `"[::1]:0"`
/// (UTF-8, `len` bytes, no NUL needed). Port 0 picks a free port; read it back with
/// `sb_hub_local_port`.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
/// (not an IP address with a port; host names are not resolved).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_bind_address(
    config: *mut sb_config,
    addr: *const u8,
    len: usize,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let text = try_str(addr, len, "addr")?;
        let parsed: SocketAddr = text
            .parse()
            .map_err(|_| Error::invalid(format!("{text:?} is not `ip:port`")))?;
        config.host.bind = parsed;
        Ok(())
    })
}

/// Sets this node's name for presence (`phx_ref`s are unique per node). Non-empty UTF-8.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_node_name(
    config: *mut sb_config,
    name: *const u8,
    len: usize,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let name = try_str(name, len, "name")?;
        if name.is_empty() {
            return Err(Error::invalid("`name` is empty"));
        }
        config.host.node = name.to_owned();
        Ok(())
    })
}

/// Adds a socket mount at `path` (e.g. `"/socket"`); its WebSocket transport is served at
/// `<path>/websocket`, like Phoenix `socket "/socket", UserSocket`. The mount uses the
/// limits of this config (see `sb_config_add_socket_with_limits` for limits of its own).
/// Without any call, one mount at `/socket` is used.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (must
/// start with `/`, must not end with `/`, none of `{}?#*`, not added twice).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_add_socket(
    config: *mut sb_config,
    path: *const u8,
    len: usize,
) -> sb_status {
    sb_ffi_boundary!({ try_mut(config, "config")?.add_mount(path, len, None) })
}

/// Adds a socket mount at `path` like `sb_config_add_socket`, but with the per-connection
/// limits of `limits` instead of `config`'s: max channels, idle timeout, max frame size,
/// outbox limits, check_origin and auth_token, as set on `limits` with the same setters
/// (Phoenix: each `socket` declaration has its own options). They are copied now: `limits`
/// may be changed or freed afterwards; its other settings are ignored.
///
/// Statuses: as `sb_config_add_socket`; `SB_E_NULL_POINTER` also for `limits`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_add_socket_with_limits(
    config: *mut sb_config,
    path: *const u8,
    len: usize,
    limits: *const sb_config,
) -> sb_status {
    sb_ffi_boundary!({
        let own = try_ref(limits, "limits")?.limits();
        try_mut(config, "config")?.add_mount(path, len, Some(own))
    })
}

/// Channels one connection may have joined at once (Phoenix `max_channels_per_transport`,
/// default 100). A join beyond it is answered `{"reason":"too many channels joined"}`.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0, or over `SIZE_MAX`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_max_channels(config: *mut sb_config, max: u64) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        config.max_channels = Some(to_usize(positive(max, "max")?, "max")?);
        Ok(())
    })
}

/// How long one host request (join, handle_in, ...) may stay unanswered before its channel
/// fails with `phx_error`, in milliseconds (default 10 000).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_request_timeout_ms(config: *mut sb_config, ms: u64) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        config.host.request_timeout_ms = positive(ms, "ms")?;
        Ok(())
    })
}

/// Closes a connection that sent no frame (data, ping or pong) for `ms` milliseconds (default
/// 60 000, Phoenix `timeout`), with close code 1001.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_idle_timeout_ms(config: *mut sb_config, ms: u64) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        config.transport.idle_timeout = Duration::from_millis(positive(ms, "ms")?);
        Ok(())
    })
}

/// Largest accepted WebSocket frame or message in bytes (default 8 388 608); a bigger one
/// closes the connection with 1009, as Cowboy does.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0, or over `SIZE_MAX`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_max_frame_bytes(config: *mut sb_config, bytes: u64) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        config.transport.max_frame_size = to_usize(positive(bytes, "bytes")?, "bytes")?;
        Ok(())
    })
}

/// Outbound queue limits per connection: `max_frames` frames (default 1 024) and `max_bytes`
/// bytes of frame bodies (default 8 MiB). Exceeding either drops the queue and closes the
/// connection with 1013 (the slow-consumer policy; the client reconnects).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (a 0, or over `SIZE_MAX`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_outbox_limits(
    config: *mut sb_config,
    max_frames: u64,
    max_bytes: u64,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let frames = to_usize(positive(max_frames, "max_frames")?, "max_frames")?;
        let bytes = to_usize(positive(max_bytes, "max_bytes")?, "max_bytes")?;
        config.transport.outbox_max_frames = frames;
        config.transport.outbox_max_bytes = bytes;
        Ok(())
    })
}

/// Adds an allowed `Origin` (Phoenix `check_origin`): `scheme://host[:port]`,
/// `//host[:port]` (any scheme), with `host` optionally starting with `*.` for every
/// subdomain. Once one origin is added, upgrades whose `Origin` matches none get HTTP 403;
/// requests without an `Origin` header are always accepted. Default: no check.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_add_check_origin(
    config: *mut sb_config,
    origin: *const u8,
    len: usize,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let origin = try_str(origin, len, "origin")?;
        if origin.is_empty() {
            return Err(Error::invalid("`origin` is empty"));
        }
        match &mut config.transport.check_origin {
            CheckOrigin::Allow(list) => list.push(origin.to_owned()),
            off => *off = CheckOrigin::Allow(vec![origin.to_owned()]),
        }
        Ok(())
    })
}

/// Whether the `base64url.bearer.phx.<token>` WebSocket subprotocol is decoded into the
/// connection's auth token (default true), as Phoenix's `auth_token` socket option.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_auth_token(config: *mut sb_config, enabled: bool) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        config.transport.auth_token = enabled;
        Ok(())
    })
}

/// PubSub and presence shards (default 0 = one per available core).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (over 65 536).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_shard_count(config: *mut sb_config, shards: u32) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        if shards > 65_536 {
            return Err(Error::invalid(format!(
                "{shards} shards is more than 65536"
            )));
        }
        config.host.shards = shards as usize;
        Ok(())
    })
}

/// Worker threads of the hub's runtime (default 0 = one per available core).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (over 1 024).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_worker_threads(config: *mut sb_config, threads: u32) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        if threads > 1024 {
            return Err(Error::invalid(format!(
                "{threads} threads is more than 1024"
            )));
        }
        config.host.worker_threads = threads as usize;
        Ok(())
    })
}

/// How `sb_hub_drain` / `sb_hub_shutdown` close connections (Phoenix `drainer`): batches of
/// `batch_size` connections (default 10 000) every `batch_interval_ms` (default 2 000), within
/// `timeout_ms` in total (default 30 000). The drain's grace is set here rather than per call
/// because the core fixes it when the endpoint starts.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (`batch_size` 0 or over
/// `SIZE_MAX`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_drain(
    config: *mut sb_config,
    batch_size: u64,
    batch_interval_ms: u64,
    timeout_ms: u64,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let batch_size = to_usize(positive(batch_size, "batch_size")?, "batch_size")?;
        config.host.drain = DrainConfig {
            batch_size,
            batch_interval: Duration::from_millis(batch_interval_ms),
            timeout: Duration::from_millis(timeout_ms),
        };
        Ok(())
    })
}

/// Routes topics matching `pattern` (`"room:*"`: every topic starting with `room:`; otherwise
/// the exact topic) on every socket mount to this hub's host queue (Phoenix `channel
/// "room:*", RoomChannel`): joins, client pushes and channel messages become `sb_event`s.
/// The first matching pattern wins; a topic without one is refused with
/// `{"reason":"unmatched topic"}`.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty,
/// or added twice).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_add_channel(
    config: *mut sb_config,
    pattern: *const u8,
    len: usize,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let pattern = try_str(pattern, len, "pattern")?;
        if pattern.is_empty() {
            return Err(Error::invalid("`pattern` is empty"));
        }
        if config.host.channels.iter().any(|c| c.pattern == pattern) {
            return Err(Error::invalid(format!(
                "channel pattern {pattern:?} is added twice"
            )));
        }
        config.host.channels.push(ChannelRoute {
            pattern: pattern.to_owned(),
            intercepts: Vec::new(),
        });
        Ok(())
    })
}

/// Serves the file at `path` for HTTP `GET route` (and `HEAD`) on the hub's port, with the
/// `Content-Type` `content_type`, for hosts without an HTTP server of their own (e.g.
/// `"/"`, `"examples/chat/index.html"`, `"text/html; charset=utf-8"`). The file is read on
/// every request (edits show without a restart): 404 when it is missing, 500 when it cannot
/// be read. A relative `path` is relative to the process's working directory at request
/// time, so prefer absolute paths.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
/// (`route` not a literal absolute path such as `/app.js`, i.e. not starting with `/` or
/// containing `{`, `}`, `*`, `?` or `#`; a route added twice; an empty `path`; a
/// `content_type` that is empty or not a valid header value). `sb_hub_start` gives
/// `SB_E_INVALID_ARGUMENT` when a route is also a socket route (`<mount>/websocket`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_add_static_file(
    config: *mut sb_config,
    route: *const u8,
    route_len: usize,
    path: *const u8,
    path_len: usize,
    content_type: *const u8,
    content_type_len: usize,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let route = try_str(route, route_len, "route")?;
        let path = try_str(path, path_len, "path")?;
        let content_type = try_str(content_type, content_type_len, "content_type")?;
        if !route.starts_with('/') || route.contains(['{', '}', '*', '?', '#']) {
            return Err(Error::invalid(format!(
                "route {route:?} must be a literal absolute path such as \"/app.js\""
            )));
        }
        if config.host.static_files.iter().any(|f| f.route == route) {
            return Err(Error::invalid(format!("route {route:?} is added twice")));
        }
        if path.is_empty() {
            return Err(Error::invalid("`path` is empty"));
        }
        if content_type.is_empty() || !valid_header_value(content_type) {
            return Err(Error::invalid(format!(
                "content type {content_type:?} is not a valid header value"
            )));
        }
        config.host.static_files.push(StaticFile {
            route: route.to_owned(),
            path: path.to_owned(),
            content_type: content_type.to_owned(),
        });
        Ok(())
    })
}

/// Intercepts `event` on the channels of `pattern` (added before with
/// `sb_config_add_channel`; Phoenix `intercept ["event"]`): its broadcasts on the channel
/// topic become `HandleOut` events instead of going straight to each client.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
/// event), `SB_E_NOT_FOUND` (no such pattern was added).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_add_intercept(
    config: *mut sb_config,
    pattern: *const u8,
    pattern_len: usize,
    event: *const u8,
    event_len: usize,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let pattern = try_str(pattern, pattern_len, "pattern")?;
        let event = try_str(event, event_len, "event")?;
        if event.is_empty() {
            return Err(Error::invalid("`event` is empty"));
        }
        let Some(route) = config
            .host
            .channels
            .iter_mut()
            .find(|c| c.pattern == pattern)
        else {
            return Err(Error::new(
                sb_status::SB_E_NOT_FOUND,
                format!("no channel pattern {pattern:?} (call sb_config_add_channel first)"),
            ));
        };
        route.intercepts.push(event.to_owned());
        Ok(())
    })
}

/// Whether WebSocket upgrades become `Connect` events for the host to accept or refuse
/// (Phoenix `connect/3`; default false: every connection is accepted with empty assigns and
/// no socket id). Unanswered within the request timeout, an upgrade is refused with 503.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_host_connect(config: *mut sb_config, enabled: bool) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        config.host.host_connect = enabled;
        Ok(())
    })
}

/// Requests with a ticket that may be pending at once, polled or not (default 65 536). A
/// request beyond it fails at once: a join gets `{"reason":"join crashed"}`, a message
/// crashes its channel, a connect gets 503.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0, or over `SIZE_MAX`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_max_pending(config: *mut sb_config, max: u64) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        config.host.max_pending = to_usize(positive(max, "max")?, "max")?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_validate_and_keep_the_old_value_on_error() {
        let mut cfg: *mut sb_config = std::ptr::null_mut();
        assert_eq!(sb_config_new(&mut cfg), sb_status::SB_OK);
        let bad = b"localhost:80";
        assert_eq!(
            sb_config_set_bind_address(cfg, bad.as_ptr(), bad.len()),
            sb_status::SB_E_INVALID_ARGUMENT
        );
        let good = b"127.0.0.1:4001";
        assert_eq!(
            sb_config_set_bind_address(cfg, good.as_ptr(), good.len()),
            sb_status::SB_OK
        );
        assert_eq!(
            sb_config_set_max_channels(cfg, 0),
            sb_status::SB_E_INVALID_ARGUMENT
        );
        let path = b"/ws";
        assert_eq!(
            sb_config_add_socket(cfg, path.as_ptr(), path.len()),
            sb_status::SB_OK
        );
        assert_eq!(
            sb_config_add_socket(cfg, path.as_ptr(), path.len()),
            sb_status::SB_E_INVALID_ARGUMENT
        );
        let c = try_mut(cfg, "cfg").unwrap();
        let host = c.host_config();
        assert_eq!(host.bind.port(), 4001);
        let paths: Vec<_> = host.mounts.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/ws"]);
        assert_eq!(host.mounts[0].max_channels, 100);

        // A mount with limits of its own; the config-wide ones stay for the others.
        let mut limits: *mut sb_config = std::ptr::null_mut();
        assert_eq!(sb_config_new(&mut limits), sb_status::SB_OK);
        assert_eq!(sb_config_set_max_channels(limits, 1), sb_status::SB_OK);
        assert_eq!(sb_config_set_idle_timeout_ms(limits, 500), sb_status::SB_OK);
        let own = b"/limited";
        assert_eq!(
            sb_config_add_socket_with_limits(cfg, own.as_ptr(), own.len(), limits),
            sb_status::SB_OK
        );
        assert_eq!(
            sb_config_add_socket_with_limits(cfg, own.as_ptr(), own.len(), limits),
            sb_status::SB_E_INVALID_ARGUMENT
        );
        let other = b"/other";
        assert_eq!(
            sb_config_add_socket_with_limits(cfg, other.as_ptr(), other.len(), std::ptr::null()),
            sb_status::SB_E_NULL_POINTER
        );
        sb_config_free(limits);
        assert_eq!(sb_config_set_max_channels(cfg, 7), sb_status::SB_OK);
        let c = try_mut(cfg, "cfg").unwrap();
        let host = c.host_config();
        assert_eq!(host.mounts.len(), 2);
        assert_eq!(host.mounts[0].max_channels, 7);
        assert_eq!(host.mounts[1].path, "/limited");
        assert_eq!(host.mounts[1].max_channels, 1);
        assert_eq!(
            host.mounts[1].transport.idle_timeout,
            Duration::from_millis(500)
        );
        assert_ne!(
            host.mounts[0].transport.idle_timeout,
            Duration::from_millis(500)
        );
        sb_config_free(cfg);
    }
}

//! `sb_config`: the endpoint configuration builder (docs/ABI.md "Objects and lifetimes"). Each
//! typed setter hands its value, by option name, to the core's [`Options`], which holds the
//! defaults and the checks every host language shares; `sb_endpoint_new` copies the result.

use crate::boundary::{
    from_handle, into_handle, sb_ffi_boundary, try_mut, try_out, try_ref, try_str,
};
use crate::status::{Result, sb_status};
use switchboard_core::host::{HostConfig, Naming, OptionValue, Options, StaticFile};

/// Endpoint configuration under construction (opaque). Created by `sb_config_new`, freed by
/// `sb_config_free`. Not thread-safe: use one config from one thread at a time.
#[allow(non_camel_case_types)]
#[derive(Clone, Debug)]
pub struct sb_config {
    pub(crate) options: Options,
    /// The origins added one by one with `sb_config_add_check_origin`.
    origins: Vec<OptionValue>,
}

impl Default for sb_config {
    fn default() -> Self {
        sb_config {
            options: Options::new(Naming::Snake),
            origins: Vec::new(),
        }
    }
}

impl sb_config {
    /// Sets one option by its name (docs/OPTIONS.md).
    pub(crate) fn set(&mut self, name: &str, value: OptionValue) -> Result<()> {
        Ok(self.options.set(name, value)?)
    }

    /// The core configuration (a host name in the bind address is resolved here).
    pub(crate) fn host_config(&self) -> Result<HostConfig> {
        Ok(self.options.build()?)
    }
}

/// Creates a configuration with every default: bind `127.0.0.1:0`, node
/// `"switchboard@localhost"`, one socket mount at `/socket` (unless `sb_config_add_socket`
/// adds others), shards and worker threads 0 (= one per core), max channels 100, request
/// timeout 10 000 ms, idle timeout 60 000 ms, max frame 64 KiB, outbox 1 024 frames / 8 MiB,
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

/// Frees a configuration. NULL is a no-op. An endpoint created from it keeps its own copy.
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_free(config: *mut sb_config) {
    crate::boundary::value_call((), || drop(from_handle(config)));
}

/// Sets the listen address, `host:port` text such as `"127.0.0.1:4000"`, `"[::1]:0"` or
/// `"localhost:4000"` (UTF-8, `len` bytes, no NUL needed). A host name is resolved by
/// `sb_endpoint_new` (its first address). Port 0 picks a free port; read it back with
/// `sb_endpoint_local_port`.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
/// (not `host:port`). `sb_endpoint_new` gives `SB_E_INVALID_ARGUMENT` for a name that does not
/// resolve.
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
        config.set("bind", OptionValue::Text(text.to_owned()))
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
        config.set("node", OptionValue::Text(name.to_owned()))
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
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let path = try_str(path, len, "path")?;
        Ok(config.options.add_mount(path, Vec::new())?)
    })
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
        let own = try_ref(limits, "limits")?.options.mount_options();
        let config = try_mut(config, "config")?;
        let path = try_str(path, len, "path")?;
        Ok(config.options.add_mount(path, own)?)
    })
}

/// Channels one connection may have joined at once (Phoenix `max_channels_per_transport`,
/// default 100). A join beyond it is answered `{"reason":"too many channels joined"}`.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0, or over `SIZE_MAX`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_max_channels(config: *mut sb_config, max: u64) -> sb_status {
    sb_ffi_boundary!({ try_mut(config, "config")?.set("max_channels", max.into()) })
}

/// How long one host request (join, handle_in, ...) may stay unanswered before its channel
/// fails with `phx_error`, in milliseconds (default 10 000).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_request_timeout_ms(config: *mut sb_config, ms: u64) -> sb_status {
    sb_ffi_boundary!({ try_mut(config, "config")?.set("request_timeout_ms", ms.into()) })
}

/// Closes a connection that sent no frame (data, ping or pong) for `ms` milliseconds (default
/// 60 000, Phoenix `timeout`), with close code 1001.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_idle_timeout_ms(config: *mut sb_config, ms: u64) -> sb_status {
    sb_ffi_boundary!({ try_mut(config, "config")?.set("idle_timeout_ms", ms.into()) })
}

/// Largest accepted WebSocket frame or message in bytes (default 65 536); a bigger one
/// closes the connection with 1009, as Cowboy does.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0, or over `SIZE_MAX`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_max_frame_bytes(config: *mut sb_config, bytes: u64) -> sb_status {
    sb_ffi_boundary!({ try_mut(config, "config")?.set("max_frame_bytes", bytes.into()) })
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
        // Both or neither: check both before setting either.
        let mut scratch = config.clone();
        scratch.set("outbox_max_frames", max_frames.into())?;
        scratch.set("outbox_max_bytes", max_bytes.into())?;
        *config = scratch;
        Ok(())
    })
}

/// Adds an allowed `Origin` (Phoenix `check_origin`): `scheme://host[:port]`,
/// `//host[:port]` (any scheme), with `host` optionally starting with `*.` for every
/// subdomain. Once one origin is added, upgrades whose `Origin` matches none get HTTP 403;
/// requests without an `Origin` header are always accepted. Default (no origin added): the
/// request's own host (`sb_config_set_bool(config, "check_origin", true)`); `false` there
/// turns the check off (docs/OPTIONS.md).
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
        let mut origins = config.origins.clone();
        origins.push(OptionValue::Text(origin.to_owned()));
        config.set("check_origin", OptionValue::List(origins.clone()))?;
        config.origins = origins;
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
    sb_ffi_boundary!({ try_mut(config, "config")?.set("auth_token", OptionValue::Bool(enabled)) })
}

/// PubSub and presence shards (default 0 = one per available core).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (over 65 536).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_shard_count(config: *mut sb_config, shards: u32) -> sb_status {
    sb_ffi_boundary!({ try_mut(config, "config")?.set("shards", u64::from(shards).into()) })
}

/// Worker threads of the endpoint's runtime (default 0 = one per available core).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (over 1 024).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_worker_threads(config: *mut sb_config, threads: u32) -> sb_status {
    sb_ffi_boundary!({
        try_mut(config, "config")?.set("worker_threads", u64::from(threads).into())
    })
}

/// How `sb_endpoint_drain` / `sb_endpoint_shutdown` close connections (Phoenix `drainer`):
/// batches of `batch_size` connections (default 10 000) every `batch_interval_ms` (default
/// 2 000), within `timeout_ms` in total (default 30 000). The drain's grace is set here rather
/// than per call because the core fixes it when the endpoint starts.
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
        let drain = [batch_size, batch_interval_ms, timeout_ms].map(OptionValue::from);
        try_mut(config, "config")?.set("drain", OptionValue::List(drain.to_vec()))
    })
}

/// Routes topics matching `pattern` (`"room:*"`: every topic starting with `room:`; otherwise
/// the exact topic) on every socket mount to this endpoint's host queue (Phoenix `channel
/// "room:*", RoomChannel`): joins, client pushes and channel messages become `sb_request`s.
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
        Ok(config.options.add_channel(pattern, Vec::new())?)
    })
}

/// Keeps the last `size` broadcasts of the topics matching `pattern` (as channel patterns,
/// e.g. `"room:*"`), each for at most `ttl_ms` milliseconds, so that a client rejoining with
/// `"_since"` in its params gets what it missed (docs/HISTORY.md). Presence and `phx_*`
/// events are never kept. The first matching pattern wins.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (an
/// invalid pattern, one added twice, `size` outside 1 to 1,000,000, `ttl_ms` 0 or above
/// 2^53). `sb_endpoint_new` gives `SB_E_INVALID_ARGUMENT` with a cluster broker (history is
/// kept on a single node for now).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_add_history(
    config: *mut sb_config,
    pattern: *const u8,
    pattern_len: usize,
    size: u64,
    ttl_ms: u64,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let pattern = try_str(pattern, pattern_len, "pattern")?;
        Ok(config
            .options
            .add_history(pattern, i128::from(size), i128::from(ttl_ms))?)
    })
}

/// Serves the file at `path` for HTTP `GET route` (and `HEAD`) on the endpoint's port, with the
/// `Content-Type` `content_type`, for hosts without an HTTP server of their own (e.g.
/// `"/"`, `"examples/chat/index.html"`, `"text/html; charset=utf-8"`). The file is read on
/// every request (edits show without a restart): 404 when it is missing, 500 when it cannot
/// be read. A relative `path` is relative to the process's working directory at request
/// time, so prefer absolute paths.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
/// (`route` not a literal absolute path such as `/app.js`, i.e. not starting with `/` or
/// containing `{`, `}`, `*`, `?` or `#`; a route added twice; an empty `path`; a
/// `content_type` that is empty or not a valid header value). `sb_endpoint_start` gives
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
        let file = StaticFile {
            route: try_str(route, route_len, "route")?.to_owned(),
            path: try_str(path, path_len, "path")?.to_owned(),
            content_type: try_str(content_type, content_type_len, "content_type")?.to_owned(),
        };
        Ok(config.options.add_static_file(file)?)
    })
}

/// Intercepts `event` on the channels of `pattern` (added before with
/// `sb_config_add_channel`; Phoenix `intercept ["event"]`): its broadcasts on the channel
/// topic become `HandleOut` requests instead of going straight to each client.
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
        Ok(config.options.add_intercept(pattern, event)?)
    })
}

/// Whether WebSocket upgrades become `Connect` requests for the host to accept or refuse
/// (Phoenix `connect/3`; default false: every connection is accepted with empty assigns and
/// no socket id). Unanswered within the request timeout, an upgrade is refused with 503.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_host_connect(config: *mut sb_config, enabled: bool) -> sb_status {
    sb_ffi_boundary!({
        try_mut(config, "config")?.options.set_host_connect(enabled);
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
    sb_ffi_boundary!({ try_mut(config, "config")?.set("max_pending", max.into()) })
}

/// Sets the option `name` (UTF-8, `name_len` bytes; docs/OPTIONS.md lists every option, its
/// unit and default) to an integer, e.g. `"header_read_timeout_ms"`, `"max_header_bytes"`,
/// `"max_pending_connections"`, `"close_timeout_ms"`. The typed setters above are shorthands
/// for these. Mount options set here are the default of every mount.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
/// (unknown name, with the closest known one in the last error; not an integer option; out of
/// range).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_int(
    config: *mut sb_config,
    name: *const u8,
    name_len: usize,
    value: i64,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let name = try_str(name, name_len, "name")?;
        config.set(name, OptionValue::Int(value.into()))
    })
}

/// Sets the boolean option `name` (see `sb_config_set_int`), e.g. `"auth_token"`.
///
/// Statuses: as `sb_config_set_int`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_bool(
    config: *mut sb_config,
    name: *const u8,
    name_len: usize,
    value: bool,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let name = try_str(name, name_len, "name")?;
        config.set(name, OptionValue::Bool(value))
    })
}

/// Sets the text option `name` (see `sb_config_set_int`) to `value` (UTF-8, `value_len`
/// bytes), e.g. `"host"`, `"node"`, `"bind"`.
///
/// Statuses: as `sb_config_set_int`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_set_text(
    config: *mut sb_config,
    name: *const u8,
    name_len: usize,
    value: *const u8,
    value_len: usize,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let name = try_str(name, name_len, "name")?;
        let value = try_str(value, value_len, "value")?;
        config.set(name, OptionValue::Text(value.to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn setters_validate_and_keep_the_old_value_on_error() {
        let mut cfg: *mut sb_config = std::ptr::null_mut();
        assert_eq!(sb_config_new(&mut cfg), sb_status::SB_OK);
        let bad = b"localhost";
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
        let host = c.host_config().unwrap();
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
        let host = c.host_config().unwrap();
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
        let name = b"max_header_bytes";
        assert_eq!(
            sb_config_set_int(cfg, name.as_ptr(), name.len(), 1),
            sb_status::SB_E_INVALID_ARGUMENT
        );
        assert_eq!(
            sb_config_set_int(cfg, name.as_ptr(), name.len(), 65_536),
            sb_status::SB_OK
        );
        let typo = b"max_header_byte";
        assert_eq!(
            sb_config_set_int(cfg, typo.as_ptr(), typo.len(), 65_536),
            sb_status::SB_E_INVALID_ARGUMENT
        );
        let c = try_mut(cfg, "cfg").unwrap();
        assert_eq!(c.host_config().unwrap().handshake.max_header_bytes, 65_536);
        sb_config_free(cfg);
    }
}

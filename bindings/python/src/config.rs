//! The endpoint configuration as the Python package passes it: one dict, validated here
//! into the core's plain-data [`HostConfig`] (the same one the C ABI's `sb_config` fills).
//! Every key is optional; the defaults are `HostConfig::default()`'s.

use crate::errors::{Error, Result};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::endpoint::{CheckOrigin, DrainConfig, TransportConfig};
use switchboard::host::{ChannelRoute, HostConfig, HostMount, StaticFile};

fn get<'py, T: FromPyObjectOwned<'py>>(
    dict: &Bound<'py, PyDict>,
    key: &str,
    default: T,
) -> Result<T> {
    match dict
        .get_item(key)
        .map_err(|e| Error::invalid(e.to_string()))?
    {
        Some(v) if !v.is_none() => v.extract().map_err(|_| {
            let ty = v
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            Error::invalid(format!("config `{key}`: unexpected value of type {ty}"))
        }),
        _ => Ok(default),
    }
}

fn positive<T: PartialEq + Default>(value: T, key: &str) -> Result<T> {
    if value == T::default() {
        Err(Error::invalid(format!("`{key}` must be greater than 0")))
    } else {
        Ok(value)
    }
}

fn mount(dict: &Bound<'_, PyDict>, defaults: &HostMount) -> Result<HostMount> {
    let path: String = get(dict, "path", defaults.path.clone())?;
    let d = &defaults.transport;
    let origins: Vec<String> = get(dict, "check_origin", Vec::new())?;
    let transport = TransportConfig {
        check_origin: if origins.is_empty() {
            CheckOrigin::Off
        } else {
            CheckOrigin::Allow(origins)
        },
        auth_token: get(dict, "auth_token", d.auth_token)?,
        max_frame_size: positive(
            get(dict, "max_frame_bytes", d.max_frame_size)?,
            "max_frame_bytes",
        )?,
        idle_timeout: Duration::from_millis(positive(
            get(dict, "idle_timeout_ms", d.idle_timeout.as_millis() as u64)?,
            "idle_timeout_ms",
        )?),
        outbox_max_frames: positive(
            get(dict, "outbox_max_frames", d.outbox_max_frames)?,
            "outbox_max_frames",
        )?,
        outbox_max_bytes: positive(
            get(dict, "outbox_max_bytes", d.outbox_max_bytes)?,
            "outbox_max_bytes",
        )?,
        close_timeout: d.close_timeout,
    };
    Ok(HostMount {
        path,
        max_channels: positive(
            get(dict, "max_channels", defaults.max_channels)?,
            "max_channels",
        )?,
        transport,
    })
}

/// Reads the dict built by `switchboard.Endpoint`. Top-level limits are every mount's
/// defaults. Errors: `InvalidArgumentError`.
pub(crate) fn host_config(dict: &Bound<'_, PyDict>) -> Result<HostConfig> {
    let defaults = HostConfig::default();
    let bind: String = get(dict, "bind", defaults.bind.to_string())?;
    let bind: SocketAddr = bind
        .parse()
        .map_err(|_| Error::invalid(format!("bind {bind:?} is not `ip:port`")))?;
    let node: String = get(dict, "node", defaults.node.clone())?;
    if node.is_empty() {
        return Err(Error::invalid("`node` is empty"));
    }
    let base = mount(dict, &HostMount::new("/socket"))?;
    let mut mounts: Vec<HostMount> = Vec::new();
    let specs: Vec<Bound<'_, PyDict>> = get(dict, "mounts", Vec::new())?;
    for spec in &specs {
        let m = mount(spec, &base)?;
        if mounts.iter().any(|x| x.path == m.path) {
            return Err(Error::invalid(format!(
                "socket mount path {:?} is used twice",
                m.path
            )));
        }
        mounts.push(m);
    }
    if mounts.is_empty() {
        mounts.push(base);
    }
    let d = &defaults.drain;
    let drain: (usize, u64, u64) = get(
        dict,
        "drain",
        (
            d.batch_size,
            d.batch_interval.as_millis() as u64,
            d.timeout.as_millis() as u64,
        ),
    )?;
    let channels: Vec<(String, Vec<String>)> = get(dict, "channels", Vec::new())?;
    let static_files: Vec<(String, String, String)> = get(dict, "static_files", Vec::new())?;
    Ok(HostConfig {
        bind,
        node,
        mounts,
        shards: get(dict, "shards", defaults.shards)?,
        worker_threads: get(dict, "worker_threads", defaults.worker_threads)?,
        request_timeout_ms: positive(
            get(dict, "request_timeout_ms", defaults.request_timeout_ms)?,
            "request_timeout_ms",
        )?,
        drain: DrainConfig {
            batch_size: positive(drain.0, "drain batch size")?,
            batch_interval: Duration::from_millis(drain.1),
            timeout: Duration::from_millis(drain.2),
        },
        channels: channels
            .into_iter()
            .map(|(pattern, intercepts)| ChannelRoute {
                pattern,
                intercepts,
            })
            .collect(),
        host_connect: get(dict, "host_connect", defaults.host_connect)?,
        max_pending: positive(
            get(dict, "max_pending", defaults.max_pending)?,
            "max_pending",
        )?,
        static_files: static_files
            .into_iter()
            .map(|(route, path, content_type)| StaticFile {
                route,
                path,
                content_type,
            })
            .collect(),
        http_routes: get(dict, "http_routes", Vec::new())?,
    })
}

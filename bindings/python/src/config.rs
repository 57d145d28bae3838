//! The endpoint configuration as the Python package passes it: one dict, validated here
//! into plain data. Every key is optional; the defaults are the C ABI's (`sb_config_new`).

use crate::errors::{Error, Result};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::endpoint::{CheckOrigin, DrainConfig, SocketMount, TransportConfig};
use switchboard::host::HostQueue;

/// One socket mount and its limits (Phoenix `socket "/socket", UserSocket, websocket: [...]`).
#[derive(Clone, Debug)]
pub(crate) struct Mount {
    pub(crate) path: String,
    pub(crate) max_channels: usize,
    pub(crate) request_timeout_ms: u64,
    pub(crate) transport: TransportConfig,
}

/// What `Hub(config)` starts.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) bind: SocketAddr,
    pub(crate) node: String,
    pub(crate) shards: usize,
    pub(crate) worker_threads: usize,
    pub(crate) max_pending: usize,
    pub(crate) host_connect: bool,
    pub(crate) mounts: Vec<Mount>,
    /// Topic patterns served by the host queue, each with its intercepted events.
    pub(crate) channels: Vec<(String, Vec<String>)>,
    /// `(route, file path, content type)`.
    pub(crate) static_files: Vec<(String, String, String)>,
    pub(crate) drain: DrainConfig,
}

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

fn mount(dict: &Bound<'_, PyDict>, defaults: &Mount) -> Result<Mount> {
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
    Ok(Mount {
        path,
        max_channels: positive(
            get(dict, "max_channels", defaults.max_channels)?,
            "max_channels",
        )?,
        request_timeout_ms: positive(
            get(dict, "request_timeout_ms", defaults.request_timeout_ms)?,
            "request_timeout_ms",
        )?,
        transport,
    })
}

impl Config {
    /// Reads the dict built by `switchboard.Endpoint`. Errors: `InvalidArgumentError`.
    pub(crate) fn from_dict(dict: &Bound<'_, PyDict>) -> Result<Config> {
        let bind: String = get(dict, "bind", "127.0.0.1:0".to_owned())?;
        let bind: SocketAddr = bind
            .parse()
            .map_err(|_| Error::invalid(format!("bind {bind:?} is not `ip:port`")))?;
        let node: String = get(dict, "node", "switchboard@localhost".to_owned())?;
        if node.is_empty() {
            return Err(Error::invalid("`node` is empty"));
        }
        // Top-level limits are the defaults of every mount.
        let base = mount(
            dict,
            &Mount {
                path: "/socket".into(),
                max_channels: 100,
                request_timeout_ms: 10_000,
                transport: TransportConfig::default(),
            },
        )?;
        let mut mounts = Vec::new();
        let specs: Vec<Bound<'_, PyDict>> = get(dict, "mounts", Vec::new())?;
        for spec in &specs {
            let m = mount(spec, &base)?;
            if mounts.iter().any(|x: &Mount| x.path == m.path) {
                return Err(Error::invalid(format!(
                    "socket mount path {:?} is used twice",
                    m.path
                )));
            }
            mounts.push(m);
        }
        if mounts.is_empty() {
            mounts.push(base.clone());
        }
        let drain: (usize, u64, u64) = get(dict, "drain", (10_000, 2_000, 30_000))?;
        Ok(Config {
            bind,
            node,
            shards: get(dict, "shards", 0)?,
            worker_threads: get(dict, "worker_threads", 0)?,
            max_pending: positive(get(dict, "max_pending", 65_536)?, "max_pending")?,
            host_connect: get(dict, "host_connect", false)?,
            mounts,
            channels: get(dict, "channels", Vec::new())?,
            static_files: get(dict, "static_files", Vec::new())?,
            drain: DrainConfig {
                batch_size: positive(drain.0, "drain batch size")?,
                batch_interval: Duration::from_millis(drain.1),
                timeout: Duration::from_millis(drain.2),
            },
        })
    }

    /// The core mount for `m`: its limits, every channel route served by `queue`, and
    /// connect requests through `queue` when the host has a connect callback.
    pub(crate) fn socket_mount(&self, m: &Mount, queue: &HostQueue) -> SocketMount {
        let mut mount = SocketMount::new()
            .max_channels(m.max_channels)
            .request_timeout_ms(m.request_timeout_ms)
            .transport_config(m.transport.clone());
        if self.host_connect {
            mount = mount.connect(queue.connect_handler());
        }
        for (pattern, intercepts) in &self.channels {
            mount = mount.channel(
                pattern,
                queue
                    .channel_handler()
                    .intercept(intercepts.iter().cloned()),
            );
        }
        mount
    }
}

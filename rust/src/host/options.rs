//! Endpoint options by name: the one place where an option a host language passes (a name and
//! a plain value) becomes part of the core's [`HostConfig`], with the checks, the defaults and
//! the error texts every language shares. C's typed setters, Python's keyword arguments and
//! Node's options object all end here; none of them holds a default or a check of its own.
//!
//! Names are snake_case (`max_frame_bytes`); a front-end whose language writes camelCase
//! (`maxFrameBytes`) says so with [`Naming::Camel`], and error messages then use its spelling.
//! Every option and its default is listed in docs/OPTIONS.md.

use super::error_code::HostError;
use super::hosted::{ChannelRoute, HostConfig, HostMount, StaticFile};
use crate::cluster::ClusterConfig;
use crate::endpoint::CheckOrigin;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// An option's value, as a front-end converts it from its language.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OptionValue {
    Bool(bool),
    /// Any integer (wide enough for every language's integers; ranges are checked here).
    Int(i128),
    /// A number with a fraction (or one the language only has as a float, e.g. `4000.5`).
    Float(f64),
    Text(String),
    List(Vec<OptionValue>),
    /// Named fields, in the order given (a JS object, a Python dict).
    Map(Vec<(String, OptionValue)>),
    /// A value no option takes, by its type name in the host language (`"function"`,
    /// `"bigint"`), so that the error can say what was given.
    Unsupported(String),
}

impl OptionValue {
    /// What the value is, for error messages: `the string "4000"`, `true`, `4000.5`.
    fn describe(&self) -> String {
        match self {
            OptionValue::Bool(b) => format!("the boolean {b}"),
            OptionValue::Int(i) => i.to_string(),
            OptionValue::Float(f) => f.to_string(),
            OptionValue::Text(s) => format!("the string {:?}", crate::logging::clip(s)),
            OptionValue::List(_) => "a list".to_owned(),
            OptionValue::Map(_) => "an object".to_owned(),
            OptionValue::Unsupported(ty) => format!("a value of type {ty}"),
        }
    }

    /// Converts JSON (what the Node front-end sends): integral numbers are [`Int`](Self::Int),
    /// others [`Float`](Self::Float); `null` is `None` (the option is left unset). An object
    /// `{"$unsupported": "<type>"}` stands for a value JSON cannot carry.
    pub fn from_json(value: serde_json::Value) -> Option<OptionValue> {
        use serde_json::Value;
        Some(match value {
            Value::Null => return None,
            Value::Bool(b) => OptionValue::Bool(b),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => OptionValue::Int(i.into()),
                (None, Some(u), _) => OptionValue::Int(u.into()),
                (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e30 => {
                    OptionValue::Int(f as i128)
                }
                (None, None, Some(f)) => OptionValue::Float(f),
                _ => OptionValue::Unsupported("number".to_owned()),
            },
            Value::String(s) => OptionValue::Text(s),
            Value::Array(items) => OptionValue::List(
                items
                    .into_iter()
                    .map(|v| {
                        OptionValue::from_json(v)
                            .unwrap_or(OptionValue::Unsupported("null".to_owned()))
                    })
                    .collect(),
            ),
            Value::Object(map) => {
                if map.len() == 1
                    && let Some(Value::String(ty)) = map.get("$unsupported")
                {
                    return Some(OptionValue::Unsupported(ty.clone()));
                }
                OptionValue::Map(
                    map.into_iter()
                        .filter_map(|(k, v)| OptionValue::from_json(v).map(|v| (k, v)))
                        .collect(),
                )
            }
        })
    }
}

impl From<u64> for OptionValue {
    fn from(value: u64) -> OptionValue {
        OptionValue::Int(value.into())
    }
}

/// How the calling language spells option names (in what it passes and in error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `max_frame_bytes` (Rust, C, Python).
    Snake,
    /// `maxFrameBytes` (JavaScript).
    Camel,
}

impl Naming {
    /// The snake_case name of `name` as this language writes it.
    fn canonical(self, name: &str) -> String {
        match self {
            Naming::Snake => name.to_owned(),
            Naming::Camel => {
                let mut out = String::with_capacity(name.len() + 4);
                for c in name.chars() {
                    if c.is_ascii_uppercase() {
                        out.push('_');
                        out.push(c.to_ascii_lowercase());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }

    /// `canonical` spelled this language's way.
    fn show(self, canonical: &str) -> String {
        match self {
            Naming::Snake => canonical.to_owned(),
            Naming::Camel => {
                let mut out = String::with_capacity(canonical.len());
                let mut upper = false;
                for c in canonical.chars() {
                    if c == '_' {
                        upper = true;
                    } else if upper {
                        out.push(c.to_ascii_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// Options of one socket mount; set at the endpoint level they are every mount's default.
const MOUNT_OPTIONS: &[&str] = &[
    "max_channels",
    "auth_token",
    "check_origin",
    "max_frame_bytes",
    "idle_timeout_ms",
    "outbox_max_frames",
    "outbox_max_bytes",
    "close_timeout_ms",
    "messages_per_second",
    "joins_per_second",
    "longpoll",
    "longpoll_window_ms",
    "longpoll_session_timeout_ms",
];

/// Options of the endpoint as a whole.
const ENDPOINT_OPTIONS: &[&str] = &[
    "bind",
    "host",
    "port",
    "node",
    "mounts",
    "shards",
    "worker_threads",
    "request_timeout_ms",
    "max_pending",
    "drain",
    "drain_batch_size",
    "drain_interval_ms",
    "drain_timeout_ms",
    "header_read_timeout_ms",
    "max_header_bytes",
    "max_pending_connections",
    "max_connections",
    "connections_per_second",
    "metrics_path",
    "static_files",
    "history",
    "secret_key_base",
    "broker",
    "broker_prefix",
    "broker_connect_timeout_ms",
    "broker_reconnect_max_ms",
    "broker_heartbeat_ms",
    "presence_broadcast_period_ms",
    "presence_down_period_ms",
    "presence_permdown_period_ms",
];

/// Fields of the `drain` option (a map), and of a `static_files` entry.
const DRAIN_FIELDS: &[&str] = &["batch_size", "interval_ms", "timeout_ms"];
const STATIC_FILE_FIELDS: &[&str] = &["route", "path", "content_type"];
/// Fields of a `history` entry.
const HISTORY_FIELDS: &[&str] = &["topic", "size", "ttl_ms"];
/// The most messages one topic may keep (each resume replays at most half an outbox).
pub const MAX_HISTORY_SIZE: i128 = 1_000_000;

/// The endpoint configuration being built from named options. [`build`](Self::build) gives
/// the [`HostConfig`]; every option not set keeps the default of [`HostConfig::default`],
/// [`HostMount::new`] and [`TransportConfig::default`](crate::endpoint::TransportConfig).
#[derive(Clone, Debug)]
pub struct Options {
    naming: Naming,
    config: HostConfig,
    host: String,
    port: u16,
    /// Mount options set at the endpoint level (every mount's defaults), already checked.
    mount_defaults: Vec<(String, OptionValue)>,
    /// Each mount's path and its own options, already checked.
    mounts: Vec<(String, Vec<(String, OptionValue)>)>,
    /// The cluster options (`broker*`); joined only when `broker` is not empty.
    cluster: ClusterConfig,
}

impl Options {
    /// Every option at its default; names spelled `naming`'s way.
    pub fn new(naming: Naming) -> Options {
        let config = HostConfig::default();
        Options {
            naming,
            host: config.bind.ip().to_string(),
            port: config.bind.port(),
            cluster: ClusterConfig::new("", config.node.clone()),
            config,
            mount_defaults: Vec::new(),
            mounts: Vec::new(),
        }
    }

    /// Sets one option. Errors (all [`ErrorCode::InvalidArgument`](super::ErrorCode)): an
    /// unknown name (the message suggests the closest known one), a value of the wrong type or
    /// out of range (the message names the option, the expected range and what was given).
    pub fn set(&mut self, name: &str, value: OptionValue) -> Result<(), HostError> {
        let key = self.naming.canonical(name);
        if MOUNT_OPTIONS.contains(&key.as_str()) {
            apply_mount(&mut HostMount::new("/check"), &key, &value, self.naming)?;
            self.mount_defaults.retain(|(k, _)| *k != key);
            self.mount_defaults.push((key, value));
            return Ok(());
        }
        if !ENDPOINT_OPTIONS.contains(&key.as_str()) {
            let all: Vec<&str> = ENDPOINT_OPTIONS
                .iter()
                .chain(MOUNT_OPTIONS)
                .copied()
                .collect();
            return Err(self.unknown(name, &all, "the endpoint"));
        }
        self.set_endpoint(&key, value)
    }

    /// Sets every option of a map (a JS object, a Python dict), in order.
    pub fn set_all(&mut self, options: Vec<(String, OptionValue)>) -> Result<(), HostError> {
        options
            .into_iter()
            .try_for_each(|(name, value)| self.set(&name, value))
    }

    /// Adds a socket mount at `path` (clients connect to `<path>/websocket`) with options of
    /// its own (any of the mount options); options it leaves unset take the endpoint-level
    /// value. Errors: a path that does not start with `/`, ends with `/` or holds one of
    /// `{}?#*`; a path added twice; an option that is not a mount option or is invalid.
    pub fn add_mount(
        &mut self,
        path: &str,
        options: Vec<(String, OptionValue)>,
    ) -> Result<(), HostError> {
        if !crate::endpoint::valid_mount_path(path) {
            return Err(HostError::invalid(format!(
                "invalid socket mount path {path:?} (must start with `/`, not end with `/`, no `{{}}?#*`)"
            )));
        }
        if self.mounts.iter().any(|(p, _)| p == path) {
            return Err(HostError::invalid(format!(
                "socket mount path {path:?} is added twice"
            )));
        }
        let mut own = Vec::with_capacity(options.len());
        let mut scratch = HostMount::new(path);
        for (name, value) in options {
            let key = self.naming.canonical(&name);
            if key == "path" {
                continue;
            }
            if !MOUNT_OPTIONS.contains(&key.as_str()) {
                return Err(self.unknown(&name, MOUNT_OPTIONS, &format!("mount {path:?}")));
            }
            apply_mount(&mut scratch, &key, &value, self.naming)?;
            own.push((key, value));
        }
        self.mounts.push((path.to_owned(), own));
        Ok(())
    }

    /// Routes topics matching `pattern` to the host (Phoenix `channel "room:*", ...`), with
    /// the events it intercepts. Errors: an invalid pattern (see [`check_pattern`]), a pattern
    /// added twice, an empty event.
    pub fn add_channel(&mut self, pattern: &str, intercepts: Vec<String>) -> Result<(), HostError> {
        check_pattern(pattern)?;
        if self.config.channels.iter().any(|c| c.pattern == pattern) {
            return Err(HostError::invalid(format!(
                "channel pattern {pattern:?} is added twice"
            )));
        }
        if intercepts.iter().any(String::is_empty) {
            return Err(HostError::invalid(format!(
                "channel {pattern:?}: an intercepted event is empty"
            )));
        }
        self.config.channels.push(ChannelRoute {
            pattern: pattern.to_owned(),
            intercepts,
        });
        Ok(())
    }

    /// Adds `events` to the intercepts of a pattern added before. Errors: the pattern was not
    /// added (`NotFound`), an empty event.
    pub fn add_intercept(&mut self, pattern: &str, event: &str) -> Result<(), HostError> {
        if event.is_empty() {
            return Err(HostError::invalid("the intercepted event is empty"));
        }
        let route = self
            .config
            .channels
            .iter_mut()
            .find(|c| c.pattern == pattern)
            .ok_or_else(|| {
                HostError::new(
                    super::ErrorCode::NotFound,
                    format!("no channel pattern {pattern:?} was added"),
                )
            })?;
        route.intercepts.push(event.to_owned());
        Ok(())
    }

    /// Answers HTTP requests for `prefix` and every path below it in the host (`/api` serves
    /// `/api` and `/api/x`, not `/apix`). Errors: not an absolute literal path (no trailing
    /// `/` except `/` itself, none of `{}*?#`), added twice. A prefix that is also another
    /// route is refused when the endpoint starts.
    pub fn add_http_route(&mut self, prefix: &str) -> Result<(), HostError> {
        check_http_prefix(prefix)?;
        if self.config.http_routes.iter().any(|p| p == prefix) {
            return Err(HostError::invalid(format!(
                "HTTP route {prefix:?} is added twice"
            )));
        }
        self.config.http_routes.push(prefix.to_owned());
        Ok(())
    }

    /// Keeps the last `size` broadcasts (for at most `ttl_ms` milliseconds) of the topics
    /// matching `pattern`, so that clients can resume (docs/HISTORY.md). Errors: an invalid
    /// pattern (as channel patterns), a pattern added twice, `size` outside 1 to
    /// [`MAX_HISTORY_SIZE`], `ttl_ms` below 1.
    pub fn add_history(
        &mut self,
        pattern: &str,
        size: i128,
        ttl_ms: i128,
    ) -> Result<(), HostError> {
        check_pattern(pattern)?;
        if self.config.history.rules().any(|(p, _)| p == pattern) {
            return Err(HostError::invalid(format!(
                "history pattern {pattern:?} is added twice"
            )));
        }
        let n = self.naming;
        let size = Opt::new(n, "size", &OptionValue::Int(size)).int(1, MAX_HISTORY_SIZE)?;
        let ttl = Opt::new(n, "ttl_ms", &OptionValue::Int(ttl_ms)).int(1, MAX_MS)?;
        self.config.history.add(
            pattern,
            crate::pubsub::history::HistoryRule {
                size: size as usize,
                ttl: ms(ttl),
            },
        );
        Ok(())
    }

    /// Serves the file at `path` for `GET route` with this `Content-Type`. Errors: see
    /// [`check_static_file`]; a route added twice.
    pub fn add_static_file(&mut self, file: StaticFile) -> Result<(), HostError> {
        check_static_file(&file)?;
        if self
            .config
            .static_files
            .iter()
            .any(|f| f.route == file.route)
        {
            return Err(HostError::invalid(format!(
                "route {:?} is added twice",
                file.route
            )));
        }
        self.config.static_files.push(file);
        Ok(())
    }

    /// Whether connects are asked of the host (`Connect` requests) or all accepted.
    pub fn set_host_connect(&mut self, enabled: bool) {
        self.config.host_connect = enabled;
    }

    /// The mount options set at the endpoint level (what C's `sb_config_add_socket_with_limits`
    /// copies from its `limits` config).
    pub fn mount_options(&self) -> Vec<(String, OptionValue)> {
        self.mount_defaults.clone()
    }

    /// The configuration. Errors: a `host` that does not resolve to an address.
    pub fn build(&self) -> Result<HostConfig, HostError> {
        let mut config = self.config.clone();
        config.bind = resolve(&self.host, self.port)?;
        if !self.cluster.url.is_empty() {
            let mut cluster = self.cluster.clone();
            cluster.node.clone_from(&config.node);
            cluster
                .check()
                .map_err(|e| HostError::invalid(e.to_string()))?;
            if let Some(why) = crate::cluster::history_refused(&cluster, &config.history) {
                return Err(HostError::invalid(why));
            }
            let longpoll = self
                .mount_defaults
                .iter()
                .chain(self.mounts.iter().flat_map(|(_, own)| own))
                .any(|(k, v)| k == "longpoll" && *v == OptionValue::Bool(true));
            let secret = config.secret_key_base.as_deref().map(str::as_bytes);
            if let Some(why) = longpoll
                .then(|| {
                    let name = self.naming.show("secret_key_base");
                    crate::endpoint::secret_refused(secret, true, &name)
                })
                .flatten()
            {
                return Err(HostError::invalid(why));
            }
            config.cluster = Some(cluster);
        }
        let paths: Vec<(String, &[(String, OptionValue)])> = if self.mounts.is_empty() {
            vec![("/socket".to_owned(), &[])]
        } else {
            self.mounts
                .iter()
                .map(|(p, own)| (p.clone(), own.as_slice()))
                .collect()
        };
        config.mounts = paths
            .into_iter()
            .map(|(path, own)| {
                let mut mount = HostMount::new(path);
                for (key, value) in self.mount_defaults.iter().chain(own) {
                    apply_mount(&mut mount, key, value, self.naming)?;
                }
                Ok(mount)
            })
            .collect::<Result<_, HostError>>()?;
        Ok(config)
    }

    fn set_endpoint(&mut self, key: &str, value: OptionValue) -> Result<(), HostError> {
        let n = self.naming;
        match key {
            "bind" => {
                let text = Opt::new(n, key, &value).text()?;
                let (host, port) = split_host_port(&text).ok_or_else(|| {
                    HostError::invalid(format!(
                        "`{}` must be `host:port` such as \"127.0.0.1:4000\" (got {})",
                        n.show(key),
                        value.describe()
                    ))
                })?;
                self.host = host;
                self.port = port;
            }
            "host" => {
                let text = Opt::new(n, key, &value).text()?;
                if text.is_empty() {
                    return Err(Opt::new(n, key, &value).wrong("a host name or IP address"));
                }
                self.host = text
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
            }
            "port" => self.port = Opt::new(n, key, &value).int(0, u16::MAX.into())? as u16,
            "node" => {
                let text = Opt::new(n, key, &value).text()?;
                if text.is_empty() {
                    return Err(Opt::new(n, key, &value).wrong("a non-empty node name"));
                }
                self.config.node = text;
            }
            "mounts" => {
                let OptionValue::List(items) = value else {
                    return Err(Opt::new(n, key, &value).wrong("a list of mount paths or mounts"));
                };
                self.mounts.clear();
                for item in items {
                    match item {
                        OptionValue::Text(path) => self.add_mount(&path, Vec::new())?,
                        OptionValue::Map(fields) => {
                            let path = fields
                                .iter()
                                .find(|(k, _)| k == "path")
                                .and_then(|(_, v)| match v {
                                    OptionValue::Text(p) => Some(p.clone()),
                                    _ => None,
                                })
                                .ok_or_else(|| {
                                    HostError::invalid(format!(
                                        "each entry of `{}` is a path or has a `path` string",
                                        n.show(key)
                                    ))
                                })?;
                            self.add_mount(&path, fields)?;
                        }
                        other => {
                            return Err(Opt::new(n, key, &other).wrong("a mount path or a mount"));
                        }
                    }
                }
            }
            "broker" => {
                let url = Opt::new(n, key, &value).text()?;
                let mut probe = ClusterConfig::new(url.clone(), "probe");
                probe.prefix.clone_from(&self.cluster.prefix);
                if !url.is_empty() && probe.check().is_err() {
                    return Err(Opt::new(n, key, &value).wrong(
                        "a broker URL (redis://host:port, rediss://host:port or nats://host:port) or \"\" for a single node",
                    ));
                }
                self.cluster.url = url;
            }
            "broker_prefix" => {
                let prefix = Opt::new(n, key, &value).text()?;
                let mut probe = ClusterConfig::new("redis://probe", "probe");
                probe.prefix.clone_from(&prefix);
                if probe.check().is_err() {
                    return Err(Opt::new(n, key, &value).wrong(
                        "letters, digits and _ - : . (no leading, trailing or double dot)",
                    ));
                }
                self.cluster.prefix = prefix;
            }
            "broker_connect_timeout_ms" => {
                self.cluster.connect_timeout = ms(Opt::new(n, key, &value).int(1, MAX_MS)?)
            }
            "broker_reconnect_max_ms" => {
                self.cluster.reconnect_max = ms(Opt::new(n, key, &value).int(1, MAX_MS)?)
            }
            "broker_heartbeat_ms" => {
                self.cluster.heartbeat = ms(Opt::new(n, key, &value).int(1, MAX_MS)?)
            }
            // Their relations (down >= 2 x heartbeat and broadcast period, permdown > down)
            // are checked when the config is built, since they involve several options.
            "presence_broadcast_period_ms" => {
                self.cluster.presence_broadcast_period =
                    ms(Opt::new(n, key, &value).int(1, MAX_MS)?)
            }
            "presence_down_period_ms" => {
                self.cluster.presence_down_period = ms(Opt::new(n, key, &value).int(1, MAX_MS)?)
            }
            "presence_permdown_period_ms" => {
                self.cluster.presence_permdown_period = ms(Opt::new(n, key, &value).int(1, MAX_MS)?)
            }
            "shards" => self.config.shards = Opt::new(n, key, &value).int(0, 65_536)? as usize,
            "worker_threads" => {
                self.config.worker_threads = Opt::new(n, key, &value).int(0, 1024)? as usize
            }
            "request_timeout_ms" => {
                self.config.request_timeout =
                    Duration::from_millis(Opt::new(n, key, &value).int(1, MAX_MS)? as u64)
            }
            "max_pending" => {
                self.config.max_pending = Opt::new(n, key, &value).int(1, MAX_COUNT)? as usize
            }
            "drain" => {
                let fields = match value {
                    OptionValue::Map(fields) => fields,
                    // Python's `(batch_size, interval_ms, timeout_ms)` tuple.
                    OptionValue::List(items) if items.len() == DRAIN_FIELDS.len() => {
                        DRAIN_FIELDS.iter().map(|f| n.show(f)).zip(items).collect()
                    }
                    other => {
                        return Err(Opt::new(n, key, &other)
                            .wrong("an object with batch_size, interval_ms and timeout_ms"));
                    }
                };
                for (field, v) in fields {
                    let f = n.canonical(&field);
                    if !DRAIN_FIELDS.contains(&f.as_str()) {
                        return Err(self.unknown(&field, DRAIN_FIELDS, "`drain`"));
                    }
                    self.set_endpoint(&format!("drain_{f}"), v)?;
                }
            }
            "drain_batch_size" => {
                self.config.drain.batch_size = Opt::new(n, key, &value).int(1, MAX_COUNT)? as usize
            }
            "drain_interval_ms" => {
                self.config.drain.batch_interval = ms(Opt::new(n, key, &value).int(0, MAX_MS)?);
            }
            "drain_timeout_ms" => {
                self.config.drain.timeout = ms(Opt::new(n, key, &value).int(0, MAX_MS)?)
            }
            "header_read_timeout_ms" => {
                self.config.handshake.header_read_timeout =
                    ms(Opt::new(n, key, &value).int(1, MAX_MS)?);
            }
            "max_header_bytes" => {
                self.config.handshake.max_header_bytes = Opt::new(n, key, &value)
                    .int(crate::endpoint::MIN_HEADER_BYTES as i128, MAX_COUNT)?
                    as usize;
            }
            "max_connections" => {
                self.config.max_connections = Opt::new(n, key, &value).int(0, MAX_COUNT)? as usize;
            }
            "connections_per_second" => {
                self.config.connections_per_second =
                    Opt::new(n, key, &value).int(0, MAX_RATE)? as u32;
            }
            "max_pending_connections" => {
                self.config.handshake.max_pending_connections =
                    Opt::new(n, key, &value).int(1, MAX_COUNT)? as usize;
            }
            "static_files" => {
                let OptionValue::List(items) = value else {
                    return Err(Opt::new(n, key, &value).wrong("a list of static files"));
                };
                self.config.static_files.clear();
                for item in items {
                    self.add_static_file(static_file(item, n)?)?;
                }
            }
            "metrics_path" => {
                let path = Opt::new(n, key, &value).text()?;
                if !path.is_empty() && !crate::endpoint::valid_metrics_path(&path) {
                    return Err(HostError::invalid(format!(
                        "`{}` must be a path starting with `/` without `{{}}*` (or empty: not served), got {:?}",
                        n.show(key),
                        crate::logging::clip(&path)
                    )));
                }
                self.config.metrics_path = (!path.is_empty()).then_some(path);
            }
            "secret_key_base" => {
                let secret = Opt::new(n, key, &value).text()?;
                if let Some(why) =
                    crate::endpoint::secret_refused(Some(secret.as_bytes()), false, &n.show(key))
                {
                    return Err(HostError::invalid(why));
                }
                self.config.secret_key_base = Some(secret);
            }
            "history" => {
                let OptionValue::List(items) = value else {
                    return Err(Opt::new(n, key, &value).wrong("a list of history rules"));
                };
                self.config.history = Default::default();
                for item in items {
                    let (pattern, size, ttl_ms) = history_rule(item, n)?;
                    self.add_history(&pattern, size, ttl_ms)?;
                }
            }
            _ => unreachable!("`set` passes only ENDPOINT_OPTIONS"),
        }
        Ok(())
    }

    /// "unknown option `prot` of the endpoint (did you mean `port`?)".
    fn unknown(&self, given: &str, known: &[&str], of: &str) -> HostError {
        let canonical = self.naming.canonical(given);
        let hint = match closest_name(&canonical, known) {
            Some(k) => format!(" (did you mean `{}`?)", self.naming.show(k)),
            None => format!(
                " (known: {})",
                known
                    .iter()
                    .map(|k| self.naming.show(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        HostError::invalid(format!("unknown option `{given}` of {of}{hint}"))
    }
}

/// Largest millisecond value accepted (about 31 years; keeps `Instant` arithmetic safe).
const MAX_MS: i128 = 1 << 40;
/// Largest per-second rate accepted (0 is no limit).
const MAX_RATE: i128 = 1_000_000;
/// Largest count or byte size accepted.
const MAX_COUNT: i128 = u32::MAX as i128;

fn ms(value: i128) -> Duration {
    Duration::from_millis(value as u64)
}

/// One option's value being checked, for the error text.
struct Opt<'a> {
    naming: Naming,
    key: &'a str,
    value: &'a OptionValue,
}

impl<'a> Opt<'a> {
    fn new(naming: Naming, key: &'a str, value: &'a OptionValue) -> Opt<'a> {
        Opt { naming, key, value }
    }

    /// "`port` must be an integer from 0 to 65535 (got the string "4000")".
    fn wrong(&self, expected: &str) -> HostError {
        HostError::invalid(format!(
            "`{}` must be {expected} (got {})",
            self.naming.show(self.key),
            self.value.describe()
        ))
    }

    fn int(&self, min: i128, max: i128) -> Result<i128, HostError> {
        match self.value {
            OptionValue::Int(i) if (min..=max).contains(i) => Ok(*i),
            _ => Err(self.wrong(&format!("an integer from {min} to {max}"))),
        }
    }

    fn text(&self) -> Result<String, HostError> {
        match self.value {
            OptionValue::Text(s) => Ok(s.clone()),
            _ => Err(self.wrong("a string")),
        }
    }

    fn bool(&self) -> Result<bool, HostError> {
        match self.value {
            OptionValue::Bool(b) => Ok(*b),
            _ => Err(self.wrong("true or false")),
        }
    }
}

/// Applies one (known) mount option to `mount`.
fn apply_mount(
    mount: &mut HostMount,
    key: &str,
    value: &OptionValue,
    naming: Naming,
) -> Result<(), HostError> {
    let opt = Opt::new(naming, key, value);
    let t = &mut mount.transport;
    match key {
        "max_channels" => mount.max_channels = opt.int(1, MAX_COUNT)? as usize,
        "messages_per_second" => mount.messages_per_second = opt.int(0, MAX_RATE)? as u32,
        "joins_per_second" => mount.joins_per_second = opt.int(0, MAX_RATE)? as u32,
        "auth_token" => t.auth_token = opt.bool()?,
        "check_origin" => t.check_origin = check_origin(&opt)?,
        "max_frame_bytes" => t.max_frame_bytes = opt.int(1, MAX_COUNT)? as usize,
        "idle_timeout_ms" => t.idle_timeout = ms(opt.int(1, MAX_MS)?),
        "outbox_max_frames" => t.outbox_max_frames = opt.int(1, MAX_COUNT)? as usize,
        "outbox_max_bytes" => t.outbox_max_bytes = opt.int(1, MAX_COUNT)? as usize,
        "close_timeout_ms" => t.close_timeout = ms(opt.int(0, MAX_MS)?),
        "longpoll" => t.longpoll = opt.bool()?,
        "longpoll_window_ms" => t.longpoll_window = ms(opt.int(1, MAX_MS)?),
        "longpoll_session_timeout_ms" => t.longpoll_session_timeout = Some(ms(opt.int(1, MAX_MS)?)),
        _ => unreachable!("only MOUNT_OPTIONS reach apply_mount"),
    }
    Ok(())
}

/// `check_origin`: `true` (the default) accepts a browser's Origin only when it names the
/// request's own host; `false` turns the check off; a non-empty list of origins accepts those.
/// An empty list is refused rather than read as "refuse every browser" (what it means in
/// Phoenix) or "no check" (what it looks like): both readings have surprised users.
fn check_origin(opt: &Opt<'_>) -> Result<CheckOrigin, HostError> {
    const EXPECTED: &str = "true (the request's own host), false or a non-empty list of origins such as \"https://example.com\" or \"//*.example.com\"";
    match opt.value {
        OptionValue::Bool(true) => Ok(CheckOrigin::SameHost),
        OptionValue::Bool(false) => Ok(CheckOrigin::Off),
        OptionValue::List(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                OptionValue::Text(origin) if !origin.is_empty() => Ok(origin.clone()),
                _ => Err(opt.wrong(EXPECTED)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(CheckOrigin::Allow),
        _ => Err(opt.wrong(EXPECTED)),
    }
}

fn static_file(item: OptionValue, naming: Naming) -> Result<StaticFile, HostError> {
    let bad = || {
        HostError::invalid(format!(
            "each entry of `{}` is ({}) strings",
            naming.show("static_files"),
            shown_fields(naming, STATIC_FILE_FIELDS)
        ))
    };
    let fields: Vec<String> = match item {
        OptionValue::List(items) if items.len() == 3 => items
            .into_iter()
            .map(|v| match v {
                OptionValue::Text(s) => Ok(s),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?,
        OptionValue::Map(map) => STATIC_FILE_FIELDS
            .iter()
            .map(|f| {
                map.iter()
                    .find(|(k, _)| naming.canonical(k) == *f)
                    .and_then(|(_, v)| match v {
                        OptionValue::Text(s) => Some(s.clone()),
                        _ => None,
                    })
                    .ok_or_else(bad)
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad()),
    };
    let [route, path, content_type] = <[String; 3]>::try_from(fields).map_err(|_| bad())?;
    Ok(StaticFile {
        route,
        path,
        content_type,
    })
}

/// A map option's field names in the language's spelling, comma-separated.
fn shown_fields(naming: Naming, fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| naming.show(f))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `history` entry: `{topic, size, ttl_ms}` or `[topic, size, ttl_ms]`.
fn history_rule(item: OptionValue, naming: Naming) -> Result<(String, i128, i128), HostError> {
    let bad = || {
        HostError::invalid(format!(
            "each entry of `{}` is {{{}}}: a topic pattern, a number of messages and milliseconds",
            naming.show("history"),
            shown_fields(naming, HISTORY_FIELDS)
        ))
    };
    let fields: Vec<OptionValue> = match item {
        OptionValue::List(items) if items.len() == 3 => items,
        OptionValue::Map(map) => {
            if let Some((k, _)) = map
                .iter()
                .find(|(k, _)| !HISTORY_FIELDS.contains(&naming.canonical(k).as_str()))
            {
                return Err(HostError::invalid(format!(
                    "unknown field `{k}` of a `{}` entry",
                    naming.show("history")
                )));
            }
            HISTORY_FIELDS
                .iter()
                .map(|f| {
                    map.iter()
                        .find(|(k, _)| naming.canonical(k) == *f)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(bad)
                })
                .collect::<Result<_, _>>()?
        }
        _ => return Err(bad()),
    };
    match <[OptionValue; 3]>::try_from(fields).map_err(|_| bad())? {
        [
            OptionValue::Text(topic),
            OptionValue::Int(size),
            OptionValue::Int(ttl),
        ] => Ok((topic, size, ttl)),
        [_, size, ttl] => {
            // Name the field whose type is wrong, with the usual range text.
            Opt::new(naming, "size", &size).int(1, MAX_HISTORY_SIZE)?;
            Opt::new(naming, "ttl_ms", &ttl).int(1, MAX_MS)?;
            Err(bad())
        }
    }
}

/// A static file's route is a literal absolute path (`/app.js`: starts with `/`, none of
/// `{}*?#`), its path is not empty and its content type is a valid header value (visible
/// ASCII, spaces and tabs).
pub fn check_static_file(file: &StaticFile) -> Result<(), HostError> {
    if !crate::endpoint::valid_static_route(&file.route) {
        return Err(HostError::invalid(format!(
            "route {:?} must be a literal absolute path such as \"/app.js\"",
            crate::logging::clip(&file.route)
        )));
    }
    if file.path.is_empty() {
        return Err(HostError::invalid("the static file's `path` is empty"));
    }
    if file.content_type.is_empty() || !valid_header_value(&file.content_type) {
        return Err(HostError::invalid(format!(
            "content type {:?} is not a valid header value",
            crate::logging::clip(&file.content_type)
        )));
    }
    Ok(())
}

/// RFC 9110 field values: visible ASCII, spaces and tabs (what a `Content-Type` may hold).
pub fn valid_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// A channel pattern is an exact topic (`room:lobby`) or a prefix followed by one `*` at the
/// very end (`room:*`, Phoenix's only wildcard form). Errors: empty, or a `*` anywhere else
/// (`*:lobby`, `room:*:x`, `room:**`), which Phoenix refuses at compile time and which would
/// otherwise never match.
pub fn check_pattern(pattern: &str) -> Result<(), HostError> {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    if pattern.is_empty() || body.contains('*') {
        return Err(HostError::invalid(format!(
            "invalid channel pattern {:?}: use an exact topic (\"room:lobby\") or a prefix ending in one `*` (\"room:*\")",
            crate::logging::clip(pattern)
        )));
    }
    Ok(())
}

/// Checks an HTTP route prefix (see [`Options::add_http_route`]): `/`, or an absolute
/// literal path without a trailing `/` and none of `{}*?#`. Errors:
/// [`ErrorCode::InvalidArgument`](super::ErrorCode::InvalidArgument).
pub fn check_http_prefix(prefix: &str) -> Result<(), HostError> {
    if !super::valid_http_prefix(prefix) {
        return Err(HostError::invalid(format!(
            "HTTP route prefix {:?} must be an absolute literal path such as \"/api\"",
            crate::logging::clip(prefix)
        )));
    }
    Ok(())
}

/// `host:port`, with `[v6]:port` for IPv6 addresses.
fn split_host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// The address to bind: an IP address as is, a host name resolved now (the first address).
fn resolve(host: &str, port: u16) -> Result<SocketAddr, HostError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| HostError::invalid(format!("host {host:?} does not resolve to an address")))
}

/// The name of `known` that a user most likely meant by `given`, if one is close enough: the
/// fewest edits (Damerau-Levenshtein; ties to the first in sort order), at most 2 or a third
/// of the name. The one "did you mean" rule of every language (options here, handler names
/// in Node).
pub fn closest_name<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(given, k), *k))
        .min()
        .filter(|(d, k)| *d <= 2 || d * 3 <= k.len())
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests;

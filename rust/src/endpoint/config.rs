//! Per-mount configuration: the channel routes, the connect callback and every transport limit
//! of one socket mount (Phoenix `socket "/socket", UserSocket, websocket: [...]`).

use crate::channel::Channel;
use crate::channel::{Mount, MountConfig};
use crate::handler::{AcceptAll, Connect};
use crate::topic::Router;
use std::sync::Arc;
use std::time::Duration;

/// Which `Origin` headers a mount accepts (Phoenix `check_origin`). A request **without** an
/// `Origin` header is always accepted (non-browser clients send none, PROTOCOL.md 1.3); a
/// refused origin is answered HTTP 403 with an empty body (`{"status":403}` over long-poll).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CheckOrigin {
    /// The default, as Phoenix's `check_origin: true`: a browser's `Origin` must name the host
    /// (and port) the request was sent to, its `Host` header — a page of another site cannot
    /// open a socket with the user's cookies (cross-site WebSocket hijacking). Behind a proxy
    /// that rewrites `Host`, list the origins ([`Allow`](Self::Allow)) instead.
    #[default]
    SameHost,
    /// No check: any page may connect (`check_origin: false`).
    Off,
    /// Only these origins. Each entry is `scheme://host[:port]` (exact; the default port of
    /// the scheme may be omitted), `//host[:port]` (any scheme), and `host` may start with
    /// `*.` to accept every subdomain (`//*.example.com`), as in Phoenix.
    Allow(Vec<String>),
}

/// One socket mount: where it lives, who may connect, which channels it routes and the limits
/// of its WebSocket transport. Built with chained setters; every option has a documented
/// default.
///
/// ```no_run
/// # use switchboard::endpoint::SocketMount;
/// # use switchboard::host::AcceptAll;
/// let mount = SocketMount::new()
///     .connect(AcceptAll)
///     .max_channels(100)
///     .idle_timeout_ms(60_000);
/// ```
pub struct SocketMount {
    pub(crate) connect: Arc<dyn Connect>,
    pub(crate) routes: Router<Arc<dyn Channel>>,
    pub(crate) channel: MountConfig,
    pub(crate) transport: TransportConfig,
}

/// Transport limits of one mount (WebSocket, and long-poll when enabled). Defaults in [`TransportConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Allowed origins (default [`CheckOrigin::SameHost`]).
    pub check_origin: CheckOrigin,
    /// Decode the `base64url.bearer.phx.<token>` subprotocol into
    /// [`ConnectInfo::auth_token`](crate::handler::ConnectInfo::auth_token) (default `true`).
    /// `Sec-WebSocket-Protocol: phoenix` is echoed whenever the client offers it, whatever
    /// this setting, because browsers fail a handshake whose offered subprotocols were all
    /// ignored.
    pub auth_token: bool,
    /// Largest accepted WebSocket frame and message, in bytes (default 65 536 = 64 KiB, as
    /// Centrifugo's default message size; Phoenix sets no limit). It bounds every client
    /// payload too, and with it the CPU a handler spends parsing one message: a chat message
    /// fits easily, a 1 MiB JSON object with a million keys does not get in. Raise it per mount
    /// for uploads. A bigger frame closes the connection with 1009 (Message Too Big), as
    /// Cowboy does.
    pub max_frame_bytes: usize,
    /// Closes a connection that sent no data frame (text or binary; Phoenix's heartbeat is
    /// one) for this long (default 60 000 ms, Phoenix `timeout`). WebSocket pings and pongs
    /// do not count: a client that only pings is closed too. Close code [`IDLE_CLOSE_CODE`].
    pub idle_timeout: Duration,
    /// Outbound queue limit per connection, in frames (default 1 024). Exceeding it (or
    /// [`outbox_max_bytes`](Self::outbox_max_bytes)) is the slow-consumer policy: pending
    /// frames are dropped and the connection closes with [`SLOW_CONSUMER_CLOSE_CODE`]. The
    /// same count bounds pongs: a client that sends this many pings in a row while none of
    /// the server's bytes get through to it is closed the same way, and what the WebSocket
    /// layer buffers for one connection (pongs, close frame, the frame being written) is
    /// bounded by its write buffer (128 KiB) plus `outbox_max_bytes`. A client that never
    /// reads cannot see the 1013 close frame (it is behind the unread bytes); it sees the
    /// TCP connection end after [`close_timeout`](Self::close_timeout).
    pub outbox_max_frames: usize,
    /// Outbound queue limit per connection, in bytes of frame bodies (default 8 MiB).
    pub outbox_max_bytes: usize,
    /// After the server sent its close frame: how long the client gets to answer the close
    /// handshake and close TCP before the connection is dropped (default 3 000 ms). Also bounds
    /// the writing of that close frame to a client that does not read.
    pub close_timeout: Duration,
    /// Also serve the long-poll transport at `<mount>/longpoll` (default `false`, as Phoenix
    /// since 1.8.2). Sessions get every limit above except `idle_timeout` (see docs/LONGPOLL.md).
    pub longpoll: bool,
    /// How long a poll waits for frames before it is answered 204 (default 10 000 ms,
    /// Phoenix `window_ms`); also how long a POST forwarded to another node may take.
    pub longpoll_window: Duration,
    /// A long-poll session ends after this long without a poll, with the effects of a closed
    /// WebSocket (default `None`: 1.5 × [`longpoll_window`](Self::longpoll_window), as
    /// Phoenix).
    pub longpoll_session_timeout: Option<Duration>,
}

/// Close code sent when no frame arrived for [`TransportConfig::idle_timeout`]: 1001 (Going
/// Away). Cowboy sends 1000 and Bandit 1002; we avoid 1000 because clients up to phoenix
/// 1.8.12 do not reconnect after it (PROTOCOL.md 1.5), and 1002 would claim a protocol error.
pub const IDLE_CLOSE_CODE: u16 = 1001;
/// Close code of the slow-consumer policy: 1013 (Try Again Later). The client reconnects and
/// rejoins; what it missed is lost (delivery is at-most-once, PROTOCOL.md 3.3).
pub const SLOW_CONSUMER_CLOSE_CODE: u16 = 1013;
/// Close code of a `"disconnect"` broadcast on the socket id (Phoenix 1.8.8+).
pub const DISCONNECT_CLOSE_CODE: u16 = 1001;
/// Close code of a client that kept sending over its rate limit (`messages_per_second`,
/// `joins_per_second`): 1008 (Policy Violation), reason `rate limited`. The client reconnects.
pub const RATE_LIMITED_CLOSE_CODE: u16 = 1008;
/// Close code of a drain (Service Restart), as Phoenix.
pub const DRAIN_CLOSE_CODE: u16 = 1012;
/// Close code of a frame that does not decode (malformed JSON, wrong arity, unknown binary
/// kind): 1011, what Cowboy/Bandit send when Phoenix's socket process crashes on it (2.5).
pub const MALFORMED_CLOSE_CODE: u16 = 1011;
/// Close code of a text frame that is not valid UTF-8 (Invalid Frame Payload Data).
pub const INVALID_UTF8_CLOSE_CODE: u16 = 1007;
/// Close code of a frame or message over [`TransportConfig::max_frame_bytes`].
pub const TOO_BIG_CLOSE_CODE: u16 = 1009;
/// Close code of broken WebSocket framing (Protocol Error).
pub const PROTOCOL_CLOSE_CODE: u16 = 1002;

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            check_origin: CheckOrigin::SameHost,
            auth_token: true,
            max_frame_bytes: 64 * 1024,
            idle_timeout: Duration::from_millis(60_000),
            outbox_max_frames: 1024,
            outbox_max_bytes: 8 * 1024 * 1024,
            close_timeout: Duration::from_millis(3_000),
            longpoll: false,
            longpoll_window: Duration::from_millis(10_000),
            longpoll_session_timeout: None,
        }
    }
}

impl TransportConfig {
    /// How long a long-poll session lives without a poll: the configured timeout, else 1.5 ×
    /// the window.
    pub fn longpoll_session_timeout(&self) -> Duration {
        self.longpoll_session_timeout
            .unwrap_or(self.longpoll_window.saturating_mul(3) / 2)
    }
}

impl Default for SocketMount {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for SocketMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketMount")
            .field("channel", &self.channel)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl SocketMount {
    /// A mount that accepts every connection ([`AcceptAll`]), routes no topic, and uses the
    /// default limits of [`MountConfig`] and [`TransportConfig`].
    pub fn new() -> SocketMount {
        SocketMount {
            connect: Arc::new(AcceptAll),
            routes: Router::default(),
            channel: MountConfig::default(),
            transport: TransportConfig::default(),
        }
    }

    /// The connect callback (Phoenix `connect/3`); default [`AcceptAll`].
    pub fn connect(mut self, connect: impl Connect) -> Self {
        self.connect = Arc::new(connect);
        self
    }

    /// Same as [`connect`](Self::connect) for an already shared callback.
    pub fn connect_arc(mut self, connect: Arc<dyn Connect>) -> Self {
        self.connect = connect;
        self
    }

    /// Routes topics matching `pattern` (`"room:*"` prefix or an exact topic) to `handler`
    /// (Phoenix `channel "room:*", RoomChannel`). The first matching route wins; topics
    /// without a route are answered `{"reason":"unmatched topic"}`.
    pub fn channel(mut self, pattern: &str, handler: impl Channel) -> Self {
        self.routes.add(pattern, Arc::new(handler));
        self
    }

    /// Same as [`channel`](Self::channel) for an already shared handler.
    pub fn channel_arc(mut self, pattern: &str, handler: Arc<dyn Channel>) -> Self {
        self.routes.add(pattern, handler);
        self
    }

    /// Channels one connection may have joined at once (default 100, Phoenix
    /// `max_channels_per_transport`).
    pub fn max_channels(mut self, n: usize) -> Self {
        self.channel.max_channels = n;
        self
    }

    /// Client messages and joins per second per connection (default 0 and 0: no limit; see
    /// [`MountConfig::messages_per_second`]).
    pub fn rate_limits(mut self, messages_per_second: u32, joins_per_second: u32) -> Self {
        self.channel.messages_per_second = messages_per_second;
        self.channel.joins_per_second = joins_per_second;
        self
    }

    /// How long one handler call may take before its channel fails (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.channel.request_timeout = timeout;
        self
    }

    /// Runs this mount's channel tasks on `runtime` instead of the connections' runtime (see
    /// [`MountConfig::channel_runtime`]).
    pub fn channel_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.channel.channel_runtime = Some(runtime);
        self
    }

    /// Replaces every channel-layer limit at once.
    pub fn channel_config(mut self, config: MountConfig) -> Self {
        self.channel = config;
        self
    }

    /// Allowed origins (default: the request's own host, [`CheckOrigin::SameHost`]). See
    /// [`CheckOrigin::Allow`] for the entry forms.
    pub fn check_origin<S: Into<String>>(mut self, origins: impl IntoIterator<Item = S>) -> Self {
        self.transport.check_origin =
            CheckOrigin::Allow(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Whether the auth-token subprotocol is decoded (default `true`).
    pub fn auth_token(mut self, enabled: bool) -> Self {
        self.transport.auth_token = enabled;
        self
    }

    /// Largest accepted frame or message in bytes (default 64 KiB); bigger → close 1009.
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.transport.max_frame_bytes = bytes.max(1);
        self
    }

    /// Idle timeout in milliseconds (default 60 000); see [`TransportConfig::idle_timeout`].
    pub fn idle_timeout_ms(mut self, ms: u64) -> Self {
        self.transport.idle_timeout = Duration::from_millis(ms.max(1));
        self
    }

    /// Outbound queue limits per connection: frames (default 1 024) and bytes (default 8 MiB).
    pub fn outbox_limits(mut self, max_frames: usize, max_bytes: usize) -> Self {
        self.transport.outbox_max_frames = max_frames.max(1);
        self.transport.outbox_max_bytes = max_bytes.max(1);
        self
    }

    /// Close-handshake timeout in milliseconds (default 3 000).
    pub fn close_timeout_ms(mut self, ms: u64) -> Self {
        self.transport.close_timeout = Duration::from_millis(ms);
        self
    }

    /// Serves the long-poll transport at `<mount>/longpoll` too (default off), with the poll
    /// window in milliseconds (Phoenix `window_ms`, 10 000 by default); sessions end after 1.5
    /// × the window without a poll unless [`longpoll_session_timeout_ms`](Self::longpoll_session_timeout_ms)
    /// says otherwise.
    pub fn longpoll(mut self, window_ms: u64) -> Self {
        self.transport.longpoll = true;
        self.transport.longpoll_window = Duration::from_millis(window_ms.max(1));
        self
    }

    /// How long a long-poll session lives without a poll, in milliseconds.
    pub fn longpoll_session_timeout_ms(mut self, ms: u64) -> Self {
        self.transport.longpoll_session_timeout = Some(Duration::from_millis(ms.max(1)));
        self
    }

    /// Turns the origin check off: any page may connect (default: [`CheckOrigin::SameHost`]).
    pub fn check_origin_off(mut self) -> Self {
        self.transport.check_origin = CheckOrigin::Off;
        self
    }

    /// Replaces every transport limit at once.
    pub fn transport_config(mut self, config: TransportConfig) -> Self {
        self.transport = config;
        self
    }

    /// Splits into the channel-layer [`Mount`] and what the transport needs.
    pub(crate) fn into_parts(self) -> (Arc<Mount>, Arc<dyn Connect>, TransportConfig) {
        let mount = Arc::new(Mount {
            routes: self.routes,
            config: self.channel,
        });
        (mount, self.connect, self.transport)
    }
}

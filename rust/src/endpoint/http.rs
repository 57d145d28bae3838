//! The WebSocket handshake at `<mount>/websocket` (PROTOCOL.md 1.1-1.4), in Phoenix's order:
//! method, origin, auth-token subprotocol, `vsn` negotiation, the connect callback, then the
//! upgrade itself. Every refusal is an HTTP status with an empty body.

use super::config::TransportConfig;
use super::connection;
use super::origin::origin_allowed;
use super::params::decode_query;
use super::registry::{Connections, Registered};
use crate::channel::{Backplane, Mount, Session};
use crate::handler::{Connect, ConnectInfo, Connected};
use crate::metrics::Callback;
use crate::outbox::{CloseReason, Outbox};
use crate::pubsub::{Delivery, Subscription};
use crate::wire::Serializer;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD_INDIFFERENT;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::{Instrument, debug, debug_span};

/// Subprotocol prefix of the auth token (JS constants.js `AUTH_TOKEN_PREFIX`).
const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// Everything the handshake of one mount needs; the axum state of its route.
pub(crate) struct MountState {
    pub(crate) path: String,
    pub(crate) mount: Arc<Mount>,
    pub(crate) connect: Arc<dyn Connect>,
    pub(crate) transport: TransportConfig,
    pub(crate) backplane: Arc<Backplane>,
    pub(crate) conns: Arc<Connections>,
}

/// Why a handshake was refused before the connect callback ran.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Not a GET (Phoenix answers 400).
    Method,
    /// The endpoint is draining, or serves `max_connections` already; new connections go
    /// elsewhere (503).
    Draining,
    /// Over `connections_per_second` (429).
    TooManyAttempts,
    /// `check_origin` failed (403).
    Origin,
    /// The auth-token subprotocol is not standard base64 of UTF-8 text (400).
    BadToken,
    /// `vsn` is not a supported version, or not a string (403).
    Version,
    /// Missing or wrong `Upgrade`/`Connection`/`Sec-WebSocket-*` headers (400).
    NotWebSocket,
}

impl Rejection {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Rejection::Method | Rejection::BadToken | Rejection::NotWebSocket => {
                StatusCode::BAD_REQUEST
            }
            Rejection::Draining => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Rejection::Origin | Rejection::Version => StatusCode::FORBIDDEN,
        }
    }
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// The subprotocols the client offered, in order (every `Sec-WebSocket-Protocol` header,
/// comma-separated).
fn offered_subprotocols(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Decodes the `base64url.bearer.phx.<token>` subprotocol, if offered (PROTOCOL.md 1.4). The
/// token is standard base64 (`btoa`) with the padding stripped; padding is tolerated.
pub(crate) fn auth_token(offered: &[&str]) -> Result<Option<String>, Rejection> {
    let Some(encoded) = offered
        .iter()
        .find_map(|p| p.strip_prefix(AUTH_TOKEN_PREFIX))
    else {
        return Ok(None);
    };
    let bytes = STANDARD_NO_PAD_INDIFFERENT
        .decode(encoded)
        .map_err(|_| Rejection::BadToken)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Rejection::BadToken)
}

/// The serializer for the `vsn` param; absent means 1.0.0, a non-string is refused.
pub(crate) fn serializer(
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<Serializer, Rejection> {
    let vsn = match params.get("vsn") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(Rejection::Version),
    };
    Serializer::negotiate(vsn).ok_or(Rejection::Version)
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The `Sec-WebSocket-Key` of a valid RFC 6455 upgrade request.
fn websocket_key(headers: &HeaderMap) -> Result<&HeaderValue, Rejection> {
    let upgrade = header_has_token(headers, header::UPGRADE, "websocket");
    let connection = header_has_token(headers, header::CONNECTION, "upgrade");
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) if upgrade && connection && version => Ok(key),
        _ => Err(Rejection::NotWebSocket),
    }
}

pub(crate) fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Refuses an `Origin` that the mount's `check_origin` does not allow.
pub(crate) fn check_origin(st: &MountState, headers: &HeaderMap) -> Result<(), Rejection> {
    let origin = header_text(headers, header::ORIGIN);
    let host = header_text(headers, header::HOST);
    if origin_allowed(
        &st.transport.check_origin,
        origin.as_deref(),
        host.as_deref(),
    ) {
        Ok(())
    } else {
        Err(Rejection::Origin)
    }
}

/// What the connect callback is given, and the serializer `vsn` asks for; shared by both
/// transports.
pub(crate) fn connect_info(
    st: &MountState,
    headers: &HeaderMap,
    query: &str,
    peer: Option<SocketAddr>,
    auth_token: Option<String>,
) -> Result<(ConnectInfo, Serializer), Rejection> {
    let params = decode_query(query);
    let serializer = serializer(&params)?;
    let info = ConnectInfo {
        mount: st.path.clone(),
        params,
        auth_token,
        peer_addr: peer,
        origin: header_text(headers, header::ORIGIN),
        user_agent: header_text(headers, header::USER_AGENT),
    };
    Ok((info, serializer))
}

/// Runs the connect callback; a refusal is the HTTP status it asked for (403 when that is
/// not an error status, which would look like success to the client).
pub(crate) async fn connect(
    st: &MountState,
    info: &ConnectInfo,
    span: &tracing::Span,
) -> Result<Connected, StatusCode> {
    let started = std::time::Instant::now();
    let answered = st.connect.connect(info).instrument(span.clone()).await;
    st.backplane
        .metrics()
        .callback(Callback::Connect, started.elapsed());
    match answered {
        Ok(connected) => Ok(connected),
        Err(refused) => {
            span.in_scope(|| debug!(status = refused.status, "connect refused"));
            Err(StatusCode::from_u16(refused.status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::FORBIDDEN))
        }
    }
}

/// A `"disconnect"` broadcast on the socket id closes the connection's outbox (PROTOCOL.md
/// 4.9); the subscription lives as long as the connection.
pub(crate) fn disconnect_on_id(
    st: &MountState,
    connected: &Connected,
    outbox: &Arc<Outbox>,
) -> Option<Subscription> {
    connected.id.as_deref().map(|id| {
        let target = Arc::downgrade(outbox);
        st.backplane.pubsub().subscribe(
            id,
            Delivery::Mailbox(Arc::new(move |b| {
                if b.event == "disconnect"
                    && let Some(outbox) = target.upgrade()
                {
                    outbox.close(CloseReason::Disconnect);
                }
            })),
        )
    })
}

/// The axum handler of `<mount>/websocket`.
pub(crate) async fn websocket(State(st): State<Arc<MountState>>, mut req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let span = debug_span!("socket", mount = %st.path, peer = ?peer);
    let headers = req.headers();
    let offered = offered_subprotocols(headers);
    let echo_phoenix = offered.contains(&"phoenix");
    let pre = (|| {
        if req.method() != Method::GET {
            return Err(Rejection::Method);
        }
        if st.conns.draining() {
            return Err(Rejection::Draining);
        }
        if !st.conns.admit() {
            return Err(Rejection::TooManyAttempts);
        }
        check_origin(&st, headers)?;
        let token = if st.transport.auth_token {
            auth_token(&offered)?
        } else {
            None
        };
        connect_info(&st, headers, req.uri().query().unwrap_or(""), peer, token)
    })();
    let (info, serializer) = match pre {
        Ok(ok) => ok,
        Err(rejection) => {
            span.in_scope(|| debug!(?rejection, "websocket handshake refused"));
            return empty(rejection.status());
        }
    };

    let connected = match connect(&st, &info, &span).await {
        Ok(connected) => connected,
        Err(status) => return empty(status),
    };

    let accept = match websocket_key(req.headers()) {
        Ok(key) => derive_accept_key(key.as_bytes()),
        Err(rejection) => {
            span.in_scope(|| debug!(?rejection, "not a websocket upgrade"));
            return empty(rejection.status());
        }
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        span.in_scope(|| debug!("connection cannot be upgraded"));
        return empty(StatusCode::BAD_REQUEST);
    };

    let outbox = Arc::new(Outbox::new(
        st.transport.outbox_max_frames,
        st.transport.outbox_max_bytes,
    ));
    let Some(registered) = st.conns.register(outbox.clone()) else {
        return empty(Rejection::Draining.status());
    };

    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    match HeaderValue::from_str(&accept) {
        Ok(v) => {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        Err(_) => return empty(StatusCode::BAD_REQUEST),
    }
    if echo_phoenix {
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("phoenix"),
        );
    }

    span.in_scope(|| debug!(socket_id = ?connected.id, ?serializer, "connected"));
    let id_subscription = disconnect_on_id(&st, &connected, &outbox);
    let session = Session::new(
        st.backplane.clone(),
        st.mount.clone(),
        outbox.clone(),
        serializer,
        "websocket",
        connected,
    );
    let start = Box::new(Start {
        st,
        on_upgrade,
        outbox,
        serializer,
        session,
        id_subscription,
        registered,
    });
    tokio::spawn(serve(start).instrument(span));
    response
}

/// What a connection's task starts from, in one box: an async fn keeps its arguments for its
/// whole life, so the task holds one pointer where it would hold every argument twice (once
/// as moved-from argument, once where it was moved to).
struct Start {
    st: Arc<MountState>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    outbox: Arc<Outbox>,
    serializer: Serializer,
    session: Session,
    id_subscription: Option<Subscription>,
    registered: Registered,
}

/// The connection's task: the upgrade, the transport loops, then the channels' termination.
async fn serve(start: Box<Start>) {
    // Moved out in a block of its own so that the box is freed now: the argument itself
    // would only be dropped when the connection ends.
    let Start {
        st,
        on_upgrade,
        outbox,
        serializer,
        mut session,
        id_subscription,
        registered,
    } = {
        let start = start;
        *start
    };
    // The stream is built inside `upgrade`, so this task only ever holds its halves.
    let Some(io) = upgrade(on_upgrade, &st.transport).await else {
        return;
    };
    let (reason, closer) = connection::run(
        io,
        &mut session,
        &outbox,
        serializer,
        &st.transport,
        st.backplane.metrics(),
    )
    .await;
    drop(id_subscription);
    debug!(?reason, "disconnected");
    // Boxed: the closing handshake and the channels' termination exist only at the end of
    // a connection; inline, their state would enlarge every connection's task all its life.
    Box::pin(async move { tokio::join!(closer.finish(), session.close(reason)) }).await;
    drop(registered);
}

/// Waits for hyper to hand over the upgraded socket and wraps it in the WebSocket framing.
async fn upgrade(
    on_upgrade: hyper::upgrade::OnUpgrade,
    transport: &TransportConfig,
) -> Option<connection::Halves<TokioIo<hyper::upgrade::Upgraded>>> {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(e) => {
            debug!(error = %e, "upgrade failed");
            return None;
        }
    };
    Some(connection::Halves::accept(TokioIo::new(upgraded), transport).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_token_is_standard_base64_without_padding() {
        // btoa("my-token+x") with `=` removed, as the JS client sends it.
        let offered = ["phoenix", "base64url.bearer.phx.bXktdG9rZW4reA"];
        assert_eq!(auth_token(&offered), Ok(Some("my-token+x".to_owned())));
        // Padding left in is tolerated.
        let padded = ["base64url.bearer.phx.YWI="];
        assert_eq!(auth_token(&padded), Ok(Some("ab".to_owned())));
        assert_eq!(auth_token(&["phoenix"]), Ok(None));
        assert_eq!(
            auth_token(&["base64url.bearer.phx.!!"]),
            Err(Rejection::BadToken)
        );
        // base64 of the bytes FF FE: not UTF-8 text.
        assert_eq!(
            auth_token(&["base64url.bearer.phx.//4"]),
            Err(Rejection::BadToken)
        );
    }

    #[test]
    fn offered_subprotocols_across_headers() {
        let mut h = HeaderMap::new();
        h.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("phoenix, base64url.bearer.phx.eA"),
        );
        h.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("x"),
        );
        assert_eq!(
            offered_subprotocols(&h),
            vec!["phoenix", "base64url.bearer.phx.eA", "x"]
        );
    }

    #[test]
    fn vsn_negotiation_refuses_non_strings_and_unknown_versions() {
        let params = |q: &str| decode_query(q);
        assert_eq!(serializer(&params("")), Ok(Serializer::V1Json));
        assert_eq!(serializer(&params("vsn=2.0.0")), Ok(Serializer::V2Json));
        assert_eq!(serializer(&params("vsn=1.0.0")), Ok(Serializer::V1Json));
        assert_eq!(serializer(&params("vsn=3.0.0")), Err(Rejection::Version));
        assert_eq!(serializer(&params("vsn=abc")), Err(Rejection::Version));
        assert_eq!(serializer(&params("vsn[]=2.0.0")), Err(Rejection::Version));
    }

    #[test]
    fn upgrade_headers_are_required() {
        let mut h = HeaderMap::new();
        assert_eq!(websocket_key(&h), Err(Rejection::NotWebSocket));
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        assert_eq!(websocket_key(&h), Err(Rejection::NotWebSocket));
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert!(websocket_key(&h).is_ok());
        h.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(websocket_key(&h), Err(Rejection::NotWebSocket));
    }
}

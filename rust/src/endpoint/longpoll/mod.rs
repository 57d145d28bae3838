//! The long-poll transport at `<mount>/longpoll` (PROTOCOL.md 1.6; Phoenix
//! `Phoenix.Transports.LongPoll`): the same channels as the WebSocket transport, for clients
//! whose network breaks WebSockets.
//!
//! A GET without a valid token opens a session (`{"status":410,"token":T}`); a GET with one
//! polls it (200 with messages, 204 after `window`); a POST hands it ndjson client frames.
//! Every JSON answer is HTTP 200 with the logical status in the body, `cache-control:
//! no-store` and `access-control-allow-origin: *`. A token names the node that holds the
//! session: a request that reaches another node of the cluster is forwarded to it through
//! the broker ([`forward`]), so no sticky sessions are needed.

mod batch;
mod forward;
mod session;
mod token;

pub use token::MIN_SECRET_BYTES;

use super::http::{self, MountState, Rejection};
use crate::outbox::Outbox;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use batch::BadLine;
use forward::Forwarder;
use session::{LongPollSession, Polled, Posted, Sessions};
use std::net::SocketAddr;
use std::sync::Arc;
use token::{Claims, Signer};
use tracing::{Instrument, debug, debug_span};

/// Header that carries the session token besides the `token` query param (Phoenix 1.8.10+).
const TOKEN_HEADER: &str = "x-phoenix-longpoll-token";
/// Header in which phoenix.js sends the auth token over long-poll.
const AUTH_TOKEN_HEADER: &str = "x-phoenix-authtoken";

/// The long-poll side of one endpoint, shared by its long-poll mounts: the token signer, the
/// sessions this node holds, and the forwarder to the other nodes of a cluster.
#[derive(Debug)]
pub(crate) struct Hub {
    signer: Signer,
    /// This endpoint in tokens: `<node>#<random id>`.
    holder: String,
    sessions: Arc<Sessions>,
    forwarder: Option<Arc<Forwarder>>,
}

impl Hub {
    /// A hub signing with `secret` (random when `None`). With a cluster, requests for
    /// sessions of other nodes are forwarded through `backplane`'s broker.
    pub(crate) fn new(
        secret: Option<&[u8]>,
        backplane: &Arc<crate::channel::Backplane>,
        runtime: tokio::runtime::Handle,
    ) -> Arc<Hub> {
        let node = backplane
            .cluster()
            .map(|c| c.replica().name.to_string())
            .unwrap_or_default();
        let signer = Signer::new(secret);
        let id = signer.new_session_id();
        let holder = format!("{node}#{}", token::hex(&id[..8]));
        Arc::new_cyclic(|hub| {
            let forwarder = backplane.cluster().map(|_| {
                let topics = forward::Topics {
                    requests: forward::requests_topic(&signer, &holder),
                    replies: forward::replies_topic(&signer, &holder),
                };
                Forwarder::start(backplane.clone(), topics, &holder, hub.clone(), runtime)
            });
            Hub {
                signer,
                holder,
                sessions: Arc::new(Sessions::default()),
                forwarder,
            }
        })
    }

    /// Long-poll sessions this node holds.
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The local session a token names, after checking the token again (a forwarded request
    /// is verified by the node that holds the session too).
    fn local(&self, token: &str, mount: &str) -> Option<Arc<LongPollSession>> {
        let claims = self.signer.verify(token)?;
        (claims.node == self.holder)
            .then(|| self.sessions.get(&claims.session, mount))
            .flatten()
    }
}

/// The axum state of one mount's `<mount>/longpoll` route.
pub(crate) struct LongPollRoute {
    pub(crate) st: Arc<MountState>,
    pub(crate) hub: Arc<Hub>,
}

/// The axum handler of `<mount>/longpoll`.
pub(crate) async fn handle(State(route): State<Arc<LongPollRoute>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let span = debug_span!("longpoll", mount = %route.st.path, peer = ?peer);
    let method = req.method().clone();
    let response = match method {
        Method::OPTIONS => preflight(req.headers()),
        Method::GET | Method::POST if http::check_origin(&route.st, req.headers()).is_err() => {
            status_json(403, None, None)
        }
        Method::GET => get(&route, req, peer).instrument(span).await,
        Method::POST => post(&route, req).instrument(span).await,
        _ => StatusCode::BAD_REQUEST.into_response(),
    };
    with_cors(response)
}

/// A GET: polls the session its token names, or opens a new one.
async fn get(route: &LongPollRoute, req: Request, peer: Option<SocketAddr>) -> Response {
    let (token, query) = session_token(&req);
    let st = &route.st;
    if let Some(token) = token.as_deref()
        && let Some(claims) = route.hub.signer.verify(token)
    {
        let polled = if claims.node == route.hub.holder {
            match route.hub.sessions.get(&claims.session, &st.path) {
                Some(session) => session.poll(None).await,
                None => Polled::Gone,
            }
        } else {
            forward_poll(route, &claims, token).await
        };
        match polled {
            Polled::Messages(messages) => return status_json(200, Some(token), Some(messages)),
            Polled::Nothing => return status_json(204, Some(token), Some(Vec::new())),
            Polled::Gone => debug!("session gone; opening a new one"),
        }
    }
    open(route, req.headers(), &query, peer).await
}

async fn forward_poll(route: &LongPollRoute, claims: &Claims, token: &str) -> Polled {
    let Some(forwarder) = &route.hub.forwarder else {
        return Polled::Gone;
    };
    let to = (claims, token, route.st.path.as_str());
    forwarder
        .poll(&route.hub, to, route.st.transport.longpoll_window)
        .await
}

/// Opens a session: the connect checks and callback as for a WebSocket, then `410` with the
/// new token.
async fn open(
    route: &LongPollRoute,
    headers: &HeaderMap,
    query: &str,
    peer: Option<SocketAddr>,
) -> Response {
    let st = &route.st;
    if st.conns.draining() {
        // Not JSON on purpose: phoenix.js treats an unparseable answer as a network error
        // (close 1011, reconnect with backoff), while an unknown JSON status makes it throw.
        return Rejection::Draining.status().into_response();
    }
    if !st.conns.admit() {
        return Rejection::TooManyAttempts.status().into_response();
    }
    let auth_token = st
        .transport
        .auth_token
        .then(|| auth_token(headers))
        .flatten();
    let (info, serializer) = match http::connect_info(st, headers, query, peer, auth_token) {
        Ok(ok) => ok,
        Err(rejection) => {
            debug!(?rejection, "long-poll session refused");
            return status_json(403, None, None);
        }
    };
    let span = tracing::Span::current();
    let connected = match http::connect(st, &info, &span).await {
        Ok(connected) => connected,
        // phoenix.js knows 403 only: any refusal is one (PROTOCOL.md 1.6).
        Err(_) => return status_json(403, None, None),
    };
    let outbox = Arc::new(Outbox::new(
        st.transport.outbox_max_frames,
        st.transport.outbox_max_bytes,
    ));
    let Some(registered) = st.conns.register(outbox.clone()) else {
        return Rejection::Draining.status().into_response();
    };
    let id_subscription = http::disconnect_on_id(st, &connected, &outbox);
    let channels = crate::channel::Session::new(
        st.backplane.clone(),
        st.mount.clone(),
        outbox.clone(),
        serializer,
        "longpoll",
        connected,
    );
    let session = Arc::new(LongPollSession::new(
        st.path.clone(),
        channels,
        outbox,
        serializer,
        st.transport.max_frame_bytes,
        st.transport.longpoll_window,
        st.backplane.metrics().clone(),
    ));
    let hub = &route.hub;
    let id = hub.signer.new_session_id();
    let token = hub.signer.sign(&Claims {
        session: id,
        node: hub.holder.clone(),
    });
    hub.sessions.insert(id, session.clone(), id_subscription);
    let sessions = hub.sessions.clone();
    let timeout = st.transport.longpoll_session_timeout();
    tokio::spawn(
        async move {
            session.run(timeout).await;
            sessions.remove(&id);
            drop(registered);
        }
        .instrument(span),
    );
    debug!("long-poll session opened");
    status_json(410, Some(&token), Some(Vec::new()))
}

/// A POST: hands the body's frames to the session its token names.
async fn post(route: &LongPollRoute, req: Request) -> Response {
    let (token, _) = session_token(&req);
    let Some((token, claims)) = token.and_then(|t| route.hub.signer.verify(&t).map(|c| (t, c)))
    else {
        return status_json(410, None, None);
    };
    let ndjson = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/x-ndjson"));
    // Without ndjson the body is one frame.
    let max_frame = route.st.transport.max_frame_bytes;
    let limit = if ndjson {
        body_limit(max_frame)
    } else {
        max_frame
    };
    let body = match axum::body::to_bytes(req.into_body(), limit).await {
        Ok(body) => body,
        Err(e) => {
            debug!(error = %e, limit, "long-poll body refused");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    let status = if claims.node == route.hub.holder {
        match route.hub.sessions.get(&claims.session, &route.st.path) {
            Some(session) => posted_status(session.post(&body, ndjson)),
            None => 410,
        }
    } else {
        match &route.hub.forwarder {
            // Kept small enough for any broker (NATS takes 1 MiB messages by default), and so
            // that one client cannot fill every node's subscriber connection.
            Some(_) if body.len() > forward::MAX_BODY => 413,
            Some(forwarder) => {
                let window = route.st.transport.longpoll_window;
                let to = (&claims, token.as_str(), route.st.path.as_str());
                forwarder.post(&route.hub, to, body, ndjson, window).await
            }
            None => 410,
        }
    };
    status_json(status, None, None)
}

/// The logical status of a POST's outcome.
fn posted_status(posted: Posted) -> u16 {
    match posted {
        Posted::Dispatched => 200,
        Posted::Gone => 410,
        Posted::Refused(BadLine::TooBig) => 413,
        Posted::Refused(BadLine::Malformed) => 400,
    }
}

/// The largest POST body read: a full batch of frames of the largest size, base64 included.
fn body_limit(max_frame_bytes: usize) -> usize {
    max_frame_bytes
        .saturating_mul(4)
        .saturating_div(3)
        .saturating_add(8)
        .saturating_mul(batch::MAX_LINES)
}

/// The session token (the `x-phoenix-longpoll-token` header, else the `token` pair that
/// phoenix.js appends at the end of the query) and the query without that pair: an app's own
/// `token` connect param, which comes before `vsn`, stays a connect param.
fn session_token(req: &Request) -> (Option<String>, String) {
    let query = req.uri().query().unwrap_or("");
    let (rest, last) = query.rsplit_once('&').unwrap_or(("", query));
    let (query, from_query) = match last.strip_prefix("token=") {
        Some(value) => (
            rest.to_owned(),
            form_urlencoded::parse(format!("t={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned()),
        ),
        None => (query.to_owned(), None),
    };
    let from_header = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (from_header.or(from_query), query)
}

/// The auth token: `x-phoenix-authtoken` (what phoenix.js sends), else `Authorization:
/// Bearer <token>`.
fn auth_token(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    text(AUTH_TOKEN_HEADER).map(str::to_owned).or_else(|| {
        text(header::AUTHORIZATION.as_str())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned())
    })
}

/// `{"status": S, "token": T, "messages": [...]}` (fields left out when `None`), HTTP 200.
fn status_json(status: u16, token: Option<&str>, messages: Option<Vec<String>>) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("status".into(), status.into());
    if let Some(token) = token {
        body.insert("token".into(), token.into());
    }
    if let Some(messages) = messages {
        body.insert("messages".into(), messages.into());
    }
    let mut response = Response::new(Body::from(serde_json::Value::Object(body).to_string()));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// CORS preflight: every requested header allowed, GET/POST/OPTIONS, cached for an hour.
fn preflight(headers: &HeaderMap) -> Response {
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("get, post, options"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("3600"),
    );
    response
}

fn with_cors(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

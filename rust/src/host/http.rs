//! HTTP routes answered by the host through the queue, for front-ends without an HTTP server
//! of their own in the process (a C, Python or Node host serving a health check or test
//! control routes on the socket's port). Each request is read in full, posted as a
//! [`RequestKind::Http`](super::RequestKind::Http) request with a ticket, and the
//! [`Answer::Http`] becomes the response.

use super::adapters::{AskError, ask};
use super::answer::Answer;
use super::queue::{HostQueue, Inner};
use super::request::{HttpRequest, RequestBody};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body a host route accepts; larger ones get 413 without reaching the host.
pub const MAX_HTTP_BODY: usize = 1 << 20;

/// Why a route prefix was refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error(
    "HTTP route prefix {0:?} must be an absolute literal path such as \"/api\" (no trailing '/', '{{', '}}', '*', '?', '#')"
)]
pub struct HttpRouteError(pub String);

/// Whether `prefix` is a valid HTTP route prefix: `/`, or an absolute literal path without a
/// trailing `/` and without `{`, `}`, `*`, `?`, `#`.
pub fn valid_http_prefix(prefix: &str) -> bool {
    prefix == "/"
        || (prefix.starts_with('/')
            && !prefix.ends_with('/')
            && !prefix.contains(['{', '}', '*', '?', '#']))
}

/// The router for `prefixes`: each serves itself and every path below it (`/api` serves
/// `/api` and `/api/x/y`, not `/apix`), any method. `timeout` bounds the wait for the answer.
pub(crate) fn router(
    inner: &Arc<Inner>,
    prefixes: &[String],
    timeout: Duration,
) -> Result<Router, HttpRouteError> {
    let mut router = Router::new();
    for prefix in prefixes {
        if !valid_http_prefix(prefix) {
            return Err(HttpRouteError(prefix.clone()));
        }
        let below = format!("{}/{{*rest}}", prefix.trim_end_matches('/'));
        let handler = {
            let inner = Arc::clone(inner);
            let prefix: Arc<str> = Arc::from(prefix.as_str());
            move |req: Request| {
                let inner = Arc::clone(&inner);
                let prefix = Arc::clone(&prefix);
                async move { serve(&inner, &prefix, req, timeout).await }
            }
        };
        router = router
            .route(prefix, any(handler.clone()))
            .route(&below, any(handler));
    }
    Ok(router)
}

async fn serve(inner: &Inner, prefix: &str, req: Request, timeout: Duration) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_HTTP_BODY).await {
        Ok(body) => body,
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"),
    };
    let request = HttpRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        prefix: prefix.to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    };
    match tokio::time::timeout(timeout, ask(inner, RequestBody::Http(request))).await {
        Ok(Ok(Answer::Http {
            status,
            content_type,
            body,
        })) => {
            let status = StatusCode::from_u16(status).unwrap_or_else(|_| {
                crate::warn_limited!(status, "host answered an invalid HTTP status; sending 500");
                StatusCode::INTERNAL_SERVER_ERROR
            });
            let mut response = (status, body).into_response();
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
        // `Answer::fits` refuses other answers, so only a dropped request lands here.
        Ok(Ok(_) | Err(AskError::Dropped)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the host dropped the request\n",
        ),
        Ok(Err(AskError::Full)) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "host request queue full\n")
        }
        Err(_) => text(
            StatusCode::GATEWAY_TIMEOUT,
            "the host did not answer in time\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, body).into_response()
}

impl HostQueue {
    /// Routes answered by this queue's host ([`RequestKind::Http`](super::RequestKind::Http)), to add with
    /// `EndpointBuilder::route`: each prefix serves itself and every path below it, any
    /// method. The answer must come within `QueueConfig::connect_timeout` (else 504); a
    /// dropped request is a 500, a full queue 503, a body over
    /// [`MAX_HTTP_BODY`](super::MAX_HTTP_BODY) 413.
    ///
    /// Errors: [`HttpRouteError`](super::HttpRouteError) for a prefix that is not an absolute
    /// literal path.
    pub fn http_router(&self, prefixes: &[String]) -> Result<axum::Router, super::HttpRouteError> {
        router(&self.inner, prefixes, self.inner.config.connect_timeout)
    }
}

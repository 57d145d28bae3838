//! HTTP routes answered by the C host (`sb_config_add_http_route`): requests arrive as
//! `SB_REQUEST_KIND_HTTP` requests on the endpoint's queue and are answered with `sb_http_respond`,
//! so a C program serves a health check or control routes on the socket's port without an
//! HTTP server of its own.

use crate::boundary::{sb_ffi_boundary, try_mut, try_str};
use crate::config::sb_config;
use crate::endpoint::{sb_endpoint, with_endpoint};
use crate::request::{borrow, sb_request, ticket};
use crate::status::core_error;
use crate::status::sb_status;
use switchboard_core::host::{HttpRequest, RequestBody};

/// Routes HTTP requests under `prefix` (e.g. `"/api"`: `/api` and every path below it, any
/// method; `"/"`: every path no socket mount or static file takes) to the host as
/// `SB_REQUEST_KIND_HTTP` requests. Bodies over 1 MiB get 413 without reaching the host; an
/// answer later than the request timeout gives 504, a request freed unanswered 500.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (not
/// an absolute literal path: must start with `/`, must not end with `/` unless it is `/`,
/// none of `{}*?#`; added twice). `sb_endpoint_start` gives `SB_E_INVALID_ARGUMENT` when a prefix
/// is also another route.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_config_add_http_route(
    config: *mut sb_config,
    prefix: *const u8,
    len: usize,
) -> sb_status {
    sb_ffi_boundary!({
        let config = try_mut(config, "config")?;
        let prefix = try_str(prefix, len, "prefix")?;
        Ok(config.options.add_http_route(prefix)?)
    })
}

fn http(r: &sb_request) -> Option<&HttpRequest> {
    match r.req.body() {
        RequestBody::Http(http) => Some(http),
        _ => None,
    }
}

/// The method of an `HTTP` request (`GET`, `POST`, ...; UTF-8); absent for other kinds.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_http_method(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        http(r).map(|h| h.method.as_bytes())
    })
}

/// The path of an `HTTP` request, percent-encoded as sent (e.g. `/_test/log`); absent for
/// other kinds. Borrowed and statuses as `sb_request_http_method`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_http_path(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        http(r).map(|h| h.path.as_bytes())
    })
}

/// The route prefix of an `HTTP` request, as registered with `sb_config_add_http_route`: the
/// core picked the most specific one that is the path or a parent of it. Absent for other
/// kinds. Borrowed and statuses as `sb_request_http_method`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_http_prefix(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        http(r).map(|h| h.prefix.as_bytes())
    })
}

/// The query string of an `HTTP` request without the `?`, percent-encoded as sent (empty when
/// there is none); absent for other kinds. Borrowed and statuses as `sb_request_http_method`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_http_query(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        http(r).map(|h| h.query.as_bytes())
    })
}

/// The `Content-Type` of an `HTTP` request's body; absent when not sent (or for other kinds).
/// Borrowed and statuses as `sb_request_http_method`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_http_content_type(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        http(r).and_then(|h| h.content_type.as_deref().map(str::as_bytes))
    })
}

/// Answers an `HTTP` request: `status` (100-999), `content_type` (UTF-8; NULL/0 for none) and
/// `body_len` bytes of `body` (copied; NULL/0 for an empty body). Any thread, once, before
/// the request timeout.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
/// (`status` outside 100-999, a `content_type` that is not a valid header value),
/// `SB_E_WRONG_ANSWER` (a ticket that is not an HTTP request: it stays pending),
/// `SB_E_NOT_FOUND`, `SB_E_ALREADY_ANSWERED`,
/// `SB_E_STALE_TICKET` (as `sb_reply`), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_http_respond(
    endpoint: *const sb_endpoint,
    ticket: u64,
    status: u16,
    content_type: *const u8,
    content_type_len: usize,
    body: *const u8,
    body_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let t = self::ticket(ticket)?;
        let content_type = if content_type.is_null() && content_type_len == 0 {
            ""
        } else {
            try_str(content_type, content_type_len, "content_type")?
        };
        let body = if body.is_null() && body_len == 0 {
            bytes::Bytes::new()
        } else {
            bytes::Bytes::copy_from_slice(crate::boundary::try_slice(body, body_len, "body")?)
        };
        let answer = switchboard_core::host::http_response(i64::from(status), content_type, body)?;
        inner.queue.answer(t, answer).map_err(core_error)
    })
}

//! The getters of an `sb_request`: what it asks (kind, ticket, channel id) and its borrowed
//! fields (topic, event name, payload, refs, assigns, leave reason, connect details).

use super::{kind_value, sb_request};
use crate::boundary::{borrow_bytes, try_ref};
use crate::message::sb_payload_kind;
use crate::status::sb_status;
use switchboard_core::host::{Info, RequestBody, Ticket};
use switchboard_core::wire::{Payload, Ref};

/// The request's kind, an `sb_request_kind` value; 0 when `request` is NULL. (Not named
/// `sb_request_kind`: that is the enum's type name, and C has one namespace for both.)
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_get_kind(request: *const sb_request) -> u32 {
    crate::boundary::value_call(0, || {
        try_ref(request, "request").map_or(0, |r| kind_value(r.req.kind()) as u32)
    })
}

/// The ticket to answer with (non-zero), or 0 for a `Leave` request or a NULL `request`.
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_ticket(request: *const sb_request) -> u64 {
    crate::boundary::value_call(0, || {
        try_ref(request, "request")
            .ok()
            .and_then(|r| r.req.ticket())
            .map_or(0, Ticket::get)
    })
}

/// The channel id (non-zero, stable for the channel's life, never reused for another
/// channel) for acting on the channel later (`sb_push`, presence, ...); 0 for a `Connect`
/// request or a NULL `request`. Key host state by it.
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_channel_id(request: *const sb_request) -> u64 {
    crate::boundary::value_call(0, || {
        try_ref(request, "request")
            .ok()
            .and_then(|r| r.req.channel_id())
            .map_or(0, |id| id.get())
    })
}

/// The payload's kind (`sb_payload_kind`); 0 when the request has no payload (`Leave`) or
/// `request` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_payload_kind(request: *const sb_request) -> u32 {
    crate::boundary::value_call(0, || {
        let Ok(r) = try_ref(request, "request") else {
            return 0;
        };
        match r.req.body() {
            RequestBody::Connect { .. } => sb_payload_kind::Json as u32,
            RequestBody::Http(_) => sb_payload_kind::Binary as u32,
            _ => match r.req.payload() {
                Some(Payload::Json(_)) => sb_payload_kind::Json as u32,
                Some(Payload::Binary(_)) => sb_payload_kind::Binary as u32,
                None => 0,
            },
        }
    })
}

pub(crate) fn borrow(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
    pick: impl for<'a> FnOnce(&'a sb_request) -> Option<&'a [u8]>,
) -> sb_status {
    borrow_bytes(request, "request", out_ptr, out_len, pick)
}

fn payload_bytes(p: &Payload) -> &[u8] {
    match p {
        Payload::Json(b) | Payload::Binary(b) => b,
    }
}

/// The channel topic (UTF-8), e.g. `room:lobby`; absent for `Connect`.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_topic(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        r.req.topic().map(str::as_bytes)
    })
}

/// The channel pattern (UTF-8) whose handler serves this request's channel, as registered with
/// `sb_config_add_channel` (e.g. `room:*`): the core matched the topic against the patterns,
/// first registered first, as Phoenix does. Absent for `Connect` and `Http`. Borrowed and
/// statuses as `sb_request_topic`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_pattern(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        r.req.channel().map(|c| c.pattern.as_bytes())
    })
}

/// The event name (UTF-8): the client's event (`HandleIn`), the intercepted event
/// (`HandleOut`), or the subscribed broadcast's event (`HandleInfo`); absent otherwise.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_event(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        r.req.event().map(str::as_bytes)
    })
}

/// The payload exactly as received (raw JSON text or binary, see
/// `sb_request_payload_kind`): join params (`Join`), the message (`HandleIn`,
/// `HandleInfo`, `HandleOut`), the connect params as a JSON object (`Connect`); absent
/// for `Leave`. Never parsed by the library.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_payload(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| match r.req.body() {
        RequestBody::Connect { params_json, .. } => Some(params_json.as_bytes()),
        RequestBody::Http(http) => Some(&http.body),
        _ => r.req.payload().map(payload_bytes),
    })
}

/// The channel's join_ref as raw JSON text (e.g. `"1"` with quotes); absent for
/// `Connect` and when the client sent null.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_join_ref(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        r.req.join_ref().map(Ref::as_json)
    })
}

/// The push's ref as raw JSON text (`HandleIn` only); absent when the client sent null
/// (then a reply is not sent).
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_ref(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        r.req.r#ref().map(Ref::as_json)
    })
}

/// The socket id the connect answer gave (Phoenix `socket.id`), UTF-8; absent when none.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_socket_id(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        r.req.socket_id().map(str::as_bytes)
    })
}

/// The channel's assigns as JSON object text (Phoenix `socket.assigns`): the connect
/// assigns at join, then whatever answers stored; absent for `Connect`.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_assigns(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        r.req.assigns().map(|a| {
            r.assigns_json
                .get_or_init(|| serde_json::to_string(a).unwrap_or_else(|_| "{}".into()))
                .as_bytes()
        })
    })
}

/// Why the channel ended (`Leave` only), UTF-8: `left`, `closed`, `disconnected`,
/// `drain`, `stop:normal`, `stop:shutdown:<detail>`, `stop:<reason>` or `crash:<message>`
/// (Phoenix terminate reasons).
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_reason(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| {
        r.reason.as_deref().map(str::as_bytes)
    })
}

/// The token of the `Sec-WebSocket-Protocol: base64url.bearer.phx.<token>` subprotocol,
/// decoded (`Connect` only, Phoenix `auth_token`); absent when none was sent.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_auth_token(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| match r.req.body() {
        RequestBody::Connect { info, .. } => info.auth_token.as_deref().map(str::as_bytes),
        _ => None,
    })
}

/// The socket mount path of a `Connect`, e.g. `/socket`.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_mount(
    request: *const sb_request,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(request, out_ptr, out_len, |r| match r.req.body() {
        RequestBody::Connect { info, .. } => Some(info.mount.as_bytes()),
        _ => None,
    })
}

// Keep `Info` in use for readers: HandleInfo's event comes from `Info::Broadcast`.
const _: fn(&Info) = |_| {};

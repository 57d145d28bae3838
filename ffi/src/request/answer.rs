//! Answering a request by its ticket: `sb_reply`, `sb_reply_status`, `sb_noreply`, `sb_stop`,
//! `sb_join_ok` / `sb_join_error`, `sb_connect_ok` / `sb_connect_refuse`, and the checks that
//! turn C arguments into the core's `Answer`.

use crate::boundary::try_str;
use crate::endpoint::{sb_endpoint, with_endpoint};
use crate::message::{payload_from_c, sb_payload_kind};
use crate::status::{Error, Result, core_error, sb_status};
use switchboard_core::host::{self, Answer, Assigns, RequestKind, StopReason, Ticket};
use switchboard_core::wire::Payload;

/// How to answer a request with `sb_reply` (Phoenix callback return values).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum sb_reply_kind {
    /// `{:reply, {:ok, payload}, socket}`; for a join `{:ok, payload, socket}`; for a
    /// connect `{:ok, socket}` (payload ignored).
    Ok = 1,
    /// `{:reply, {:error, payload}, socket}`; for a join `{:error, payload}`; for a connect
    /// `:error` (HTTP 403, payload ignored).
    Error = 2,
    /// `{:noreply, socket}` (payload ignored).
    Noreply = 3,
    /// `{:stop, :normal, socket}`: the client gets `phx_close` (payload ignored).
    Stop = 4,
}

/// The reason of `sb_stop` (Phoenix `{:stop, reason, socket}`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum sb_stop_kind {
    /// `:normal`: `phx_close`, the client does not rejoin.
    Normal = 1,
    /// `{:shutdown, reason}`: `phx_close`, no rejoin.
    Shutdown = 2,
    /// Any other reason: `phx_error`, the client rejoins.
    Abnormal = 3,
}

pub(crate) fn ticket(raw: u64) -> Result<Ticket> {
    Ok(host::ticket(raw)?)
}

/// Optional assigns from C: NULL/0 leaves them unchanged; otherwise a JSON object.
fn assigns_from_c(ptr: *const u8, len: usize) -> Result<Option<Assigns>> {
    if ptr.is_null() && len == 0 {
        return Ok(None);
    }
    let text = try_str(ptr, len, "assigns")?;
    Ok(Some(host::json_object(text, "assigns")?))
}

/// Answers the request `ticket` from any thread, at any time before its request timeout:
/// `reply_kind` is an `sb_reply_kind` (OK, ERROR, NOREPLY, STOP; see there for what each
/// means per request kind). `payload` (`payload_kind`: JSON any value, or binary) is the
/// reply's response for OK / ERROR and the join reply for a join; copied. NULL/0 means `{}`
/// (and is what NOREPLY and STOP usually pass).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (unknown `reply_kind` or
/// `payload_kind`), `SB_E_WRONG_ANSWER` (an answer that does not fit, e.g. NOREPLY to a join;
/// the request stays pending), `SB_E_INVALID_UTF8`, `SB_E_INVALID_JSON`, `SB_E_NOT_FOUND` (ticket 0 or never
/// issued), `SB_E_ALREADY_ANSWERED` (answered before, or its request was freed unanswered),
/// `SB_E_STALE_TICKET` (the request timed out or its connection ended; the channel already
/// failed), `SB_E_POISONED`. An issued ticket never turns `SB_E_NOT_FOUND`: once its slot
/// is reused by a newer request it reports `SB_E_ALREADY_ANSWERED` if it is among the
/// last 4096 such answered tickets, else `SB_E_STALE_TICKET`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_reply(
    endpoint: *const sb_endpoint,
    ticket: u64,
    reply_kind: u32,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let t = self::ticket(ticket)?;
        let payload = if payload.is_null() && payload_len == 0 {
            // Validates the kind even when there is no payload.
            payload_from_c(b"{}".as_ptr(), 2, payload_kind)?
        } else {
            payload_from_c(payload, payload_len, payload_kind)?
        };
        if !(1..=4).contains(&reply_kind) {
            return Err(Error::invalid(format!(
                "unknown reply kind {reply_kind} (OK 1, ERROR 2, NOREPLY 3, STOP 4)"
            )));
        }
        let kind = inner.queue.request_kind(t).map_err(core_error)?;
        let answer = match (kind, reply_kind) {
            (RequestKind::Join, 1) => Answer::join_ok(payload),
            (RequestKind::Join, 2) => Answer::join_error(payload),
            (RequestKind::Connect, 1) => Answer::ConnectOk {
                assigns: Assigns::new(),
                id: None,
            },
            (RequestKind::Connect, 2) => Answer::ConnectRefused { status: 403 },
            (_, 1) => Answer::ok(payload),
            (_, 2) => Answer::error(payload),
            (_, 3) => Answer::noreply(),
            _ => Answer::stop(StopReason::Normal),
        };
        // NOREPLY / STOP to a join or connect do not fit: the core refuses them
        // (`SB_E_INVALID_ARGUMENT`) and the request stays pending.
        inner.queue.answer(t, answer).map_err(core_error)
    })
}

/// Answers a handle_in / handle_info / handle_out with `{:reply, {status, payload},
/// socket}` for any `status` text (UTF-8, non-empty), and optionally new channel assigns
/// (`assigns`: a JSON object replacing them, or NULL/0 to keep them; Phoenix `assign/3`).
///
/// Statuses: as `sb_reply`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_reply_status(
    endpoint: *const sb_endpoint,
    ticket: u64,
    status: *const u8,
    status_len: usize,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
    assigns: *const u8,
    assigns_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let t = self::ticket(ticket)?;
        let status = host::non_empty(try_str(status, status_len, "status")?, "status")?;
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        let mut answer = Answer::reply(status, payload);
        if let Some(a) = assigns_from_c(assigns, assigns_len)? {
            answer = answer.with_assigns(a);
        }
        inner.queue.answer(t, answer).map_err(core_error)
    })
}

/// Answers a handle_in / handle_info / handle_out with `{:noreply, socket}` and new channel
/// assigns (`assigns`: JSON object, or NULL/0 to keep them).
///
/// Statuses: as `sb_reply`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_noreply(
    endpoint: *const sb_endpoint,
    ticket: u64,
    assigns: *const u8,
    assigns_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let t = self::ticket(ticket)?;
        let mut answer = Answer::noreply();
        if let Some(a) = assigns_from_c(assigns, assigns_len)? {
            answer = answer.with_assigns(a);
        }
        inner.queue.answer(t, answer).map_err(core_error)
    })
}

/// Answers a handle_in / handle_info / handle_out with `{:stop, reason, socket}`:
/// `stop_kind` is an `sb_stop_kind` (NORMAL / SHUTDOWN close with `phx_close`, ABNORMAL
/// errors with `phx_error`); `reason` is UTF-8 detail text (may be empty).
///
/// Statuses: as `sb_reply` (unknown `stop_kind` is `SB_E_INVALID_ARGUMENT`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_stop(
    endpoint: *const sb_endpoint,
    ticket: u64,
    stop_kind: u32,
    reason: *const u8,
    reason_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let t = self::ticket(ticket)?;
        let reason = try_str(reason, reason_len, "reason")?.to_owned();
        let reason = match stop_kind {
            1 => StopReason::Normal,
            2 => StopReason::Shutdown(reason),
            3 => StopReason::Abnormal(reason),
            other => {
                return Err(Error::invalid(format!(
                    "unknown stop kind {other} (NORMAL 1, SHUTDOWN 2, ABNORMAL 3)"
                )));
            }
        };
        inner
            .queue
            .answer(t, Answer::stop(reason))
            .map_err(core_error)
    })
}

/// Accepts a join (Phoenix `{:ok, reply, socket}`): `reply` is the join reply (JSON, usually
/// `{}`; NULL/0 means `{}`), `assigns` the channel's assigns (JSON object, or NULL/0 to keep
/// the connect assigns).
///
/// Statuses: as `sb_reply`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_join_ok(
    endpoint: *const sb_endpoint,
    ticket: u64,
    reply: *const u8,
    reply_len: usize,
    assigns: *const u8,
    assigns_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let t = self::ticket(ticket)?;
        let reply = json_or_empty(reply, reply_len)?;
        let mut answer = Answer::join_ok(reply);
        if let Some(a) = assigns_from_c(assigns, assigns_len)? {
            answer = answer.with_assigns(a);
        }
        inner.queue.answer(t, answer).map_err(core_error)
    })
}

/// Refuses a join (Phoenix `{:error, reply}`): `reply` (JSON, e.g.
/// `{"reason":"unauthorized"}`; NULL/0 means `{}`) is sent as the error reply.
///
/// Statuses: as `sb_reply`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_join_error(
    endpoint: *const sb_endpoint,
    ticket: u64,
    reply: *const u8,
    reply_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let t = self::ticket(ticket)?;
        let reply = json_or_empty(reply, reply_len)?;
        inner
            .queue
            .answer(t, Answer::join_error(reply))
            .map_err(core_error)
    })
}

/// Accepts a connection (Phoenix `{:ok, socket}` from `connect/3`): `assigns` (JSON object or
/// NULL/0 for none) are copied into every channel of the connection; `socket_id` (UTF-8, or
/// NULL/0 for none) is Phoenix `id/1`: `sb_disconnect` with it closes the connection.
///
/// Statuses: as `sb_reply`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_connect_ok(
    endpoint: *const sb_endpoint,
    ticket: u64,
    assigns: *const u8,
    assigns_len: usize,
    socket_id: *const u8,
    socket_id_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let t = self::ticket(ticket)?;
        let assigns = assigns_from_c(assigns, assigns_len)?.unwrap_or_default();
        let id = if socket_id.is_null() && socket_id_len == 0 {
            None
        } else {
            Some(try_str(socket_id, socket_id_len, "socket_id")?.to_owned())
        };
        inner
            .queue
            .answer(t, Answer::ConnectOk { assigns, id })
            .map_err(core_error)
    })
}

/// Refuses a connection (Phoenix `:error` from `connect/3`): the upgrade is answered with
/// `http_status` (400-599; e.g. 403, or 429 for rate limiting) and an empty body.
///
/// Statuses: as `sb_reply` (`http_status` outside 400-599 is `SB_E_INVALID_ARGUMENT`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_connect_refuse(
    endpoint: *const sb_endpoint,
    ticket: u64,
    http_status: u16,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let t = self::ticket(ticket)?;
        let answer = host::connect_refused(i64::from(http_status))?;
        inner.queue.answer(t, answer).map_err(core_error)
    })
}

fn json_or_empty(ptr: *const u8, len: usize) -> Result<Payload> {
    if ptr.is_null() && len == 0 {
        return Ok(Payload::empty_object());
    }
    payload_from_c(ptr, len, sb_payload_kind::Json as u32)
}

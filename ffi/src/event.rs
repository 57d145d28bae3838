//! Host requests through the hub's queue (docs/ABI.md "Receiving host requests" and
//! "Answering host requests"): `sb_hub_poll` hands out owned `sb_event`s, read
//! with borrowed getters and answered by ticket with `sb_reply` & co. from any thread.

use crate::boundary::{borrow_bytes, from_handle, into_handle, try_out, try_ref, try_str};
use crate::hub::{sb_hub, with_hub};
use crate::message::{payload_from_c, sb_payload_kind};
use crate::status::{Error, Result, sb_status};
use std::ffi::c_void;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use switchboard_core::host::{
    Answer, AnswerError, Assigns, HostRequest, Info, RequestBody, RequestKind, StopReason,
    TerminateReason, Ticket,
};
use switchboard_core::wire::{Payload, Ref};

/// What an `sb_event` asks (`sb_event_kind`, a `sb_request_kind` value). Values are part of the ABI.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum sb_request_kind {
    /// Phoenix `connect/3` (only with `sb_config_set_host_connect`): answer with
    /// `sb_connect_ok` / `sb_connect_refuse` (or `sb_reply` OK / ERROR). Payload: the
    /// connect params as a JSON object.
    Connect = 1,
    /// Phoenix `join/3`: answer with `sb_join_ok` / `sb_join_error` (or `sb_reply` OK /
    /// ERROR). Payload: the join params.
    Join = 2,
    /// Phoenix `handle_in/3`, a client push: answer with `sb_reply` (OK, ERROR, NOREPLY,
    /// STOP), `sb_reply_status` or `sb_stop`.
    HandleIn = 3,
    /// Phoenix `handle_info/2`: a broadcast on a topic the channel subscribed to
    /// (`sb_channel_subscribe`; event and payload are the broadcast's) or a message from
    /// `sb_channel_send_info` (no event; payload is the JSON message). Answer NOREPLY or
    /// STOP.
    HandleInfo = 4,
    /// Phoenix `handle_out/3`: an intercepted broadcast (`sb_config_add_intercept`). It
    /// reaches the client only if the host pushes it (`sb_push`) before answering NOREPLY.
    HandleOut = 5,
    /// Phoenix `terminate/2`: the channel ended (`sb_event_reason` says why). No ticket, no
    /// answer: drop the state kept for that channel id, then free the event. When the
    /// channel ended with `phx_close` (reason `left`, `stop:normal`, `stop:shutdown:*`), the
    /// core waits until the event is freed (at most the request timeout) before it forgets
    /// the channel, and until then `sb_push`, `sb_channel_reply` and `sb_channel_broadcast`
    /// still work on its id: what they send arrives after `phx_close`, as pushes from a
    /// Phoenix `terminate` do. Other actions, and all actions after a crash or a
    /// connection end, give `SB_E_NOT_FOUND`. So free `LEAVE` events promptly.
    Leave = 6,
    /// An HTTP request on a route added with `sb_config_add_http_route`: read it with
    /// `sb_event_http_method` / `_path` / `_query` / `_content_type` and `sb_event_payload`
    /// (the body, `SB_PAYLOAD_KIND_BINARY`), answer with `sb_http_respond`. Unanswered within
    /// the request timeout: 504; freed unanswered: 500.
    Http = 7,
}

fn kind_value(kind: RequestKind) -> sb_request_kind {
    match kind {
        RequestKind::Connect => sb_request_kind::Connect,
        RequestKind::Join => sb_request_kind::Join,
        RequestKind::HandleIn => sb_request_kind::HandleIn,
        RequestKind::HandleInfo => sb_request_kind::HandleInfo,
        RequestKind::HandleOut => sb_request_kind::HandleOut,
        RequestKind::Leave => sb_request_kind::Leave,
        RequestKind::Http => sb_request_kind::Http,
    }
}

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

/// One host request (opaque) from `sb_hub_poll`, owned by the caller. It may move to another
/// thread but must not be used from two threads at once. Free it with `sb_event_free`, after
/// answering its ticket (an event freed unanswered counts as a crash of that handler: the
/// join gets `{"reason":"join crashed"}`, the channel `phx_error`, a connect HTTP 500).
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct sb_event {
    pub(crate) req: HostRequest,
    assigns_json: OnceLock<String>,
    reason: Option<String>,
}

impl sb_event {
    fn new(req: HostRequest) -> sb_event {
        let reason = match req.body() {
            RequestBody::Leave { reason, .. } => Some(reason_text(reason)),
            _ => None,
        };
        sb_event {
            req,
            assigns_json: OnceLock::new(),
            reason,
        }
    }
}

fn reason_text(reason: &TerminateReason) -> String {
    match reason {
        TerminateReason::Left => "left".into(),
        TerminateReason::Closed => "closed".into(),
        TerminateReason::Disconnected => "disconnected".into(),
        TerminateReason::Drain => "drain".into(),
        TerminateReason::Stop(StopReason::Normal) => "stop:normal".into(),
        TerminateReason::Stop(StopReason::Shutdown(d)) => format!("stop:shutdown:{d}"),
        TerminateReason::Stop(StopReason::Abnormal(d)) => format!("stop:{d}"),
        TerminateReason::Crash(msg) => format!("crash:{msg}"),
    }
}

/// Takes up to `cap` pending requests without blocking and writes their handles to
/// `out[0..*out_n]`; an empty queue gives `*out_n = 0`. `Leave` events come first. Resets
/// the event fd, and signals it (or the wakeup callback) again when requests remain after
/// `cap`, so a host may stop early to share its loop. Any thread; concurrent pollers get
/// distinct events.
///
/// Ownership: each `out[i]` is owned by the caller (`sb_event_free`).
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`hub`, `out_n`, or `out` with `cap > 0`),
/// `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_hub_poll(
    hub: *const sb_hub,
    out: *mut *mut sb_event,
    cap: usize,
    out_n: *mut usize,
) -> sb_status {
    with_hub(hub, |inner| {
        let out_n = try_out(out_n, "out_n")?;
        if cap > 0 && out.is_null() {
            return Err(Error::null("out"));
        }
        if cap > isize::MAX as usize / std::mem::size_of::<*mut sb_event>() {
            return Err(Error::invalid("`cap` is too large"));
        }
        let requests = inner.queue.poll(cap);
        let n = requests.len();
        for (i, req) in requests.into_iter().enumerate() {
            // SAFETY: `out` points to `cap` writable slots (caller contract, NULL checked
            // above) and `i < n <= cap`.
            unsafe { out.add(i).write(into_handle(sb_event::new(req))) };
        }
        out_n.write(n);
        Ok(())
    })
}

/// Blocks the calling thread until requests may be pending or `timeout_ms` milliseconds
/// passed: `SB_OK` means "poll now" (possibly spuriously), `SB_E_TIMEOUT` that nothing
/// arrived. For a dedicated host thread (and the Windows path). Must not be called from a
/// callback of this library.
///
/// Statuses: `SB_OK`, `SB_E_TIMEOUT`, `SB_E_NULL_POINTER`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_hub_wait(hub: *const sb_hub, timeout_ms: u32) -> sb_status {
    with_hub(hub, |inner| {
        if inner
            .queue
            .wait(Duration::from_millis(u64::from(timeout_ms)))
        {
            Ok(())
        } else {
            Err(Error::new(
                sb_status::SB_E_TIMEOUT,
                format!("no request within {timeout_ms} ms"),
            ))
        }
    })
}

/// Writes a file descriptor that is readable while requests may be pending (a Linux
/// `eventfd`, non-blocking, close-on-exec) to `*out_fd`. Register it level-triggered (epoll,
/// libuv `uv_poll_start(UV_READABLE)`, asyncio `add_reader`) and call `sb_hub_poll` when
/// it is readable until it returns fewer than `cap` events; poll resets it, so never
/// `read()` it. Borrowed: valid until `sb_hub_free`, never close it.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_IO` (not available: not Linux, or the kernel
/// refused an eventfd), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_hub_event_fd(hub: *const sb_hub, out_fd: *mut i32) -> sb_status {
    with_hub(hub, |inner| {
        let out_fd = try_out(out_fd, "out_fd")?;
        out_fd.write(event_fd(&inner.queue)?);
        Ok(())
    })
}

#[cfg(target_os = "linux")]
fn event_fd(queue: &switchboard_core::host::HostQueue) -> Result<i32> {
    use std::os::fd::AsRawFd;
    queue
        .event_fd()
        .map(|fd| fd.as_raw_fd())
        .ok_or_else(|| Error::new(sb_status::SB_E_IO, "the kernel refused an eventfd"))
}

#[cfg(not(target_os = "linux"))]
fn event_fd(_queue: &switchboard_core::host::HostQueue) -> Result<i32> {
    Err(Error::new(
        sb_status::SB_E_IO,
        "no event fd on this platform: use sb_hub_wait or sb_hub_set_wakeup",
    ))
}

/// The C callback and its user data, owned by the hub's notifier.
struct Wakeup {
    cb: extern "C" fn(*mut c_void),
    user_data: *mut c_void,
    free: Option<extern "C" fn(*mut c_void)>,
}

// SAFETY: the header documents that `cb` may run on any thread and that `user_data_free` runs
// once on any thread; the library never dereferences `user_data`.
unsafe impl Send for Wakeup {}
// SAFETY: as above; `cb` may run concurrently with itself, which the header documents.
unsafe impl Sync for Wakeup {}

impl Wakeup {
    fn call(&self) {
        (self.cb)(self.user_data);
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            free(self.user_data);
        }
    }
}

/// Installs a wakeup callback meaning "there is work: poll" (librdkafka's callback mode); a
/// NULL `cb` removes it. `cb(user_data)` runs on an internal thread (or inside `sb_hub_poll`
/// when work remains), at most once per batch; it must be quick, must not block and must not
/// call any `sb_*` function (libuv: exactly `uv_async_send`). Runs once right away if work is
/// already pending. `user_data_free(user_data)` (optional, may be NULL) runs exactly once,
/// on any thread, when the callback is replaced or removed or the hub is freed, at the latest
/// before `sb_hub_free` returns.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`hub`), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_hub_set_wakeup(
    hub: *const sb_hub,
    cb: Option<extern "C" fn(*mut c_void)>,
    user_data: *mut c_void,
    user_data_free: Option<extern "C" fn(*mut c_void)>,
) -> sb_status {
    with_hub(hub, |inner| {
        let wakeup = cb.map(|cb| {
            let w = Wakeup {
                cb,
                user_data,
                free: user_data_free,
            };
            Arc::new(move || w.call()) as switchboard_core::host::Wakeup
        });
        if wakeup.is_none()
            && let Some(free) = user_data_free
        {
            free(user_data);
        }
        inner.queue.set_wakeup(wakeup);
        Ok(())
    })
}

/// Frees an event. NULL is a no-op. Freeing an event whose ticket was not answered answers
/// it as a crash of that handler (see `sb_event`); pointers from its getters become invalid.
/// Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_free(event: *mut sb_event) {
    crate::boundary::value_call((), || drop(from_handle(event)));
}

/// The event's kind, an `sb_request_kind` value; 0 when `event` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_kind(event: *const sb_event) -> u32 {
    crate::boundary::value_call(0, || {
        try_ref(event, "event").map_or(0, |e| kind_value(e.req.kind()) as u32)
    })
}

/// The ticket to answer with (non-zero), or 0 for a `Leave` event or a NULL `event`.
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_ticket(event: *const sb_event) -> u64 {
    crate::boundary::value_call(0, || {
        try_ref(event, "event")
            .ok()
            .and_then(|e| e.req.ticket())
            .map_or(0, Ticket::get)
    })
}

/// The channel id (non-zero, stable for the channel's life, never reused for another
/// channel) for acting on the channel later (`sb_push`, presence, ...); 0 for a `Connect`
/// event or a NULL `event`. Key host state by it.
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_channel_id(event: *const sb_event) -> u64 {
    crate::boundary::value_call(0, || {
        try_ref(event, "event")
            .ok()
            .and_then(|e| e.req.channel_id())
            .map_or(0, |id| id.get())
    })
}

/// The payload's kind (`sb_payload_kind`); 0 when the event has no payload (`Leave`) or
/// `event` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_payload_kind(event: *const sb_event) -> u32 {
    crate::boundary::value_call(0, || {
        let Ok(e) = try_ref(event, "event") else {
            return 0;
        };
        match e.req.body() {
            RequestBody::Connect { .. } => sb_payload_kind::Json as u32,
            RequestBody::Http(_) => sb_payload_kind::Binary as u32,
            _ => match e.req.payload() {
                Some(Payload::Json(_)) => sb_payload_kind::Json as u32,
                Some(Payload::Binary(_)) => sb_payload_kind::Binary as u32,
                None => 0,
            },
        }
    })
}

pub(crate) fn borrow(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
    pick: impl for<'a> FnOnce(&'a sb_event) -> Option<&'a [u8]>,
) -> sb_status {
    borrow_bytes(event, "event", out_ptr, out_len, pick)
}

fn payload_bytes(p: &Payload) -> &[u8] {
    match p {
        Payload::Json(b) | Payload::Binary(b) => b,
    }
}

/// The channel topic (UTF-8), e.g. `room:lobby`; absent for `Connect`.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_topic(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| {
        e.req.topic().map(str::as_bytes)
    })
}

/// The event name (UTF-8): the client's event (`HandleIn`), the intercepted event
/// (`HandleOut`), or the subscribed broadcast's event (`HandleInfo`); absent otherwise.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_event(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| {
        e.req.event().map(str::as_bytes)
    })
}

/// The payload exactly as received (raw JSON text or binary, see
/// `sb_event_payload_kind`): join params (`Join`), the message (`HandleIn`,
/// `HandleInfo`, `HandleOut`), the connect params as a JSON object (`Connect`); absent
/// for `Leave`. Never parsed by the library.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_payload(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| match e.req.body() {
        RequestBody::Connect { params_json, .. } => Some(params_json.as_bytes()),
        RequestBody::Http(http) => Some(&http.body),
        _ => e.req.payload().map(payload_bytes),
    })
}

/// The channel's join_ref as raw JSON text (e.g. `"1"` with quotes); absent for
/// `Connect` and when the client sent null.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_join_ref(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| {
        e.req.join_ref().map(Ref::as_json)
    })
}

/// The push's ref as raw JSON text (`HandleIn` only); absent when the client sent null
/// (then a reply is not sent).
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_ref(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| e.req.r#ref().map(Ref::as_json))
}

/// The socket id the connect answer gave (Phoenix `socket.id`), UTF-8; absent when none.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_socket_id(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| {
        e.req.socket_id().map(str::as_bytes)
    })
}

/// The channel's assigns as JSON object text (Phoenix `socket.assigns`): the connect
/// assigns at join, then whatever answers stored; absent for `Connect`.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_assigns(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| {
        e.req.assigns().map(|a| {
            e.assigns_json
                .get_or_init(|| serde_json::to_string(a).unwrap_or_else(|_| "{}".into()))
                .as_bytes()
        })
    })
}

/// Why the channel ended (`Leave` only), UTF-8: `left`, `closed`, `disconnected`,
/// `drain`, `stop:normal`, `stop:shutdown:<detail>`, `stop:<reason>` or `crash:<message>`
/// (Phoenix terminate reasons).
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_reason(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| {
        e.reason.as_deref().map(str::as_bytes)
    })
}

/// The token of the `Sec-WebSocket-Protocol: base64url.bearer.phx.<token>` subprotocol,
/// decoded (`Connect` only, Phoenix `auth_token`); absent when none was sent.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_auth_token(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| match e.req.body() {
        RequestBody::Connect { info, .. } => info.auth_token.as_deref().map(str::as_bytes),
        _ => None,
    })
}

/// The socket mount path of a `Connect`, e.g. `/socket`.
///
/// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_event_free`; not NUL-terminated.
/// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_event_mount(
    event: *const sb_event,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow(event, out_ptr, out_len, |e| match e.req.body() {
        RequestBody::Connect { info, .. } => Some(info.mount.as_bytes()),
        _ => None,
    })
}

// Keep `Info` in use for readers: HandleInfo's event comes from `Info::Broadcast`.
const _: fn(&Info) = |_| {};

pub(crate) fn answer_error(e: AnswerError) -> Error {
    let status = match e {
        AnswerError::NotFound => sb_status::SB_E_NOT_FOUND,
        AnswerError::AlreadyAnswered => sb_status::SB_E_ALREADY_ANSWERED,
        AnswerError::Stale => sb_status::SB_E_STALE_TICKET,
        AnswerError::WrongKind { .. } => sb_status::SB_E_INVALID_ARGUMENT,
    };
    Error::new(status, e.to_string())
}

pub(crate) fn ticket(raw: u64) -> Result<Ticket> {
    if raw == 0 {
        return Err(Error::new(
            sb_status::SB_E_NOT_FOUND,
            "ticket 0 is never issued (Leave events have none)",
        ));
    }
    Ok(Ticket::from_raw(raw))
}

/// Optional assigns from C: NULL/0 leaves them unchanged; otherwise a JSON object.
fn assigns_from_c(ptr: *const u8, len: usize) -> Result<Option<Assigns>> {
    if ptr.is_null() && len == 0 {
        return Ok(None);
    }
    let text = try_str(ptr, len, "assigns")?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(Error::invalid("`assigns` must be a JSON object")),
        Err(e) => Err(Error::new(
            sb_status::SB_E_INVALID_JSON,
            format!("`assigns` is not valid JSON: {e}"),
        )),
    }
}

/// Answers the request `ticket` from any thread, at any time before its request timeout:
/// `reply_kind` is an `sb_reply_kind` (OK, ERROR, NOREPLY, STOP; see there for what each
/// means per request kind). `payload` (`payload_kind`: JSON any value, or binary) is the
/// reply's response for OK / ERROR and the join reply for a join; copied. NULL/0 means `{}`
/// (and is what NOREPLY and STOP usually pass).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (unknown `reply_kind` or
/// `payload_kind`; an answer that does not fit, e.g. NOREPLY to a join; the request stays
/// pending), `SB_E_INVALID_UTF8`, `SB_E_INVALID_JSON`, `SB_E_NOT_FOUND` (ticket 0 or never
/// issued), `SB_E_ALREADY_ANSWERED` (answered before, or its event was freed unanswered),
/// `SB_E_STALE_TICKET` (the request timed out or its connection ended; the channel already
/// failed), `SB_E_POISONED`. An issued ticket never turns `SB_E_NOT_FOUND`: once its slot
/// is reused by a newer request it reports `SB_E_ALREADY_ANSWERED` if it is among the
/// last 4096 such answered tickets, else `SB_E_STALE_TICKET`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_reply(
    hub: *const sb_hub,
    ticket: u64,
    reply_kind: u32,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
) -> sb_status {
    with_hub(hub, |inner| {
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
        let kind = inner.queue.request_kind(t).map_err(answer_error)?;
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
        inner.queue.answer(t, answer).map_err(answer_error)
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
    hub: *const sb_hub,
    ticket: u64,
    status: *const u8,
    status_len: usize,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
    assigns: *const u8,
    assigns_len: usize,
) -> sb_status {
    with_hub(hub, |inner| {
        let t = self::ticket(ticket)?;
        let status = try_str(status, status_len, "status")?;
        if status.is_empty() {
            return Err(Error::invalid("`status` is empty"));
        }
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        let mut answer = Answer::reply(status, payload);
        if let Some(a) = assigns_from_c(assigns, assigns_len)? {
            answer = answer.with_assigns(a);
        }
        inner.queue.answer(t, answer).map_err(answer_error)
    })
}

/// Answers a handle_in / handle_info / handle_out with `{:noreply, socket}` and new channel
/// assigns (`assigns`: JSON object, or NULL/0 to keep them).
///
/// Statuses: as `sb_reply`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_noreply(
    hub: *const sb_hub,
    ticket: u64,
    assigns: *const u8,
    assigns_len: usize,
) -> sb_status {
    with_hub(hub, |inner| {
        let t = self::ticket(ticket)?;
        let mut answer = Answer::noreply();
        if let Some(a) = assigns_from_c(assigns, assigns_len)? {
            answer = answer.with_assigns(a);
        }
        inner.queue.answer(t, answer).map_err(answer_error)
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
    hub: *const sb_hub,
    ticket: u64,
    stop_kind: u32,
    reason: *const u8,
    reason_len: usize,
) -> sb_status {
    with_hub(hub, |inner| {
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
            .map_err(answer_error)
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
    hub: *const sb_hub,
    ticket: u64,
    reply: *const u8,
    reply_len: usize,
    assigns: *const u8,
    assigns_len: usize,
) -> sb_status {
    with_hub(hub, |inner| {
        let t = self::ticket(ticket)?;
        let reply = json_or_empty(reply, reply_len)?;
        let mut answer = Answer::join_ok(reply);
        if let Some(a) = assigns_from_c(assigns, assigns_len)? {
            answer = answer.with_assigns(a);
        }
        inner.queue.answer(t, answer).map_err(answer_error)
    })
}

/// Refuses a join (Phoenix `{:error, reply}`): `reply` (JSON, e.g.
/// `{"reason":"unauthorized"}`; NULL/0 means `{}`) is sent as the error reply.
///
/// Statuses: as `sb_reply`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_join_error(
    hub: *const sb_hub,
    ticket: u64,
    reply: *const u8,
    reply_len: usize,
) -> sb_status {
    with_hub(hub, |inner| {
        let t = self::ticket(ticket)?;
        let reply = json_or_empty(reply, reply_len)?;
        inner
            .queue
            .answer(t, Answer::join_error(reply))
            .map_err(answer_error)
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
    hub: *const sb_hub,
    ticket: u64,
    assigns: *const u8,
    assigns_len: usize,
    socket_id: *const u8,
    socket_id_len: usize,
) -> sb_status {
    with_hub(hub, |inner| {
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
            .map_err(answer_error)
    })
}

/// Refuses a connection (Phoenix `:error` from `connect/3`): the upgrade is answered with
/// `http_status` (400-599; e.g. 403, or 429 for rate limiting) and an empty body.
///
/// Statuses: as `sb_reply` (`http_status` outside 400-599 is `SB_E_INVALID_ARGUMENT`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_connect_refuse(
    hub: *const sb_hub,
    ticket: u64,
    http_status: u16,
) -> sb_status {
    with_hub(hub, |inner| {
        let t = self::ticket(ticket)?;
        if !(400..=599).contains(&http_status) {
            return Err(Error::invalid(format!(
                "HTTP status {http_status} is not an error status (400-599)"
            )));
        }
        inner
            .queue
            .answer(
                t,
                Answer::ConnectRefused {
                    status: http_status,
                },
            )
            .map_err(answer_error)
    })
}

fn json_or_empty(ptr: *const u8, len: usize) -> Result<Payload> {
    if ptr.is_null() && len == 0 {
        return Ok(Payload::empty_object());
    }
    payload_from_c(ptr, len, sb_payload_kind::Json as u32)
}

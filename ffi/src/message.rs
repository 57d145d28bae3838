//! `sb_message`: an owned Phoenix message (decoded frame or received broadcast) read through
//! borrowed getters (quiche's pattern: reading allocates nothing), and payload input from C.

use crate::boundary::{borrow_bytes, from_handle, try_ref, try_slice};
use crate::status::{Error, Result, sb_status};
use bytes::Bytes;
use switchboard_core::pubsub::Broadcast;
use switchboard_core::wire::{Message, Payload, Ref};

/// How a payload travels: JSON text or raw binary (Phoenix `{:binary, data}`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum sb_payload_kind {
    /// Raw JSON text (UTF-8). Pushes and broadcasts need a JSON object.
    Json = 1,
    /// Raw bytes, carried by V2 binary frames only.
    Binary = 2,
}

impl sb_payload_kind {
    fn from_u32(value: u32) -> Result<sb_payload_kind> {
        match value {
            1 => Ok(sb_payload_kind::Json),
            2 => Ok(sb_payload_kind::Binary),
            other => Err(Error::invalid(format!(
                "unknown payload kind {other} (SB_PAYLOAD_KIND_JSON = 1, SB_PAYLOAD_KIND_BINARY = 2)"
            ))),
        }
    }
}

/// Copies a payload from C: JSON must be valid UTF-8 JSON (any value; where an object is
/// required the encoder says so), binary is taken as is.
pub(crate) fn payload_from_c(ptr: *const u8, len: usize, kind: u32) -> Result<Payload> {
    let bytes = try_slice(ptr, len, "payload")?;
    payload_of(kind, bytes, Bytes::copy_from_slice)
}

/// Checks `bytes` as a payload of `kind` (as [`payload_from_c`]), then wraps the buffer `keep`
/// makes of them: a copy, or the caller's own memory (`sb_broadcast_owned`). On failure `keep`
/// is dropped uncalled.
pub(crate) fn payload_of(
    kind: u32,
    bytes: &[u8],
    keep: impl FnOnce(&[u8]) -> Bytes,
) -> Result<Payload> {
    match sb_payload_kind::from_u32(kind)? {
        sb_payload_kind::Json => {
            std::str::from_utf8(bytes).map_err(|e| {
                Error::new(
                    sb_status::SB_E_INVALID_UTF8,
                    format!("`payload` is not valid UTF-8: {e}"),
                )
            })?;
            Ok(switchboard_core::host::json_payload(
                keep(bytes),
                "payload",
            )?)
        }
        sb_payload_kind::Binary => Ok(Payload::Binary(keep(bytes))),
    }
}

/// An optional ref from C: NULL/0 is none; otherwise the raw JSON text of a non-null value
/// (e.g. `"6"` with its quotes, as `sb_message_ref` returns it).
pub(crate) fn ref_from_c(ptr: *const u8, len: usize, what: &str) -> Result<Option<Ref>> {
    if ptr.is_null() && len == 0 {
        return Ok(None);
    }
    let bytes = try_slice(ptr, len, what)?;
    let value = validate_json(bytes, what)?;
    if value.is_null() {
        return Err(Error::invalid(format!(
            "`{what}` is JSON null; pass NULL with length 0 for no ref"
        )));
    }
    Ok(Some(Ref::from_json_unchecked(Bytes::copy_from_slice(
        bytes,
    ))))
}

fn validate_json(bytes: &[u8], what: &str) -> Result<serde_json::Value> {
    std::str::from_utf8(bytes).map_err(|e| {
        Error::new(
            sb_status::SB_E_INVALID_UTF8,
            format!("`{what}` is not valid UTF-8: {e}"),
        )
    })?;
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            sb_status::SB_E_INVALID_JSON,
            format!("`{what}` is not valid JSON: {e}"),
        )
    })
}

/// One Phoenix message (opaque): topic, event, payload and the optional join_ref and ref.
/// Returned by `sb_decode_text`, `sb_decode_binary` and `sb_subscription_poll`; owned by the
/// caller and freed with `sb_message_free`. It may move to another thread but must not be
/// used from two threads at once.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct sb_message {
    join_ref: Option<Ref>,
    r#ref: Option<Ref>,
    topic: String,
    event: String,
    payload: Payload,
}

impl From<Message> for sb_message {
    fn from(m: Message) -> Self {
        sb_message {
            join_ref: m.join_ref,
            r#ref: m.r#ref,
            topic: m.topic,
            event: m.event,
            payload: m.payload,
        }
    }
}

impl From<&Broadcast> for sb_message {
    fn from(b: &Broadcast) -> Self {
        sb_message {
            join_ref: None,
            r#ref: None,
            topic: b.topic.clone(),
            event: b.event.clone(),
            payload: b.payload.clone(),
        }
    }
}

/// Frees a message. NULL is a no-op. Every pointer its getters returned becomes invalid.
#[unsafe(no_mangle)]
pub extern "C" fn sb_message_free(message: *mut sb_message) {
    crate::boundary::value_call((), || drop(from_handle(message)));
}

fn borrow_out(
    message: *const sb_message,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
    pick: impl for<'a> FnOnce(&'a sb_message) -> Option<&'a [u8]>,
) -> sb_status {
    borrow_bytes(message, "message", out_ptr, out_len, pick)
}

/// The message's topic, UTF-8, not NUL-terminated: `*out_ptr`/`*out_len` borrow from
/// `message` until it is freed.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_message_topic(
    message: *const sb_message,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow_out(message, out_ptr, out_len, |m| Some(m.topic.as_bytes()))
}

/// The message's event (e.g. `"phx_join"`, `"new_msg"`), UTF-8, borrowed like
/// `sb_message_topic`.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_message_event(
    message: *const sb_message,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow_out(message, out_ptr, out_len, |m| Some(m.event.as_bytes()))
}

/// The payload bytes exactly as they travelled: raw JSON text, or the binary bytes (see
/// `sb_message_payload_kind`). Borrowed like `sb_message_topic`; never parsed by the library.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_message_payload(
    message: *const sb_message,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow_out(message, out_ptr, out_len, |m| match &m.payload {
        Payload::Json(b) | Payload::Binary(b) => Some(&b[..]),
    })
}

/// The payload's kind as a `sb_payload_kind` value; 0 when `message` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sb_message_payload_kind(message: *const sb_message) -> u32 {
    crate::boundary::value_call(0, || match try_ref(message, "message") {
        Ok(m) => match m.payload {
            Payload::Json(_) => sb_payload_kind::Json as u32,
            Payload::Binary(_) => sb_payload_kind::Binary as u32,
        },
        Err(_) => 0,
    })
}

/// The join_ref as the raw JSON text the client sent (normally a string with its quotes, e.g.
/// `"1"`), borrowed like `sb_message_topic`. Absent (JSON null, or a broadcast) gives
/// `*out_ptr = NULL` and `*out_len = 0` with `SB_OK`; a present ref is never empty.
/// From a binary frame the ref comes back as a JSON string.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_message_join_ref(
    message: *const sb_message,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow_out(message, out_ptr, out_len, |m| {
        m.join_ref.as_ref().map(Ref::as_json)
    })
}

/// The ref (the push's reference the reply must echo), same shape and rules as
/// `sb_message_join_ref`.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_message_ref(
    message: *const sb_message,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
) -> sb_status {
    borrow_out(message, out_ptr, out_len, |m| {
        m.r#ref.as_ref().map(Ref::as_json)
    })
}

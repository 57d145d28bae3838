//! The sans-IO codec for programs that own their sockets: frames in, `sb_message` out;
//! message parts in, `sb_buffer` (a frame body) out (PROTOCOL.md 2-3).

use crate::boundary::{from_handle, into_handle, sb_ffi_boundary, try_out, try_ref, try_slice};
use crate::message::{payload_from_c, ref_from_c, sb_message};
use crate::status::{Error, Result, sb_status};
use switchboard_core::wire::{Frame, Message, Serializer, WireError};

/// The serializer a connection negotiated from its `vsn` query parameter (PROTOCOL.md 1.2).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum sb_vsn {
    /// `vsn=1.0.0` (or none): V1 JSON objects, no binary frames.
    V1 = 1,
    /// `vsn=2.0.0`: V2 JSON arrays plus binary frames (what phoenix.js 1.8 uses).
    V2 = 2,
}

fn serializer(vsn: u32) -> Result<Serializer> {
    match vsn {
        1 => Ok(Serializer::V1Json),
        2 => Ok(Serializer::V2Json),
        other => Err(Error::invalid(format!(
            "unknown vsn {other} (SB_VSN_V1 = 1, SB_VSN_V2 = 2)"
        ))),
    }
}

/// The body of `sb_decode_text` / `sb_decode_binary`: `frame` decodes with the `vsn` serializer.
fn decode(
    vsn: u32,
    data: *const u8,
    len: usize,
    out: *mut *mut sb_message,
    frame: fn(Serializer, &[u8]) -> std::result::Result<Message, WireError>,
) -> sb_status {
    sb_ffi_boundary!({
        let out = try_out(out, "out")?;
        let serializer = serializer(vsn)?;
        let data = try_slice(data, len, "data")?;
        let message = frame(serializer, data).map_err(decode_error)?;
        out.write(into_handle(sb_message::from(message)));
        Ok(())
    })
}

fn decode_error(e: WireError) -> Error {
    Error::new(sb_status::SB_E_DECODE, e.to_string())
}

fn encode_error(e: WireError) -> Error {
    Error::new(sb_status::SB_E_ENCODE, e.to_string())
}

/// An encoded frame body (opaque), owned by the caller; free with `sb_buffer_free`. Send it
/// as a WebSocket text frame unless `sb_buffer_is_binary` says binary.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct sb_buffer {
    frame: Frame,
}

impl sb_buffer {
    pub(crate) fn new(frame: Frame) -> sb_buffer {
        sb_buffer { frame }
    }

    /// A new caller-owned buffer holding `text`.
    pub(crate) fn text_handle(text: String) -> *mut sb_buffer {
        crate::boundary::into_handle(sb_buffer::new(Frame::Text(bytes::Bytes::from(text))))
    }
}

/// Frees a buffer. NULL is a no-op; `sb_buffer_data` pointers become invalid.
#[unsafe(no_mangle)]
pub extern "C" fn sb_buffer_free(buffer: *mut sb_buffer) {
    crate::boundary::value_call((), || drop(from_handle(buffer)));
}

/// The frame bytes, borrowed until `sb_buffer_free`; NULL when `buffer` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sb_buffer_data(buffer: *const sb_buffer) -> *const u8 {
    crate::boundary::value_call(std::ptr::null(), || {
        try_ref(buffer, "buffer").map_or(std::ptr::null(), |b| match &b.frame {
            Frame::Text(bytes) | Frame::Binary(bytes) => bytes.as_ptr(),
        })
    })
}

/// The frame length in bytes; 0 when `buffer` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sb_buffer_len(buffer: *const sb_buffer) -> usize {
    crate::boundary::value_call(0, || try_ref(buffer, "buffer").map_or(0, |b| b.frame.len()))
}

/// True when the frame must go out as a WebSocket binary frame, false for a text frame (always
/// valid UTF-8) or a NULL `buffer`.
#[unsafe(no_mangle)]
pub extern "C" fn sb_buffer_is_binary(buffer: *const sb_buffer) -> bool {
    crate::boundary::value_call(false, || {
        try_ref(buffer, "buffer").is_ok_and(|b| matches!(b.frame, Frame::Binary(_)))
    })
}

/// Decodes a client text frame under `vsn` (an `sb_vsn` value): V2 `[join_ref, ref, topic,
/// event, payload]` or a V1 object. Payload and refs keep their exact JSON text.
///
/// Ownership: `data` is borrowed for the call; `*out` is a new `sb_message` owned by the caller.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (unknown `vsn`),
/// `SB_E_DECODE` (malformed JSON or UTF-8, wrong shape; Phoenix closes the socket on these).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_decode_text(
    vsn: u32,
    data: *const u8,
    len: usize,
    out: *mut *mut sb_message,
) -> sb_status {
    decode(vsn, data, len, out, Serializer::decode_text)
}

/// Decodes a client binary frame (V2 kind 0 push, PROTOCOL.md 2.3). Its refs come back as
/// JSON strings and its payload with kind `SB_PAYLOAD_KIND_BINARY`.
///
/// Ownership as `sb_decode_text`. Statuses: `SB_OK`, `SB_E_NULL_POINTER`,
/// `SB_E_INVALID_ARGUMENT` (unknown `vsn`), `SB_E_DECODE` (V1 has no binary frames, unknown
/// kind, truncated frame, non-UTF-8 field).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_decode_binary(
    vsn: u32,
    data: *const u8,
    len: usize,
    out: *mut *mut sb_message,
) -> sb_status {
    decode(vsn, data, len, out, Serializer::decode_binary)
}

/// Encodes a server push on a joined channel (Phoenix `push/3`): `[join_ref, null, topic,
/// event, payload]` in V2, `{"event","payload","ref":null,"topic"}` in V1, or a V2 binary
/// kind-0 frame for a binary payload. `join_ref` is raw JSON as `sb_message_join_ref` returns
/// it, or NULL/0 for none (V1 never carries it).
///
/// Ownership: inputs borrowed for the call; `*out` is a new `sb_buffer` owned by the caller.
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (unknown
/// `vsn` or `payload_kind`, empty topic or event, JSON null ref), `SB_E_INVALID_JSON`,
/// `SB_E_ENCODE` (non-object JSON under V2, binary under V1, binary field over 255 bytes).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_encode_push(
    vsn: u32,
    join_ref: *const u8,
    join_ref_len: usize,
    topic: *const u8,
    topic_len: usize,
    event: *const u8,
    event_len: usize,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
    out: *mut *mut sb_buffer,
) -> sb_status {
    sb_ffi_boundary!({
        let out = try_out(out, "out")?;
        let serializer = serializer(vsn)?;
        let join_ref = ref_from_c(join_ref, join_ref_len, "join_ref")?;
        let (topic, event) = crate::endpoint::topic_event(topic, topic_len, event, event_len)?;
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        let frame = serializer
            .encode_message(join_ref.as_ref(), None, topic, event, &payload)
            .map_err(encode_error)?;
        out.write(into_handle(sb_buffer { frame }));
        Ok(())
    })
}

/// Encodes a broadcast frame as every subscriber of `topic` receives it (Phoenix fastlane):
/// `[null, null, topic, event, payload]` in V2, or a V2 binary kind-2 frame. Same statuses and
/// ownership as `sb_encode_push`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_encode_broadcast(
    vsn: u32,
    topic: *const u8,
    topic_len: usize,
    event: *const u8,
    event_len: usize,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
    out: *mut *mut sb_buffer,
) -> sb_status {
    sb_ffi_boundary!({
        let out = try_out(out, "out")?;
        let serializer = serializer(vsn)?;
        let (topic, event) = crate::endpoint::topic_event(topic, topic_len, event, event_len)?;
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        let frame = serializer
            .encode_message(None, None, topic, event, &payload)
            .map_err(encode_error)?;
        out.write(into_handle(sb_buffer { frame }));
        Ok(())
    })
}

/// Encodes a `phx_reply` to the push `ref` on the channel `join_ref` (Phoenix
/// `{:reply, {status, response}, socket}`): `[join_ref, ref, topic, "phx_reply",
/// {"status": status, "response": response}]` in V2 (`join_ref` dropped in V1), or a V2
/// binary kind-1 frame for a binary response. `status` is UTF-8 text such as `"ok"` or
/// `"error"`; the response may be any JSON value. Refs as in `sb_encode_push` (NULL/0 = none).
/// Same statuses and ownership as `sb_encode_push`, except that a non-object JSON response is
/// accepted.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_encode_reply(
    vsn: u32,
    join_ref: *const u8,
    join_ref_len: usize,
    r#ref: *const u8,
    ref_len: usize,
    topic: *const u8,
    topic_len: usize,
    status: *const u8,
    status_len: usize,
    response: *const u8,
    response_len: usize,
    response_kind: u32,
    out: *mut *mut sb_buffer,
) -> sb_status {
    sb_ffi_boundary!({
        let out = try_out(out, "out")?;
        let serializer = serializer(vsn)?;
        let join_ref = ref_from_c(join_ref, join_ref_len, "join_ref")?;
        let r#ref = ref_from_c(r#ref, ref_len, "ref")?;
        let (topic, status) = crate::endpoint::topic_event(topic, topic_len, status, status_len)?;
        let response = payload_from_c(response, response_len, response_kind)?;
        let frame = serializer
            .encode_reply(join_ref.as_ref(), r#ref.as_ref(), topic, status, &response)
            .map_err(encode_error)?;
        out.write(into_handle(sb_buffer { frame }));
        Ok(())
    })
}

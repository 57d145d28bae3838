//! Wire codec: Phoenix V1 JSON objects, V2 JSON arrays and V2 binary frames (PROTOCOL.md 2-3).
//!
//! Sans-IO: bytes in, [`Message`] out; message parts in, [`Frame`] out. Payloads are never
//! re-parsed: a [`Payload`] holds the raw JSON text (or binary bytes) it arrived as, and an
//! encoded [`Frame`] is a refcounted buffer that every subscriber of a broadcast shares.
//! Malformed input is a [`WireError`], never a panic.

mod binary;
mod json;
mod vsn;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use std::borrow::Cow;

/// A non-null `join_ref` or `ref`, kept as the raw JSON text of the value the client sent
/// (normally a string such as `"6"`, quotes included). Phoenix echoes whatever JSON value it
/// received, so we keep it verbatim and compare it byte for byte.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Ref(Bytes);

impl Ref {
    /// A ref holding the JSON string `s` (what the JS client always sends).
    pub fn from_text(s: &str) -> Ref {
        let mut out = Vec::with_capacity(s.len() + 2);
        json::push_str(&mut out, s);
        Ref(Bytes::from(out))
    }

    /// Wraps raw JSON text of a non-null JSON value. The caller guarantees it is valid JSON.
    pub fn from_json_unchecked(raw: Bytes) -> Ref {
        Ref(raw)
    }

    /// The raw JSON text, e.g. `"6"` with quotes, or `7`.
    pub fn as_json(&self) -> &[u8] {
        &self.0
    }

    /// The value as text: the unescaped contents of a JSON string, otherwise the raw JSON
    /// text. Used for binary frames, whose fields are plain UTF-8.
    ///
    /// A JSON string that cannot become Rust text (a lone surrogate such as `"\ud800"`) and
    /// bytes that are not UTF-8 (only possible through [`Ref::from_json_unchecked`]) come back
    /// as the lossy raw text rather than an error: the caller only needs a label to echo.
    pub fn to_text(&self) -> Cow<'_, str> {
        json::ref_text(&self.0)
    }
}

/// Clipped ([`crate::logging::clip`]): refs are client-supplied and end up in log lines.
impl std::fmt::Debug for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = String::from_utf8_lossy(&self.0);
        write!(f, "Ref({})", crate::logging::clip(&text))
    }
}

/// A message payload exactly as it travels.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Payload {
    /// Raw JSON text of any JSON value (an object for pushes and broadcasts).
    Json(Bytes),
    /// Raw bytes of a V2 binary frame (`{:binary, bytes}` in Phoenix).
    Binary(Bytes),
}

impl Payload {
    /// The empty JSON object `{}`.
    pub fn empty_object() -> Payload {
        Payload::Json(Bytes::from_static(b"{}"))
    }

    /// Size in bytes (JSON text or binary), e.g. to refuse a big message before parsing it.
    pub fn len(&self) -> usize {
        match self {
            Payload::Json(b) | Payload::Binary(b) => b.len(),
        }
    }

    /// True for an empty payload (never valid JSON; possible for binary).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when this is JSON whose first non-whitespace byte is `{`. Pushes and broadcasts
    /// require object payloads in V2 (PROTOCOL.md 2.2).
    pub fn is_json_object(&self) -> bool {
        match self {
            Payload::Json(raw) => json::first_non_ws(raw) == Some(b'{'),
            Payload::Binary(_) => false,
        }
    }
}

/// A decoded client message (PROTOCOL.md 2): the five logical fields of every format.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    pub join_ref: Option<Ref>,
    pub r#ref: Option<Ref>,
    pub topic: String,
    pub event: String,
    pub payload: Payload,
}

/// An encoded frame ready for a WebSocket (or, for text, a long-poll message list).
/// Cloning is a refcount increment: one broadcast is encoded once and shared.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Frame {
    /// A text frame; always valid UTF-8.
    Text(Bytes),
    /// A binary frame (V2 binary kinds 0, 1 and 2).
    Binary(Bytes),
}

impl Frame {
    /// Size of the frame body in bytes (used for outbound-queue accounting).
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(b) | Frame::Binary(b) => b.len(),
        }
    }

    /// True for a zero-length body.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The serializer negotiated from the `vsn` connect parameter (PROTOCOL.md 1.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Serializer {
    /// `vsn` 1.0.x (or absent): JSON objects, no `join_ref` on the way out, no binary.
    V1Json,
    /// `vsn` 2.0.x: JSON arrays `[join_ref, ref, topic, event, payload]` plus binary frames.
    V2Json,
}

/// Number of distinct serializers; lets a broadcast cache one encoding per serializer.
pub const SERIALIZER_COUNT: usize = 2;

impl Serializer {
    /// Picks the serializer for a `vsn` query value: `None` → V1; `1.0.x` → V1; `2.0.x` → V2;
    /// anything else (`2.1.0`, `3.0.0`, `abc`) → `None`, which the endpoint answers with 403.
    ///
    /// Mirrors Phoenix's `Version.parse/1` + `Version.match?/2` against the requirements
    /// `~> 1.0.0` and `~> 2.0.0`: `vsn` must be a full semantic version `MAJOR.MINOR.PATCH`
    /// with optional `-pre` and `+build` parts, so `"2.0"`, `" 2.0.0"` or `"v2.0.0"` are
    /// refused. `~> 2.0.0` means `>= 2.0.0 and < 2.1.0`, hence `"2.0.7"` and `"2.0.1-rc.1"`
    /// are V2 while `"2.0.0-rc"` (a pre-release sorts *before* `2.0.0`) is refused.
    /// Build metadata is ignored (`"2.0.0+abc"` is V2).
    pub fn negotiate(vsn: Option<&str>) -> Option<Serializer> {
        vsn::negotiate(vsn)
    }

    /// Dense index in `0..SERIALIZER_COUNT`.
    pub fn index(self) -> usize {
        match self {
            Serializer::V1Json => 0,
            Serializer::V2Json => 1,
        }
    }

    /// Decodes a client text frame. V2: an array of at least five elements (extra ignored);
    /// V1: an object with `topic`, `event`, `payload`, `ref` (and optional `join_ref`).
    /// `topic` and `event` must be JSON strings.
    ///
    /// `payload`, `join_ref` and `ref` keep the exact JSON text of their values (JSON `null`
    /// refs become `None`); the payload is not parsed beyond finding where it ends. Errors:
    /// [`WireError::InvalidJson`] (syntax, invalid UTF-8, nesting over 128 levels in the
    /// frame's own structure), [`WireError::NotAnArray`] / [`WireError::NotAnObject`],
    /// [`WireError::MissingKey`] (V1), [`WireError::NotAString`].
    pub fn decode_text(self, text: &[u8]) -> Result<Message, WireError> {
        match self {
            Serializer::V1Json => json::decode_v1(text),
            Serializer::V2Json => json::decode_v2(text),
        }
    }

    /// Decodes a client binary frame (V2 kind 0 push only, PROTOCOL.md 2.3). V1 has no binary
    /// form and returns [`WireError::BinaryUnsupported`].
    ///
    /// `join_ref` and `ref` become JSON-string [`Ref`]s (`Ref::from_text`), as if the client
    /// had sent them in a text frame; an empty `join_ref` (length 0) is `None`. Errors:
    /// [`WireError::BinaryKind`], [`WireError::BinaryTruncated`] (header or lengths overrun
    /// the frame), [`WireError::InvalidUtf8`] (a field is not UTF-8).
    pub fn decode_binary(self, data: &[u8]) -> Result<Message, WireError> {
        match self {
            Serializer::V1Json => Err(WireError::BinaryUnsupported),
            Serializer::V2Json => binary::decode_push(data),
        }
    }

    /// Encodes a server message that is not a reply: a push (`ref` None), `phx_close` /
    /// `phx_error` (`ref` = join_ref), or a broadcast (both None). A binary payload gives a V2
    /// kind-0 frame (push; the ref is not carried) or kind-2 frame (broadcast, when join_ref
    /// and ref are both None). Errors: binary under V1, a binary field over 255 bytes, or a
    /// non-object JSON payload under V2.
    ///
    /// Text frames are `[join_ref, ref, topic, event, payload]` (V2) or
    /// `{"event":..,"payload":..,"ref":..,"topic":..}` (V1, which never carries `join_ref`);
    /// the payload bytes are copied in verbatim, topic and event are JSON-escaped. Errors:
    /// [`WireError::BinaryUnsupported`], [`WireError::FieldTooLong`] (binary only),
    /// [`WireError::PayloadNotObject`] (V2 JSON only) and [`WireError::InvalidUtf8`] when a
    /// JSON payload or ref is not UTF-8 (text frames are always valid UTF-8).
    pub fn encode_message(
        self,
        join_ref: Option<&Ref>,
        r#ref: Option<&Ref>,
        topic: &str,
        event: &str,
        payload: &Payload,
    ) -> Result<Frame, WireError> {
        match (self, payload) {
            (Serializer::V1Json, Payload::Binary(_)) => Err(WireError::BinaryUnsupported),
            (Serializer::V2Json, Payload::Binary(bytes)) => {
                if join_ref.is_none() && r#ref.is_none() {
                    binary::encode_broadcast(topic, event, bytes)
                } else {
                    binary::encode_push(join_ref, topic, event, bytes)
                }
            }
            (Serializer::V1Json, Payload::Json(raw)) => {
                json::encode_v1(r#ref, topic, event, json::Body::Raw(raw))
            }
            (Serializer::V2Json, Payload::Json(raw)) => {
                if !payload.is_json_object() {
                    return Err(WireError::PayloadNotObject);
                }
                json::encode_v2(join_ref, r#ref, topic, event, json::Body::Raw(raw))
            }
        }
    }

    /// Encodes a `phx_reply` with `{"status": status, "response": response}`. The response
    /// may be any JSON value, or binary (V2 kind-1 frame, nil refs written as length 0).
    /// Mirrors Phoenix's `%Reply{}` encoding: event `phx_reply`, `join_ref` included in V2
    /// and dropped in V1. Errors as for [`Serializer::encode_message`], except that any JSON
    /// response is accepted (no [`WireError::PayloadNotObject`]); `status` counts as a
    /// binary field (255 bytes at most).
    pub fn encode_reply(
        self,
        join_ref: Option<&Ref>,
        r#ref: Option<&Ref>,
        topic: &str,
        status: &str,
        response: &Payload,
    ) -> Result<Frame, WireError> {
        match (self, response) {
            (Serializer::V1Json, Payload::Binary(_)) => Err(WireError::BinaryUnsupported),
            (Serializer::V2Json, Payload::Binary(bytes)) => {
                binary::encode_reply(join_ref, r#ref, topic, status, bytes)
            }
            (Serializer::V1Json, Payload::Json(raw)) => {
                json::encode_v1(r#ref, topic, REPLY_EVENT, json::Body::Reply(status, raw))
            }
            (Serializer::V2Json, Payload::Json(raw)) => json::encode_v2(
                join_ref,
                r#ref,
                topic,
                REPLY_EVENT,
                json::Body::Reply(status, raw),
            ),
        }
    }
}

/// The event name of every reply frame.
const REPLY_EVENT: &str = "phx_reply";

/// Why a frame could not be decoded or encoded.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum WireError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("a V2 text frame must be a JSON array of at least 5 elements")]
    NotAnArray,
    #[error("a V1 text frame must be a JSON object")]
    NotAnObject,
    #[error("missing key `{0}` in a V1 frame")]
    MissingKey(&'static str),
    #[error("`{0}` must be a JSON string")]
    NotAString(&'static str),
    #[error("binary frames are not supported by the V1 serializer")]
    BinaryUnsupported,
    #[error("unknown binary frame kind {0} (clients may only send kind 0)")]
    BinaryKind(u8),
    #[error("binary frame truncated: header lengths overrun the frame")]
    BinaryTruncated,
    #[error("`{0}` is not valid UTF-8")]
    InvalidUtf8(&'static str),
    #[error("`{0}` is longer than 255 bytes and cannot be carried in a binary frame")]
    FieldTooLong(&'static str),
    #[error("push and broadcast payloads must be JSON objects")]
    PayloadNotObject,
}

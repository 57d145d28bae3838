//! Payloads across the boundary. JSON travels as text (a JS string both ways; JavaScript
//! parses and stringifies it), binary as a `Buffer`. Input is copied once into `Bytes`, which
//! the fan-out then shares.

use crate::error::{Result, core_error};
use bytes::Bytes;
use napi::Either;
use napi::bindgen_prelude::Buffer;
use switchboard::host::{self, Assigns};
use switchboard::wire::{Payload, Ref};

/// What JavaScript hands in as a payload: JSON text (a string, or a `Buffer` of UTF-8 JSON
/// text) unless `binary`, then the bytes of a binary payload.
pub type JsPayload = Either<String, Buffer>;

/// A core payload from JavaScript: JSON text is validated, binary taken as is.
pub fn payload_in(payload: JsPayload, binary: bool) -> Result<Payload> {
    let bytes = match payload {
        Either::A(text) => Bytes::from(text.into_bytes()),
        Either::B(buf) => Bytes::copy_from_slice(&buf),
    };
    if binary {
        return Ok(Payload::Binary(bytes));
    }
    host::json_payload(bytes, "payload").map_err(core_error)
}

/// A payload for JavaScript: `(json text, binary bytes)`, exactly one set.
pub fn payload_out(payload: &Payload) -> (Option<String>, Option<Buffer>) {
    match payload {
        Payload::Json(raw) => (Some(String::from_utf8_lossy(raw).into_owned()), None),
        Payload::Binary(raw) => (None, Some(Buffer::from(raw.to_vec()))),
    }
}

/// A JSON object text (assigns, presence metas) from JavaScript.
pub fn object_in(text: &str, what: &str) -> Result<Assigns> {
    host::json_object(text, what).map_err(core_error)
}

/// Any JSON value (a `sendInfo` message) from JavaScript.
pub fn value_in(text: &str, what: &str) -> Result<serde_json::Value> {
    host::json_value(text, what).map_err(core_error)
}

/// A ref as JavaScript sees it: the raw JSON text (`"6"` with its quotes).
pub fn ref_out(r: &Ref) -> String {
    String::from_utf8_lossy(r.as_json()).into_owned()
}

/// A ref from JavaScript: the raw JSON text of a non-null value, as `ref_out` gave it.
pub fn ref_in(text: &str) -> Result<Ref> {
    host::json_ref(text).map_err(core_error)
}

//! V1 (object) and V2 (array) JSON text frames (PROTOCOL.md 2.1, 2.2).
//!
//! Decoding borrows each top-level value as a `RawValue` slice of the input, so payloads are
//! scanned once to find their end and never parsed into a tree. Encoding writes the frame
//! into one pre-sized buffer and splices the payload bytes in verbatim.

use super::{Frame, Message, Payload, Ref, WireError};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// What goes in the payload slot of an encoded frame.
pub(super) enum Body<'a> {
    /// The raw JSON text of a push or broadcast payload.
    Raw(&'a [u8]),
    /// A reply: `{"status": <status>, "response": <raw JSON>}`.
    Reply(&'a str, &'a [u8]),
}

impl Body<'_> {
    /// Upper bound of the encoded size when nothing needs escaping.
    fn size_hint(&self) -> usize {
        match self {
            Body::Raw(raw) => raw.len(),
            Body::Reply(status, raw) => {
                STATUS_KEY.len() + status.len() + RESPONSE_KEY.len() + raw.len() + 4
            }
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Body::Raw(raw) => out.extend_from_slice(raw),
            Body::Reply(status, raw) => {
                out.extend_from_slice(STATUS_KEY);
                push_str(out, status);
                out.extend_from_slice(RESPONSE_KEY);
                out.extend_from_slice(raw);
                out.push(b'}');
            }
        }
    }

    /// Frame text must be UTF-8 even when the host hands us arbitrary bytes as "JSON".
    fn check_utf8(&self) -> Result<(), WireError> {
        let raw = match self {
            Body::Raw(raw) | Body::Reply(_, raw) => raw,
        };
        std::str::from_utf8(raw).map_err(|_| WireError::InvalidUtf8("payload"))?;
        Ok(())
    }
}

const STATUS_KEY: &[u8] = b"{\"status\":";
const RESPONSE_KEY: &[u8] = b",\"response\":";
const NULL: &[u8] = b"null";

/// Encodes `[join_ref, ref, topic, event, body]`.
pub(super) fn encode_v2(
    join_ref: Option<&Ref>,
    r#ref: Option<&Ref>,
    topic: &str,
    event: &str,
    body: Body<'_>,
) -> Result<Frame, WireError> {
    body.check_utf8()?;
    let join_ref = ref_json(join_ref, "join_ref")?;
    let r#ref = ref_json(r#ref, "ref")?;
    // 2 brackets, 4 commas, 4 quotes.
    let size = 10 + join_ref.len() + r#ref.len() + topic.len() + event.len() + body.size_hint();
    let mut out = Vec::with_capacity(size);
    out.push(b'[');
    out.extend_from_slice(join_ref);
    out.push(b',');
    out.extend_from_slice(r#ref);
    out.push(b',');
    push_str(&mut out, topic);
    out.push(b',');
    push_str(&mut out, event);
    out.push(b',');
    body.write(&mut out);
    out.push(b']');
    Ok(Frame::Text(Bytes::from(out)))
}

/// Encodes `{"event":..,"payload":..,"ref":..,"topic":..}`: Phoenix's V1 serializer never
/// emits `join_ref`, and its key order is Jason's (sorted) one.
pub(super) fn encode_v1(
    r#ref: Option<&Ref>,
    topic: &str,
    event: &str,
    body: Body<'_>,
) -> Result<Frame, WireError> {
    const EVENT: &[u8] = b"{\"event\":";
    const PAYLOAD: &[u8] = b",\"payload\":";
    const REF: &[u8] = b",\"ref\":";
    const TOPIC: &[u8] = b",\"topic\":";
    body.check_utf8()?;
    let r#ref = ref_json(r#ref, "ref")?;
    let size = EVENT.len()
        + PAYLOAD.len()
        + REF.len()
        + TOPIC.len()
        + 5
        + event.len()
        + body.size_hint()
        + r#ref.len()
        + topic.len();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(EVENT);
    push_str(&mut out, event);
    out.extend_from_slice(PAYLOAD);
    body.write(&mut out);
    out.extend_from_slice(REF);
    out.extend_from_slice(r#ref);
    out.extend_from_slice(TOPIC);
    push_str(&mut out, topic);
    out.push(b'}');
    Ok(Frame::Text(Bytes::from(out)))
}

fn ref_json<'a>(r: Option<&'a Ref>, field: &'static str) -> Result<&'a [u8], WireError> {
    match r {
        None => Ok(NULL),
        Some(r) => {
            let raw = r.as_json();
            std::str::from_utf8(raw).map_err(|_| WireError::InvalidUtf8(field))?;
            Ok(raw)
        }
    }
}

/// Appends `s` as a JSON string literal, escaping like `serde_json` (`"`, `\`, and control
/// characters; everything else, including non-ASCII, is written as UTF-8).
pub(super) fn push_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(b"00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// The first byte that is not JSON whitespace.
pub(super) fn first_non_ws(raw: &[u8]) -> Option<u8> {
    raw.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// See [`Ref::to_text`].
pub(super) fn ref_text(raw: &[u8]) -> Cow<'_, str> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return String::from_utf8_lossy(raw);
    };
    if !text.starts_with('"') {
        return Cow::Borrowed(text);
    }
    if let Some(inner) = plain_string_contents(text) {
        return Cow::Borrowed(inner);
    }
    match serde_json::from_str::<String>(text) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(text),
    }
}

/// The contents of a JSON string literal that has no escapes (the common case), if it is one.
fn plain_string_contents(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.bytes().any(|b| b == b'\\' || b == b'"')).then_some(inner)
}

/// Reads a JSON string value (`topic`, `event`).
fn json_string(raw: &RawValue, field: &'static str) -> Result<String, WireError> {
    let text = raw.get();
    if !text.starts_with('"') {
        return Err(WireError::NotAString(field));
    }
    if let Some(inner) = plain_string_contents(text) {
        return Ok(inner.to_owned());
    }
    serde_json::from_str::<String>(text).map_err(|e| WireError::InvalidJson(e.to_string()))
}

fn opt_ref(raw: &RawValue) -> Option<Ref> {
    let text = raw.get();
    (text != "null").then(|| Ref(Bytes::copy_from_slice(text.as_bytes())))
}

fn payload(raw: &RawValue) -> Payload {
    Payload::Json(Bytes::copy_from_slice(raw.get().as_bytes()))
}

/// Maps a `serde_json` error: `Data` errors come from our visitors (wrong shape); everything
/// else is malformed JSON.
fn shape_error(e: serde_json::Error, shape: WireError) -> WireError {
    match e.classify() {
        serde_json::error::Category::Data => shape,
        _ => WireError::InvalidJson(e.to_string()),
    }
}

/// The first five elements of a V2 array, borrowed from the input.
struct V2Frame<'a>([&'a RawValue; 5]);

impl<'de> Deserialize<'de> for V2Frame<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = V2Frame<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array [join_ref, ref, topic, event, payload]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut next = |i: usize| -> Result<&'de RawValue, A::Error> {
                    seq.next_element::<&'de RawValue>()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))
                };
                let fields = [next(0)?, next(1)?, next(2)?, next(3)?, next(4)?];
                // Phoenix takes the first five elements and ignores the rest.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(V2Frame(fields))
            }
        }
        d.deserialize_seq(V)
    }
}

pub(super) fn decode_v2(text: &[u8]) -> Result<Message, WireError> {
    let V2Frame([join_ref, r#ref, topic, event, body]) =
        serde_json::from_slice(text).map_err(|e| shape_error(e, WireError::NotAnArray))?;
    Ok(Message {
        join_ref: opt_ref(join_ref),
        r#ref: opt_ref(r#ref),
        topic: json_string(topic, "topic")?,
        event: json_string(event, "event")?,
        payload: payload(body),
    })
}

/// The keys of a V1 object, borrowed from the input; duplicate keys: the last one wins
/// (as when Jason builds an Elixir map).
#[derive(Default)]
struct V1Frame<'a> {
    topic: Option<&'a RawValue>,
    event: Option<&'a RawValue>,
    payload: Option<&'a RawValue>,
    r#ref: Option<&'a RawValue>,
    join_ref: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum V1Key {
    Topic,
    Event,
    Payload,
    Ref,
    JoinRef,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for V1Frame<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = V1Frame<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with topic, event, payload and ref")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut frame = V1Frame::default();
                while let Some(key) = map.next_key::<V1Key>()? {
                    let slot = match key {
                        V1Key::Topic => &mut frame.topic,
                        V1Key::Event => &mut frame.event,
                        V1Key::Payload => &mut frame.payload,
                        V1Key::Ref => &mut frame.r#ref,
                        V1Key::JoinRef => &mut frame.join_ref,
                        V1Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value::<&'de RawValue>()?);
                }
                Ok(frame)
            }
        }
        d.deserialize_map(V)
    }
}

pub(super) fn decode_v1(text: &[u8]) -> Result<Message, WireError> {
    let frame: V1Frame<'_> =
        serde_json::from_slice(text).map_err(|e| shape_error(e, WireError::NotAnObject))?;
    let topic = frame.topic.ok_or(WireError::MissingKey("topic"))?;
    let event = frame.event.ok_or(WireError::MissingKey("event"))?;
    let body = frame.payload.ok_or(WireError::MissingKey("payload"))?;
    let r#ref = frame.r#ref.ok_or(WireError::MissingKey("ref"))?;
    Ok(Message {
        join_ref: frame.join_ref.and_then(opt_ref),
        r#ref: opt_ref(r#ref),
        topic: json_string(topic, "topic")?,
        event: json_string(event, "event")?,
        payload: payload(body),
    })
}

//! V2 binary frames (PROTOCOL.md 2.3): one-byte kind, one-byte field lengths, raw UTF-8
//! fields with no terminator, and the payload as the rest of the frame.

use super::{Frame, Message, Payload, Ref, WireError};
use bytes::Bytes;
use std::borrow::Cow;

const KIND_PUSH: u8 = 0;
const KIND_REPLY: u8 = 1;
const KIND_BROADCAST: u8 = 2;

/// Decodes a client push (kind 0, 5-byte header: kind, JR, RF, TP, EV).
pub(super) fn decode_push(data: &[u8]) -> Result<Message, WireError> {
    let (&kind, rest) = data.split_first().ok_or(WireError::BinaryTruncated)?;
    if kind != KIND_PUSH {
        return Err(WireError::BinaryKind(kind));
    }
    let (lens, mut rest) = rest
        .split_first_chunk::<4>()
        .ok_or(WireError::BinaryTruncated)?;
    let [jr_len, ref_len, topic_len, event_len] = lens.map(usize::from);
    let mut take = |len: usize, field: &'static str| -> Result<&str, WireError> {
        let (head, tail) = rest
            .split_at_checked(len)
            .ok_or(WireError::BinaryTruncated)?;
        rest = tail;
        std::str::from_utf8(head).map_err(|_| WireError::InvalidUtf8(field))
    };
    let join_ref = take(jr_len, "join_ref")?;
    let r#ref = take(ref_len, "ref")?;
    let topic = take(topic_len, "topic")?;
    let event = take(event_len, "event")?;
    // An empty join_ref is how the binary format spells null (the JS client sends "" for a
    // null join_ref, and Phoenix's own server-side encoder writes nil as length 0).
    let opt = |s: &str| (!s.is_empty()).then(|| Ref::from_text(s));
    Ok(Message {
        join_ref: opt(join_ref),
        r#ref: opt(r#ref),
        topic: topic.to_owned(),
        event: event.to_owned(),
        payload: Payload::Binary(Bytes::copy_from_slice(rest)),
    })
}

/// Server push, kind 0: `[0, JR, TP, EV, join_ref, topic, event, payload]` (no ref).
pub(super) fn encode_push(
    join_ref: Option<&Ref>,
    topic: &str,
    event: &str,
    payload: &[u8],
) -> Result<Frame, WireError> {
    let join_ref = ref_text(join_ref);
    let fields = [
        field(&join_ref, "join_ref")?,
        field(topic, "topic")?,
        field(event, "event")?,
    ];
    Ok(build(KIND_PUSH, &fields, payload))
}

/// Server reply, kind 1: `[1, JR, RF, TP, ST, join_ref, ref, topic, status, response]`.
pub(super) fn encode_reply(
    join_ref: Option<&Ref>,
    r#ref: Option<&Ref>,
    topic: &str,
    status: &str,
    payload: &[u8],
) -> Result<Frame, WireError> {
    let join_ref = ref_text(join_ref);
    let r#ref = ref_text(r#ref);
    let fields = [
        field(&join_ref, "join_ref")?,
        field(&r#ref, "ref")?,
        field(topic, "topic")?,
        field(status, "status")?,
    ];
    Ok(build(KIND_REPLY, &fields, payload))
}

/// Broadcast, kind 2: `[2, TP, EV, topic, event, payload]`.
pub(super) fn encode_broadcast(
    topic: &str,
    event: &str,
    payload: &[u8],
) -> Result<Frame, WireError> {
    let fields = [field(topic, "topic")?, field(event, "event")?];
    Ok(build(KIND_BROADCAST, &fields, payload))
}

/// A nil ref is written as length 0, which the JS client reads back as `""`/null.
fn ref_text(r: Option<&Ref>) -> Cow<'_, str> {
    r.map_or(Cow::Borrowed(""), Ref::to_text)
}

/// A field with its length byte.
fn field<'a>(s: &'a str, name: &'static str) -> Result<(u8, &'a [u8]), WireError> {
    let len = u8::try_from(s.len()).map_err(|_| WireError::FieldTooLong(name))?;
    Ok((len, s.as_bytes()))
}

fn build(kind: u8, fields: &[(u8, &[u8])], payload: &[u8]) -> Frame {
    let size = 1
        + fields
            .iter()
            .map(|(len, _)| 1 + usize::from(*len))
            .sum::<usize>()
        + payload.len();
    let mut out = Vec::with_capacity(size);
    out.push(kind);
    out.extend(fields.iter().map(|(len, _)| *len));
    for (_, bytes) in fields {
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(payload);
    Frame::Binary(Bytes::from(out))
}
